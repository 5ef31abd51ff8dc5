"""ASCII ladder diagrams of SIP exchanges (pure formatting, no I/O).

.. code-block:: python

    print(render_ladder(["alice", "bob"], [Arrow(0.0, 0, 1, "INVITE"), Arrow(0.1, 1, 0, "200 OK")]))

gives::

    time          alice            bob
         0.000      |----INVITE---->|
         0.100      |<---200 OK-----|

Each party is a column; each arrow is one message from column ``src`` to column
``dst``, labelled (truncated to fit) and followed by an optional note.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Arrow", "live_arrow", "message_label", "render_ladder"]

_MIN_GAP = 16
_MAX_GAP = 40
_TIME_WIDTH = 10


@dataclass(frozen=True, slots=True)
class Arrow:
    """One message drawn from party ``src`` to party ``dst`` (indexes into the parties)."""

    time: float
    src: int
    dst: int
    label: str
    note: str = ""


def message_label(data: bytes) -> str:
    """A short label from a SIP message's start line: ``"INVITE"`` or ``"200 OK"``.

    Anything that does not look like SIP becomes ``"?"`` with its first bytes, and an
    RFC 5626 keep-alive (only CR and LF) becomes ``"(keep-alive)"``.
    """
    if data and not data.strip(b"\r\n"):
        return "(keep-alive)"
    line = data.lstrip(b"\r\n").split(b"\n", 1)[0].rstrip(b"\r")
    text = line.decode("utf-8", "replace")
    parts = text.split(" ", 2)
    if len(parts) >= 2 and parts[0].startswith("SIP/"):
        return " ".join(parts[1:]).strip()
    if len(parts) == 3 and parts[2].startswith("SIP/"):
        return parts[0]
    return "? " + repr(data[:12])


def _fit(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "~"


def render_ladder(
    parties: Sequence[str], arrows: Iterable[Arrow], *, origin: float | None = None
) -> str:
    """The ladder as text, one line per arrow under a header naming the parties.

    Times are shown relative to ``origin`` (default: the first arrow's time).
    """
    items = list(arrows)
    if not parties:
        return ""
    widest = max((len(a.label) for a in items), default=0)
    longest = max(len(name) for name in parties)
    gap = max(_MIN_GAP, min(_MAX_GAP, max(widest + 6, longest + 2)))
    prefix = _TIME_WIDTH + 2
    margin = max(4, len(_fit(parties[0], gap - 2)) // 2 + 1)
    centers = [prefix + margin + i * gap for i in range(len(parties))]
    width = centers[-1] + gap // 2
    header = list("time".ljust(width))
    for center, name in zip(centers, parties, strict=True):
        label = _fit(name, gap - 2)
        start = max(prefix, center - len(label) // 2)
        header[start : start + len(label)] = label
        del header[width:]
        header += [" "] * (width - len(header))
    lines = ["".join(header).rstrip()]
    base = origin if origin is not None else (items[0].time if items else 0.0)
    for arrow in items:
        row = [" "] * width
        row[:_TIME_WIDTH] = f"{arrow.time - base:{_TIME_WIDTH}.3f}"
        for center in centers:
            row[center] = "|"
        a, b = centers[arrow.src], centers[arrow.dst]
        if a == b:
            text = f" {_fit(arrow.label, gap - 3)}"
            row[a + 1 : a + 1 + len(text)] = text
        else:
            low, high = min(a, b), max(a, b)
            for x in range(low + 1, high):
                row[x] = "-"
            if b > a:
                row[high - 1] = ">"
            else:
                row[low + 1] = "<"
            span = high - low - 5
            label = _fit(arrow.label, span)
            start = low + 3 + (span - len(label)) // 2
            row[start : start + len(label)] = label
        del row[width:]
        line = "".join(row).rstrip()
        if arrow.note:
            line += f"  {arrow.note}"
        lines.append(line)
    return "\n".join(lines) + "\n"


#: Width of the arrow of :func:`live_arrow`.
LIVE_WIDTH = 36


def live_arrow(t: float, label: str, *, outgoing: bool, peer: str, note: str = "") -> str:
    """One line of a ladder printed as the messages come (its width fixed in advance),
    between this side (left) and ``peer`` (right)::

           0.000  |------------ INVITE ------------>| 127.0.0.1:5070 UDP  CSeq 1 INVITE
           0.002  |<---------- 100 Trying ----------| 127.0.0.1:5070 UDP
    """
    inner = LIVE_WIDTH - 2
    text = f" {_fit(label, inner - 4)} "
    left = (inner - len(text)) // 2
    right = inner - len(text) - left
    if outgoing:
        arrow = "-" * left + text + "-" * (right - 1) + ">"
    else:
        arrow = "<" + "-" * (left - 1) + text + "-" * right
    line = f"{t:{_TIME_WIDTH}.3f}  |{arrow}| {peer}"
    return f"{line}  {note}" if note else line
