"""Snippets: the code every button shows compiles, runs the same request, and can't be injected."""

from __future__ import annotations

import ast
import asyncio
import datetime
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import agi_jupyter
from agi_jupyter.core.env import AgiEnv
from agi_jupyter.core.errors import AgiError
from agi_jupyter.core.modes import ALL_MODES, Mode
from agi_jupyter.core.requests import (
    ClusterRequest,
    DistribRequest,
    InstallRequest,
    RunRequest,
    ServeRequest,
    SubmitRequest,
)
from agi_jupyter.core.settings import save_settings
from agi_jupyter.core.snippets import (
    ACTIONS,
    is_stale,
    make_snippet,
    parse_marker,
    render_value,
    settings_digest,
    write_script,
)

REQUEST_CLASSES = {
    "install": InstallRequest,
    "get_distrib": DistribRequest,
    "run": RunRequest,
    "benchmark": RunRequest,
    "serve": ServeRequest,
    "submit": SubmitRequest,
    "cluster": ClusterRequest,
}
FUNCTIONS = {
    "install": "install",
    "get_distrib": "get_distrib",
    "run": "run",
    "benchmark": "run",
    "serve": "serve",
    "submit": "submit",
    "cluster": "cluster",
}
NASTY = [
    '"); import os #',
    "a'b\"c",
    "line1\nline2",
    "back\\slash",
    "\x00\u2028é",
    "'''",
    '"""',
    "\\",
    "\r\n\t",
    "😀\ud800",
    "{__import__('os')}",
    "' + __import__('os').system('id') + '",
    "\\N{BULLET}",
    "#",
    "",
]
NASTY_PARAMS: dict[str, Any] = {
    **{f"text{index}": text for index, text in enumerate(NASTY)},
    'k"ey': 1,
    "k'ey": 2,
    '"); import os #': 3,
    "a'b\"c": ["x", ("y",), {"'": '"'}],
    "numbers": [0, -1, 2**70, 1.5, -0.0, 1e300, True, False, None],
}
ALLOWED_CALLS = {
    "AgiEnv",
    "InstallRequest",
    "DistribRequest",
    "RunRequest",
    "ServeRequest",
    "SubmitRequest",
    "AGI.install",
    "AGI.get_distrib",
    "AGI.run",
    "AGI.serve",
    "AGI.submit",
    "Mode.from_token",
    "float",
    "main",
    "asyncio.run",
    "print",
}


@pytest.fixture
def env(apps_path: Path) -> AgiEnv:
    return AgiEnv("flight_project", apps_path=apps_path)


def request_with_params(action: str, params: dict[str, Any]) -> Any:
    """A request of the action's class carrying ``params`` wherever that class takes free values."""
    if action == "install":
        return InstallRequest(modes_enabled=Mode.DASK | Mode.POOL, force=True)
    if action == "serve":
        return ServeRequest(action="health", params=params)
    if action == "cluster":
        return ClusterRequest(action="status", workers={"127.0.0.1": 2})
    return REQUEST_CLASSES[action](params=params, workers={"127.0.0.1": 2})


def free_field(action: str) -> str | None:
    return {"install": None, "cluster": None}.get(action, "params")


def request_call(tree: ast.AST) -> ast.Call:
    """The ``request = <Class>(...)`` call of a parsed snippet."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "request":
            assert isinstance(node.value, ast.Call)
            return node.value
    raise AssertionError("no request assignment")


def keyword_value(call: ast.Call, name: str) -> ast.expr:
    return next(keyword.value for keyword in call.keywords if keyword.arg == name)


def evaluate_request(code: str) -> Any:
    """Evaluate only the rendered constructor call, with nothing but the request names in scope."""
    expression = ast.Expression(request_call(ast.parse(code)))
    names = {cls.__name__: cls for cls in REQUEST_CLASSES.values()}
    return eval(compile(expression, "<request>", "eval"), {"__builtins__": {"float": float}, "Mode": Mode, **names})


def imports_of(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.append(f"from {node.module}")
        elif isinstance(node, ast.Import):
            found.extend(f"import {alias.name}" for alias in node.names)
    return found


def called_names(tree: ast.AST) -> set[str]:
    return {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}


# ----- compiling and running -----------------------------------------------------------------
@pytest.mark.parametrize("action", ACTIONS)
def test_code_is_a_notebook_cell_and_script_a_module(env: AgiEnv, action: str) -> None:
    snippet = make_snippet(env, action, REQUEST_CLASSES[action]())
    compile(snippet.code, "<cell>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    with pytest.raises(SyntaxError):  # the cell really awaits at top level
        compile(snippet.code, "<cell>", "exec")
    compile(ast.parse(snippet.script), "<script>", "exec")
    assert (snippet.action, snippet.app, snippet.digest) == (action, env.app, settings_digest(env))
    assert f"await AGI.{FUNCTIONS[action]}(env, request)" in snippet.code


class RecordingAGI:
    """Stands in for the engine: records which function got which env and request."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, AgiEnv, Any]] = []

    def __getattr__(self, function: str) -> Any:
        async def call(env: AgiEnv, request: Any) -> str:
            self.calls.append((function, env, request))
            return f"{function} done"

        return call


@pytest.mark.parametrize("action", ACTIONS)
def test_cell_and_script_run_the_very_request_rendered(
    env: AgiEnv, action: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = RecordingAGI()
    # the module's dict, not setattr: getattr would try to import the real engine first
    monkeypatch.setitem(vars(agi_jupyter), "AGI", engine)
    request = request_with_params(action, {"flights": 12, "seed": 7, "where": "a'b\"c"})
    snippet = make_snippet(env, action, request)
    expected = request.model_copy(update={"benchmark": True}) if action == "benchmark" else request

    cell = compile(snippet.code, "<cell>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    asyncio.run(eval(cell, {}))
    namespace: dict[str, Any] = {"__name__": "snippet_script"}
    exec(compile(snippet.script, "<script>", "exec"), namespace)
    asyncio.run(namespace["main"]())

    assert [call[0] for call in engine.calls] == [FUNCTIONS[action]] * 2
    for _, used_env, used_request in engine.calls:
        assert used_env.app_path == env.app_path
        assert type(used_request) is type(expected) and used_request == expected


def test_the_run_snippet_reads_like_the_spec(env: AgiEnv) -> None:
    bundled = AgiEnv("flight_project")
    snippet = make_snippet(bundled, "run", RunRequest(mode=Mode.from_token("_d_p"), params={"flights": 12}))
    assert snippet.code == (
        f"# agi-jupyter: action=run app=flight_project digest={settings_digest(bundled)}\n"
        "from agi_jupyter import AGI, AgiEnv, Mode, RunRequest\n\n"
        'env = AgiEnv("flight_project")\n'
        'request = RunRequest(mode=Mode.from_token("_d_p"), params={"flights": 12})\n'
        "result = await AGI.run(env, request)\n"
        "result"
    )
    script = snippet.script.splitlines()
    assert script[0] == snippet.code.splitlines()[0]
    assert "python AGI_run_flight.py" in script[1]
    assert "    print(result)" in script and script[-2:] == ['if __name__ == "__main__":', "    asyncio.run(main())"]


@pytest.mark.parametrize(
    "action, result",
    [
        ("install", None),
        ("get_distrib", "plan"),
        ("run", "result"),
        ("benchmark", "table"),
        ("serve", "health"),
        ("submit", "task_ids"),
    ],
)
def test_each_action_binds_and_shows_its_result(env: AgiEnv, action: str, result: str | None) -> None:
    lines = make_snippet(env, action, REQUEST_CLASSES[action]()).code.splitlines()
    call = f"await AGI.{FUNCTIONS[action]}(env, request)"
    if result is None:
        assert lines[-1] == call
    else:
        assert lines[-2:] == [f"{result} = {call}", result]


def test_only_changed_fields_are_rendered_and_mode_imported_when_used(env: AgiEnv) -> None:
    plain = make_snippet(env, "run", RunRequest())
    assert "request = RunRequest()" in plain.code
    assert "from agi_jupyter import AGI, AgiEnv, RunRequest\n" in plain.code
    named_in_text = make_snippet(env, "run", RunRequest(params={"note": 'Mode.from_token("_d_p")'}))
    assert "import AGI, AgiEnv, RunRequest\n" in named_in_text.code
    with_mode = make_snippet(env, "install", InstallRequest(modes_enabled=Mode(0)))
    assert 'InstallRequest(modes_enabled=Mode.from_token("____"))' in with_mode.code
    assert "from agi_jupyter import AGI, AgiEnv, InstallRequest, Mode\n" in with_mode.code


def test_benchmark_forces_benchmark_on_without_touching_the_request(env: AgiEnv) -> None:
    request = RunRequest(modes=[Mode(0), Mode.DASK])
    snippet = make_snippet(env, "benchmark", request)
    assert evaluate_request(snippet.code) == request.model_copy(update={"benchmark": True})
    assert request.benchmark is False


def test_long_requests_put_one_keyword_per_line(env: AgiEnv) -> None:
    request = RunRequest(
        scheduler="10.0.0.1:8786",
        workers={"10.0.0.1": 4, "10.0.0.2": 4},
        mode=Mode.DASK,
        params={"flights": 480, "seed": 1},
    )
    code = make_snippet(env, "run", request).code
    assert "request = RunRequest(\n    scheduler=" in code and '\n    mode=Mode.from_token("_d__"),\n' in code
    request_lines = [line for line in code.splitlines() if line.startswith(("request", "    ", ")"))]
    assert len(request_lines) == 6 and max(len(line) for line in request_lines) <= 84
    assert evaluate_request(code) == request


# ----- injection safety ------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["get_distrib", "run", "benchmark", "serve", "submit"])
def test_hostile_strings_stay_inside_their_literals(env: AgiEnv, action: str) -> None:
    snippet = make_snippet(env, action, request_with_params(action, NASTY_PARAMS))
    field = free_field(action)
    assert field is not None
    for source, expected_imports in [
        (snippet.code, ["from agi_jupyter"]),
        (snippet.script, ["import asyncio", "from agi_jupyter"]),
    ]:
        tree = ast.parse(source)
        assert imports_of(tree) == expected_imports
        assert called_names(tree) <= ALLOWED_CALLS
        assert ast.literal_eval(keyword_value(request_call(tree), field)) == NASTY_PARAMS
    assert getattr(evaluate_request(snippet.code), field) == NASTY_PARAMS


@pytest.mark.parametrize("text", NASTY)
def test_every_string_round_trips_through_a_literal(text: str) -> None:
    source = render_value(text)
    assert isinstance(ast.parse(source, mode="eval").body, ast.Constant)
    assert ast.literal_eval(source) == text
    assert "\n" not in source and "\u2028" not in source  # one line, whatever the text holds


SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
PLAIN = st.recursive(SCALARS, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20)


@given(PLAIN)
def test_any_plain_value_round_trips_as_a_literal(value: Any) -> None:
    assert ast.literal_eval(render_value(value)) == value


def test_subclasses_render_as_their_plain_base_values() -> None:
    class Loud(str):
        def __repr__(self) -> str:
            return "__import__('os').system('id')"

    class Count(int):
        def __repr__(self) -> str:
            return "exit()"

    assert render_value(Loud("hi")) == '"hi"'
    assert render_value(Count(3)) == "3"
    assert render_value([Path("/data/in"), ("one",), ()]) == '["/data/in", ("one",), ()]'


# ----- modes, floats, unsupported values -------------------------------------------------------
@pytest.mark.parametrize("mode", ALL_MODES, ids=lambda mode: mode.token)
def test_modes_render_as_tokens_and_round_trip(mode: Mode) -> None:
    source = render_value(mode)
    assert source == f'Mode.from_token("{mode.token}")'
    assert eval(source, {"__builtins__": {}, "Mode": Mode}) is mode


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf, -0.0, 0.1, 1e-310])
def test_floats_round_trip_including_nan_and_infinities(number: float) -> None:
    value = eval(render_value([number]), {"__builtins__": {"float": float}})[0]
    if math.isnan(number):
        assert math.isnan(value)
    else:
        assert value == number and math.copysign(1, value) == math.copysign(1, number)


@pytest.mark.parametrize(
    "value, type_name",
    [
        ({1, 2}, "set"),
        (b"x", "bytes"),
        (1j, "complex"),
        (object(), "object"),
        (datetime.date(2026, 1, 1), "datetime.date"),
        (RunRequest(), "RunRequest"),
    ],
)
def test_unsupported_values_are_refused_naming_type_and_field(value: Any, type_name: str) -> None:
    with pytest.raises(AgiError, match=type_name) as raised:
        render_value({"outer": [value]}, "params")
    assert 'params["outer"][0]' in str(raised.value)


def test_objects_are_never_asked_for_their_repr(env: AgiEnv) -> None:
    class Sneaky:
        def __repr__(self) -> str:
            raise AssertionError("repr was called")

    with pytest.raises(AgiError, match="Sneaky") as raised:
        make_snippet(env, "run", RunRequest(params={"x": Sneaky()}))
    assert "params" in str(raised.value)


def test_containers_that_contain_themselves_are_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(AgiError, match="nested"):
        render_value(loop)


# ----- markers and staleness -------------------------------------------------------------------
def test_marker_round_trips(env: AgiEnv) -> None:
    snippet = make_snippet(env, "get_distrib", DistribRequest())
    expected = {"action": "get_distrib", "app": "flight_project", "digest": settings_digest(env)}
    assert parse_marker(snippet.code) == expected
    assert parse_marker(snippet.script) == expected
    assert len(snippet.digest) == 12 and int(snippet.digest, 16) >= 0


@pytest.mark.parametrize(
    "code",
    [
        "",
        "print(1)",
        "\n# agi-jupyter: action=run app=a digest=0123456789ab",
        "# agi-jupyter: action=run app=a digest=0123",
    ],
)
def test_code_without_a_first_line_marker_has_none(code: str) -> None:
    assert parse_marker(code) is None


def test_staleness_follows_values_not_comments(env: AgiEnv) -> None:
    code = make_snippet(env, "run", RunRequest()).code
    assert not is_stale(code, env)
    text = env.settings_path.read_text()
    edited = text.replace("# how many flight logs", "#   how many FLIGHT logs").replace(" = ", "   =   ")
    env.settings_path.write_text("# a new comment\n\n" + edited + "\n# the end\n")
    assert not is_stale(code, env)
    save_settings(env.settings_path, {"args.flights": 7})
    assert is_stale(code, env)
    assert not is_stale(make_snippet(env, "run", RunRequest()).code, env)


def test_code_without_marker_or_for_another_app_is_stale(env: AgiEnv, apps_path: Path) -> None:
    code = make_snippet(env, "run", RunRequest()).code
    assert is_stale(code.split("\n", 1)[1], env)
    assert is_stale(code, AgiEnv("mandelbrot_project", apps_path=apps_path))


# ----- environment and files -------------------------------------------------------------------
def test_apps_path_is_named_only_outside_the_bundled_examples(env: AgiEnv, apps_path: Path) -> None:
    bundled = make_snippet(AgiEnv("flight_project"), "run", RunRequest()).code
    assert '\nenv = AgiEnv("flight_project")\n' in bundled
    copied = make_snippet(env, "run", RunRequest()).code
    env_call = next(
        node.value
        for node in ast.walk(ast.parse(copied, mode="exec"))
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "env"
    )
    assert isinstance(env_call, ast.Call)
    assert ast.literal_eval(keyword_value(env_call, "apps_path")) == str(apps_path.resolve())


def test_write_script_writes_an_importable_file_in_the_log_dir(env: AgiEnv) -> None:
    snippet = make_snippet(env, "run", RunRequest(params={"flights": 12}))
    assert not env.log_dir.exists()
    path = write_script(env, snippet)
    assert path == env.log_dir / "AGI_run_flight.py"
    assert path.read_text(encoding="utf-8") == snippet.script
    check = "import ast, sys; ast.parse(open(sys.argv[1], encoding='utf-8').read())"
    subprocess.run([sys.executable, "-c", check, str(path)], check=True)
    write_script(env, make_snippet(env, "run", RunRequest()))  # replaces, leaves no temporary file
    assert sorted(p.name for p in env.log_dir.iterdir()) == ["AGI_run_flight.py"]
    assert "request = RunRequest()" in path.read_text(encoding="utf-8")


def test_write_script_refuses_a_snippet_of_another_app(env: AgiEnv, apps_path: Path) -> None:
    snippet = make_snippet(env, "run", RunRequest())
    with pytest.raises(AgiError, match="mandelbrot_project"):
        write_script(AgiEnv("mandelbrot_project", apps_path=apps_path), snippet)


# ----- wrong input -------------------------------------------------------------------------------
def test_unknown_action_is_refused(env: AgiEnv) -> None:
    with pytest.raises(AgiError, match="deploy.*install, get_distrib, run, benchmark, serve"):
        make_snippet(env, "deploy", RunRequest())


@pytest.mark.parametrize(
    "action, request_object", [("install", RunRequest()), ("run", DistribRequest()), ("serve", {"action": "health"})]
)
def test_a_request_of_the_wrong_class_is_refused(env: AgiEnv, action: str, request_object: Any) -> None:
    expected = REQUEST_CLASSES[action].__name__
    with pytest.raises(AgiError, match=f"{action}.*{expected}.*{type(request_object).__name__}"):
        make_snippet(env, action, request_object)
