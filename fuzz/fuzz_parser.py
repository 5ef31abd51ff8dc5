"""atheris harness for :func:`sipsans.parse_message`.

A bug is any of:

* an exception other than :class:`sipsans.RemoteProtocolError` from ``parse_message``,
  from reading a typed view (``uri``, ``vias``, ``from_``, ``to``, ``call_id``, ``cseq``,
  ``contacts``, ``routes``, ``record_routes``, ``max_forwards``, ...), from
  ``msg.validate()`` or from ``bytes(msg)``;
* a message that parses and validates but whose wire form ``bytes(msg)`` does not
  parse back to the same message (Content-Length is the only header ``bytes()`` may rewrite: it
  always writes exactly one, equal to the body length);
* a wire form that is not a fixpoint (``bytes(parse(bytes(msg))) != bytes(msg)``);
* a typed value whose ``str()`` does not parse back to an equal value.

Run: ``python fuzz/fuzz_parser.py -max_total_time=300 fuzz/corpus/parser``, or
``python fuzz/fuzz_parser.py --replay fuzz/corpus/parser`` without atheris.
"""

from __future__ import annotations

import sys

from _common import fuzzing_requested, instrumented, main

with instrumented(__name__ == "__main__" and fuzzing_requested(sys.argv)):
    import sipsans
    from sipsans import Message, RemoteProtocolError, parse_message, parse_name_addr, parse_via

_LIST_VIEWS = ("vias", "contacts", "routes", "record_routes")
_SCALAR_VIEWS = (
    "from_",
    "to",
    "call_id",
    "cseq",
    "max_forwards",
    "content_length",
    "content_type",
    "contact_is_wildcard",
    "top_via",
)


def _uri_ok(value: sipsans.NameAddr) -> bool:
    """Read a NameAddr's URI, which is parsed on first access; False when it is invalid."""
    try:
        value.uri  # noqa: B018
    except RemoteProtocolError:
        return False
    return True


def _read_properties(value: object, depth: int = 0) -> None:
    """Read every public property of a typed value (and of the values it holds).

    Properties such as ``Via.rport``, ``SipURI.ttl`` or ``NameAddr.tag`` convert text on
    access; they may raise RemoteProtocolError, nothing else.
    """
    for name in dir(type(value)):
        if name.startswith("_") or not isinstance(getattr(type(value), name, None), property):
            continue
        try:
            attr = getattr(value, name)
        except RemoteProtocolError:
            continue
        if depth < 2 and isinstance(attr, sipsans.SipURI | sipsans.TelURI | sipsans.NameAddr):
            _read_properties(attr, depth + 1)


def _read_views(msg: Message) -> None:
    """Read every typed view; only RemoteProtocolError may escape from the parsing."""
    for name in _LIST_VIEWS:
        try:
            # Lists may parse their elements lazily, so iterate inside the try.
            values = list(getattr(msg, name))
        except RemoteProtocolError:
            continue
        for value in values:
            _read_properties(value)
            if isinstance(value, sipsans.NameAddr) and not _uri_ok(value):
                continue
            text = str(value)
            if isinstance(value, sipsans.Via):
                again_via = parse_via(text)
                assert again_via == value, (name, value, text, again_via)
            else:
                assert isinstance(value, sipsans.NameAddr), (name, value)
                again_na = parse_name_addr(text, header=name)
                assert again_na == value, (name, value, text, again_na)
    for name in _SCALAR_VIEWS:
        try:
            value = getattr(msg, name)
        except RemoteProtocolError:
            continue
        _read_properties(value)
        if isinstance(value, sipsans.NameAddr) and not _uri_ok(value):
            continue
        text = str(value)
        if isinstance(value, sipsans.NameAddr):
            again = parse_name_addr(text, header=name)
            assert again == value, (name, value, text, again)
        elif isinstance(value, sipsans.Via):
            assert parse_via(text) == value, (name, value, text)
    if isinstance(msg, sipsans.Request):
        try:
            uri = msg.uri
        except RemoteProtocolError:
            return
        _read_properties(uri)
        text = str(uri)
        assert sipsans.parse_uri(text) == uri, (uri, text)


def _without_length(msg: Message) -> list[tuple[str, str]]:
    return [
        item
        for key, item in zip(msg.headers.keys(), msg.headers, strict=True)
        if key != "content-length"
    ]


def _check_round_trip(msg: sipsans.Request | sipsans.Response) -> None:
    wire = bytes(msg)
    try:
        again = parse_message(wire)
    except RemoteProtocolError as exc:
        raise AssertionError(f"bytes(msg) does not parse back: {exc!r}\n{wire!r}") from exc
    assert type(again) is type(msg), (msg, again)
    lengths = msg.headers.lines("content-length")
    if lengths == [str(len(msg.body))]:
        assert again == msg, (msg, again, wire)
    else:
        # bytes() wrote (or rewrote) the one Content-Length; everything else is kept.
        assert _without_length(again) == _without_length(msg), (msg.headers, again.headers)
        assert again.body == msg.body
        if isinstance(msg, sipsans.Request):
            assert isinstance(again, sipsans.Request)
            assert (again.method, again.uri) == (msg.method, msg.uri), (msg, again)
        else:
            assert isinstance(again, sipsans.Response)
            assert (again.status_code, again.reason) == (msg.status_code, msg.reason)
    assert again.headers.lines("content-length") == [str(len(msg.body))], again.headers
    wire_again = bytes(again)
    assert wire_again == wire, (wire, wire_again)


def one_input(data: bytes) -> None:
    """Check one input; raises on a bug, returns quietly otherwise."""
    try:
        msg = parse_message(data)
    except RemoteProtocolError as exc:
        assert isinstance(exc.status_hint, int), exc
        return
    _read_views(msg)
    try:
        msg.validate()
    except RemoteProtocolError:
        valid = False
    else:
        valid = True
    if valid:
        _check_round_trip(msg)
        return
    # Accepted by the parser but not by validate(): bytes() may refuse it (a bad
    # Request-URI is only parsed on demand), but what it writes must parse again.
    try:
        wire = bytes(msg)
    except RemoteProtocolError:
        return
    again = parse_message(wire)
    assert _without_length(again) == _without_length(msg), (msg.headers, again.headers)
    assert again.body == msg.body


if __name__ == "__main__":
    main(one_input)
