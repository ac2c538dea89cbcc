"""Manager of the app_template app: a DAG of named steps instead of a tree of partitions.

Per region ``generate_<region> -> clean_<region>``; then ``combine`` (every clean region) feeds
``totals`` and ``daily``, and ``report`` needs both. The engine runs each step after the steps it
depends on, spread over the worker slots; a step's weight is its estimated cost.
"""

from __future__ import annotations

from agi_jupyter.app import BaseManager, Step, WorkPlan, dag_plan, worker_slots


class AppTemplate(BaseManager):
    """Plans the steps and their dependencies; :meth:`steps` is the place to add one."""

    def steps(self) -> list[Step]:
        regions: list[str] = self.args.regions
        branch = float(self.args.days)
        steps: list[Step] = []
        for region in regions:
            steps.append(Step(f"generate_{region}", [], branch, {"region": region}))
            steps.append(Step(f"clean_{region}", [f"generate_{region}"], branch / 2, {"region": region}))
        combined = branch * len(regions) / 4
        steps.append(Step("combine", [f"clean_{region}" for region in regions], combined))
        steps.append(Step("totals", ["combine"], combined))
        steps.append(Step("daily", ["combine"], combined))
        steps.append(Step("report", ["totals", "daily"], 1.0))
        return steps

    def build_distribution(self, workers: dict[str, int]) -> WorkPlan:
        return dag_plan(self.steps(), len(worker_slots(workers)), weights_unit="region-days")
