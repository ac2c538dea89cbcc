"""The Cython build of an app's worker, compiled on each worker host by INSTALL.

A compiled extension belongs to the Python and the C library it was built against, so each host
compiles the worker module itself, in its worker environment (which has Cython and setuptools),
into ``<worker_env_root>/agi_worker/builds/<package>-<source digest>``. Workers the engine
started there have ``AGI_HOST_BUILDS`` pointing at that folder, and the app's code plugin
imports the host's build from it (see :class:`~agi_jupyter.core.shipping.AppCodePlugin`). A
build of the same source is skipped; a failed one leaves nothing behind (it is built aside,
checked by importing it, then renamed into place).
"""

from __future__ import annotations

import asyncio
import io
import logging
import shlex
import tarfile
from collections.abc import Mapping

from ..env import AgiEnv
from ..errors import ClusterError
from ..logs import LineCallback
from ..settings import ClusterSettings
from ..shipping import host_build_key
from .provision import host_root, put_bytes
from .ssh import connect, must, run, run_sync

logger = logging.getLogger(__name__)


def build_on_hosts(env: AgiEnv, settings: ClusterSettings, workers: Mapping[str, int], say: LineCallback) -> list[str]:
    """Compile the worker module on every worker host beyond this machine; the builds' paths."""
    from .control import is_this_machine

    hosts = [host for host in workers if not is_this_machine(host)]
    if not hosts:
        return []
    key, source = host_build_key(env), _source_archive(env)

    async def one_host(host: str) -> str:
        from .ssh import access_for

        access = access_for(settings, host)
        async with connect(access) as connection:
            root = await host_root(connection, access)
            target = f"{root}/builds/{key}"
            if (await run(connection, f"test -d {target}")).status == 0:
                say(f"{host}: Cython build {key} already compiled there")
                return target
            say(f"{host}: compiling the Cython build {key} there")
            staging = f"{target}.partial"
            await must(connection, access, f"rm -rf {staging} && mkdir -p {staging}/src", "preparing the build")
            await put_bytes(connection, f"{staging}/source.tar", source)
            python = f"{root}/venv/bin/python"
            package, module = f"{env.worker_module}_cython", env.worker_module
            code = (
                "from setuptools import setup; from Cython.Build import cythonize; "
                f"setup(name={package!r}, ext_modules=cythonize([{package + '/' + module + '.py'!r}], "
                "language_level=3, quiet=True), script_args=['build_ext', '--inplace'])"
            )
            check = f"import sys; sys.path[:0] = ['.', 'src']; import {package}.{module} as m; print(m.__file__)"
            built = await must(
                connection,
                access,
                f"cd {staging} && tar -xf source.tar && rm source.tar && cp -r src/{module} {package} && "
                f"{python} -c {shlex.quote(code)} && rm -rf build {package}/{module}.py {package}/{module}.c && "
                f"{python} -c {shlex.quote(check)}",
                "compiling the Cython build (is gcc there, and the Python headers, e.g. python3-dev?)",
            )
            if not built.strip().splitlines()[-1].endswith(".so"):
                raise ClusterError(
                    f"{access.where}: the compiled worker did not load as an extension ({built.strip()})"
                )
            await must(connection, access, f"rm -rf {staging}/src && rm -rf {target} && mv {staging} {target}", "build")
            say(f"{host}: compiled {target}")
            return target

    async def every_host() -> list[str]:
        return list(await asyncio.gather(*(one_host(host) for host in hosts)))

    return run_sync(every_host())


def _source_archive(env: AgiEnv) -> bytes:
    """The app's ``src`` folder as a tar (what the build imports), without caches."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in sorted(env.src_path.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".pxd", ".toml"):
                archive.add(str(path), arcname=f"src/{path.relative_to(env.src_path)}")
    return buffer.getvalue()
