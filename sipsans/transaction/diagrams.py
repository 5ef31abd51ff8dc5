"""Render the transaction tables as Markdown: Mermaid state diagrams and row tables.

``docs/transactions.md`` embeds :func:`render` between two markers;
``tools/gen_diagrams.py`` rewrites that block and a test fails when it is stale, so
the docs cannot drift from :mod:`sipsans.transaction.tables`. Pure: returns text.
"""

from __future__ import annotations

from .tables import INITIAL, STATES, TABLES, Action, Do, Machine, State, Transition

__all__ = ["BEGIN", "END", "render", "replace_block"]

BEGIN = "<!-- BEGIN GENERATED from sipsans/transaction/tables.py: do not edit -->"
END = "<!-- END GENERATED -->"

_NAMES = {
    Machine.ICT: "INVITE client transaction (ICT): RFC 3261 §17.1.1, RFC 6026 §8.4",
    Machine.NICT: "Non-INVITE client transaction (NICT): RFC 3261 §17.1.2",
    Machine.IST: "INVITE server transaction (IST): RFC 3261 §17.2.1, RFC 6026 §8.7",
    Machine.NIST: "Non-INVITE server transaction (NIST): RFC 3261 §17.2.2",
}


def _actions(actions: tuple[Action, ...]) -> str:
    return ", ".join(a.value if isinstance(a, Do) else str(a) for a in actions) or "-"


def _label(inp: str, t: Transition) -> str:
    return f"{inp} / {_actions(t.actions)}" if t.actions else inp


def _mermaid(machine: Machine) -> list[str]:
    lines = ["```mermaid", "stateDiagram-v2"]
    first = INITIAL[machine]
    lines.append(f"    [*] --> {first.next.value} : {_actions(first.actions)}")
    for (state, inp), t in TABLES[machine].items():
        lines.append(f"    {state.value} --> {t.next.value} : {_label(inp.value, t)}")
    lines.append(f"    {State.TERMINATED.value} --> [*]")
    lines.append("```")
    return lines


def _rows(machine: Machine) -> list[str]:
    lines = ["| State | Input | Next | Actions | RFC |", "|---|---|---|---|---|"]
    first = INITIAL[machine]
    lines.append(
        f"| (new) | created | {first.next.value} | {_actions(first.actions)} | {first.ref} |"
    )
    order = {state: i for i, state in enumerate(STATES[machine])}
    rows = sorted(TABLES[machine].items(), key=lambda kv: order[kv[0][0]])
    for (state, inp), t in rows:
        lines.append(
            f"| {state.value} | {inp.value} | {t.next.value} | {_actions(t.actions)} | {t.ref} |"
        )
    return lines


def render() -> str:
    """The generated block (without markers)."""
    out: list[str] = []
    for machine in Machine:
        out += [f"### {_NAMES[machine]}", "", *_mermaid(machine), "", *_rows(machine), ""]
    return "\n".join(out)


def replace_block(document: str) -> str:
    """``document`` with the text between :data:`BEGIN` and :data:`END` regenerated."""
    start = document.index(BEGIN) + len(BEGIN)
    end = document.index(END)
    return f"{document[:start]}\n\n{render()}\n{document[end:]}"
