"""Service mode: persistent worker loops on Dask, a lossless JSON task queue, health and its gate."""

from .health import GateResult, gate
from .serve import read_health, serve, submit

__all__ = ["GateResult", "gate", "read_health", "serve", "submit"]
