"""The sipsans core is sans-IO (DESIGN.md §2): these tests keep it that way.

Three independent checks, so that one blind spot does not hide a violation:

1. Runtime: a fresh interpreter imports ``sipsans`` and every submodule (``sipsans.tools.replay``
   aside, the one module allowed to read files) and we compare ``sys.modules`` before and
   after. An import hook records which sipsans module first pulled each banned module in,
   with file and line, and which banned names sipsans modules import directly. The direct
   record matters for ``time``: the interpreter already loads it at start-up (zipimport uses
   it), so a before/after comparison cannot see it.
2. Static: every ``import``/``from ... import`` statement in ``sipsans/`` (replay.py aside),
   including lazy imports inside functions that the runtime check never executes.
3. Randomness: no module-level ``random`` functions anywhere in ``sipsans/``; identifiers
   come from the injected ``rng: random.Random``.

ruff's banned-api rule (pyproject.toml) enforces the same at lint time; these tests still
hold when a ``# noqa`` slips in.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO_ROOT / "sipsans"

#: Modules that do I/O, poll, read the clock or run concurrently (C accelerators included).
BANNED = frozenset(
    {
        "socket",
        "_socket",
        "select",
        "selectors",
        "ssl",
        "_ssl",
        "asyncio",
        "_asyncio",
        "threading",
        "time",
        "subprocess",
        "multiprocessing",
    }
)
#: Also never imported directly by the core: OS randomness bypasses the injected rng.
BANNED_DIRECT = BANNED | {"secrets"}
#: Optional dependencies and the adapters: the core must work without any of them.
OPTIONAL = frozenset(
    {"anyio", "trio", "sniffio", "wsproto", "h11", "dpkt", "uvloop"}
    | {"sipsans_session", "sipsans_asyncio", "sipsans_anyio"}
)
#: The core modules allowed to read files (and to import dpkt and wsproto lazily): capture
#: replay, and the capture reader under it.
EXEMPT = frozenset({"sipsans.tools.replay", "sipsans.tools.capture"})
#: The only attributes of the ``random`` module the core may touch.
RANDOM_ALLOWED = frozenset({"Random", "SystemRandom"})

# Runs in a fresh interpreter started with -I -S: no site-packages, no .pth files, no
# environment, so the baseline is CPython's own start-up set and the core can only import the
# standard library (its `dependencies = []`). The repository root is put on sys.path by hand.
_PROBE = r"""
import builtins, importlib, json, pkgutil, sys, traceback

watched = set(json.loads(sys.argv[1]))
direct_banned = set(json.loads(sys.argv[2]))
exempt = set(json.loads(sys.argv[3]))
sys.path.insert(0, sys.argv[4])

def is_core(name):
    return (name == "sipsans" or name.startswith("sipsans.")) and not any(
        name == e or name.startswith(e + ".") for e in exempt)

def core_frame(frame):
    # The innermost frame executing sipsans code asked for this import; the module bodies
    # running between it and here are the chain that led to it (sipsans.x -> logging -> ...).
    chain = []
    while frame is not None:
        name = frame.f_globals.get("__name__") or ""
        if name == "sipsans" or name.startswith("sipsans."):
            where = f"{name} ({frame.f_code.co_filename}:{frame.f_lineno})"
            return " -> ".join([where, *reversed(chain)])
        if frame.f_code.co_name == "<module>" and name and (not chain or chain[-1] != name):
            chain.append(name)
        frame = frame.f_back
    return "(no sipsans frame on the stack)"

first_loader = {}

class Recorder:
    # A meta path finder that finds nothing: it only notes who first imported each module.
    @staticmethod
    def find_spec(fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in watched and top not in first_loader:
            first_loader[top] = core_frame(sys._getframe(1))
        return None

direct = []
_real_import = builtins.__import__

def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
    importer = (globals or {}).get("__name__") or ""
    if level == 0 and is_core(importer) and name.partition(".")[0] in direct_banned:
        caller = sys._getframe(1)
        direct.append([name, f"{importer} ({caller.f_code.co_filename}:{caller.f_lineno})"])
    return _real_import(name, globals, locals, fromlist, level)

before = set(sys.modules)
sys.meta_path.insert(0, Recorder)
builtins.__import__ = recording_import

errors = {}
imported = []
try:
    import sipsans
    imported.append("sipsans")
except BaseException:
    errors["sipsans"] = traceback.format_exc(limit=-3)
else:
    def onerror(name):
        errors[name] = traceback.format_exc(limit=-3)
    names = sorted(
        info.name
        for info in pkgutil.walk_packages(sipsans.__path__, "sipsans.", onerror=onerror)
        if is_core(info.name)
    )
    for name in names:
        try:
            importlib.import_module(name)
            imported.append(name)
        except BaseException:
            errors[name] = traceback.format_exc(limit=-3)

builtins.__import__ = _real_import
sys.meta_path.remove(Recorder)
json.dump(
    {
        "baseline": sorted(before),
        "new": sorted(set(sys.modules) - before),
        "first_loader": first_loader,
        "direct": direct,
        "imported": imported,
        "errors": errors,
        "stdlib": sorted(sys.stdlib_module_names),
    },
    sys.stdout,
)
"""


def _top(name: str) -> str:
    return name.partition(".")[0]


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    if not (PACKAGE_DIR / "__init__.py").is_file():
        pytest.fail(f"{PACKAGE_DIR}/__init__.py is missing: there is no sipsans package to check")
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            _PROBE,
            json.dumps(sorted(BANNED | OPTIONAL)),
            json.dumps(sorted(BANNED_DIRECT)),
            json.dumps(sorted(EXEMPT)),
            str(REPO_ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, (
        f"the import probe crashed (exit {result.returncode}):\n{result.stderr}"
    )
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _culprit(probe: dict[str, Any], module: str) -> str:
    loader: str | None = probe["first_loader"].get(_top(module))
    return loader or "(unknown: import the submodules one at a time to find it)"


def test_every_core_module_imports(probe: dict[str, Any]) -> None:
    errors: dict[str, str] = probe["errors"]
    assert not errors, "some sipsans modules fail to import:\n" + "\n".join(
        f"--- {name}\n{trace}" for name, trace in sorted(errors.items())
    )
    assert "sipsans" in probe["imported"]


def test_probe_can_see_banned_modules(probe: dict[str, Any]) -> None:
    # If the interpreter itself preloads a banned module, the before/after comparison is
    # blind to it. `time` is known to be preloaded; the direct-import record covers it.
    blind = {m for m in probe["baseline"] if _top(m) in BANNED | OPTIONAL} - {"time"}
    assert not blind, (
        f"this interpreter loads {sorted(blind)} at start-up, so the purity check cannot see"
        " whether sipsans loads them"
    )


def test_core_loads_no_io_modules(probe: dict[str, Any]) -> None:
    loaded = sorted(m for m in probe["new"] if _top(m) in BANNED)
    assert not loaded, "importing the sipsans core loaded banned modules:\n" + "\n".join(
        f"  {m}: first imported by {_culprit(probe, m)}" for m in loaded
    )


def test_core_loads_no_optional_dependencies_or_adapters(probe: dict[str, Any]) -> None:
    loaded = sorted(m for m in probe["new"] if _top(m) in OPTIONAL)
    assert not loaded, (
        "the sipsans core must not import adapters or optional dependencies:\n"
        + "\n".join(f"  {m}: first imported by {_culprit(probe, m)}" for m in loaded)
    )


def test_core_imports_banned_names_nowhere(probe: dict[str, Any]) -> None:
    direct: list[list[str]] = probe["direct"]
    assert not direct, "sipsans modules import banned modules:\n" + "\n".join(
        f"  import {name}: in {where}" for name, where in direct
    )


def test_core_needs_only_the_standard_library(probe: dict[str, Any]) -> None:
    stdlib = set(probe["stdlib"]) | {"sipsans"}
    foreign = sorted({_top(m) for m in probe["new"]} - stdlib)
    assert not foreign, (
        f"the sipsans core has `dependencies = []` but loaded {foreign}"
        f" (first imported by: {', '.join(_culprit(probe, m) for m in foreign)})"
    )


def _core_sources() -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        tree = ast.parse(path.read_bytes(), filename=str(path))
        yield module, path, tree


def test_no_banned_import_statements() -> None:
    found: list[str] = []
    for module, path, tree in _core_sources():
        if module in EXEMPT:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found.extend(
                f"  {path.relative_to(REPO_ROOT)}:{node.lineno}: {name}"
                for name in names
                if _top(name) in BANNED_DIRECT | OPTIONAL
            )
    assert not found, "banned imports in the sipsans core (DESIGN.md §2):\n" + "\n".join(found)


def test_no_module_level_randomness() -> None:
    found: list[str] = []
    for _module, path, tree in _core_sources():
        aliases = {"random"}  # names bound to the random module in this file
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                aliases.update(a.asname or a.name for a in node.names if a.name == "random")
            elif isinstance(node, ast.ImportFrom) and node.module == "random" and node.level == 0:
                found.extend(
                    f"  {path.relative_to(REPO_ROOT)}:{node.lineno}: from random import {a.name}"
                    for a in node.names
                    if a.name not in RANDOM_ALLOWED
                )
        found.extend(
            f"  {path.relative_to(REPO_ROOT)}:{node.lineno}: {node.value.id}.{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr not in RANDOM_ALLOWED
        )
    assert not found, (
        "module-level randomness in the sipsans core; take an injected `rng: random.Random`"
        " instead (default random.SystemRandom()):\n" + "\n".join(found)
    )
