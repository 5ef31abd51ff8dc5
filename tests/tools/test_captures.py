"""Every SIP payload of the shared captures parses or is refused with a clear error.

UDP and SCTP payloads are datagrams; TCP flows are reassembled and framed by
StreamFramer. The expected counts are the ``sip_messages`` column of the corpus
INDEX.tsv; the expected refusals are the malformed captures the README names.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import CORPUS, corpus_files

from sipsans import RemoteProtocolError, StreamFramer, parse_message
from sipsans.tools.replay import read_capture


@dataclass
class Outcome:
    parsed: int = 0
    refused: list[str] = field(default_factory=list)


def _looks_like_sip(data: bytes, ports: tuple[int, int]) -> bool:
    first_line = data.split(b"\r\n", 1)[0]
    return b"SIP/2.0" in first_line or 5060 in ports or 5061 in ports


def run_capture(path: Path) -> Outcome:
    outcome = Outcome()
    framers: dict[object, StreamFramer] = {}

    def parse(data: bytes) -> None:
        try:
            message = parse_message(data)
            message.validate()
        except RemoteProtocolError as exc:
            assert str(exc), "an error must say what is wrong"
            outcome.refused.append(str(exc))
        else:
            outcome.parsed += 1

    for payload in read_capture(path):
        if payload.transport in ("UDP", "SCTP"):
            if _looks_like_sip(payload.data, (payload.src[1], payload.dst[1])):
                parse(payload.data)
            continue
        framer = framers.setdefault((payload.src, payload.dst), StreamFramer())
        if framer.failed:
            continue
        framer.receive_data(payload.data)
        if payload.fin:
            framer.receive_data(b"")
        while True:
            try:
                frame = framer.next_frame()
            except RemoteProtocolError as exc:
                outcome.refused.append(f"framing: {exc}")
                break
            if frame is None:
                break
            parse(frame)
    return outcome


def _expected_counts() -> dict[str, int]:
    index = CORPUS / "pcap" / "INDEX.tsv"
    if not index.exists():
        return {}
    with index.open(newline="") as handle:
        return {
            row["file"]: int(row["sip_messages"]) for row in csv.DictReader(handle, delimiter="\t")
        }


EXPECTED = _expected_counts()

# Captures the corpus README marks as malformed, with what must be refused.
REFUSED = {
    "sip-invalid-content-length.pcap": ["Content-Length: 'bad'", "Content-Length: 'xyz'"],
    # a 4-byte all-zero datagram, then a REGISTER with no Via/From/To/Call-ID/CSeq
    "sip-junk-before-request.pcap": ["malformed request line", "missing mandatory header Via"],
    # URIs carry IPv6 addresses without brackets; RFC 5118 §4.2 (ipv6-bad) requires
    # refusing them. (The bare-IPv6 Via sent-by is accepted leniently, see fields.py.)
    "sip_ipv6_udp.pcap": ["invalid host|must be enclosed in brackets"] * 6,
}


@pytest.mark.parametrize("path", corpus_files("pcap", "*.pcap"), ids=lambda p: p.name)
def test_capture_payloads(path: Path) -> None:
    outcome = run_capture(path)
    expected_refusals = REFUSED.get(path.name, [])
    assert len(outcome.refused) == len(expected_refusals), outcome.refused
    for text, needle in zip(outcome.refused, expected_refusals, strict=True):
        assert any(option in text for option in needle.split("|")), text
    if not expected_refusals:
        assert outcome.parsed == EXPECTED[path.name]


def test_tcp_reassembly_of_a_fragmented_invite() -> None:
    """fragmented_tcp_sip.pcap splits a ~5.1 KB INVITE over 4 segments."""
    path = CORPUS / "pcap" / "fragmented_tcp_sip.pcap"
    if not path.exists():
        pytest.skip("corpus missing")
    framer = StreamFramer()
    first = None
    for payload in read_capture(path):
        if payload.transport == "TCP" and (
            payload.data.startswith(b"INVITE") or (first is None and framer.buffered)
        ):
            framer.receive_data(payload.data)
        if first is None and (frame := framer.next_frame()) is not None:
            first = parse_message(frame)
    assert first is not None
    assert first.method == "INVITE"  # type: ignore[union-attr]
    assert len(bytes(first)) > 5000
