"""The package's shape, read from its own source (the redesign's rules, DESIGN.md §1).

* Folders are layers: a module imports only from layers below its own (message <
  transaction < dialog < ua < services, with auth and locate beside them; tools on
  top), never from above, and no folder imports one of its own rank.
* No import cycles between modules (type-only imports count: they are arrows too).
* No module over 900 lines.
* A module never reads or writes another module's private attributes (``x._name`` where
  no class of the module defines ``_name``), but for the few exceptions listed below,
  each with its reason.

The same check runs over the adapters: ``sipsans_session`` (loop-agnostic) is below
both ``sipsans_asyncio`` and ``sipsans_anyio``, which never import each other.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Rank of each folder of sipsans/ (top-level modules count as folders of their own).
LAYERS = {
    "errors": 0,
    "config": 0,
    "_speed": 0,
    "_frozen": 0,
    "_memo": 0,
    "message": 1,
    "auth": 2,
    "transaction": 2,
    "dialog": 3,
    "locate": 3,
    "ua": 4,
    "services": 5,
    "sdp": 5,
    "tools": 6,
    "testing": 6,
    "__init__": 7,
}

#: Reads of another module's private attributes, each justified.
PRIVATE_EXCEPTIONS: dict[tuple[str, str], str] = {}

#: Where the package's modules live, by top-level name.
PACKAGES = {
    "sipsans": ROOT / "sipsans",
    "sipsans_session": ROOT / "adapters" / "session" / "sipsans_session",
    "sipsans_asyncio": ROOT / "adapters" / "asyncio" / "sipsans_asyncio",
    "sipsans_anyio": ROOT / "adapters" / "anyio" / "sipsans_anyio",
}
ADAPTER_LAYERS = {"sipsans": 0, "sipsans_session": 1, "sipsans_asyncio": 2, "sipsans_anyio": 2}


def _modules() -> dict[str, tuple[Path, bool]]:
    """Every module: dotted name -> (path, is a package's __init__)."""
    out: dict[str, tuple[Path, bool]] = {}
    for top, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = [top, *path.relative_to(folder).with_suffix("").parts]
            is_pkg = parts[-1] == "__init__"
            out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


MODULES = _modules()


def _imports(name: str) -> set[str]:
    """The project modules ``name`` imports (anywhere in it, type-only ones included)."""
    path, is_pkg = MODULES[name]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" for alias in node.names] + [module]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        for target in targets:
            if target in MODULES:
                found.add(target)
                break
    found.discard(name)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _folder(name: str) -> str:
    """The layer a sipsans module belongs to: its folder, or its own name at the top."""
    parts = name.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def test_sipsans_imports_only_from_layers_below() -> None:
    upward = []
    for name, targets in GRAPH.items():
        if not name.startswith("sipsans.") and name != "sipsans":
            continue
        here = _folder(name)
        for target in targets:
            there = _folder(target)
            if there != here and LAYERS[there] >= LAYERS[here]:
                upward.append(f"{name} -> {target}")
    assert upward == [], "imports that do not go down a layer:\n" + "\n".join(upward)


def test_every_folder_has_a_layer() -> None:
    folders = {_folder(n) for n in MODULES if n == "sipsans" or n.startswith("sipsans.")}
    assert folders <= set(LAYERS), f"folders without a layer: {folders - set(LAYERS)}"


def test_adapters_import_downward_and_never_each_other() -> None:
    wrong = [
        f"{name} -> {target}"
        for name, targets in GRAPH.items()
        for target in targets
        if (a := name.split(".")[0]) != (b := target.split(".")[0])
        and ADAPTER_LAYERS[b] >= ADAPTER_LAYERS[a]
    ]
    assert wrong == [], "\n".join(wrong)


def _cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    counter = itertools.count()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = next(counter)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_the_cycle_check_sees_a_cycle() -> None:
    GRAPH["sipsans.errors"].add("sipsans.config")
    GRAPH["sipsans.config"].add("sipsans.errors")
    try:
        assert ["sipsans.config", "sipsans.errors"] in _cycles()
    finally:
        GRAPH["sipsans.errors"].discard("sipsans.config")
        GRAPH["sipsans.config"].discard("sipsans.errors")


def test_no_module_over_900_lines() -> None:
    long = {
        name: n
        for name, (path, _) in MODULES.items()
        if (n := len(path.read_text().splitlines())) > 900
    }
    assert long == {}


#: A named tuple's public methods start with an underscore, so as not to clash with fields.
_NAMEDTUPLE_API = frozenset({"_replace", "_asdict", "_fields", "_make", "_field_defaults"})


def _private_reads(name: str) -> Iterator[tuple[str, int]]:
    """``(attribute, line)`` for each ``<expr>._attr`` in module ``name`` where ``<expr>``
    is not ``self``/``cls`` and no class or function of the module defines ``_attr``."""
    path, _ = MODULES[name]
    tree = ast.parse(path.read_text(), filename=str(path))
    own: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            own.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            own.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            own.add(node.value)  # __slots__ entries
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and node.attr not in _NAMEDTUPLE_API
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            and node.attr not in own
        ):
            yield node.attr, node.lineno


def test_no_module_reads_another_modules_private_attributes() -> None:
    found = [
        (name, attr, line)
        for name in MODULES
        for attr, line in _private_reads(name)
        if (name, attr) not in PRIVATE_EXCEPTIONS
    ]
    assert found == [], "private attributes read across modules:\n" + "\n".join(map(str, found))
    assert len(PRIVATE_EXCEPTIONS) <= 10


#: Test folders that mirror no folder of sipsans/: the adapters and the command, real peers,
#: recorded transcripts, and checks over the project as a whole.
TEST_FOLDERS_OF_THEIR_OWN = {"adapters", "interop", "golden", "project"}


def test_tests_mirror_the_package() -> None:
    tests = ROOT / "tests"
    loose = sorted(p.name for p in tests.glob("test_*.py"))
    assert loose == [], f"tests at tests/ itself; move each into the folder it tests: {loose}"
    folders = {p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith("__")}
    package = {p.name for p in (ROOT / "sipsans").iterdir() if (p / "__init__.py").exists()}
    strays = folders - package - TEST_FOLDERS_OF_THEIR_OWN
    assert strays == set(), f"test folders with no package folder to mirror: {sorted(strays)}"
