"""Every ``python`` code block in README.md and docs/*.md runs, so the docs stay true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _blocks() -> list[tuple[str, str]]:
    found = []
    for doc in [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(text):
            line = text.count("\n", 0, match.start(1)) + 1
            found.append((f"{doc.relative_to(REPO_ROOT)}:{line}", match.group(1)))
    return found


BLOCKS = _blocks()


def test_there_are_examples() -> None:
    assert BLOCKS, "README.md and docs/ should show runnable examples"


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_example_runs(where: str, code: str) -> None:
    # Compile with the real line offset so a failure points at the line in the document.
    line = int(where.rsplit(":", 1)[1])
    exec(compile("\n" * (line - 1) + code, where.rsplit(":", 1)[0], "exec"), {})
