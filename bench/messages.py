"""Sample SIP messages for the parser benchmark (bench/parse.py).

Both are what a UAS sees on the wire behind one record-routing proxy: two Vias (the
proxy's on top), a Record-Route, an SDP body. CRLF line endings and a correct
Content-Length are asserted at import time, as are the sizes the names promise (+/-60 bytes).
:func:`distinct` makes a stream of variants of either, each with fresh transaction fields.
"""

from __future__ import annotations

from typing import NamedTuple


class TxnFields(NamedTuple):
    """The transaction fields every implementation must read back, and their expected values."""

    branch: str
    from_tag: str
    to_tag: str | None
    call_id: str
    cseq_seq: int
    cseq_method: str
    via_count: int


INVITE_900: bytes = (
    b"INVITE sip:bob@192.0.2.4:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP proxy.atlanta.example.com:5060;branch=z9hG4bK2d4790.1\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.101:5060;received=192.0.2.101;rport=5060;branch=z9hG4bK74bf9a3\r\n"
    b"Max-Forwards: 69\r\n"
    b"Record-Route: <sip:proxy.atlanta.example.com;lr>\r\n"
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n'
    b'To: "Bob" <sip:bob@biloxi.example.com>\r\n'
    b"Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@192.0.2.101:5060>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, REFER, NOTIFY\r\n"
    b"Supported: replaces, timer, 100rel\r\n"
    b"User-Agent: ExamplePhone/4.2.1\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 240\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 192.0.2.101\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.101\r\n"
    b"t=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)

INVITE_900_FIELDS = TxnFields(
    branch="z9hG4bK2d4790.1",
    from_tag="9fxced76sl",
    to_tag=None,
    call_id="3848276298220188511@atlanta.example.com",
    cseq_seq=314159,
    cseq_method="INVITE",
    via_count=2,
)

OK_850: bytes = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP proxy.atlanta.example.com:5060;branch=z9hG4bK2d4790.1\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.101:5060;received=192.0.2.101;rport=5060;branch=z9hG4bK74bf9a3\r\n"
    b"Record-Route: <sip:proxy.atlanta.example.com;lr>\r\n"
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n'
    b'To: "Bob" <sip:bob@biloxi.example.com>;tag=8321234356\r\n'
    b"Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:bob@192.0.2.4:5060;transport=udp>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, REFER, NOTIFY\r\n"
    b"Supported: replaces, timer\r\n"
    b"Server: ExamplePBX/7.1.3\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 209\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=bob 2808844564 2808844564 IN IP4 192.0.2.4\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.4\r\n"
    b"t=0 0\r\n"
    b"m=audio 3456 RTP/AVP 0 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)

OK_850_FIELDS = INVITE_900_FIELDS._replace(to_tag="8321234356")

# name -> (wire bytes, expected transaction fields), in the order the tables are printed.
MESSAGES: dict[str, tuple[bytes, TxnFields]] = {
    "INVITE_900": (INVITE_900, INVITE_900_FIELDS),
    "OK_850": (OK_850, OK_850_FIELDS),
}


def _check(name: str, data: bytes, nominal: int) -> None:
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"{name}: no CRLFCRLF"
    assert b"\n" not in head.replace(b"\r\n", b""), f"{name}: bare LF in the header section"
    assert b"\n" not in body.replace(b"\r\n", b""), f"{name}: bare LF in the body"
    declared = [
        int(line.partition(b":")[2])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    ]
    assert declared == [len(body)], f"{name}: Content-Length {declared} != body {len(body)}"
    assert abs(len(data) - nominal) <= 60, f"{name}: {len(data)} bytes, not ~{nominal}"


def distinct(name: str, count: int, start: int = 0) -> list[tuple[bytes, TxnFields]]:
    """``count`` variants of the message ``name`` as real traffic has them: each with a fresh
    top Via branch, From tag, Call-ID and CSeq number (and To tag when it has one), the rest
    unchanged. Variant ``n`` is the same in every run; sizes stay within a few bytes.
    """
    data, expected = MESSAGES[name]
    out: list[tuple[bytes, TxnFields]] = []
    for n in range(start, start + count):
        branch = f"z9hG4bK{n:08x}.1"
        from_tag = f"{n:08x}sl"
        call_id = f"{n:019d}@atlanta.example.com"
        seq = 100_000 + n
        variant = (
            data.replace(expected.branch.encode(), branch.encode())
            .replace(b"tag=" + expected.from_tag.encode(), b"tag=" + from_tag.encode())
            .replace(expected.call_id.encode(), call_id.encode())
            .replace(b"CSeq: %d " % expected.cseq_seq, b"CSeq: %d " % seq)
        )
        fields = expected._replace(branch=branch, from_tag=from_tag, call_id=call_id, cseq_seq=seq)
        if expected.to_tag is not None:
            to_tag = f"{n:x}t"
            variant = variant.replace(b"tag=" + expected.to_tag.encode(), b"tag=" + to_tag.encode())
            fields = fields._replace(to_tag=to_tag)
        out.append((variant, fields))
    return out


_check("INVITE_900", INVITE_900, 900)
_check("OK_850", OK_850, 850)
