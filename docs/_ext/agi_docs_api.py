"""``{agi-api}``: autodoc of every public name of a module, and the public aliases of our types.

The names come from the module's ``__all__`` (else its public classes and functions), so a name
added to ``agi_jupyter/__init__.py``, ``agi_jupyter.app`` or ``agi_jupyter.worker`` gets its
reference entry by itself. Objects are documented under their public name
(``agi_jupyter.AGI``), while signatures name them where they are defined
(``agi_jupyter.core.env.AgiEnv``): :func:`resolve_alias` points such a reference at the public
entry of the same object.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import logging
from typing import Any, cast

from agi_docs_common import parse_markdown
from docutils import nodes
from docutils.nodes import Element
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.ext.napoleon import Config as NapoleonConfig
from sphinx.ext.napoleon.docstring import NumpyDocstring
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)


def public_names(module: Any) -> list[str]:
    """``__all__``, else the public classes and functions defined in the module, in source order."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    ]


def autodoc_kind(value: Any) -> str:
    if inspect.isclass(value):
        return "autoexception" if issubclass(value, BaseException) else "autoclass"
    if inspect.isfunction(value) or inspect.ismethod(value):
        return "autofunction"
    return "autodata"


def render(module_name: str) -> str:
    module = importlib.import_module(module_name)
    blocks = []
    for name in public_names(module):
        value = getattr(module, name)
        kind = autodoc_kind(value)
        options = ["   :members:"] if kind in ("autoclass", "autoexception") else []
        if inspect.isclass(value) and issubclass(value, enum.Enum):
            options.append("   :undoc-members:")
        if kind == "autodata":
            options.append("   :no-value:")
        blocks.append("\n".join([f".. {kind}:: {module_name}.{name}", *options]))
    return "```{eval-rst}\n" + "\n\n".join(blocks) + "\n```\n"


class ApiDirective(SphinxDirective):
    """Autodoc of every public name of the module named by the argument."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        return parse_markdown(self, render(self.arguments[0]))


def _defined_name(value: Any) -> str | None:
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else None


def _aliases(env: BuildEnvironment) -> dict[str, str]:
    """Where-defined name -> documented public name, for every documented object of ours."""
    aliases: dict[str, str] = {}
    for name in env.get_domain("py").objects:  # type: ignore[attr-defined]
        if not name.startswith("agi_jupyter."):
            continue
        module_name, _, attribute = name.rpartition(".")
        try:
            value = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError):
            continue  # a member (method, attribute): its class's alias covers it
        defined = _defined_name(value)
        if defined and defined != name:
            aliases.setdefault(defined, name)
    return aliases


def _documented(env: BuildEnvironment) -> dict[str, str]:
    """Short name -> documented name, for the short names only one documented object of ours has."""
    short: dict[str, list[str]] = {}
    for name in env.get_domain("py").objects:  # type: ignore[attr-defined]
        if name.startswith("agi_jupyter."):
            short.setdefault(name.rpartition(".")[2], []).append(name)
    return {key: names[0] for key, names in short.items() if len(set(names)) == 1}


def public_target(env: BuildEnvironment, target: str) -> str | None:
    """The documented name of what ``target`` names, when it names one of our objects another way.

    ``agi_jupyter.core.env.AgiEnv[.member]`` (where it is defined) -> ``agi_jupyter.AgiEnv[.member]``;
    a bare ``LineCallback`` (a string annotation under TYPE_CHECKING) -> its one documented entry.
    """
    if "." not in target:
        return _documented(env).get(target)
    if not target.startswith("agi_jupyter."):
        return None
    aliases = _aliases(env)
    parts = target.split(".")
    for cut in range(len(parts), 1, -1):
        public = aliases.get(".".join(parts[:cut]))
        if public:
            return ".".join([public, *parts[cut:]])
    return None


def resolve_alias(app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: Element) -> Element | None:
    """``missing-reference``: resolve a reference to one of our objects by its documented name."""
    if node.get("refdomain") != "py":
        return None
    target = public_target(env, node.get("reftarget", ""))
    if target is None:
        return None
    domain = env.get_domain("py")
    found: Element | None = domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], target, node, contnode
    )
    if found is None:  # e.g. a class named by a :func: role, or a data alias named as a class
        matches = domain.resolve_any_xref(env, node["refdoc"], app.builder, target, node, contnode)
        found = matches[0][1] if matches else None
    return found


NUMPY_STYLE = NapoleonConfig(napoleon_google_docstring=False, napoleon_numpy_docstring=True, napoleon_use_ivar=True)


def numpy_sections(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """``autodoc-process-docstring``: NumPy-style sections (``Parameters``, ``Raises``) of
    functions and classes become Sphinx fields.

    Napoleon itself would also read an attribute's or property's docstring written as
    ``"``name``: meaning"`` as a type followed by a description; our docstrings use that form
    for meaning, so those are left as written.
    """
    if what in ("attribute", "data", "property"):
        return
    # napoleon's own Config stands in for Sphinx's (as napoleon documents); ``what`` is autodoc's
    parsed = NumpyDocstring(lines, cast(Any, NUMPY_STYLE), app, cast(Any, what), name, obj, options).lines()
    lines[:] = parsed


class PydanticAnnotations:
    """Keeps ``pydantic.BaseModel.__annotations__`` as pydantic left it.

    To document a class's attributes, autodoc writes the annotations it reads in the source of
    every class of the MRO into that class's ``__annotations__`` -- for ``BaseModel`` those under
    its ``if TYPE_CHECKING:``, as strings. A model with ``extra="allow"`` defined after that (an
    app's module imported later in the build) then fails: pydantic cannot resolve the string it
    finds for ``__pydantic_extra__``. So the original annotations are put back after each
    documented object and before each page.
    """

    def __init__(self) -> None:
        from pydantic import BaseModel

        self.model = BaseModel
        self.saved = dict(vars(BaseModel).get("__annotations__", {}))

    def restore(self, *_: Any) -> None:
        annotations = vars(self.model).get("__annotations__")
        if annotations is not None and annotations != self.saved:
            annotations.clear()
            annotations.update(self.saved)


def setup(app: Sphinx) -> dict[str, object]:
    pydantic_annotations = PydanticAnnotations()
    app.connect("source-read", pydantic_annotations.restore)
    app.connect("autodoc-process-docstring", pydantic_annotations.restore)
    app.add_directive("agi-api", ApiDirective)
    app.connect("missing-reference", resolve_alias)
    app.connect("autodoc-process-docstring", numpy_sections)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
