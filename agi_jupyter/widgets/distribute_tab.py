"""Distribute: the ``<module> args`` editor, CHECK DISTRIBUTE, the distribution tree (or DAG), the
workload chart and the Workplan editor (move chunks between slots, then SAVE)."""

from __future__ import annotations

import html
import logging
from typing import Any

import ipywidgets as widgets

from ..core.distrib import Distribution, load, stale_reason
from ..core.plan import WorkPlan, worker_slots
from ..core.requests import DistribRequest
from ..core.snippets import make_snippet
from .args_form import ArgsEditor
from .common import Context, Message, SnippetView, error_text
from .state import plan_stamp

logger = logging.getLogger(__name__)

SHOWN_CHUNKS = 200  # per slot in the tree; the rest is summarised


class DistributeTab(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """Plan the work, look at it, and edit it before running."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.args = ArgsEditor(context, on_saved=lambda _: context.settings_saved())
        self.snippet = SnippetView(context)
        self.check = widgets.Button(
            description="CHECK DISTRIBUTE", icon="sitemap", button_style="primary", layout=widgets.Layout(width="auto")
        )
        self.check.on_click(lambda _: self.start())
        self.message = Message()
        self.stale = Message()
        self.tree_box = widgets.VBox()
        self.chart_box = widgets.Box()
        self.source = widgets.Dropdown(description="from slot")
        self.chunk = widgets.Dropdown(description="chunk", layout=widgets.Layout(width="30em"))
        self.target = widgets.Dropdown(description="to slot")
        self.move = widgets.Button(description="MOVE", icon="arrow-right")
        self.save = widgets.Button(description="SAVE", icon="save", disabled=True)
        self.editor_message = Message()
        self.source.observe(lambda _: self._fill_chunks(), names="value")
        self.move.on_click(lambda _: self.move_chunk())
        self.save.on_click(lambda _: self.save_plan())
        self.distribution: Distribution | None = None
        self.shown_plan = ""  # stamp of ``distribution``, to tell a plan saved elsewhere from the one shown
        self.plan: WorkPlan | None = None
        self.moves: list[tuple[int, int, int]] = []
        self.request = DistribRequest()
        context.state.observe(lambda _: self.refresh(), names="settings_digest")
        context.state.observe(self._plan_saved, names="saved_plan")
        editor = widgets.VBox(
            [
                widgets.HTML("<b>Workplan</b>"),
                widgets.HBox([self.source, self.chunk]),
                widgets.HBox([self.target, self.move, self.save]),
                self.editor_message,
            ]
        )
        super().__init__(
            [
                widgets.HTML(f"<b>{html.escape(context.env.target)} args</b>"),
                self.args,
                widgets.HTML("<b>Distribute details</b>"),
                self.snippet,
                self.check,
                self.message,
                self.stale,
                self.tree_box,
                self.chart_box,
                editor,
            ]
        )
        self.refresh()
        saved = load(context.env)
        if saved is not None:
            self.show(saved)

    def refresh(self) -> None:
        """New snippet; and say whether the saved plan still matches the args and workers."""
        self.request = DistribRequest()
        self.snippet.show(make_snippet(self.context.env, "get_distrib", self.request))
        self.show_staleness()

    def show_staleness(self) -> None:
        """Say whether the saved plan is the one the next RUN dispatches, or why it will be rebuilt."""
        saved = load(self.context.env)
        if saved is None:
            self.stale.show("no saved plan yet: CHECK DISTRIBUTE builds one", "info")
            return
        try:
            from ..core.args import load_args

            reason = stale_reason(
                self.context.env, saved, load_args(self.context.env), self.context.settings().cluster.workers
            )
        except Exception as error:  # e.g. args that no longer validate
            logger.debug("cannot tell whether the saved plan is stale", exc_info=True)
            reason = error_text(error)
        if reason:
            self.stale.show(f"the saved plan is stale ({reason}): the next RUN builds a new one", "warn")
        else:
            self.stale.show("the saved plan is current: the next RUN dispatches it as shown", "ok")

    def start(self) -> None:
        from ..core.engine import AGI

        request = self.request
        self.message.show("planning...")
        self.context.actions.start(
            "distribute",
            lambda: AGI.get_distrib(self.context.env, request),
            on_done=self._planned,
            on_error=lambda e: self.message.show(error_text(e), "error"),
            controls=[self.check],
        )

    def _planned(self, distribution: Distribution) -> None:
        self.message.show(distribution.reason, "ok")
        self.show(distribution)
        self._publish(distribution)

    def _publish(self, distribution: Distribution) -> None:
        """Make ``distribution`` the shared saved plan; its observers (this tab too) re-judge it."""
        stamp = plan_stamp(distribution)
        if self.context.state.saved_plan == stamp:
            self.show_staleness()  # the same plan notifies nobody, but its inputs may have moved since
        else:
            self.context.state.saved_plan = stamp

    def _plan_saved(self, change: dict[str, Any]) -> None:
        """A plan saved elsewhere (a RUN rebuilds a stale one) replaces the one shown, unless moves are pending."""
        if change["new"] != self.shown_plan and not self.moves:
            saved = load(self.context.env)
            if saved is not None:
                self.show(saved)
        self.show_staleness()

    # ----- showing a plan -------------------------------------------------------------------
    def show(self, distribution: Distribution) -> None:
        self.distribution = distribution
        self.shown_plan = plan_stamp(distribution)
        self.plan = distribution.plan
        self.moves = []
        self.save.disabled = True
        self._draw()

    def _draw(self) -> None:
        plan = self.plan
        assert plan is not None
        names = self.slot_names()
        self.tree_box.children = [dag_view(plan) if plan.dag else plan_tree(plan, names)]
        self.chart_box.children = [load_chart(plan, names)]
        options = [
            (f"{name} ({len(chunks)} chunks, {weight:.1f} {plan.weights_unit})", number)
            for number, (name, chunks, weight) in enumerate(zip(names, plan.slots, plan.loads))
        ]
        self.source.options = options
        self.target.options = options
        self._fill_chunks()

    def slot_names(self) -> list[str]:
        plan = self.plan
        assert plan is not None, "slot_names is asked only while a plan is shown"
        workers = self.distribution.workers if self.distribution else self.context.settings().cluster.workers
        names = [slot.name for slot in worker_slots(workers)]
        return names if len(names) == len(plan.slots) else [f"slot {n}" for n in range(len(plan.slots))]

    def _fill_chunks(self) -> None:
        if self.plan is None or self.source.value is None:
            self.chunk.options = []
            return
        chunks = self.plan.slots[self.source.value]
        self.chunk.options = [
            (f"{chunk.label} ({chunk.weight:g} {self.plan.weights_unit})", index)
            for index, chunk in enumerate(chunks[: SHOWN_CHUNKS * 5])
        ]

    # ----- the Workplan editor ----------------------------------------------------------------
    def move_chunk(self) -> None:
        if self.plan is None or self.chunk.value is None or self.target.value is None:
            self.editor_message.show("choose a chunk and a target slot", "warn")
            return
        source, index, target = self.source.value, self.chunk.value, self.target.value
        if source == target:
            self.editor_message.show("the chunk is already in that slot", "warn")
            return
        label = self.plan.slots[source][index].label
        self.plan = self.plan.move(source, index, target)
        self.moves.append((source, index, target))
        self.save.disabled = False
        self._draw()
        self.source.value = source
        self.editor_message.show(f"moved {label} to slot {target}: SAVE to keep it for the next RUN", "info")

    def save_plan(self) -> None:
        from ..core.engine import AGI

        moves = list(self.moves)
        built = self.distribution.built if self.distribution else None
        self.context.actions.start(
            "save-plan",
            lambda: AGI.reassign(self.context.env, moves=moves, built=built),
            on_done=self._saved,
            on_error=lambda e: self.editor_message.show(error_text(e), "error"),
            controls=[self.save, self.move],
        )

    def _saved(self, distribution: Distribution) -> None:
        self.show(distribution)
        self.editor_message.show(f"saved: {distribution.reason}", "ok")
        self._publish(distribution)


def plan_tree(plan: WorkPlan, names: list[str]) -> widgets.Widget:
    """host -> worker slot -> chunk -> items, with loads; chunks and items load when opened."""
    from ipytree import Node, Tree

    hosts: dict[str, Any] = {}
    for name, chunks, weight in zip(names, plan.slots, plan.loads):
        host = name.rsplit("#", 1)[0]
        if host not in hosts:
            hosts[host] = Node(host, opened=True, icon="server")
        slot = Node(f"{name}: {len(chunks)} chunks, {weight:.1f} {plan.weights_unit}", opened=False, icon="cogs")
        slot.add_node(Node("...", icon="ellipsis-h"))
        slot.observe(lambda change, slot=slot, chunks=chunks: _open_slot(slot, chunks, plan), names="opened")
        hosts[host].add_node(slot)
    tree = Tree(multiple_selection=False)
    for node in hosts.values():
        tree.add_node(node)
    return tree


def _open_slot(slot: Any, chunks: list[Any], plan: WorkPlan) -> None:
    from ipytree import Node

    if not slot.opened or getattr(slot, "_filled", False):
        return
    slot._filled = True
    nodes = []
    for chunk in chunks[:SHOWN_CHUNKS]:
        node = Node(
            f"{chunk.label} ({chunk.weight:g} {plan.weights_unit}, {len(chunk.items)} items)", opened=False, icon="cube"
        )
        for item in chunk.items[:20]:
            node.add_node(Node(html.escape(str(item))[:120], icon="file"))
        nodes.append(node)
    if len(chunks) > SHOWN_CHUNKS:
        nodes.append(Node(f"... {len(chunks) - SHOWN_CHUNKS} more chunks", icon="ellipsis-h"))
    slot.nodes = nodes


def dag_view(plan: WorkPlan) -> widgets.Widget:
    """The steps of a DAG app in dependency order, with their slot and what they need."""
    order = plan.step_order()  # PlanError when the plan has no DAG
    needs = plan.dag or {}  # not None here: step_order raised otherwise
    slot_of = {chunk.label: number for number, chunks in enumerate(plan.slots) for chunk in chunks}
    rows = "".join(
        f"<tr><td>{position + 1}</td><td><b>{html.escape(step)}</b></td><td>{slot_of.get(step, '')}</td>"
        f"<td>{html.escape(', '.join(needs[step])) or '—'}</td></tr>"
        for position, step in enumerate(order)
    )
    return widgets.HTML("<table><tr><th>#</th><th>step</th><th>slot</th><th>needs</th></tr>" + rows + "</table>")


def load_chart(plan: WorkPlan, names: list[str]) -> widgets.Widget:
    """Workload per worker slot (bqplot bars)."""
    import bqplot as bq

    x_scale, y_scale = bq.OrdinalScale(), bq.LinearScale(min=0)
    bars = bq.Bars(
        x=names,
        y=plan.loads,
        scales={"x": x_scale, "y": y_scale},
        tooltip=bq.Tooltip(fields=["x", "y"], labels=["slot", plan.weights_unit or "load"]),
    )
    axes = [
        bq.Axis(scale=x_scale, label="worker slot"),
        bq.Axis(scale=y_scale, side="left", label=f"{plan.weights_key} ({plan.weights_unit})"),
    ]
    return bq.Figure(
        marks=[bars], axes=axes, title="workload per slot", layout=widgets.Layout(width="36em", height="16em")
    )
