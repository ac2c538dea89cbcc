"""Settings: mode toggles with the live mode hint, the pool parameters (width, per-item timeout,
executor), scheduler, workers editor, verbosity, the SSH and worker hosts section with CHECK
HOSTS, and DIAGNOSE.

Each valid change is written to ``app_settings.toml`` at once (only that key, formatting kept);
an invalid host, slot count, scheduler address or SSH setting is shown next to the field, naming
the key, and never saved. An SSH field left empty is not written (the key is removed if the file
had it), so the ``[cluster]`` default applies.

The verbosity slider (``[cluster] verbose``) also sets the level of the ``agi_jupyter`` logger,
here when it moves and in the Orchestrator when it shows an app: 0 -> WARNING, 1 -> INFO,
2 and 3 -> DEBUG (3 also makes the app's workers print their most detailed lines). Only the
level changes; lines the user reads keep flowing through the tabs' log views.
"""

from __future__ import annotations

import getpass
import html
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..core.errors import SettingsError
from ..core.logs import apply_verbosity
from ..core.modes import Capabilities, mode_hint
from ..core.settings import DELETE, ClusterSettings, check_host, check_slots, save_settings, split_address
from .common import Context, Message, error_text, wrap_row

logger = logging.getLogger(__name__)

TOGGLES = (("pool", "pool"), ("cython", "cython"), ("rapids", "rapids"), ("cluster_enabled", "Dask"))
TOGGLE_TOOLTIPS = {
    "pool": "pool mode: run each worker's items in a process pool",
    "cython": "cython mode: run the Cython-compiled worker (INSTALL compiles it)",
    "rapids": "rapids mode: use the GPU libraries where the app supports them",
    "cluster_enabled": "Dask mode: run on the Dask cluster, one task per worker slot",
}


class WorkerRow(widgets.HBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    def __init__(self, host: str, slots: int, on_change: Any, on_remove: Any) -> None:
        self.host = widgets.Text(
            value=host,
            placeholder="host or IP",
            tooltip="a worker host: its name or IP address (127.0.0.1 is this machine)",
            continuous_update=False,
            layout=widgets.Layout(width="16em"),
        )
        self.slots = widgets.BoundedIntText(
            value=slots,
            min=0,
            max=4096,
            tooltip="worker slots on this host: how many workers run there at once",
            layout=widgets.Layout(width="7em"),
        )
        self.remove = widgets.Button(icon="trash", tooltip="remove this host", layout=widgets.Layout(width="3em"))
        self.error = Message()
        self.host.observe(lambda _: on_change(), names="value")
        self.slots.observe(lambda _: on_change(), names="value")
        self.remove.on_click(lambda _: on_remove(self))
        super().__init__(
            [self.host, widgets.Label("slots"), self.slots, self.remove, self.error],
            layout=widgets.Layout(flex_flow="row wrap"),
        )


# ----- SSH and worker hosts ---------------------------------------------------------------------
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
CHECK_MARKS = {True: ("var(--jp-success-color1)", "✓"), False: ("var(--jp-error-color1)", "✗")}
CHECK_HOSTS_CODE = "from agi_jupyter.core.deploy.check import check_app_hosts\n\ncheck_app_hosts(env)"


class Parsed:
    """What a field's text means: the value to save (or DELETE) and an optional warning."""

    def __init__(self, value: Any, warning: str = "") -> None:
        self.value = value
        self.warning = warning


def _parse_user(text: str) -> Parsed:
    if not _USER.match(text):
        raise ValueError(f"{text!r} is not a user name (letters, digits, '_', '.' or '-')")
    return Parsed(text)


def _parse_port(text: str) -> Parsed:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{text!r} must be a whole number from 1 to 65535")
    return Parsed(int(text))


def _parse_key(text: str) -> Parsed:
    path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError(
            f"the key file {path} does not exist (give the private key's path, or leave the field empty "
            "to use the ssh-agent's keys and ~/.ssh/id_*)"
        )
    if path.suffix == ".pub":
        raise ValueError(f"{path} is a public key: give the private key beside it ({path.with_suffix('')})")
    return Parsed(text)


def _parse_known_hosts(text: str) -> Parsed:
    path = Path(text).expanduser()
    if path.is_dir():
        raise ValueError(f"{path} is a folder: give the known_hosts file")
    warning = (
        ""
        if path.is_file()
        else f"saved; {path} does not exist yet: every host key is unknown unless ssh_trust_new_hosts records it"
    )
    return Parsed(text, warning)


def _parse_timeout(text: str) -> Parsed:
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"{text!r} must be a number of seconds (more than 0, at most 600)") from None
    if not 0 < seconds <= 600:
        raise ValueError(f"{text!r} must be more than 0 and at most 600 seconds")
    return Parsed(int(seconds) if text.isdigit() else seconds)


def _parse_python(text: str) -> Parsed:
    if any(character.isspace() for character in text) or any(character in text for character in "'\"`$;&|<>"):
        raise ValueError(f"{text!r} must be one command name or path (e.g. python3.12 or /usr/bin/python3)")
    return Parsed(text)


def _parse_env_root(text: str) -> Parsed:
    if any(character.isspace() for character in text) or any(character in text for character in "'\"`$;&|<>"):
        raise ValueError(f"{text!r} must be a folder path without spaces or shell characters")
    if text.startswith("~"):
        raise ValueError(f"{text!r}: give a path relative to the remote home folder (e.g. wenv) or an absolute one")
    return Parsed(text)


@dataclass(frozen=True)
class SshField:
    """One ``[cluster]`` key of the SSH section: its parser, what an empty field means, and a tooltip."""

    key: str
    parse: Callable[[str], Parsed]
    default: str
    tooltip: str


def ssh_fields() -> tuple[SshField, ...]:
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return (
        SshField("ssh_user", _parse_user, f"{getpass.getuser()} (this user)", "user name to log in as on worker hosts"),
        SshField("ssh_port", _parse_port, "22", "SSH port of the worker hosts (1-65535)"),
        SshField(
            "ssh_key_path",
            _parse_key,
            "ssh-agent keys, ~/.ssh/id_*",
            "private key file to log in with (key-based authentication only: passwords are never used)",
        ),
        SshField(
            "ssh_known_hosts",
            _parse_known_hosts,
            "~/.ssh/known_hosts",
            "file of trusted host keys that worker hosts are checked against",
        ),
        SshField("ssh_timeout", _parse_timeout, "10", "seconds to wait for a host to answer on SSH (at most 600)"),
        SshField(
            "remote_python",
            _parse_python,
            python,
            "Python on the worker hosts (command or path); INSTALL fetches one with uv when it is missing",
        ),
        SshField(
            "worker_env_root",
            _parse_env_root,
            "wenv",
            "folder of the worker environments on each host, relative to the remote home folder or absolute",
        ),
    )


def field_text(cluster: ClusterSettings, key: str) -> str:
    """What the field shows: the saved value, or "" when the file leaves the key at its default."""
    if key not in cluster.model_fields_set:
        return ""
    value = getattr(cluster, key)
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


class SshRow(widgets.HBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """One SSH key: a text field (empty: the default, shown greyed) and its message."""

    def __init__(self, field: SshField, value: str, on_change: Callable[[SshRow], None]) -> None:
        self.field = field
        self.text = widgets.Text(
            value=value,
            description=field.key,
            placeholder=f"default: {field.default}",
            tooltip=field.tooltip,
            continuous_update=False,
            style={"description_width": "9em"},
            layout=widgets.Layout(width="34em", max_width="100%"),
        )
        self.error = Message()
        self.text.observe(lambda _: on_change(self), names="value")
        super().__init__([self.text, self.error], layout=widgets.Layout(flex_flow="row wrap"))

    def parsed(self) -> Parsed | None:
        """The field's value to save (empty: DELETE, the default), or None after showing why it is refused."""
        self.error.clear()
        text = self.text.value.strip()
        try:
            return self.field.parse(text) if text else Parsed(DELETE)
        except ValueError as error:
            self.error.show(f"not saved: {self.field.key}: {error}", "error")
            return None


class SshSection(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """``[cluster]`` launch and SSH keys, the per-host overrides, and CHECK HOSTS with its table."""

    def __init__(self, context: Context, save: Callable[[dict[Any, Any]], bool]) -> None:
        self.context = context
        self._save = save
        cluster = context.settings().cluster
        self.launch_status = Message()
        self.trust_status = Message()
        self.launch = widgets.Checkbox(
            value=cluster.launch,
            description="launch: start the scheduler and workers when none answer",
            tooltip="[cluster] launch: start the scheduler and the workers named above when none answer "
            "(detached, adopted by later kernels)",
            indent=False,
            layout=widgets.Layout(width="auto"),
        )
        self.launch.observe(lambda change: self._toggle("launch", change["new"], self.launch_status), names="value")
        self.rows = {field.key: SshRow(field, field_text(cluster, field.key), self._changed) for field in ssh_fields()}
        self.trust = widgets.Checkbox(
            value=cluster.ssh_trust_new_hosts,
            description="ssh_trust_new_hosts: trust a host seen for the first time and record its key",
            tooltip="[cluster] ssh_trust_new_hosts: trust on first use; a key that differs from a recorded one "
            "is refused either way",
            indent=False,
            layout=widgets.Layout(width="auto"),
        )
        self.trust.observe(
            lambda change: self._toggle("ssh_trust_new_hosts", change["new"], self.trust_status), names="value"
        )
        self.hosts = widgets.HTML()
        self.check = widgets.Button(
            description="CHECK HOSTS",
            icon="server",
            tooltip="for each worker host: reachable, SSH login, Python, uv, disk free, install state, Dask workers",
        )
        self.check.on_click(lambda _: self.check_hosts())
        self.elapsed = widgets.Label()
        self.status = Message()
        self.code = widgets.HTML(
            "<details><summary>code that runs</summary>"
            f'<pre style="font-size:90%; margin:0.3em 0">{html.escape(CHECK_HOSTS_CODE)}</pre></details>'
        )
        self.results = widgets.HTML()
        self.last_host_checks: list[Any] | None = None
        self.show_hosts(cluster)
        super().__init__(
            [
                widgets.HTML(
                    "<b>SSH and worker hosts</b> (how the engine reaches worker hosts beyond this machine; "
                    "an empty field takes the default shown in grey)"
                ),
                wrap_row([self.launch, self.launch_status]),
                *self.rows.values(),
                wrap_row([self.trust, self.trust_status]),
                self.hosts,
                wrap_row([self.check, self.elapsed, self.status]),
                self.code,
                self.results,
            ]
        )
        self.add_class("agi-ssh-hosts")

    # ----- fields -------------------------------------------------------------------------------
    def _toggle(self, key: str, value: bool, status: Message) -> None:
        status.clear()
        if self._save({f"cluster.{key}": value}):
            status.show("saved", "ok")

    def _changed(self, row: SshRow) -> None:
        key, text = row.field.key, row.text.value.strip()
        parsed = row.parsed()
        if parsed is None:
            return
        if self._save({f"cluster.{key}": parsed.value}):
            if parsed.warning:
                row.error.show(f"{key}: {parsed.warning}", "warn")
            else:
                row.error.show("saved" if text else f"saved: default ({row.field.default})", "ok")

    def errors(self) -> dict[str, str]:
        """The fields whose value was refused, with the message shown next to each."""
        return {key: row.error.text for key, row in self.rows.items() if getattr(row.error, "kind", "") == "error"}

    def show_hosts(self, cluster: ClusterSettings) -> None:
        """The access to each worker host: per-host overrides in bold, the rest from ``[cluster]``."""
        from ..core.cluster import is_loopback
        from ..core.deploy.ssh import access_for

        names = list(dict.fromkeys([*cluster.workers, *cluster.hosts]))
        rows = []
        for host in names:
            if is_loopback(host):
                rows.append(f'<tr><td>{html.escape(host)}</td><td colspan="5"><i>this machine: no SSH</i></td></tr>')
                continue
            access = access_for(cluster, host)
            override = cluster.hosts.get(host)
            cells = []
            for key, value in (
                ("ssh_user", access.user),
                ("ssh_port", access.port),
                ("ssh_key_path", access.key_path or "agent / ~/.ssh/id_*"),
                ("remote_python", access.python),
                ("worker_env_root", access.env_root),
            ):
                text = html.escape(str(value))
                cells.append(f"<td><b>{text}</b></td>" if override and getattr(override, key) else f"<td>{text}</td>")
            where = "" if host in cluster.workers else " <i>(not in workers)</i>"
            rows.append(f"<tr><td>{html.escape(host)}{where}</td>{''.join(cells)}</tr>")
        self.hosts.value = (
            "<div>Access per host (<b>bold</b>: set in <code>[cluster.hosts.&quot;HOST&quot;]</code> of "
            "app_settings.toml, where per-host overrides are edited; the rest comes from the fields above)</div>"
            '<table style="border-collapse:collapse" cellpadding="3"><tr><th>host</th><th>ssh_user</th>'
            "<th>ssh_port</th><th>ssh_key_path</th><th>remote_python</th><th>worker_env_root</th></tr>"
            f"{''.join(rows)}</table>"
        )

    # ----- CHECK HOSTS --------------------------------------------------------------------------
    def check_hosts(self) -> None:
        """Run ``check_app_hosts(env)`` off the kernel's thread; the table shows each host's items."""
        from ..core.deploy.check import check_app_hosts

        env = self.context.env
        started = time.monotonic()
        running = threading.Event()
        running.set()

        def tick() -> None:
            while running.is_set():
                self.elapsed.value = f"{time.monotonic() - started:.0f} s"
                time.sleep(0.5)

        def done(checks: list[Any]) -> None:
            running.clear()
            self.elapsed.value = f"{time.monotonic() - started:.1f} s"
            self.show_results(checks)

        def failed(error: BaseException) -> None:
            running.clear()
            self.elapsed.value = ""
            self.status.show(f"CHECK HOSTS failed: {error_text(error)}", "error")

        self.status.show("checking the worker hosts...")
        self.results.value = "<i>checking...</i>"
        if self.context.actions.start(
            "check_hosts", lambda: check_app_hosts(env), on_done=done, on_error=failed, controls=[self.check]
        ):
            threading.Thread(target=tick, daemon=True).start()

    def show_results(self, checks: list[Any]) -> None:
        self.last_host_checks = checks
        bad = [check for check in checks if not check.ok]
        hosts = len(dict.fromkeys(check.host for check in checks))
        if bad:
            self.status.show(f"{len(bad)} of {len(checks)} items fail on {hosts} host(s): see the fixes", "warn")
        else:
            self.status.show(f"all {len(checks)} items fine on {hosts} host(s)", "ok")
        rows = "".join(
            f"<tr><td>{html.escape(check.host)}</td><td>{html.escape(check.item)}</td>"
            f'<td style="color:{CHECK_MARKS[check.ok][0]}">{CHECK_MARKS[check.ok][1]}</td>'
            f"<td>{html.escape(check.detail)}</td><td>{html.escape(check.fix)}</td></tr>"
            for check in checks
        )
        self.results.value = (
            '<table style="border-collapse:collapse" cellpadding="3"><tr><th>host</th><th>item</th><th>ok</th>'
            f"<th>detail</th><th>fix</th></tr>{rows}</table>"
        )


# ----- pool ----------------------------------------------------------------------------------------
def _parse_pool_width(text: str) -> Parsed:
    if not text.isdigit() or not 1 <= int(text) <= 512:
        raise ValueError(f"{text!r} must be a whole number from 1 to 512 (empty: the CPU count)")
    return Parsed(int(text))


def _parse_item_timeout(text: str) -> Parsed:
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"{text!r} must be a number of seconds, more than 0 (empty: no limit)") from None
    if not 0 < seconds <= 7 * 24 * 3600:
        raise ValueError(f"{text!r} must be more than 0 and at most 604800 seconds (a week)")
    return Parsed(seconds)


def pool_fields() -> tuple[SshField, ...]:
    import os

    return (
        SshField(
            "pool_width",
            _parse_pool_width,
            f"the CPU count ({os.cpu_count() or 1} here)",
            "most members of the pool of the pool bit, per worker slot (1-512)",
        ),
        SshField(
            "item_timeout",
            _parse_item_timeout,
            "no limit",
            "seconds one work item may run before its chunk fails, in every mode",
        ),
    )


class PoolSection(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """``[cluster]`` pool_width, item_timeout and pool_executor: how runs size their pools and bound their items."""

    def __init__(self, cluster: ClusterSettings, save: Callable[[dict[Any, Any]], bool]) -> None:
        self._save = save
        self.rows = {field.key: SshRow(field, field_text(cluster, field.key), self._changed) for field in pool_fields()}
        self.executor = widgets.ToggleButtons(
            options=["process", "thread"],
            value=cluster.pool_executor,
            description="pool_executor",
            tooltip="what the pool bit runs work items in: processes (a late item's pool is killed) or threads",
            style={"description_width": "9em", "button_width": "6em"},
        )
        self.executor_status = Message()
        self.executor.observe(lambda change: self._executor(change["new"]), names="value")
        super().__init__(
            [
                widgets.HTML("<b>Pool</b> (an empty field takes the default shown in grey)"),
                *self.rows.values(),
                wrap_row([self.executor, self.executor_status]),
            ]
        )
        self.add_class("agi-pool")

    def _changed(self, row: SshRow) -> None:
        key, text = row.field.key, row.text.value.strip()
        parsed = row.parsed()
        if parsed is None:
            return
        if self._save({f"cluster.{key}": parsed.value}):
            row.error.show(f"saved {key}" if text else f"saved {key}: default ({row.field.default})", "ok")

    def _executor(self, value: str) -> None:
        self.executor_status.clear()
        if self._save({"cluster.pool_executor": value}):
            self.executor_status.show("saved pool_executor", "ok")

    def errors(self) -> dict[str, str]:
        """The fields whose value was refused, with the message shown next to each."""
        return {key: row.error.text for key, row in self.rows.items() if getattr(row.error, "kind", "") == "error"}


class SettingsTab(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """The ``[cluster]`` settings of one app."""

    def __init__(self, context: Context) -> None:
        self.context = context
        cluster = context.settings().cluster
        self.capabilities = Capabilities.detect()
        self.toggles = {
            key: widgets.ToggleButton(value=getattr(cluster, key), description=label, tooltip=TOGGLE_TOOLTIPS[key])
            for key, label in TOGGLES
        }
        for key, toggle in self.toggles.items():
            toggle.observe(lambda change, key=key: self._save({f"cluster.{key}": change["new"]}), names="value")
        self.hint = widgets.HTML()
        self.scheduler = widgets.Text(
            value=cluster.scheduler or "",
            description="scheduler",
            tooltip="address of the Dask scheduler to use (host:port); empty: a local cluster on this machine",
            continuous_update=False,
            placeholder="host:port",
        )
        self.scheduler.observe(lambda change: self._scheduler(change["new"]), names="value")
        self.scheduler_error = Message()
        self.rows: list[WorkerRow] = []
        self.rows_box = widgets.VBox()
        for host, slots in cluster.workers.items():
            self._add_row(host, slots)
        self.add = widgets.Button(description="add host", icon="plus", tooltip="add a worker host row to fill in")
        self.add.on_click(lambda _: self._add_row("", 1))
        self.workers_error = Message()
        self.verbose = widgets.IntSlider(
            value=cluster.verbose,
            min=0,
            max=3,
            description="verbosity",
            tooltip="how much the engine and the workers log: 0 warnings only, 1 progress, 2 and 3 details",
        )
        self.verbose.observe(lambda change: self._verbosity(change["new"]), names="value")
        self.client = widgets.HTML("<i>Dask client: checking...</i>")
        self.diagnose = widgets.Button(
            description="DIAGNOSE",
            icon="stethoscope",
            tooltip="check this app's setup (settings, Python, Dask, install, folders) and say what to fix",
        )
        self.diagnose.on_click(lambda _: self._diagnose())
        self.checks = widgets.HTML()
        self.message = Message()
        self.ssh = SshSection(context, self._save)
        self.pool = PoolSection(cluster, self._save)
        self._update_hint()
        threading.Thread(target=self._describe_client, daemon=True).start()
        super().__init__(
            [
                widgets.HTML("<b>Modes</b>"),
                wrap_row(list(self.toggles.values())),
                self.hint,
                self.pool,
                widgets.HTML("<b>Dask</b>"),
                wrap_row([self.scheduler, self.scheduler_error]),
                self.client,
                widgets.HTML("<b>Workers</b> (host -> slots)"),
                self.rows_box,
                wrap_row([self.add, self.workers_error]),
                self.verbose,
                self.ssh,
                self.message,
                wrap_row([self.diagnose]),
                self.checks,
            ]
        )

    # ----- saving ---------------------------------------------------------------------------
    def _save(self, changes: dict[Any, Any]) -> bool:
        try:
            saved = save_settings(self.context.env.settings_path, changes)
        except SettingsError as error:
            self.message.show(str(error), "error")
            return False
        self.message.show("saved to app_settings.toml", "ok")
        self._update_hint()
        self.ssh.show_hosts(saved.cluster)
        self.context.settings_saved()
        return True

    def _verbosity(self, verbose: int) -> None:
        if self._save({"cluster.verbose": verbose}):
            apply_verbosity(verbose)

    def _update_hint(self) -> None:
        mode = self.context.settings().cluster.mode
        self.hint.value = f"<i>{html.escape(mode_hint(mode, self.capabilities))}</i>"

    def _scheduler(self, value: str) -> None:
        self.scheduler_error.clear()
        try:
            if value.strip():
                split_address(value)
        except ValueError as error:
            self.scheduler_error.show(f"not saved: {error}", "error")
            return
        self._save({"cluster.scheduler": value.strip()} if value.strip() else {"cluster.scheduler": ""})

    # ----- workers ----------------------------------------------------------------------------
    def _add_row(self, host: str, slots: int) -> None:
        row = WorkerRow(host, slots, self._workers_changed, self._remove_row)
        self.rows.append(row)
        self.rows_box.children = [*self.rows_box.children, row]

    def _remove_row(self, row: WorkerRow) -> None:
        self.rows.remove(row)
        self.rows_box.children = [child for child in self.rows_box.children if child is not row]
        self._workers_changed()

    def workers_value(self) -> dict[str, int] | None:
        """The editor's hosts and slots, or None (with row errors shown) when any row is invalid."""
        workers: dict[str, int] = {}
        valid = True
        for row in self.rows:
            row.error.clear()
            host = row.host.value.strip()
            try:
                check_host(host)
                if host in workers:
                    raise ValueError(f"{host!r} is listed twice")
                check_slots(host, row.slots.value)
            except ValueError as error:
                row.error.show(str(error), "error")
                valid = False
                continue
            workers[host] = row.slots.value
        return workers if valid else None

    def _workers_changed(self) -> None:
        self.workers_error.clear()
        workers = self.workers_value()
        if workers is None:
            self.workers_error.show("not saved: fix the marked rows", "error")
        elif not workers:
            self.workers_error.show("not saved: at least one host is needed", "error")
        else:
            self._save({"cluster.workers": workers})

    # ----- client and doctor ------------------------------------------------------------------
    def _describe_client(self) -> None:
        try:
            from distributed.client import default_client

            client = default_client()
            self.client.value = (
                f"Dask client: the kernel's own, at {html.escape(client.scheduler.address)} "
                f'(<a href="{client.dashboard_link}" target="_blank">dashboard</a>)'
            )
        except (ValueError, ImportError):
            from ..core.cluster import running_local

            handle = running_local()
            link = handle.dashboard_link if handle else None
            self.client.value = (
                f'Dask client: the local cluster the engine started (<a href="{link}" target="_blank">dashboard</a>)'
                if link
                else "Dask client: the scheduler above if it answers, else a local cluster "
                "started on 127.0.0.1 at the first Dask action"
            )

    def _diagnose(self) -> None:
        from ..core.doctor import run_checks

        self.checks.value = "<i>checking...</i>"
        self.context.actions.start(
            "diagnose",
            lambda: run_checks(self.context.env),
            on_done=self._show_checks,
            on_error=lambda error: self.message.show(error_text(error), "error"),
            controls=[self.diagnose],
        )

    def _show_checks(self, checks: list[Any]) -> None:
        self.last_checks = checks
        rows = "".join(
            f"<tr><td>{'✔' if check.ok else '✘'}</td><td>{html.escape(check.name)}</td>"
            f"<td>{html.escape(check.detail)}</td><td>{html.escape(check.fix)}</td></tr>"
            for check in checks
        )
        self.checks.value = f"<table><tr><th></th><th>check</th><th>detail</th><th>what to do</th></tr>{rows}</table>"
