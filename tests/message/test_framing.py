"""StreamFramer: RFC 3261 §18.3 framing and RFC 5626 §3.5.1 keep-alives."""

from __future__ import annotations

import pytest

from sipsans import ParserLimits, RemoteProtocolError, Request, StreamFramer

MESSAGE = (
    b"MESSAGE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: <sip:bob@biloxi.example.com>\r\n"
    b"From: <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710\r\n"
    b"CSeq: 1 MESSAGE\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: 5\r\n"
    b"\r\n"
    b"hello"
)


def drain(framer: StreamFramer) -> list[bytes]:
    frames = []
    while (frame := framer.next_frame()) is not None:
        frames.append(frame)
    return frames


def test_several_messages_in_one_read() -> None:
    framer = StreamFramer()
    framer.receive_data(MESSAGE * 3)
    assert drain(framer) == [MESSAGE] * 3
    assert framer.buffered == 0


def test_partial_reads_wait_for_the_body() -> None:
    framer = StreamFramer()
    framer.receive_data(MESSAGE[:-2])
    assert framer.next_message() is None
    framer.receive_data(MESSAGE[-2:])
    message = framer.next_message()
    assert isinstance(message, Request)
    assert message.body == b"hello"


def test_double_crlf_pings_are_counted_and_single_crlf_skipped() -> None:
    framer = StreamFramer()
    framer.receive_data(b"\r\n\r\n" + MESSAGE + b"\r\n" + b"\r\n\r\n")
    assert drain(framer) == [MESSAGE]
    assert framer.take_pings() == 2
    assert framer.take_pings() == 0


def test_half_a_ping_waits() -> None:
    framer = StreamFramer()
    framer.receive_data(b"\r\n")
    assert framer.next_frame() is None
    framer.receive_data(b"\r\n")
    assert framer.next_frame() is None
    assert framer.take_pings() == 1


def test_missing_content_length_is_a_framing_error() -> None:
    framer = StreamFramer()
    framer.receive_data(MESSAGE.replace(b"Content-Length: 5\r\n", b""))
    with pytest.raises(RemoteProtocolError, match="Content-Length is missing"):
        framer.next_frame()
    assert framer.failed
    with pytest.raises(RemoteProtocolError):  # stays failed
        framer.next_frame()


@pytest.mark.parametrize("value", [b"-5", b"five", b"5, 6"])
def test_bad_content_length_is_a_framing_error(value: bytes) -> None:
    framer = StreamFramer()
    framer.receive_data(MESSAGE.replace(b"Content-Length: 5", b"Content-Length: " + value))
    with pytest.raises(RemoteProtocolError):
        framer.next_frame()
    assert framer.failed


def test_folded_and_compact_content_length() -> None:
    framer = StreamFramer()
    framer.receive_data(MESSAGE.replace(b"Content-Length: 5", b"l:\r\n 5"))
    (frame,) = drain(framer)
    assert frame.endswith(b"hello")


def test_parse_error_of_a_framed_message_keeps_the_stream() -> None:
    framer = StreamFramer()
    bad = MESSAGE.replace(b"CSeq: 1 MESSAGE", b"CSeq: one MESSAGE")
    framer.receive_data(bad + MESSAGE)
    with pytest.raises(RemoteProtocolError):
        framer.next_message()
    assert not framer.failed
    assert isinstance(framer.next_message(), Request)


def test_eof_inside_a_message_fails() -> None:
    framer = StreamFramer()
    framer.receive_data(MESSAGE[:40])
    assert framer.next_frame() is None
    framer.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="closed"):
        framer.next_frame()
    body_cut = StreamFramer()
    body_cut.receive_data(MESSAGE[:-1])
    body_cut.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="body bytes"):
        body_cut.next_frame()


def test_buffer_and_header_limits() -> None:
    framer = StreamFramer(limits=ParserLimits(max_buffer_size=100))
    framer.receive_data(b"x" * 101)
    assert framer.failed
    endless = StreamFramer(limits=ParserLimits(max_header_size=64))
    endless.receive_data(b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X: y\r\n" * 20)
    with pytest.raises(RemoteProtocolError, match="max_header_size"):
        endless.next_frame()
    big_body = StreamFramer(limits=ParserLimits(max_body_size=4))
    big_body.receive_data(MESSAGE)
    with pytest.raises(RemoteProtocolError, match="max_body_size") as info:
        big_body.next_frame()
    assert info.value.status_hint == 413


def test_bytewise_feeding_scans_linearly() -> None:
    # One byte at a time must not rescan the buffer from the start every time.
    framer = StreamFramer()
    big = MESSAGE.replace(
        b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\n" + b"X-Pad: " + b"p" * 2000 + b"\r\n"
    )
    frames = []
    for i in range(len(big)):
        framer.receive_data(big[i : i + 1])
        frames += drain(framer)
    assert frames == [big]
