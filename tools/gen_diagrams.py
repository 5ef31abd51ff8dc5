"""Regenerate the state diagrams in docs/transactions.md from the transaction tables.

Usage: python tools/gen_diagrams.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

from sipsans.transaction.diagrams import replace_block

DOC = Path(__file__).resolve().parents[1] / "docs" / "transactions.md"


def main(argv: list[str]) -> int:
    current = DOC.read_text(encoding="utf-8")
    fresh = replace_block(current)
    if "--check" in argv:
        if fresh != current:
            print(f"{DOC} is stale: run python tools/gen_diagrams.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
