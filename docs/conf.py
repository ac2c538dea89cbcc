"""Sphinx configuration of the agi-jupyter documentation site.

Built by the test suite (tests/test_docs.py) with ``-W -n --keep-going``: every warning, every
unresolved cross-reference included, fails the build. Nothing here reaches the network at build
time: intersphinx is not loaded and notebooks are rendered from their stored outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))  # the generators of the reference pages
sys.path.insert(0, str(DOCS.parent))  # the package itself, for autodoc, when not installed

project = "agi-jupyter"
author = "the agi-jupyter authors"
copyright = "the agi-jupyter authors"  # noqa: A001 (Sphinx's setting name)

extensions = [
    "myst_nb",  # MyST Markdown pages and the tutorial notebooks (includes myst_parser)
    "sphinx.ext.autodoc",
    "agi_docs_api",
    "agi_docs_cli",
    "agi_docs_settings",
    "agi_docs_environment",
    "agi_docs_files",
    "agi_docs_health",
]

exclude_patterns = ["_build", "**/.ipynb_checkpoints", "notebooks/**/*_project"]

# The notebooks are run by nbval in the test suite; the site shows the same files as stored.
nb_execution_mode = "off"
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
smartquotes = False  # option names such as --benchmark must stay two hyphens in running text

# autodoc: the documented order is the source order; type hints go into the description.
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_class_signature = "separated"  # pydantic models' generated __init__ (with every Field's constraints) stays out
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_preserve_defaults = True

# Names that appear in signatures but are owned by other projects (no intersphinx: no network
# at build time), or bare names of theirs in string annotations. Each is a type the
# reader already knows from its own library; anything of ours must resolve.
nitpick_ignore_regex = [
    ("py:class", r"(pandas|pydantic|dask|distributed|ipywidgets|traitlets|tomlkit|asyncio|concurrent)\..*"),
    ("py:class", r"(collections\.abc|typing|pathlib|enum|datetime|logging|subprocess|os|types|argparse)\..*"),
    ("py:class", r"(pydantic_core|annotated_types|typing_extensions)\..*"),
    ("py:class", r"(Path|PathLike|Any|Callable|Awaitable|Iterable|Iterator|Mapping|Sequence)"),
    # pydantic's constrained types, traitlets' base class, distributed's client: named bare in annotations
    ("py:class", r"Strict(Str|Int|Float|Bool)|(NonNegative|Positive)(Int|Float)|FiniteFloat|PydanticDataclass"),
    ("py:class", r"HasTraits|Client"),
]

html_theme = "pydata_sphinx_theme"
html_title = "agi-jupyter"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_show_sourcelink = False
