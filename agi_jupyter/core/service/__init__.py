"""Service mode: persistent worker loops on Dask, a lossless JSON task queue, health and its gate."""

from .health import GateResult, gate
from .metrics import ServiceHealthCollector
from .operator import OperatorSummary, operator_summary, write_operator_snapshot
from .serve import read_health, serve, submit

__all__ = [
    "GateResult",
    "OperatorSummary",
    "ServiceHealthCollector",
    "gate",
    "operator_summary",
    "read_health",
    "serve",
    "submit",
    "write_operator_snapshot",
]
