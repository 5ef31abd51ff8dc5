"""Every workload of ``bench/instructions.py`` still runs against today's API.

The benchmark's figures are quoted in bench/README.md and in closing notes; a workload that
no longer runs (a renamed module, a changed signature) would only be found when someone
next measures. Each runs here for a few iterations, without valgrind (``--run``).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "instructions.py"


def _workloads() -> list[str]:
    """The keys of the script's WORKLOADS table, read from its source (importing it would
    put bench/ on this process's sys.path, whose module names could shadow others)."""
    for node in ast.parse(BENCH.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(t, ast.Name) and t.id == "WORKLOADS" for t in targets):
                assert isinstance(node.value, ast.Dict)
                return [
                    k.value
                    for k in node.value.keys
                    if isinstance(k, ast.Constant) and isinstance(k.value, str)
                ]
    raise AssertionError("bench/instructions.py has no WORKLOADS table")


def test_the_table_is_found() -> None:
    assert {"ua-call", "adapter-call", "adapter-call-plain"} <= set(_workloads())


@pytest.mark.parametrize("workload", _workloads())
def test_workload_runs(workload: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--run", workload, "3"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
