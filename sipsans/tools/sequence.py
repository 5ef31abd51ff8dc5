"""The messages of a capture or a transcript as a sequence diagram: who sent what to
whom, grouped by dialog, each arrow marked with its CSeq and whether it carries SDP.

:class:`Sequence` holds the parties (columns) and the messages (:class:`Sent`) in
order; :func:`from_transcript` makes one from a sipsans transcript, and
:mod:`.replay` from a capture. :func:`group_by_dialog` splits the messages by Call-ID
(a call's dialogs and their requests share it, RFC 3261 §8.1.1.4, §12);
:func:`render_text` draws each group as an ASCII ladder (:mod:`.ladder`), and
:mod:`.diagram` as an SVG page. Pure formatting: no I/O.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import RemoteProtocolError
from ..message.framing import StreamFramer
from ..message.model import Request, Response
from ..message.parser import parse_message
from .ladder import Arrow, message_label, render_ladder

__all__ = [
    "Dialog",
    "Sent",
    "Sequence",
    "describe",
    "from_transcript",
    "group_by_dialog",
    "render_text",
]


@dataclass(frozen=True, slots=True)
class Sent:
    """One message from party ``src`` to party ``dst`` (indexes into the parties)."""

    time: float
    src: int
    dst: int
    data: bytes
    transport: str = ""


@dataclass(slots=True)
class Sequence:
    """The parties (the played side or our own first) and the messages, in order."""

    parties: list[str]
    sent: list[Sent] = field(default_factory=list)
    title: str = ""

    def party(self, name: str) -> int:
        """The index of the party ``name``, added at the end the first time."""
        if name not in self.parties:
            self.parties.append(name)
        return self.parties.index(name)


@dataclass(frozen=True, slots=True)
class Dialog:
    """The messages of one Call-ID (``call_id`` empty: those without a readable one)."""

    call_id: str
    sent: tuple[Sent, ...]
    summary: str


_CALL_ID = re.compile(rb"^(?:call-id|i)[ \t]*:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


def _parse(data: bytes) -> Request | Response | RemoteProtocolError:
    try:
        return parse_message(data)
    except RemoteProtocolError as exc:
        return exc


def _call_id(data: bytes, message: Request | Response | RemoteProtocolError) -> str:
    if not isinstance(message, RemoteProtocolError):
        try:
            return message.call_id
        except RemoteProtocolError:
            pass
    found = _CALL_ID.search(data)  # (a malformed message is still shown with its call)
    return found.group(1).decode("utf-8", "replace") if found else ""


def describe(data: bytes) -> tuple[str, str]:
    """The label (``INVITE``, ``180 Ringing``) and the marks of one message: its CSeq,
    ``SDP`` when it carries a session description, or why it does not parse."""
    label = message_label(data)
    message = _parse(data)
    if isinstance(message, RemoteProtocolError):
        text = str(message)
        return label, f"[malformed: {text[:70]}{'...' if len(text) > 70 else ''}]"
    marks: list[str] = []
    try:
        cseq = message.cseq
        marks.append(f"CSeq {cseq.seq} {cseq.method}")
    except RemoteProtocolError:
        pass
    content_type = (message.headers.get("content-type") or "").lower()
    if message.body and content_type.startswith("application/sdp"):
        marks.append("SDP")
    return label, ", ".join(marks)


def _summary(call_id: str, sent: list[Sent]) -> str:
    """What a dialog's header line says: the request that began it and the tags."""
    if not call_id:
        return "messages without a readable Call-ID"
    parts = [f"Call-ID {call_id}"]
    first = _parse(sent[0].data)
    tags: list[str] = []
    try:  # (each view parses when first read, and may find the message broken)
        if isinstance(first, Request):
            parts.append(f"{first.method} {first.uri}")
    except RemoteProtocolError:
        pass
    for item in sent:
        message = _parse(item.data)
        if isinstance(message, RemoteProtocolError):
            continue
        try:
            from_tag, to_tag = message.from_.tag, message.to.tag
        except RemoteProtocolError:
            continue
        # (a dialog's two tags, whichever side sent the message: RFC 3261 §12)
        for tag in (from_tag, to_tag) if to_tag else ():
            if tag and tag not in tags:
                tags.append(tag)
    if tags:
        parts.append("tags " + ", ".join(tags))
    return "; ".join(parts)


def group_by_dialog(sequence: Sequence) -> list[Dialog]:
    """The messages by Call-ID, in order of each Call-ID's first message."""
    groups: dict[str, list[Sent]] = {}
    for item in sequence.sent:
        groups.setdefault(_call_id(item.data, _parse(item.data)), []).append(item)
    return [
        Dialog(call_id, tuple(sent), _summary(call_id, sent)) for call_id, sent in groups.items()
    ]


def render_text(sequence: Sequence) -> str:
    """Each dialog as an ASCII ladder under a line naming its Call-ID (times relative
    to the first message of all; only the parties the dialog involves)."""
    if not sequence.sent:
        return ""
    origin = sequence.sent[0].time
    out: list[str] = []
    for number, dialog in enumerate(group_by_dialog(sequence), start=1):
        used = sorted({i for item in dialog.sent for i in (item.src, item.dst)})
        column = {party: n for n, party in enumerate(used)}
        arrows = []
        for item in dialog.sent:
            label, note = describe(item.data)
            arrows.append(Arrow(item.time, column[item.src], column[item.dst], label, note))
        out.append(f"== dialog {number}: {dialog.summary}\n")
        out.append(render_ladder([sequence.parties[i] for i in used], arrows, origin=origin))
        out.append("\n")
    return "".join(out)


# -- transcripts -----------------------------------------------------------------------------


def _show(address: list[object] | None) -> str:
    if not address:
        return "?"
    host = str(address[0])
    return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"


def from_transcript(lines: Iterable[str] | str) -> Sequence:
    """The messages a sipsans transcript records (:mod:`.trace`): what the core received
    (datagrams, stream bytes framed into messages) and what it sent."""
    records = lines.splitlines() if isinstance(lines, str) else lines
    sequence = Sequence(["sipsans"])
    conns: dict[int, tuple[str, str, StreamFramer]] = {}
    for line in records:
        if not line.strip():
            continue
        record = json.loads(line)
        if "format" in record:
            config = record.get("config") or {}
            host, port = config.get("advertised_host"), config.get("advertised_port")
            if host:
                sequence.parties[0] = f"sipsans {_show([host, port])}"
            continue
        kind = record.get("kind")
        t = float(record.get("t", 0.0))
        if kind == "datagram_in":
            data = base64.b64decode(record["data"])
            if data.strip(b"\r\n"):
                src = sequence.party(_show(record.get("remote")))
                sequence.sent.append(Sent(t, src, 0, data, str(record.get("transport", "UDP"))))
        elif kind == "stream_open":
            conns[int(record["conn"])] = (
                str(record["transport"]),
                _show(record.get("remote")),
                StreamFramer(),
            )
        elif kind == "stream_in" and int(record["conn"]) in conns:
            transport, remote, framer = conns[int(record["conn"])]
            try:
                framer.receive_data(base64.b64decode(record["data"]))
                while (frame := framer.next_frame()) is not None:
                    if frame.strip(b"\r\n"):
                        sequence.sent.append(Sent(t, sequence.party(remote), 0, frame, transport))
            except RemoteProtocolError:
                del conns[int(record["conn"])]
        elif kind == "transmit":
            data = base64.b64decode(record["data"])
            if data.strip(b"\r\n"):
                dst = sequence.party(_show(record.get("remote")))
                sequence.sent.append(Sent(t, 0, dst, data, str(record.get("transport", ""))))
    return sequence
