"""What app authors use on the manager side: the base class, the plan type and the balancer."""

from __future__ import annotations

import inspect
import logging
import os
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .core.env import AgiEnv, resolve_data_args, resolve_data_path, root_path
from .core.errors import PlanError
from .core.plan import (
    PLAN_SHAPES,
    Chunk,
    Slot,
    Step,
    WorkPlan,
    balance,
    dag_plan,
    output_stem,
    shape_error,
    worker_slots,
)

logger = logging.getLogger(__name__)

__all__ = ["BaseManager", "Chunk", "Slot", "Step", "WorkPlan", "balance", "dag_plan", "output_stem", "worker_slots"]


class BaseManager:
    """Plans an app's work. Subclasses implement :meth:`build_distribution`.

    The engine builds the manager with the validated arguments and the app's
    :class:`~agi_jupyter.AgiEnv` (``self.env``, for paths); an app need not override this (one
    that does calls ``super().__init__(args, env)``).

    ``self.args`` holds the arguments with their data paths resolved: ``data_in``, ``data_out``
    and every field declared :data:`~agi_jupyter.DataPath` are absolute, a relative value being
    taken under the share dir (``${AGI_SHARE_DIR}``), so ``Path(self.args.data_in)`` is the folder
    to read. The arguments passed in stay as they were (the saved plan records those).
    """

    def __init__(self, args: Any, env: AgiEnv | None = None) -> None:
        self.env = env
        self.args = resolve_data_args(args, self.share_dir)

    @property
    def share_dir(self) -> Path:
        """The app's share dir: the env's, else ``${AGI_SHARE_DIR}``."""
        return self.env.share_dir if self.env else root_path("AGI_SHARE_DIR")

    def build_distribution(self, workers: dict[str, int]) -> WorkPlan | tuple[Any, ...]:
        raise NotImplementedError(f"{type(self).__name__} must implement build_distribution(workers)")

    build_distribution.__doc__ = (  # the shapes are written once, in core.plan, for this and the errors
        """Return the plan for ``workers``: ``{host: slot count}``, in the order of the settings.

    The engine calls it (CHECK DISTRIBUTE, and a RUN whose saved plan is out of date) with
    ``self.args`` resolved. :meth:`distribution` checks what it returns: a wrong shape or slot
    count is a PlanError naming what came back, this class and its file, and the shapes below.

    The two shapes::

"""
        + textwrap.indent(PLAN_SHAPES, " " * 8)
    )

    def data_path(self, value: str | os.PathLike[str]) -> Path:
        """Any other path as a data path: relative under the share dir, absolute unchanged.

        ``self.args``' data paths are already resolved; calling this on them changes nothing.
        """
        return resolve_data_path(value, self.share_dir)

    def distribution(self, workers: Mapping[str, int]) -> WorkPlan:
        """:meth:`build_distribution`, checked: a plan of one list of chunks per configured slot."""
        workers = dict(workers)
        where = f"{type(self).__name__}.build_distribution ({source_of(type(self))})"
        plan = WorkPlan.coerce(self.build_distribution(workers), where)
        expected = len(worker_slots(workers))
        if len(plan.slots) != expected:
            raise shape_error(
                where,
                plan,
                f"{len(plan.slots)} slots for workers {workers}, which have {expected} (one list of chunks per slot)",
            )
        if plan.dag is not None:
            plan.step_order()  # names a cycle or unknown dependency
        plan.check_output_names()  # two chunks must never write the same file
        try:
            plan.check_items()  # items are saved and sent as JSON: refuse a Path here, not later
        except PlanError as error:
            raise PlanError(f"{where} returned a plan whose {error}") from None
        return plan


def source_of(cls: type) -> str:
    """The file defining ``cls`` (its module's name when it has none), for messages."""
    try:
        return inspect.getsourcefile(cls) or cls.__module__
    except (TypeError, OSError):  # a class of a module without a file (a notebook cell, say)
        return cls.__module__
