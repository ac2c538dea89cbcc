"""The Distribute tab's pictures: the DAG graph, the workload stacks, shares and idle slots (no browser)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from agi_jupyter import AgiEnv
from agi_jupyter.core.distrib import Distribution
from agi_jupyter.core.plan import Chunk, WorkPlan
from agi_jupyter.core.settings import save_settings
from agi_jupyter.widgets.common import Context
from agi_jupyter.widgets.distribute_tab import SHOWN_CHUNKS, DistributeTab
from agi_jupyter.widgets.plan_views import (
    STACK_LIMIT,
    dag_graph,
    idle_slots,
    idle_warning,
    load_shares,
    slot_color,
    stack_rows,
    stacks,
)


def context_for(apps_path: Path, app: str, workers: dict[str, int] | None = None, **args: object) -> Context:
    env = AgiEnv(app, apps_path=apps_path)
    values: dict[str, object] = {f"args.{name}": value for name, value in args.items()}
    if workers is not None:
        values["cluster.workers"] = workers
    if values:
        save_settings(env.settings_path, values)
    return Context(env, cell_id=None)


def checked(context: Context) -> DistributeTab:
    """A Distribute tab after CHECK DISTRIBUTE."""
    tab = DistributeTab(context)
    tab.check.click()
    context.actions.wait()
    assert tab.plan is not None, tab.message.text
    return tab


def shown(plan: WorkPlan, workers: dict[str, int], apps_path: Path) -> DistributeTab:
    """A Distribute tab (of the flight app) showing ``plan`` without planning anything."""
    tab = DistributeTab(context_for(apps_path, "flight"))
    tab.show(Distribution(plan=plan, args={}, workers=workers, planner="p", inputs="i", built="now"))
    return tab


def test_the_sensors_dag_is_a_graph_with_a_node_per_step_and_a_link_per_dependency(apps_path: Path) -> None:
    tab = checked(context_for(apps_path, "sensors", workers={"127.0.0.1": 3}))
    plan = tab.plan
    assert plan is not None and plan.dag is not None
    names = tab.slot_names()
    assert names == ["127.0.0.1#0", "127.0.0.1#1", "127.0.0.1#2"]
    graph = dag_graph(plan, names)
    assert [node.name for node in graph.nodes] == list(plan.dag)
    dependencies = {(dep, step) for step, deps in plan.dag.items() for dep in deps}
    assert {(graph.nodes[source].name, graph.nodes[target].name) for source, target in graph.links} == dependencies
    assert len(graph.links) == len(dependencies)
    slot_of = {chunk.label: number for number, chunks in enumerate(plan.slots) for chunk in chunks}
    for node in graph.nodes:
        assert node.slot == slot_of[node.name] and node.slot_name == names[node.slot]
        assert node.color == slot_color(node.slot)
    place = {node.name: (node.depth, node.row) for node in graph.nodes}
    stations = ["north", "south", "east", "west"]
    assert [place[f"ingest_{s}"] for s in stations] == [(0, row) for row in range(4)]
    assert [place[f"clean_{s}"] for s in stations] == [(1, row) for row in range(4)]
    assert place["merge"] == (2, 0) and place["daily"] == (3, 0) and place["anomalies"] == (3, 1)
    assert place["report"] == (4, 0) and (graph.depths, graph.widest) == (5, 4)

    # the tab draws exactly that graph, with its slots as colours and a legend
    assert tab.graph_box.layout.display != "none"
    figure, legend = tab.graph_box.children[0].children
    [mark] = figure.marks
    assert [node["label"] for node in mark.node_data] == [node.name for node in graph.nodes]
    assert [(link["source"], link["target"]) for link in mark.link_data] == graph.links
    assert list(mark.colors) == [node.color for node in graph.nodes]
    assert list(mark.x) == [node.depth for node in graph.nodes]
    assert mark.tooltip.fields == ["label", "slot", "weight", "needs"] and mark.node_data[0]["slot"] == names[0]
    assert figure.title and legend.tooltip
    assert all(name in legend.value and slot_color(n) in legend.value for n, name in enumerate(names))


def test_a_dag_with_a_cycle_is_refused_by_the_layout() -> None:
    from agi_jupyter.core.errors import PlanError

    plan = WorkPlan([[Chunk("a", 1, []), Chunk("b", 1, [])]], dag={"a": ["b"], "b": ["a"]})
    with pytest.raises(PlanError, match="cycle"):
        dag_graph(plan, ["h#0"])


def test_the_flight_stacks_total_the_plans_loads(apps_path: Path) -> None:
    tab = checked(context_for(apps_path, "flight", flights=7))
    plan = tab.plan
    assert plan is not None and plan.dag is None
    names = tab.slot_names()
    bars = stacks(plan, names)
    assert [bar.slot for bar in bars] == names
    for bar, chunks, load in zip(bars, plan.slots, plan.loads):
        assert bar.total == pytest.approx(load) and bar.chunk_count == len(chunks)
        assert math.fsum(segment.weight for segment in bar.segments) == pytest.approx(load)
        weights = [segment.weight for segment in bar.segments]
        assert weights == sorted(weights, reverse=True)  # heaviest at the bottom
    assert sum(len(bar.segments) for bar in bars) == 7
    rows = stack_rows(bars)
    assert [math.fsum(column) for column in zip(*rows)] == pytest.approx(plan.loads)

    [chart_view] = tab.chart_box.children
    figure, caption = chart_view.children
    chart, totals = figure.marks
    assert chart.type == "stacked" and list(chart.x) == names
    assert [list(row) for row in chart.y] == rows
    assert [text.split()[0] for text in totals.text] == [f"{load:.1f}" for load in plan.loads]
    assert figure.title and chart.tooltip is not None and caption.tooltip and "merges" not in caption.value


def test_shares_sum_to_a_hundred_percent_and_show_in_the_tree(apps_path: Path) -> None:
    tab = checked(context_for(apps_path, "flight", flights=7))
    assert tab.plan is not None
    shares = load_shares(tab.plan)
    assert math.fsum(shares) == pytest.approx(100.0)
    [tree] = tab.tree_box.children
    labels = [slot.name for host in tree.nodes for slot in host.nodes]
    for label, name, chunks, share in zip(labels, tab.slot_names(), tab.plan.slots, shares):
        assert label.startswith(f"{name} — {len(chunks)} chunk") and f"{share:.1f} %" in label


def test_shares_of_a_weightless_plan_are_zero() -> None:
    assert load_shares(WorkPlan([[Chunk("a", 0, [])], []])) == [0.0, 0.0]


def test_more_slots_than_chunks_warns_naming_the_idle_slots(apps_path: Path) -> None:
    tab = checked(context_for(apps_path, "flight", workers={"127.0.0.1": 4}, flights=3))
    assert tab.plan is not None
    names = tab.slot_names()
    idle = idle_slots(tab.plan, names)
    assert len(idle) == 1 and idle[0] in names
    assert tab.idle.kind == "warn"
    assert tab.idle.text == f"{idle[0]} received no work: fewer chunks (3) than slots (4)"
    assert idle_warning(tab.plan, names) == tab.idle.text


def test_every_slot_busy_shows_no_warning(apps_path: Path) -> None:
    tab = checked(context_for(apps_path, "flight", flights=6))
    assert tab.idle.text == ""


def test_a_ten_thousand_chunk_plan_caps_the_chart_with_an_other_segment(apps_path: Path) -> None:
    chunks = [Chunk(f"c{n}", float(n % 7 + 1), [f"item{n}"]) for n in range(10_000)]
    plan = WorkPlan.balanced(chunks, 4, weights_unit="MB")
    workers = {"10.0.0.1": 2, "10.0.0.2": 2}
    names = ["10.0.0.1#0", "10.0.0.1#1", "10.0.0.2#0", "10.0.0.2#1"]
    bars = stacks(plan, names)
    for bar, slot_chunks, load in zip(bars, plan.slots, plan.loads):
        assert len(bar.segments) == STACK_LIMIT + 1
        other = bar.segments[-1]
        assert other.other and other.label == f"other {len(slot_chunks) - STACK_LIMIT} chunks"
        assert not any(segment.other for segment in bar.segments[:-1])
        assert bar.chunk_count == len(slot_chunks) and bar.total == pytest.approx(load)
        assert math.fsum(segment.weight for segment in bar.segments) == pytest.approx(load)

    tab = shown(plan, workers, apps_path)  # completes; no timing asserted
    assert tab.slot_names() == names
    [chart_view] = tab.chart_box.children
    figure, caption = chart_view.children
    chart = figure.marks[0]
    assert len(chart.y) == STACK_LIMIT + 1 and all(len(row) == 4 for row in chart.y)
    assert chart.opacities[-1] < min(chart.opacities[:-1])  # the "other" level is the palest
    assert f"10.0.0.1#0: other {len(plan.slots[0]) - STACK_LIMIT} chunks" in caption.value
    [tree] = tab.tree_box.children
    assert all([node.name for node in slot.nodes] == ["..."] for host in tree.nodes for slot in host.nodes)
    tab.source.value = 0
    assert len(tab.chunk.options) == SHOWN_CHUNKS * 5  # the editor lists a bounded number of chunks


def test_non_dag_apps_hide_the_graph(apps_path: Path) -> None:
    sensors = checked(context_for(apps_path, "sensors"))
    assert sensors.graph_box.layout.display != "none" and sensors.graph_box.children
    flight = checked(context_for(apps_path, "flight", flights=6))
    assert flight.graph_box.layout.display == "none" and not flight.graph_box.children
    # a DAG plan replaced by a plain one hides the graph again
    assert sensors.plan is not None
    sensors.show(
        Distribution(plan=WorkPlan([[Chunk("a", 1, [])]]), args={}, workers={"h": 1}, planner="", inputs="", built="x")
    )
    assert sensors.graph_box.layout.display == "none" and not sensors.graph_box.children


def widgets_under(widget: object) -> list[object]:
    found = [widget]
    for child in getattr(widget, "children", ()):
        found += widgets_under(child)
    return found


def test_tooltips_sit_only_on_widgets_whose_view_can_show_them(apps_path: Path) -> None:
    """ipywidgets 8 reads ``description`` when a ``tooltip`` is set: a Tree or Figure with one fails to render."""
    tab = checked(context_for(apps_path, "sensors"))
    shown_widgets = widgets_under(tab)
    assert any(type(widget).__name__ == "Figure" for widget in shown_widgets)
    assert any(type(widget).__name__ == "Tree" for widget in shown_widgets)
    for widget in shown_widgets:
        if isinstance(getattr(widget, "tooltip", None), str) and widget.tooltip:  # type: ignore[attr-defined]
            assert widget.has_trait("description"), f"{type(widget).__name__} has a tooltip but no description"
    assert tab.tree_caption.tooltip and tab.tree_caption.layout.display != "none"
