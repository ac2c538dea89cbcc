"""The engine as a command uses it: one coroutine to completion, Ctrl-C cancelling it, then everything closed."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any


def run_engine(action: Coroutine[Any, Any, Any], on_cancel: Callable[[], Any] | None = None) -> Any:
    """Run an engine coroutine; Ctrl-C cancels the engine's work (``on_cancel``) before exiting."""

    async def guarded() -> Any:
        try:
            return await action
        except asyncio.CancelledError:
            if on_cancel is not None:
                on_cancel()
            raise

    return asyncio.run(guarded())


def close_engine() -> None:
    """Close what the engine started: its local Dask cluster and warm worker processes.

    A command line has no next run to keep them warm for; ``sys.modules`` is checked so that
    ``--help`` and usage errors do not import the engine just to close nothing.
    """
    engine = sys.modules.get("agi_jupyter.core.engine")
    if engine is not None:
        engine.AGI.close()
    local = sys.modules.get("agi_jupyter.core.local")
    if local is not None:
        local.close_local_workers()
