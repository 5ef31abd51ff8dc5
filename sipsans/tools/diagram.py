"""A sequence diagram as one self-contained HTML page: inline SVG and CSS, no script,
no link to anything outside the file (it opens offline, from a mail attachment or a
CI artefact, and fetches nothing).

:func:`render_html` draws a :class:`~.sequence.Sequence`: a lifeline per party, one
arrow per message (requests blue, 1xx grey, 2xx green, 3xx-6xx red), its CSeq and an
SDP mark beside it, the messages grouped by dialog under a band naming the Call-ID,
and the message itself as the arrow's tooltip (an SVG ``<title>``). The page is
well-formed XML as well as HTML, so tests read it with ``xml.etree``. Pure
formatting: no I/O.
"""

from __future__ import annotations

from html import escape

from .sequence import Sequence, describe, group_by_dialog

__all__ = ["render_html"]

_TIME_COLUMN = 90
_COLUMN = 240
_TOP = 60
_ROW = 34
_BAND = 30
_TOOLTIP_LINES = 24

_STYLE = """
body { font-family: sans-serif; margin: 1em; color: #222; }
h1 { font-size: 1.2em; }
svg text { font-family: monospace; font-size: 12px; }
.party { font-weight: bold; text-anchor: middle; }
.lifeline { stroke: #999; stroke-dasharray: 4 3; }
.band { fill: #eef2f7; }
.dialog { font-weight: bold; fill: #333; }
.time { fill: #666; text-anchor: end; }
.label { text-anchor: middle; }
.mark { fill: #555; font-size: 10px; text-anchor: middle; }
.request line { stroke: #1f5fbf; } .request text.label { fill: #1f5fbf; }
.provisional line { stroke: #777; } .provisional text.label { fill: #555; }
.success line { stroke: #1d8a3a; } .success text.label { fill: #1d8a3a; }
.failure line { stroke: #c0392b; } .failure text.label { fill: #c0392b; }
.malformed line { stroke: #c0392b; stroke-dasharray: 2 2; }
line.arrow { stroke-width: 1.5; }
"""


def _kind(label: str, note: str) -> str:
    if note.startswith("[malformed"):
        return "malformed"
    head = label.split(" ", 1)[0]
    if head.isdigit():
        return {"1": "provisional", "2": "success"}.get(head[0], "failure")
    return "request"


def _tooltip(data: bytes) -> str:
    lines = data.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    shown = lines[:_TOOLTIP_LINES]
    if len(lines) > _TOOLTIP_LINES:
        shown.append(f"... ({len(lines) - _TOOLTIP_LINES} more lines)")
    return "\n".join(shown)


def render_html(sequence: Sequence, *, title: str = "SIP sequence") -> str:
    """The page (see the module docstring)."""
    dialogs = group_by_dialog(sequence)
    parties = sequence.parties
    x = [_TIME_COLUMN + _COLUMN // 2 + i * _COLUMN for i in range(len(parties))]
    rows = sum(len(d.sent) for d in dialogs)
    height = _TOP + rows * _ROW + len(dialogs) * _BAND + 40
    width = _TIME_COLUMN + len(parties) * _COLUMN + 20
    origin = sequence.sent[0].time if sequence.sent else 0.0
    svg: list[str] = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        ' role="img" aria-label="sequence diagram">',
        "<defs>",
        '<marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8"'
        ' markerHeight="8" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#444"/></marker>',
        "</defs>",
    ]
    for center, name in zip(x, parties, strict=True):
        svg.append(f'<text class="party" x="{center}" y="{_TOP - 30}">{escape(name)}</text>')
        svg.append(
            f'<line class="lifeline" x1="{center}" y1="{_TOP - 20}" x2="{center}"'
            f' y2="{height - 20}"/>'
        )
    y = _TOP
    for number, dialog in enumerate(dialogs, start=1):
        svg.append(
            f'<g class="dialog-group"><rect class="band" x="0" y="{y}" width="{width}"'
            f' height="{_BAND - 6}"/><text class="dialog" x="6" y="{y + 16}">'
            f"{escape(f'dialog {number}: {dialog.summary}')}</text></g>"
        )
        y += _BAND
        for item in dialog.sent:
            label, note = describe(item.data)
            y += _ROW
            a, b = x[item.src], x[item.dst]
            middle = (a + b) // 2
            if a == b:  # (a message to itself: a short loop)
                b = a + _COLUMN // 3
                middle = b
            svg.append(
                f'<g class="message {_kind(label, note)}">'
                f"<title>{escape(_tooltip(item.data))}</title>"
                f'<text class="time" x="{_TIME_COLUMN - 10}" y="{y}">'
                f"{item.time - origin:.3f}</text>"
                f'<line class="arrow" x1="{a}" y1="{y}" x2="{b}" y2="{y}"'
                ' marker-end="url(#head)"/>'
                f'<text class="label" x="{middle}" y="{y - 5}">{escape(label)}</text>'
                f'<text class="mark" x="{middle}" y="{y + 12}">{escape(note)}</text>'
                "</g>"
            )
    svg.append("</svg>")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8"/>'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body><h1>{escape(title)}</h1>\n"
        f"<p>{len(sequence.sent)} messages, {len(dialogs)} dialogs, parties:"
        f" {escape(', '.join(parties))}. Hover over an arrow to read its message.</p>\n"
        + "\n".join(svg)
        + "\n</body></html>\n"
    )
