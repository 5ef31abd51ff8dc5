"""atheris harness for :class:`sipsans.StreamFramer`: chunking must not matter.

Input layout: ``data[0]`` is a control byte; its low 4 bits give ``k``, the number
of chunk-plan bytes that follow, and bit 0x10 says whether EOF (``b""``) is fed
after the stream. The next ``k`` bytes are the chunk plan, used cyclically: each
plan byte ``p`` cuts a chunk of ``(p & 0x3f) + 1`` bytes, and bit 0x80 says whether
the framer is drained after that chunk (it is always drained at the end). With
``k == 0`` the stream is fed 16 bytes at a time, draining after each; a plan of
``\x80`` feeds one byte at a time. Everything after the plan is the stream.

The same stream is also fed whole, in one ``receive_data``. A bug is any of:

* chunked and whole feeding give different sequences of frames, keep-alive pings
  and framing errors (errors compared by message and ``status_hint``);
* an exception other than :class:`sipsans.RemoteProtocolError`, or a framing error
  that leaves ``failed`` false;
* ``next_message`` disagreeing with ``next_frame`` + ``parse_message``, or a parse
  error of a well-framed message setting ``failed``;
* a frame that is not a prefix-exact slice of the stream (bytes lost or invented).

Run: ``python fuzz/fuzz_framer.py -max_total_time=300 fuzz/corpus/framer``, or
``python fuzz/fuzz_framer.py --replay fuzz/corpus/framer`` without atheris.
"""

from __future__ import annotations

import sys

from _common import fuzzing_requested, instrumented, main

with instrumented(__name__ == "__main__" and fuzzing_requested(sys.argv)):
    from sipsans import RemoteProtocolError, Request, Response, StreamFramer, parse_message

#: Chunk size when the input has no plan bytes. (One byte at a time is plan ``\x80``; as
#: a default it made the harness too slow on large inputs.)
DEFAULT_CHUNK = 16

#: One observable outcome: ("frame", bytes), ("ping",) or ("error", message, status_hint).
Event = tuple[object, ...]


def split_input(data: bytes) -> tuple[list[tuple[int, bool]], bool, bytes]:
    """Decode the input: (chunk plan of (size, drain) pairs, eof flag, stream)."""
    if not data:
        return [(DEFAULT_CHUNK, True)], False, b""
    control = data[0]
    k = control & 0x0F
    eof = bool(control & 0x10)
    plan_bytes = data[1 : 1 + k]
    plan = [((p & 0x3F) + 1, bool(p & 0x80)) for p in plan_bytes] or [(DEFAULT_CHUNK, True)]
    return plan, eof, data[1 + k :]


def _drain(framer: StreamFramer, events: list[Event]) -> bool:
    """Pull every available frame; returns False once framing has failed."""
    while True:
        try:
            frame = framer.next_frame()
        except RemoteProtocolError as exc:
            events.extend([("ping",)] * framer.take_pings())
            assert framer.failed, f"framing error without failed: {exc!r}"
            events.append(("error", str(exc), exc.status_hint))
            return False
        events.extend([("ping",)] * framer.take_pings())
        if frame is None:
            return True
        assert frame, "empty frame"
        events.append(("frame", frame))


def feed_whole(stream: bytes, eof: bool) -> list[Event]:
    framer = StreamFramer()
    events: list[Event] = []
    framer.receive_data(stream)
    if _drain(framer, events) and eof:
        framer.receive_data(b"")
        _drain(framer, events)
    return events


def feed_chunked(stream: bytes, plan: list[tuple[int, bool]], eof: bool) -> list[Event]:
    framer = StreamFramer()
    events: list[Event] = []
    pos = 0
    step = 0
    ok = True
    while pos < len(stream):
        size, drain = plan[step % len(plan)]
        step += 1
        framer.receive_data(stream[pos : pos + size])
        pos += size
        if drain and not (ok := _drain(framer, events)):
            break
    if ok:
        ok = _drain(framer, events)
    if ok and eof:
        framer.receive_data(b"")
        _drain(framer, events)
    return events


def _wire(msg: Request | Response) -> bytes | None:
    """bytes(msg), or None when a lazily parsed part (the Request-URI) is invalid."""
    try:
        return bytes(msg)
    except RemoteProtocolError:
        return None


def _message_events(stream: bytes, eof: bool) -> list[Event]:
    """Whole-stream feeding through next_message: ("msg", wire), ("bad", hint), ("error", hint)."""
    framer = StreamFramer()
    framer.receive_data(stream)
    if eof:
        framer.receive_data(b"")
    events: list[Event] = []
    while True:
        try:
            msg = framer.next_message()
        except RemoteProtocolError as exc:
            if framer.failed:
                events.append(("error", exc.status_hint))
                return events
            events.append(("bad", exc.status_hint))
            continue
        if msg is None:
            return events
        events.append(("msg", _wire(msg)))


def _expected_message_events(events: list[Event]) -> list[Event]:
    out: list[Event] = []
    for event in events:
        if event[0] == "frame":
            frame = event[1]
            assert isinstance(frame, bytes)
            try:
                out.append(("msg", _wire(parse_message(frame))))
            except RemoteProtocolError as exc:
                out.append(("bad", exc.status_hint))
        elif event[0] == "error":
            out.append(("error", event[2]))
    return out


def one_input(data: bytes) -> None:
    """Check one input; raises on a bug, returns quietly otherwise."""
    plan, eof, stream = split_input(data)
    whole = feed_whole(stream, eof)
    chunked = feed_chunked(stream, plan, eof)
    assert chunked == whole, f"chunked feeding differs:\n whole   {whole!r}\n chunked {chunked!r}"
    # Frames are consecutive slices of the stream (only CRLFs between them skipped).
    pos = 0
    for event in whole:
        if event[0] != "frame":
            continue
        frame = event[1]
        assert isinstance(frame, bytes)
        at = stream.find(frame, pos)
        assert at >= 0 and not stream[pos:at].strip(b"\r\n"), (pos, at, frame)
        pos = at + len(frame)
    # Feeding EOF before the first drain changes nothing either.
    framer = StreamFramer()
    framer.receive_data(stream)
    if eof:
        framer.receive_data(b"")
    late: list[Event] = []
    _drain(framer, late)
    assert late == whole, f"EOF before draining differs:\n after  {whole!r}\n before {late!r}"
    # next_message is next_frame + parse_message, and a bad message is not a framing error.
    assert _message_events(stream, eof) == _expected_message_events(whole)


if __name__ == "__main__":
    main(one_input)
