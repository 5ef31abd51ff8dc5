"""docs/transactions.md embeds diagrams generated from the tables; keep them in sync."""

from __future__ import annotations

from pathlib import Path

from sipsans.transaction.diagrams import BEGIN, END, render, replace_block
from sipsans.transaction.tables import TABLES, Machine

DOC = Path(__file__).resolve().parents[2] / "docs" / "transactions.md"


def test_generated_diagrams_are_up_to_date() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert replace_block(text) == text, (
        "docs/transactions.md is stale: run python tools/gen_diagrams.py"
    )


def test_every_table_row_is_drawn() -> None:
    block = render()
    assert block.count("```mermaid") == len(Machine)
    for machine, table in TABLES.items():
        for (state, _inp), row in table.items():
            assert f"{state.value} --> {row.next.value}" in block, machine


def test_markers_are_present_once() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
