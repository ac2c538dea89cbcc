"""The Orchestrator widget: thin ipywidgets views over the public engine API."""

from .orchestrator import Orchestrator

__all__ = ["Orchestrator"]
