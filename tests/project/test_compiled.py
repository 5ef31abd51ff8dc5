"""The opt-in mypyc build (setup.py, ``SIPSANS_MYPYC=1``): what ``make test-mypyc`` tests
is compiled code.

``make test-mypyc`` runs the whole suite in a copy of the tree built with mypyc and sets
``SIPSANS_EXPECT_COMPILED=1``; then every module of ``setup.COMPILED`` must have been
imported from its extension module, not from its ``.py`` file (a stale or failed build
would otherwise test the pure-Python package twice). In the ordinary run the same list
must name existing modules, so that it cannot drift from the tree unseen.
"""

from __future__ import annotations

import ast
import importlib
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _compiled_list() -> list[str]:
    """setup.py's COMPILED, read without running setup.py."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "COMPILED":
            value = ast.literal_eval(node.value)
            assert isinstance(value, list)
            return [str(path) for path in value]
    raise AssertionError("setup.py has no COMPILED list")


def test_the_compiled_list_names_modules_of_the_core() -> None:
    paths = _compiled_list()
    assert paths and len(set(paths)) == len(paths)
    for path in paths:
        assert path.startswith("sipsans/") and (ROOT / path).is_file(), path
        # (see bench/README.md): these build instances without running __init__.
        assert path not in ("sipsans/_speed.py", "sipsans/message/fields.py"), path


@pytest.mark.skipif(
    os.environ.get("SIPSANS_EXPECT_COMPILED") != "1", reason="only under make test-mypyc"
)
def test_every_listed_module_is_the_compiled_one() -> None:
    pure = []
    for path in _compiled_list():
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        if str(module.__file__).endswith(".py"):
            pure.append(module.__file__)
    assert pure == []
