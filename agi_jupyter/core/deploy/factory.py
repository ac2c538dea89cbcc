"""``[cluster] factory``: the cluster comes from any Dask cluster manager the settings name.

``factory = "module.Class"`` with ``factory_kwargs`` -- ``dask_jobqueue.SLURMCluster`` or
``PBSCluster``, ``dask_kubernetes``' ``KubeCluster``, ``dask_gateway.GatewayCluster``,
``distributed.LocalCluster`` -- is called once per interpreter and a client connected to it, as
dask-labextension's factory setting does. :func:`~agi_jupyter.core.cluster.client_for` asks here
first when a factory is set (after the kernel's own client, before any scheduler address).
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..cluster import Closable, ClusterHandle, LineCallback, close_quietly, register_cleanup
from ..errors import ClusterError

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger(__name__)

_lock = threading.RLock()  # one factory call at a time: a second caller waits and reuses the first's cluster
_factories: dict[str, tuple[Closable, Client]] = {}


def factory_cluster(factory: str, kwargs: Mapping[str, object], say: LineCallback | None = None) -> ClusterHandle:
    """The cluster ``[cluster] factory`` makes (one per factory and arguments, kept for the interpreter).

    Any Dask cluster manager works the same way: ``dask_jobqueue.SLURMCluster``/``PBSCluster``,
    ``dask_kubernetes``' ``KubeCluster``, ``dask_gateway.GatewayCluster``, ``distributed.LocalCluster``;
    the engine calls ``Class(**factory_kwargs)`` and connects a client to it, as dask-labextension's
    factory setting does.
    """
    from distributed import Client

    key = json.dumps([factory, dict(kwargs)], sort_keys=True, default=str)
    with _lock:
        found = _factories.get(key)
        if found is not None and found[1].status == "running":
            return ClusterHandle.of(found[1], "factory", owned=True)
        module_name, _, class_name = factory.rpartition(".")
        try:
            manager = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as error:
            raise ClusterError(
                f"[cluster] factory {factory!r} cannot be imported ({error}): install the package that provides it"
            ) from None
        (say or (lambda line: None))(f"starting a Dask cluster with {factory}({_shown(kwargs)})")
        try:
            made = manager(**kwargs)
            client = Client(made, set_as_default=False)
        except Exception as error:  # noqa: BLE001 - a cluster manager raises whatever its backend raises
            raise ClusterError(
                f"[cluster] factory {factory}({_shown(kwargs)}) failed: {type(error).__name__}: {error}"
            ) from None
        _factories[key] = (made, client)
        register_cleanup()
        return ClusterHandle.of(client, "factory", owned=True)


def running_factory() -> ClusterHandle | None:
    """A running factory-made cluster, if there is one (never starts one)."""
    with _lock:
        for _, client in _factories.values():
            if client.status == "running":
                return ClusterHandle.of(client, "factory", owned=True)
    return None


def close_factory_clusters() -> int:
    """Close the clusters the factory made; how many."""
    with _lock:
        made = list(_factories.values())
        _factories.clear()
    for manager, client in made:
        close_quietly(client)
        close_quietly(manager)
    return len(made)


def _shown(kwargs: Mapping[str, object]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
