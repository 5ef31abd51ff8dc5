"""pcap replay (sipsans.tools.replay.run_replay, ``python -m sipsans.tools.replay``) on the shared
captures and on synthetic pcapng/IPv6 captures written here with dpkt."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import dpkt
import pytest
from conftest import CORPUS, corpus_files
from txhelpers import raw

from sipsans import MalformedMessage, RequestReceived, ResponseReceived
from sipsans.tools.replay import (
    main,
    parse_address,
    read_capture,
    replay_transcript_file,
    run_replay,
)
from sipsans.tools.trace import replay_transcript

#: The captures whose SIP is malformed on purpose, and the errors the Endpoint must report.
MALFORMED = {
    "sip-invalid-content-length.pcap": ["Content-Length: 'bad'"],
    "sip-junk-before-request.pcap": ["malformed request line", "missing mandatory header Via"],
}

CAPTURES = corpus_files("pcap", "*.pcap")


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_every_shared_capture_replays_with_check(path: Path) -> None:
    report = run_replay(path, check=True, ladder=True)
    assert report.errors == []  # no exception ever escapes the core
    assert report.played is not None and report.peers
    assert report.fed > 0
    assert report.ladder is not None and report.ladder.count("\n") > report.fed
    expected = MALFORMED.get(path.name)
    if expected is None:
        assert report.ok, report.summary()
        assert report.exit_code == 0
        assert any(isinstance(e, RequestReceived) for _, e in report.events)
        return
    errors = [m.error for m in report.malformed]
    assert len(errors) == len(expected), errors
    for error, needle in zip(errors, expected, strict=True):
        assert needle in error
    assert report.exit_code == 1 and not report.ok
    assert all(p.startswith("malformed message from") for p in report.problems)
    # Told that the capture is malformed on purpose, --check passes.
    assert run_replay(path, check=True, expect_malformed=True).exit_code == 0


def capture(name: str) -> Path:
    path = CORPUS / "pcap" / name
    if not path.exists():
        pytest.skip(f"shared corpus missing: {path}")
    return path


def test_default_side_receives_the_first_request_and_as_picks_the_other() -> None:
    path = capture("simple_invite_scenario.pcap")
    uas = run_replay(path)
    assert uas.played == "127.0.0.1:5090"
    methods = [e.request.method for _, e in uas.events if isinstance(e, RequestReceived)]
    assert methods == ["INVITE", "ACK", "BYE"]
    uac = run_replay(path, as_address="127.0.0.1:5060")
    assert uac.played == "127.0.0.1:5060"
    # The UAC side gets the responses (their top Via is the UAC's own sent-by).
    codes = [e.response.status_code for _, e in uac.events if isinstance(e, ResponseReceived)]
    assert codes == [100, 180, 200, 200]
    assert uac.ok


def test_tcp_flow_is_fed_through_a_connection() -> None:
    report = run_replay(capture("fragmented_tcp_sip.pcap"))
    requests = [e for _, e in report.events if isinstance(e, RequestReceived)]
    assert [r.request.method for r in requests] == ["INVITE", "ACK", "BYE"]
    assert all(r.source.transport == "TCP" and r.source.conn is not None for r in requests)
    assert len(bytes(requests[0].request)) > 5000  # reassembled from 4 segments


def test_sctp_messages_are_datagrams_with_transport_sctp() -> None:
    report = run_replay(capture("sip_sctp.pcap"))
    (invite,) = [e for _, e in report.events if isinstance(e, RequestReceived)]
    assert invite.source.transport == "SCTP"


def test_ladder_of_a_cancelled_call() -> None:
    report = run_replay(capture("sip-cancel.pcap"), ladder=True)
    assert report.ladder is not None
    lines = report.ladder.splitlines()
    # One dialog (one Call-ID), under a line naming it, then the ladder.
    assert lines[0].startswith("== dialog 1: Call-ID ") and "INVITE sip:" in lines[0]
    assert sum(line.startswith("== dialog") for line in lines) == 1
    lines = [line for line in lines[1:] if line]
    assert lines[0].split() == ["time", "127.0.0.1:5090", "127.0.0.1:5060"]
    labels = [line.split("|")[1].strip("-<> ") for line in lines[1:]]
    assert labels == [
        "INVITE",
        "100 Trying",
        "180 Ringing",
        "CANCEL",
        "200 OK",
        "487 Request Terminated",
        "ACK",
    ]
    assert "<-" in lines[1] and "->" in lines[2]
    assert lines[1].split()[0] == "0.000"
    # Each arrow is marked with its CSeq, and SDP where a body carries one.
    assert lines[1].endswith("CSeq 1 INVITE, SDP") or "CSeq" in lines[1]
    assert all("CSeq " in line for line in lines[1:])


def test_progress_is_reported_up_to_the_end() -> None:
    path = capture("sip-rtp-g711.pcap")  # 852 payloads
    calls: list[tuple[int, int]] = []
    report = run_replay(path, progress=lambda done, total: calls.append((done, total)))
    size = path.stat().st_size
    assert calls and calls[-1] == (size, size)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert report.payloads == 852


def test_a_capture_becomes_a_byte_exact_transcript() -> None:
    lines: list[str] = []
    report = run_replay(capture("sip-cancel.pcap"), record=lines.append)
    assert report.transmits > 0
    assert json.loads(lines[0])["format"] == "sipsans-transcript"
    result = replay_transcript(lines)
    assert result.ok, result.describe()
    assert result.transmits == report.transmits


# -- synthetic captures: pcapng, IPv6, Linux cooked, not-a-capture -----------------------------


def _udp6(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    udp.ulen = len(udp)
    ip6 = dpkt.ip6.IP6(
        src=ipaddress.IPv6Address(src).packed,
        dst=ipaddress.IPv6Address(dst).packed,
        nxt=dpkt.ip.IP_PROTO_UDP,
        hlim=64,
        data=udp,
        plen=len(udp),
    )
    eth = dpkt.ethernet.Ethernet(
        src=b"\x02" * 6, dst=b"\x04" * 6, type=dpkt.ethernet.ETH_TYPE_IP6, data=ip6
    )
    return bytes(eth)


def _tcp4(
    src: str, dst: str, sport: int, dport: int, *, seq: int, payload: bytes, flags: int
) -> bytes:
    tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, flags=flags, data=payload)
    ip = dpkt.ip.IP(
        src=ipaddress.IPv4Address(src).packed,
        dst=ipaddress.IPv4Address(dst).packed,
        p=dpkt.ip.IP_PROTO_TCP,
        data=tcp,
    )
    ip.len = len(ip)
    return bytes(ip)


def test_pcapng_over_ipv6(tmp_path: Path) -> None:
    path = tmp_path / "v6.pcapng"
    a, b = "2001:db8::1", "2001:db8::2"
    invite = raw("OPTIONS", via="[2001:db8::1]:5060", uri="sip:bob@[2001:db8::2]")
    with path.open("wb") as handle:
        writer = dpkt.pcapng.Writer(handle)
        writer.writepkt(_udp6(a, b, 5060, 5060, invite), ts=100.0)
        writer.writepkt(_udp6(a, b, 5060, 5060, invite), ts=100.5)  # retransmission
        writer.writepkt(_udp6(a, b, 5060, 40000, b"\x80" * 40), ts=100.6)  # RTP: not SIP
    payloads = list(read_capture(path))
    assert [p.src for p in payloads] == [(a, 5060)] * 3
    assert payloads[0].time == 100.0
    report = run_replay(path, check=True, ladder=True)
    assert report.played == "[2001:db8::2]:5060"
    assert report.fed == 2
    (request,) = [e for _, e in report.events if isinstance(e, RequestReceived)]
    assert request.source.remote == (a, 5060)
    assert report.ok and report.exit_code == 0
    assert report.ladder is not None and report.ladder.count("|<-----OPTIONS") == 2


def test_raw_ip_tcp_with_out_of_order_segments(tmp_path: Path) -> None:
    path = tmp_path / "tcp.pcap"
    message = raw("OPTIONS", transport="TCP")
    first, second = message[:50], message[50:]
    a, b = "192.0.2.1", "192.0.2.2"
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=dpkt.pcap.DLT_RAW)
        writer.writepkt(
            _tcp4(a, b, 40000, 5060, seq=999, payload=b"", flags=dpkt.tcp.TH_SYN), ts=1.0
        )
        writer.writepkt(
            _tcp4(a, b, 40000, 5060, seq=1000 + 50, payload=second, flags=dpkt.tcp.TH_ACK), ts=1.1
        )
        writer.writepkt(
            _tcp4(a, b, 40000, 5060, seq=1000, payload=first, flags=dpkt.tcp.TH_ACK), ts=1.2
        )
        writer.writepkt(
            _tcp4(a, b, 40000, 5060, seq=1000, payload=first, flags=dpkt.tcp.TH_ACK), ts=1.3
        )  # dup
        fin = dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK
        writer.writepkt(
            _tcp4(a, b, 40000, 5060, seq=1000 + len(message), payload=b"", flags=fin), ts=1.4
        )
    report = run_replay(path, check=True)
    kinds = [type(e).__name__ for _, e in report.events]
    assert kinds == ["RequestReceived", "ConnectionClosed"], kinds
    assert report.ok


def test_an_exception_in_the_core_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "one.pcap"
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=dpkt.pcap.DLT_EN10MB)
        writer.writepkt(_udp6("2001:db8::1", "2001:db8::2", 5060, 5060, raw("OPTIONS")), ts=1.0)

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyError("simulated bug")

    monkeypatch.setattr("sipsans.transaction.endpoint.Endpoint.receive_datagram", boom)
    report = run_replay(path, check=True)
    assert len(report.errors) == 1 and "KeyError: 'simulated bug'" in report.errors[0]
    assert report.problems == ["exception: KeyError: 'simulated bug'"]
    assert report.exit_code == 1


def test_not_a_capture_is_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(b"hello world, not a capture")
    with pytest.raises(ValueError, match="not a pcap or pcapng"):
        list(read_capture(path))
    assert main([str(path)]) == 2


def test_a_capture_without_sip(tmp_path: Path) -> None:
    path = tmp_path / "rtp.pcap"
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle)
        writer.writepkt(_udp6("2001:db8::1", "2001:db8::2", 4000, 4002, b"\x80" * 20), ts=1.0)
    report = run_replay(path, check=True)
    # No SIP at all is a problem under --check (a wrong file, or a framing sipsans does
    # not decode): it must not pass as if it had been replayed.
    assert report.played is None and report.payloads == 1 and report.exit_code == 1
    assert "no SIP found" in report.summary()
    assert "PROBLEM no SIP message in the capture (1 payloads read" in report.summary()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1:5060", ("192.0.2.1", 5060)),
        ("192.0.2.1", ("192.0.2.1", None)),
        ("[2001:DB8::1]:5070", ("2001:db8::1", 5070)),
        ("2001:db8:0::1", ("2001:db8::1", None)),
        ("Example.COM:5060", ("example.com", 5060)),
    ],
)
def test_parse_address(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", ":5060", "host:port", "[::1]:x"])
def test_parse_address_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not an address"):
        parse_address(text)


def test_module_entry_point(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = capture("sip-junk-before-request.pcap")
    assert main([str(path), "--check"]) == 1
    out = capsys.readouterr().out
    assert "MalformedMessage" in out and "PROBLEM" in out and "check: 2 problem(s)" in out
    assert main([str(path), "--check", "--expect-malformed", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "PROBLEM" not in out and "check: ok" in out and "0.000" not in out
    assert main([str(capture("sip-cancel.pcap")), "--ladder", "--as", "127.0.0.1:5060"]) == 0
    out = capsys.readouterr().out
    assert "CANCEL" in out and "played 127.0.0.1:5060" in out
    # A transcript file is replayed byte for byte.
    lines: list[str] = []
    run_replay(capture("sip-cancel.pcap"), record=lines.append)
    transcript = tmp_path / "t.jsonl"
    transcript.write_text("".join(lines))
    assert main([str(transcript)]) == 0
    assert "replay matched" in capsys.readouterr().out
    assert replay_transcript_file(transcript).ok
    last = max(i for i, line in enumerate(lines) if '"kind":"transmit"' in line)
    transcript.write_text("".join(lines[:last] + lines[last + 1 :]))
    assert main([str(transcript)]) == 1
    assert "replay diverged" in capsys.readouterr().out


def test_malformed_events_carry_the_source() -> None:
    report = run_replay(capture("sip-junk-before-request.pcap"))
    (first, second) = report.malformed
    assert isinstance(first, MalformedMessage)
    assert first.source.remote == ("1.1.1.1", 31000) and first.raw_prefix == b"\x00" * 4
    assert second.status_hint == 400


def test_ladder_rendering() -> None:
    from sipsans.tools.ladder import Arrow, message_label, render_ladder

    assert message_label(b"INVITE sip:b@x SIP/2.0\r\n\r\n") == "INVITE"
    assert message_label(b"SIP/2.0 180 Ringing\r\n") == "180 Ringing"
    assert message_label(b"\r\n\r\n") == "(keep-alive)"
    assert message_label(b"\x00\x00") == "? b'\\x00\\x00'"
    assert render_ladder([], []) == ""
    text = render_ladder(
        ["a", "b", "c"],
        [
            Arrow(5.0, 0, 2, "OPTIONS"),
            Arrow(5.25, 2, 1, "x" * 80, note="[late]"),
            Arrow(6.0, 1, 1, "self"),
        ],
    )
    header, first, second, third = text.splitlines()
    assert header.split() == ["time", "a", "b", "c"]
    bars = [i for i, ch in enumerate(first) if ch == "|"]
    assert len(bars) == 2  # the arrow crosses b's column
    assert first.split()[0] == "0.000" and first.rstrip().endswith("->|")
    assert "OPTIONS" in first
    assert second.split()[0] == "0.250" and "<-" in second and "~" in second
    assert second.endswith("  [late]")
    assert third.split()[0] == "1.000" and "| self" in third


def test_make_core_plays_the_side_with_another_core() -> None:
    import random

    from sipsans import Endpoint, EndpointConfig

    built: list[EndpointConfig] = []

    def make_core(config: EndpointConfig) -> Endpoint:
        built.append(config)
        return Endpoint(config, rng=random.Random(5))

    report = run_replay(capture("simple_invite_scenario.pcap"), make_core=make_core)
    (config,) = built
    assert (config.advertised_host, config.advertised_port) == ("127.0.0.1", 5090)
    assert len([e for _, e in report.events if isinstance(e, RequestReceived)]) == 3
