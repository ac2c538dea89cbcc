"""One exception family for everything a user can act on.

Every message says what failed, where (file, line, key, host, item) and, when there is one,
what to do about it. Catching :class:`AgiError` is enough to handle any product failure.
"""

from __future__ import annotations


class AgiError(Exception):
    """Base of every error the product raises on purpose."""


class AppContractError(AgiError):
    """An app folder does not follow the app contract (missing file, class or settings)."""


class SettingsError(AgiError):
    """``app_settings.toml`` cannot be read, parsed, validated or written."""

    def __init__(self, message: str, *, path: object = None, line: int | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.key = key


class ArgsError(AgiError):
    """App arguments failed validation; ``errors`` maps each field to its message."""

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors: dict[str, str] = dict(errors or {})


class ModeError(AgiError, ValueError):
    """A run mode could not be understood."""


class PlanError(AgiError):
    """A work plan is malformed, or a DAG has a cycle or an unknown dependency."""


class ClusterError(AgiError):
    """No usable Dask client: a scheduler does not answer, or a worker host has no worker."""


class InstallError(AgiError):
    """The worker environment could not be provisioned (dependency, compiler, shipping)."""


class RunError(AgiError):
    """A run failed: the message names the worker, the item and carries the remote traceback."""


class ServiceError(AgiError):
    """A service action cannot be done here: the service runs where this process cannot reach, its
    lock is held too long, or a run would wait behind its loops forever."""
