"""Manager of the sensors app: a DAG of steps rather than a tree of partitions."""

from __future__ import annotations

from agi_jupyter.app import BaseManager, Step, WorkPlan, dag_plan, worker_slots


class Sensors(BaseManager):
    """Per station ``ingest_<s> -> clean_<s>``; then ``merge -> daily, anomalies -> report``."""

    def steps(self) -> list[Step]:
        a = self.args
        branch = float(a.days)
        steps: list[Step] = []
        for station in a.stations:
            steps.append(Step(f"ingest_{station}", [], branch, {"station": station}))
            steps.append(Step(f"clean_{station}", [f"ingest_{station}"], branch / 2, {"station": station}))
        merged = branch * len(a.stations) / 4
        steps.append(Step("merge", [f"clean_{s}" for s in a.stations], merged))
        steps.append(Step("daily", ["merge"], merged))
        steps.append(Step("anomalies", ["merge"], merged))
        steps.append(Step("report", ["daily", "anomalies"], 1.0))
        return steps

    def build_distribution(self, workers: dict[str, int]) -> WorkPlan:
        return dag_plan(self.steps(), len(worker_slots(workers)), weights_unit="station-days")
