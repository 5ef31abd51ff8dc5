"""The shape of the adapters: ``sipsans_session`` holds what needs no loop and both
adapters build on it; neither adapter imports the other; no package imports itself in a
cycle; no class is more than two project classes deep; no module passes 900 lines."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"
#: Each adapter package and the folder it is found in.
PACKAGES = {
    "sipsans_session": ADAPTERS / "session",
    "sipsans_asyncio": ADAPTERS / "asyncio",
    "sipsans_anyio": ADAPTERS / "anyio",
}
MAX_LINES = 900


def _modules(package: str) -> Iterator[tuple[str, Path]]:
    root = PACKAGES[package]
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


MODULES = {name: path for package in PACKAGES for name, path in _modules(package)}


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, at any place in it (lazy and type-checking imports
    too); ``from package import module`` counts as importing the module only."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            names = [f"{source}.{alias.name}" for alias in node.names]
            submodules = [n for n in names if n in MODULES]
            found.update(submodules)
            if len(submodules) < len(names):
                found.add(source)
    return found


@pytest.mark.parametrize("package", list(PACKAGES))
def test_no_import_cycle_inside_a_package(package: str) -> None:
    modules = dict(_modules(package))
    graph = {m: {i for i in _imports(m, p) if i in modules and i != m} for m, p in modules.items()}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


@pytest.mark.parametrize(
    ("package", "banned"),
    [
        ("sipsans_session", {"asyncio", "anyio", "trio", "sipsans_asyncio", "sipsans_anyio"}),
        ("sipsans_asyncio", {"anyio", "trio", "sipsans_anyio"}),
        ("sipsans_anyio", {"sipsans_asyncio"}),
    ],
)
def test_what_a_package_never_imports(package: str, banned: set[str]) -> None:
    offending = {
        name: sorted(i for i in _imports(name, path) if i.split(".")[0] in banned)
        for name, path in _modules(package)
    }
    assert {name: found for name, found in offending.items() if found} == {}


def test_sipsans_session_loads_without_anyio_or_asyncio() -> None:
    """Every module of the shared package imports with anyio and trio absent, and leaves
    asyncio unimported."""
    probe = (
        "import importlib, json, sys\n"
        "sys.modules['anyio'] = sys.modules['trio'] = None  # as if not installed\n"
        f"for name in {sorted(n for n in MODULES if n.startswith('sipsans_session'))!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'asyncio')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_no_class_is_more_than_two_project_classes_deep() -> None:
    """A class has at most one base of the adapters', which has none (typing.Generic,
    Protocol, Exception and the stdlib's do not count)."""
    too_deep: dict[str, list[str]] = {}
    for name in MODULES:
        if name.endswith("__main__"):
            continue
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name:
                continue
            ours = [c.__qualname__ for c in cls.__mro__ if c.__module__.split(".")[0] in PACKAGES]
            if len(ours) > 2:
                too_deep[f"{name}.{cls.__qualname__}"] = ours
    assert too_deep == {}


def test_no_module_is_longer_than_900_lines() -> None:
    lengths = {
        name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()
    }
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}
