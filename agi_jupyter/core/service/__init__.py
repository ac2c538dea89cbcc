"""Service mode: persistent worker loops on Dask, a lossless JSON task queue, health and its gate."""

from .health import GateResult, gate
from .metrics import ServiceHealthCollector
from .serve import read_health, serve, submit

__all__ = ["GateResult", "ServiceHealthCollector", "gate", "read_health", "serve", "submit"]
