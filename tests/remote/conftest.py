"""The ``remote_hosts`` fixture: two real SSH hosts (network namespaces) on this machine, for the session.

Without root, ``ip``, ``sshd`` or ``ssh-keygen`` the tests that use it skip with the reason, except under
CI=true where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .hosts import LabBuilder, RemoteLab, unavailable_reason


@pytest.fixture(scope="session")
def remote_lab_available() -> None:
    """Skip (fail under CI=true) when a lab cannot be built here."""
    reason = unavailable_reason()
    if reason is None:
        return
    message = f"remote hosts over SSH unavailable: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " — required under CI=true", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def remote_hosts(remote_lab_available: None) -> Iterator[RemoteLab]:
    """Two hosts h1, h2, each its own namespace, sshd port and Unix user, on one bridge with the gateway."""
    builder = LabBuilder()  # registers its teardown with atexit already; the finally below is the normal way
    try:
        with builder.teardown_on_signals():
            yield builder.build(2)
    finally:
        builder.teardown()
