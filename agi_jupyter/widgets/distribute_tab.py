"""Distribute: the ``<module> args`` editor, CHECK DISTRIBUTE, the DAG drawn as a graph (DAG apps),
the distribution tree with each slot's share, a warning naming idle slots, the workload chart
stacked by chunk, and the Workplan editor (move chunks between slots, then SAVE).

What is drawn is computed in :mod:`.plan_views` as plain data; this module only hands it to
bqplot and ipytree.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import ipywidgets as widgets

from ..core.distrib import Distribution, load, stale_reason
from ..core.plan import WorkPlan, worker_slots
from ..core.requests import DistribRequest, resolve
from ..core.snippets import make_snippet
from .args_form import ArgsEditor
from .common import Context, Message, SnippetView, error_text, wrap_row
from .plan_views import (
    STACK_LIMIT,
    DagGraph,
    dag_graph,
    idle_warning,
    load_shares,
    slot_bar_color,
    slot_color,
    stack_rows,
    stacks,
)
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
            description="CHECK DISTRIBUTE",
            icon="sitemap",
            button_style="primary",
            tooltip="split the work into chunks per worker slot with these args, save the plan and draw it below",
            layout=widgets.Layout(width="auto"),
        )
        self.check.on_click(lambda _: self.start())
        self.message = Message()
        self.stale = Message()
        # DAG apps only; a DAG wider than the notebook scrolls in its box (squeezed, its names would overlap)
        self.graph_box = widgets.VBox(layout=widgets.Layout(display="none", overflow="auto"))
        self.graph_box.add_class("agi-dag-graph")
        self.tree_box = widgets.VBox()
        # a Tree or a Figure with a ``tooltip`` fails to render (ipywidgets 8 reads their missing
        # ``description``): their explanations live on captions and titles instead
        self.tree_caption = widgets.HTML(
            "<b>Distribution tree</b>",
            tooltip="worker slots per host, their chunks and share of the load; open a slot to list its chunks",
            layout=widgets.Layout(display="none"),
        )
        self.idle = Message()
        self.chart_box = widgets.Box()
        self.source = widgets.Dropdown(description="from slot", tooltip="the worker slot that holds the chunk to move")
        self.chunk = widgets.Dropdown(
            description="chunk", tooltip="the chunk to move", layout=widgets.Layout(width="30em", max_width="100%")
        )
        self.target = widgets.Dropdown(description="to slot", tooltip="the worker slot that receives the chunk")
        self.move = widgets.Button(
            description="MOVE", icon="arrow-right", tooltip="move the chosen chunk to the target slot (not saved yet)"
        )
        self.save = widgets.Button(
            description="SAVE",
            icon="save",
            disabled=True,
            tooltip="save the moved plan: the next RUN dispatches it as shown",
        )
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
                wrap_row([self.source, self.chunk]),
                wrap_row([self.target, self.move, self.save]),
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
                self.graph_box,
                self.tree_caption,
                self.tree_box,
                self.idle,
                self.chart_box,
                editor,
            ]
        )
        saved = load(context.env)  # read once here: a 10,000-chunk plan takes a while to read
        self.refresh(saved, read=False)
        if saved is not None:
            self.show(saved)

    def refresh(self, saved: Distribution | None = None, *, read: bool = True) -> None:
        """New snippet; and say whether the saved plan still matches the args and workers.

        ``read=False``: ``saved`` is the saved plan, just read by the caller.
        """
        self.request = resolve(self.context.env, DistribRequest())
        self.snippet.show(make_snippet(self.context.env, "get_distrib", self.request))
        self.show_staleness(saved, read=read)

    def show_staleness(self, saved: Distribution | None = None, *, read: bool = True) -> None:
        """Say whether the saved plan is the one the next RUN dispatches, or why it will be rebuilt.

        ``read=False``: ``saved`` is the saved plan, just read by the caller.
        """
        if read:
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
            self.show_staleness(saved, read=False)
        else:
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
        if plan.dag is not None:
            self.graph_box.children = [dag_figure(dag_graph(plan, names), plan.weights_unit)]
            self.graph_box.layout.display = ""
        else:
            self.graph_box.children = []
            self.graph_box.layout.display = "none"
        self.tree_box.children = [plan_tree(plan, names)]
        self.tree_caption.layout.display = ""
        warning = idle_warning(plan, names)
        if warning:
            self.idle.show(warning, "warn")
        else:
            self.idle.clear()
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
    """host -> worker slot (chunks, share of the load) -> chunk -> items; chunks load when a slot opens."""
    from ipytree import Node, Tree

    hosts: dict[str, Any] = {}
    for name, chunks, weight, share in zip(names, plan.slots, plan.loads, load_shares(plan)):
        host = name.rsplit("#", 1)[0]
        if host not in hosts:
            hosts[host] = Node(host, opened=True, icon="server")
        count = f"{len(chunks)} chunk{'' if len(chunks) == 1 else 's'}"
        slot = Node(
            f"{name} — {count}, {share:.1f} % ({weight:.1f} {plan.weights_unit})".replace(" )", ")"),
            opened=False,
            icon="cogs" if chunks else "exclamation-triangle",
        )
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


def dag_figure(graph: DagGraph, weights_unit: str = "") -> widgets.Widget:
    """The steps as a bqplot Graph: depth across, row down, coloured by slot, with a legend of slots."""
    import bqplot as bq

    x_scale = bq.LinearScale(min=-0.5, max=graph.depths - 0.5)
    y_scale = bq.LinearScale(min=-0.5, max=graph.widest - 0.5, reverse=True)
    widths = [12 + 7 * len(node.name) for node in graph.nodes]  # about 7 px a character
    # bqplot pads both axes by half the widest node (Graph.compute_view_padding), so the figure is
    # sized in pixels around that padding: else a few long names squeeze the rows together
    padding = 2 * (max(widths, default=0) // 2 + 1)
    margin = {"top": 40, "bottom": 10, "left": 20, "right": 20}
    width = margin["left"] + margin["right"] + padding + graph.depths * (max(widths, default=0) + 50)
    height = margin["top"] + margin["bottom"] + padding + graph.widest * 40
    column_sizes = {node.depth: node.row + 1 for node in graph.nodes}  # rows grow, so the last one wins
    node_data = [
        {
            "label": node.name,
            "shape": "rect",
            "shape_attrs": {"width": node_width, "height": 24, "rx": 5, "ry": 5},
            "slot": node.slot_name or "none",
            "weight": f"{node.weight:g} {weights_unit}".strip(),
            "needs": ", ".join(node.needs) or "nothing",
        }
        for node, node_width in zip(graph.nodes, widths)
    ]
    mark = bq.Graph(
        node_data=node_data,
        link_data=[{"source": source, "target": target} for source, target in graph.links],
        x=[node.depth for node in graph.nodes],
        # each column centred on the widest one
        y=[node.row + (graph.widest - column_sizes[node.depth]) / 2 for node in graph.nodes],
        scales={"x": x_scale, "y": y_scale},
        colors=[node.color for node in graph.nodes],  # a node's fill is colors[its index]
        link_type="line",
        directed=True,
        static=False,  # positions come from the x and y scales; static=True would run the forces 100 ticks
        tooltip=bq.Tooltip(fields=["label", "slot", "weight", "needs"], labels=["step", "slot", "cost", "needs"]),
    )
    figure = bq.Figure(
        marks=[mark],
        title="steps by dependency depth, coloured by worker slot",
        fig_margin=margin,
        layout=widgets.Layout(width=f"{max(width, 420)}px", height=f"{height}px"),
    )
    steps = {name: 0 for name in graph.slot_names}
    for node in graph.nodes:
        if node.slot_name:
            steps[node.slot_name] += 1
    legend = widgets.HTML(
        "&emsp;".join(
            f'<span style="display:inline-block;width:1em;height:1em;vertical-align:middle;'
            f'border:1px solid #888;background:{slot_color(number)}"></span> '
            f"{html.escape(name)} ({count} step{'' if count == 1 else 's'})"
            for number, (name, count) in enumerate(steps.items())
        )
    )
    legend.tooltip = "worker slots: the colour of the steps each one runs"
    return widgets.VBox([figure, legend])


def load_chart(plan: WorkPlan, names: list[str], limit: int = STACK_LIMIT) -> widgets.Widget:
    """Workload per worker slot: one bar per slot stacked by chunk (heaviest at the bottom), its total on top.

    A figure and a caption below it, which says when lighter chunks were merged into one segment.
    """
    import bqplot as bq

    bars_data = stacks(plan, names, limit)
    rows = stack_rows(bars_data, limit)
    unit = plan.weights_unit or "load"
    x_scale, y_scale = bq.OrdinalScale(domain=list(names)), bq.LinearScale(min=0)
    merged = [segment for bar in bars_data for segment in bar.segments if segment.other]
    levels = len(rows) - (1 if merged else 0)
    # neighbouring chunks alternate in strength; the merged "other" level is the palest
    opacities = [1.0 if level % 2 == 0 else 0.7 for level in range(levels)] + ([0.35] if merged else [])
    bars = bq.Bars(
        x=names,
        y=rows or [[0.0] * len(names)],
        type="stacked",
        scales={"x": x_scale, "y": y_scale},
        colors=[slot_bar_color(number) for number in range(len(names))],
        color_mode="group",  # a bar has its slot's colour, as in the DAG
        opacities=opacities or [1.0],
        opacity_mode="element",
        stroke="white",
        stroke_width=1 if levels <= 12 else 0,  # outlines would hide thin segments
        padding=0.25,
        tooltip=bq.Tooltip(fields=["x", "y"], labels=["slot", f"chunk {plan.weights_key} ({unit})"]),
    )
    top = max(plan.loads, default=0.0)
    totals = bq.Label(
        x=names,
        y=[load + top * 0.02 for load in plan.loads],
        text=[f"{bar.total:.1f} ({bar.share:.0f} %)" for bar in bars_data],
        scales={"x": x_scale, "y": y_scale},
        align="middle",
        default_size=12,
        font_weight="normal",
        colors=["var(--jp-ui-font-color1)"],  # the theme's text colour: readable in the dark theme too
    )
    y_scale.max = top * 1.15 if top > 0 else 1.0
    axes = [
        bq.Axis(scale=x_scale, label="worker slot"),
        bq.Axis(scale=y_scale, side="left", label=f"{plan.weights_key} ({unit})"),
    ]
    figure = bq.Figure(
        marks=[bars, totals],
        axes=axes,
        title="workload per slot, stacked by chunk",
        fig_margin={"top": 50, "bottom": 50, "left": 70, "right": 20},
        layout=widgets.Layout(width="40em", max_width="100%", height="20em"),
    )
    note = ""
    if merged:
        ends = [(bar.slot, bar.segments[-1]) for bar in bars_data if bar.segments]
        where = [f"{slot}: {segment.label}" for slot, segment in ends if segment.other]
        note = (
            f"a slot's {limit} heaviest chunks are drawn one by one; "
            f"the palest segment on top merges the rest ({', '.join(where)})"
        )
    caption = widgets.HTML(
        f'<span style="font-size:small">{html.escape(note)}</span>',
        tooltip="each bar is a worker slot, each segment one of its chunks; the slot's total and share are on top",
    )
    return widgets.VBox([figure, caption])
