"""The parser's fast path (header names memoized by shape) against the same message
written in the other ways RFC 3261 §7.3.1 allows: every spelling parses alike."""

from __future__ import annotations

import pytest

from sipsans import Request, Response, parse_message
from sipsans.errors import RemoteProtocolError

LINES = [
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds",
    b"Max-Forwards: 70",
    b"To: Bob <sip:bob@biloxi.example.com>",
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
    b"CSeq: 314159 INVITE",
    b"Contact: <sip:alice@pc33.atlanta.example.com>",
    b"Subject: Re: lunch",
    b"Content-Length: 0",
]


def message(lines: list[bytes]) -> bytes:
    return b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n" + b"\r\n".join(lines) + b"\r\n\r\n"


def summary(data: bytes) -> tuple[object, ...]:
    m = parse_message(data)
    return (
        m.headers.items(),
        m.headers.keys(),
        m.top_via,
        m.from_.tag,
        m.to.uri,
        m.call_id,
        m.cseq,
        m.max_forwards,
        m.contacts,
        m.headers.get("subject"),
    )


def no_space(line: bytes) -> bytes:
    name, _, value = line.partition(b": ")
    return name + b":" + value


@pytest.mark.parametrize(
    "variant",
    [
        [no_space(line) for line in LINES],  # "Name:value" throughout
        [no_space(line) if i % 2 else line for i, line in enumerate(LINES)],  # mixed
        [line.replace(b": ", b":   ", 1) for line in LINES],  # several spaces
        [line.replace(b": ", b":\t", 1) for line in LINES],  # a tab
        [line.replace(b": ", b" : ", 1) for line in LINES],  # whitespace before ':'
        [*LINES[:7], b"Subject:Re: lunch", LINES[8]],  # ": " inside the value only
    ],
)
def test_every_spelling_reads_alike(variant: list[bytes]) -> None:
    expected = summary(message(LINES))
    assert summary(message(variant)) == expected
    assert summary(message(variant)) == expected  # again, through the memo of its shape


def test_a_line_without_colon_is_refused_even_with_a_known_shape() -> None:
    parse_message(message(LINES))  # the shape with a "Subject: ..." line is memoized
    broken = [*LINES[:7], b"Subject", LINES[8]]
    with pytest.raises(RemoteProtocolError):
        parse_message(message(broken))


def test_changing_a_parsed_message_leaves_the_next_parse_alone() -> None:
    first = parse_message(message(LINES))
    first.headers.remove("subject")
    first.headers.add("X-Extra", "1")
    second = parse_message(message(LINES))
    assert second.headers.keys()[-2:] == ["subject", "content-length"]
    assert "x-extra" not in second.headers


def test_a_memoized_start_line_builds_a_fresh_message_each_time() -> None:
    first = parse_message(message(LINES))
    second = parse_message(message(LINES))  # its Request-Line is memoized by now
    assert isinstance(second, Request)
    assert (second.method, str(second.uri)) == ("INVITE", "sip:bob@biloxi.example.com")
    assert second is not first and second.headers is not first.headers
    first.headers.add("X-Extra", "1")
    assert "x-extra" not in second.headers


def test_a_memoized_status_line_still_reads_its_code_and_reason() -> None:
    ok = b"SIP/2.0 200 OK\r\n" + b"\r\n".join(LINES[:1] + LINES[2:]) + b"\r\n\r\n"
    for _ in range(2):  # the second parse goes through the memo
        response = parse_message(ok)
        assert isinstance(response, Response)
        assert (response.status_code, response.reason) == (200, "OK")
    other = parse_message(ok.replace(b"200 OK", b"200 Fine", 1))
    assert isinstance(other, Response)
    assert (other.status_code, other.reason) == (200, "Fine")


def test_a_memoized_cseq_does_not_let_a_bad_one_through() -> None:
    parse_message(message(LINES))  # "314159 INVITE" is memoized
    bad = [line.replace(b"314159", b"4294967296") for line in LINES]  # 2**32 (§8.1.1.5)
    with pytest.raises(RemoteProtocolError):
        parse_message(message(bad))
    assert parse_message(message(LINES)).cseq == (314159, "INVITE")
