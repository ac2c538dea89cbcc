"""What app authors subclass on the worker side.

``BaseWorker`` defines the hooks and the order they run in; ``PandasWorker`` writes each
chunk's results to ``data_out``; ``DagWorker`` runs named steps in dependency order.
"""

from .base import BaseWorker, resolve_args
from .dag import DagWorker
from .pandas import PandasWorker

__all__ = ["BaseWorker", "DagWorker", "PandasWorker", "resolve_args"]
