"""The RFC 3261 §17 transaction machines (with RFC 6026) as tables, and matching.

:mod:`.tables` holds the four machines, :mod:`.machine` looks rows up and resolves
timer durations, :mod:`.matching` computes the keys of §17.1.3 and §17.2.3,
:mod:`.builders` makes the ACK and CANCEL requests, :mod:`.diagrams` renders the
tables as Mermaid for the docs. :class:`sipsans.Endpoint` runs them.
"""

from __future__ import annotations

from .tables import INITIAL, TABLES, Do, Dur, Input, Machine, Start, State, Stop, Transition

__all__ = [
    "INITIAL",
    "TABLES",
    "Do",
    "Dur",
    "Input",
    "Machine",
    "Start",
    "State",
    "Stop",
    "Transition",
]
