"""``sipsans replay`` on captures as real networks write them (issue: PPPoE, VLAN and
Linux-cooked framings not decoded, "no SIP found" passing ``--check``, WebSocket not
decoded, an absent ``--as`` passing, ``--quiet`` printing kilobytes, ``--ladder``
ignored for transcripts). Every capture is built here with dpkt."""

from __future__ import annotations

import ipaddress
import socket
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import dpkt
import pytest
from txhelpers import raw

from sipsans import RequestReceived
from sipsans.tools.capture import read_capture
from sipsans.tools.replay import main, run_replay

A, B = "192.0.2.1", "192.0.2.2"
SDP = (
    b"v=0\r\no=a 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0\r\n"
)


def invite(call_id: str = "c1@192.0.2.1", cseq: int = 1) -> bytes:
    return raw(
        "INVITE",
        call_id=call_id,
        cseq=cseq,
        branch=f"z9hG4bK{call_id[:4]}{cseq}",
        extra=("Contact: <sip:alice@192.0.2.1>", "Content-Type: application/sdp"),
        body=SDP,
    )


def ip4(
    payload: bytes, *, src: str = A, dst: str = B, sport: int = 5060, dport: int = 5060
) -> bytes:
    segment = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    segment.ulen = len(bytes(segment))
    packet = dpkt.ip.IP(
        src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=dpkt.ip.IP_PROTO_UDP, data=segment
    )
    packet.len = len(bytes(packet))
    return bytes(packet)


def ip6(payload: bytes) -> bytes:
    segment = dpkt.udp.UDP(sport=5060, dport=5060, data=payload)
    segment.ulen = len(bytes(segment))
    packet = dpkt.ip6.IP6(
        src=ipaddress.ip_address("2001:db8::1").packed,
        dst=ipaddress.ip_address("2001:db8::2").packed,
        nxt=dpkt.ip.IP_PROTO_UDP,
        hlim=64,
        data=segment,
    )
    packet.plen = len(bytes(segment))
    return bytes(packet)


MACS = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01"


def ethernet(packet: bytes) -> bytes:
    return MACS + b"\x08\x00" + packet


def vlan(packet: bytes) -> bytes:  # IEEE 802.1Q, VLAN 10
    return MACS + b"\x81\x00" + b"\x00\x0a" + b"\x08\x00" + packet


def qinq(packet: bytes) -> bytes:  # IEEE 802.1ad: service tag 100, customer tag 10
    return MACS + b"\x88\xa8" + b"\x00\x64" + b"\x81\x00" + b"\x00\x0a" + b"\x08\x00" + packet


def pppoe(packet: bytes) -> bytes:  # RFC 2516 session stage, PPP protocol 0x0021 (IPv4)
    ppp = b"\x00\x21" + packet
    return MACS + b"\x88\x64" + b"\x11\x00\x12\x34" + struct.pack(">H", len(ppp)) + ppp


def sll(packet: bytes) -> bytes:  # Linux cooked v1: packet type, ARPHRD, addr, protocol
    return struct.pack(">HHH8sH", 0, 1, 6, MACS[:6] + b"\0\0", 0x0800) + packet


def sll2(packet: bytes) -> bytes:  # Linux cooked v2
    return struct.pack(">HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, MACS[:6] + b"\0\0") + packet


def null_le(packet: bytes) -> bytes:  # BSD loopback, host (little-endian) order
    return struct.pack("<I", 2) + packet


def loop_be(packet: bytes) -> bytes:  # LINKTYPE_LOOP: network order
    return struct.pack(">I", 2) + packet


FRAMINGS: dict[str, tuple[int, Callable[[bytes], bytes]]] = {
    "ethernet": (dpkt.pcap.DLT_EN10MB, ethernet),
    "802.1Q": (dpkt.pcap.DLT_EN10MB, vlan),
    "QinQ": (dpkt.pcap.DLT_EN10MB, qinq),
    "PPPoE": (dpkt.pcap.DLT_EN10MB, pppoe),
    "SLL": (113, sll),
    "SLL2": (276, sll2),
    "null": (0, null_le),
    "loop": (108, loop_be),
    "raw": (101, lambda packet: packet),
}


def write(path: Path, linktype: int, frames: list[bytes]) -> Path:
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=linktype)
        for n, frame in enumerate(frames):
            writer.writepkt(frame, ts=100.0 + n)
    return path


@pytest.mark.parametrize("framing", list(FRAMINGS))
def test_every_framing_is_decoded(framing: str, tmp_path: Path) -> None:
    linktype, frame = FRAMINGS[framing]
    path = write(tmp_path / f"{framing}.pcap", linktype, [frame(ip4(invite()))])
    report = run_replay(path, check=True)
    assert report.played == f"{B}:5060" and report.fed == 1, report.summary()
    (request,) = [e for _, e in report.events if isinstance(e, RequestReceived)]
    assert request.request.method == "INVITE" and request.source.remote == (A, 5060)
    assert report.exit_code == 0


def test_linux_loopback_ipv6_family(tmp_path: Path) -> None:
    """Linux numbers AF_INET6 10 (the BSDs 24, 28 or 30)."""
    path = write(tmp_path / "v6.pcap", 0, [struct.pack("<I", 10) + ip6(invite())])
    report = run_replay(path, check=True)
    assert report.played == "[2001:db8::2]:5060" and report.exit_code == 0


def test_ipv4_fragments_are_reassembled(tmp_path: Path) -> None:
    """RFC 791: a datagram over the MTU arrives in pieces, in any order."""
    big = invite().replace(
        b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\nX-Pad: " + b"x" * 3000 + b"\r\n"
    )
    whole = dpkt.ip.IP(ip4(big))
    payload = bytes(whole.data)
    pieces = [(0, payload[:1480], 1), (1480, payload[1480:2960], 1), (2960, payload[2960:], 0)]
    frames = []
    for offset, part, more in (pieces[2], pieces[0], pieces[1]):  # out of order
        fragment = dpkt.ip.IP(src=whole.src, dst=whole.dst, p=whole.p, id=4242, data=part)
        fragment.mf, fragment.offset = more, offset
        frames.append(ethernet(bytes(fragment)))
    path = write(tmp_path / "fragments.pcap", dpkt.pcap.DLT_EN10MB, frames)
    (payload_read,) = list(read_capture(path))
    assert payload_read.data == big
    report = run_replay(path, check=True)
    assert report.exit_code == 0 and report.fed == 1


def _tcp(src: tuple[str, int], dst: tuple[str, int], seq: int, data: bytes, flags: int) -> bytes:
    segment = dpkt.tcp.TCP(sport=src[1], dport=dst[1], seq=seq, flags=flags, data=data)
    packet = dpkt.ip.IP(
        src=socket.inet_aton(src[0]), dst=socket.inet_aton(dst[0]), p=dpkt.ip.IP_PROTO_TCP,
        data=segment,
    )  # fmt: skip
    packet.len = len(bytes(packet))
    return ethernet(bytes(packet))


def test_sip_over_websocket_in_a_tcp_capture(tmp_path: Path) -> None:
    """RFC 7118: after the HTTP upgrade, each WebSocket message is one SIP message (the
    client's frames masked, RFC 6455 §5.3)."""
    wsproto = pytest.importorskip("wsproto")
    from wsproto.events import AcceptConnection, Request, TextMessage

    client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    upgrade = client.send(Request(host=f"{B}:80", target="/", subprotocols=["sip"]))
    server.receive_data(upgrade)
    list(server.events())
    accept = server.send(AcceptConnection(subprotocol="sip"))
    client.receive_data(accept)
    list(client.events())
    message = invite().replace(b"SIP/2.0/UDP", b"SIP/2.0/WS")
    frame = client.send(TextMessage(data=message.decode()))
    c, s = (A, 50000), (B, 80)
    frames = [
        _tcp(c, s, 1000, b"", 0x02),
        _tcp(c, s, 1001, upgrade, 0x18),
        _tcp(s, c, 5001, accept, 0x18),
        _tcp(c, s, 1001 + len(upgrade), frame[:10], 0x18),  # a frame split over segments
        _tcp(c, s, 1011 + len(upgrade), frame[10:], 0x18),
    ]
    path = write(tmp_path / "ws.pcap", dpkt.pcap.DLT_EN10MB, frames)
    payloads = list(read_capture(path))
    assert [p.transport for p in payloads] == ["WS"] and payloads[0].data == message
    report = run_replay(path, check=True)
    (request,) = [e for _, e in report.events if isinstance(e, RequestReceived)]
    assert request.source.transport == "WS" and report.exit_code == 0


def test_no_sip_or_an_absent_as_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rtp = write(tmp_path / "rtp.pcap", 101, [ip4(b"\x80" * 40, sport=4000, dport=4002)])
    assert main([str(rtp), "--check"]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM no SIP message in the capture" in out and "check: 1 problem(s)" in out
    sip = write(tmp_path / "sip.pcap", 101, [ip4(invite())])
    assert main([str(sip), "--check", "--as", "198.51.100.7:5060"]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM --as 198.51.100.7:5060: no SIP message to or from it" in out
    assert f"(SIP parties seen: {A}:5060, {B}:5060)" in out
    assert main([str(sip), "--check", "--as", f"{A}:5060"]) == 0


def test_quiet_prints_the_summary_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = [ip4(invite(call_id=f"c{n}@192.0.2.1")) for n in range(40)]
    path = write(tmp_path / "many.pcap", 101, frames)
    assert main([str(path), "--quiet", "--ladder"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{path}: played") and captured.err == ""


def test_the_ladder_groups_by_dialog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = [
        ip4(invite(call_id="first@192.0.2.1")),
        ip4(invite(call_id="second@192.0.2.1")),
        ip4(raw("BYE", call_id="first@192.0.2.1", cseq=2, to_tag="x", branch="z9hG4bKbye")),
    ]
    path = write(tmp_path / "two.pcap", 101, frames)
    assert main([str(path), "--ladder"]) == 0
    out = capsys.readouterr().out
    sections = out.split("== dialog ")[1:]
    assert [s.split(";")[0] for s in sections] == [
        "1: Call-ID first@192.0.2.1",
        "2: Call-ID second@192.0.2.1",
    ]
    first = sections[0]
    assert "INVITE" in first and "BYE" in first and "CSeq 1 INVITE, SDP" in first
    assert "CSeq 2 BYE" in first and "BYE" not in sections[1]


def test_html_is_a_self_contained_sequence_diagram(tmp_path: Path) -> None:
    frames = [
        ip4(invite(call_id="first@192.0.2.1")),
        ip4(invite(call_id="second@192.0.2.1")),
    ]
    path = write(tmp_path / "two.pcap", 101, frames)
    out = tmp_path / "two.html"
    assert main([str(path), "--html", str(out), "--quiet"]) == 0
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    root = ET.fromstring(html.split("\n", 1)[1])  # well-formed: parse it
    assert root.tag == "html"
    # Nothing fetched from anywhere: no script, no external reference of any kind.
    for element in root.iter():
        assert element.tag not in ("script", "link", "img", "iframe", "object")
        for name, value in element.attrib.items():
            assert "http:" not in value and "https:" not in value, (element.tag, name)
            if name == "href" or name.endswith("}href"):
                assert value.startswith("#")
    svg = root.find("body/svg")
    assert svg is not None
    groups = [g for g in svg.iter("g") if "message" in g.get("class", "")]
    assert len(groups) == 2
    title = groups[0].find("title")
    assert title is not None and title.text is not None
    assert title.text.startswith("INVITE sip:bob@192.0.2.2 SIP/2.0")
    texts = ["".join(t.itertext()) for t in svg.iter("text")]
    assert any(t.startswith("dialog 1: Call-ID first@192.0.2.1") for t in texts)
    assert "CSeq 1 INVITE, SDP" in texts and f"{A}:5060" in texts


def test_transcripts_get_a_ladder_and_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cliharness import free_port

    from sipsans_asyncio import cli

    trace = tmp_path / "t.jsonl"
    port = free_port()
    assert (
        cli.main(
            [
                "options",
                f"sip:x@127.0.0.1:{port}",
                "--listen",
                "127.0.0.1:0",
                "--timeout",
                "1",
                "--trace",
                str(trace),
            ]
        )
        == 3
    )
    capsys.readouterr()
    html = tmp_path / "t.html"
    assert main([str(trace), "--ladder", "--html", str(html), "--check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("== dialog 1: Call-ID ") and "OPTIONS" in out
    assert "CSeq " in out and "replay matched" in out
    assert ET.fromstring(html.read_text().split("\n", 1)[1]).tag == "html"
    assert main([str(trace), "--quiet", "--ladder"]) == 0
    assert capsys.readouterr().out.count("\n") == 1
