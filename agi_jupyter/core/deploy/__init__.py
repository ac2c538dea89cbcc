"""Scale-out: the engine starts the Dask scheduler and workers the settings name, here or over SSH.

- :mod:`.control`: what to start for a scheduler address and ``{host: slots}``, status and stop;
- :mod:`.launch`: Dask's own ``dask scheduler`` / ``dask worker`` processes, detached, here or over SSH;
- :mod:`.provision`: a worker host's environment (uv, Python, the kernel's package versions, the engine);
- :mod:`.wheelhouse`: the wheels a host installs offline, pinned to this kernel's versions;
- :mod:`.ssh`: asyncssh connections with key auth and host-key checking, and clear errors;
- :mod:`.records`: the launch record of what the engine started, so it can be adopted and stopped.

Why not ``distributed.deploy.SSHCluster``: its processes live as long as the SSH connection of the
Python object that started them, while these must outlive the kernel (persistent workers that
the next kernel adopts). The same parts are used -- asyncssh for the transport, Dask's own
``dask scheduler`` and ``dask worker`` command lines for the processes -- started detached.
"""

from __future__ import annotations

from .control import ProcessState, Target, ensure, is_this_machine, probe, status, stop
from .records import Launched, LaunchRecord, read_launches

__all__ = [
    "LaunchRecord",
    "Launched",
    "ProcessState",
    "Target",
    "ensure",
    "is_this_machine",
    "probe",
    "read_launches",
    "status",
    "stop",
]
