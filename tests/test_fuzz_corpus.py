"""Replay every fuzzing corpus file through its harness, as a regression test.

Each folder ``fuzz/corpus/<name>/`` belongs to the harness ``fuzz/fuzz_<name>.py``; every
file in it is fed to that harness's ``one_input`` once (no atheris needed). Seeds pass
trivially; inputs saved from crashes fail until the bug is fixed, and stay as tests.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

FUZZ_DIR = Path(__file__).resolve().parents[1] / "fuzz"
CORPUS_DIR = FUZZ_DIR / "corpus"

_modules: dict[str, ModuleType] = {}


def _harness(name: str) -> Callable[[bytes], None]:
    """Import ``fuzz/fuzz_<name>.py`` (its helpers live beside it in fuzz/)."""
    module = _modules.get(name)
    if module is None:
        if str(FUZZ_DIR) not in sys.path:
            sys.path.insert(0, str(FUZZ_DIR))
        path = FUZZ_DIR / f"fuzz_{name}.py"
        spec = importlib.util.spec_from_file_location(f"fuzz_{name}", path)
        assert spec is not None and spec.loader is not None, path
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _modules[name] = module
    one_input: Callable[[bytes], None] = module.one_input
    return one_input


def _cases() -> list[tuple[str, Path]]:
    cases = []
    for folder in sorted(p for p in CORPUS_DIR.iterdir() if p.is_dir()):
        harness = FUZZ_DIR / f"fuzz_{folder.name}.py"
        assert harness.is_file(), f"{folder} has no harness {harness.name}"
        cases += [(folder.name, f) for f in sorted(folder.iterdir()) if f.is_file()]
    return cases


CASES = _cases()


def test_every_harness_has_a_corpus() -> None:
    harnesses = {p.stem.removeprefix("fuzz_") for p in FUZZ_DIR.glob("fuzz_*.py")}
    with_corpus = {name for name, _ in CASES}
    assert harnesses <= with_corpus, f"harnesses without seeds: {harnesses - with_corpus}"


@pytest.mark.parametrize(("harness", "path"), CASES, ids=[f"{h}/{p.name}" for h, p in CASES])
def test_corpus_input(harness: str, path: Path) -> None:
    _harness(harness)(path.read_bytes())
