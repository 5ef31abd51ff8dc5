"""What only the asyncio adapter package has: the transcript writer, ``Listen`` checks,
``run()``, and the RFC 7118 byte machine both adapters share. The loopback tests of
the sessions themselves are in test_adapter_sessions.py (every flavour)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from loopback import endpoint_factory

import sipsans
from sipsans.tools.trace import INPUT_KINDS
from sipsans_asyncio import Listen, Session, TraceWriter, run

pytest.importorskip("wsproto")

from wsproto import ConnectionType, WSConnection
from wsproto.events import CloseConnection, Ping, Request

from sipsans_session.rfc7118 import SipWebSocket

OPTIONS = (
    b"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK1\r\n"
    b"Max-Forwards: 70\r\nTo: <sip:bob@127.0.0.1>\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\n"
    b"Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)


def test_trace_writer_records_io(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    writer = TraceWriter(path, seed=3)
    writer.datagram_in(1.0, b"x", "UDP", ("127.0.0.1", 5060), None)
    writer.stream_open(1.5, 1, "TCP", ("127.0.0.1", 5060), ("127.0.0.1", 40000))
    writer.stream_in(1.6, 1, b"")
    writer.stream_closed(1.7, 1)
    writer.transport_error(1.8, 4, "TCP connection to 127.0.0.1:5070 refused")
    writer.timer(2.0)
    writer.transmit(2.0, sipsans.Transmit(b"y", "UDP", ("127.0.0.1", 5062)))
    writer.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {"format": "sipsans-transcript", "version": 1, "seed": 3, "config": {}}
    kinds = [r["kind"] for r in lines[1:]]
    order = "datagram_in stream_open stream_in stream_closed transport_error timer transmit"
    assert " ".join(kinds) == order
    assert set(kinds[:-1]) <= INPUT_KINDS  # what a replay feeds back to the core
    assert lines[1]["data"] == "eA==" and lines[-1]["remote"] == ["127.0.0.1", 5062]
    assert lines[5]["reason"] == "TCP connection to 127.0.0.1:5070 refused"


def test_unknown_transport_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="unknown transport 'sctp'"):
        Listen("sctp")


def test_run_on_the_stdlib_loop_and_start_close_by_hand() -> None:
    async def main() -> tuple[str, tuple[str, int]]:
        session = Session(endpoint_factory(1), listen=[Listen("udp", "127.0.0.1", 0)])
        await session.start()
        address = session.addresses["UDP"]
        await session.close()
        with pytest.raises(EOFError):
            await session.next_event()
        return type(asyncio.get_running_loop()).__module__, address

    module, (host, port) = run(main(), use_uvloop=False)
    assert module.startswith("asyncio.")
    assert host == "127.0.0.1" and port > 0


def test_run_can_tune_the_collector_for_a_server() -> None:
    # Process-wide settings: checked in a fresh interpreter.
    code = (
        "import asyncio, gc\n"
        "from sipsans_asyncio.run import YOUNG_THRESHOLD, run\n"
        "async def main():\n"
        "    return gc.get_threshold()[0], gc.get_freeze_count()\n"
        "young, frozen = run(main(), tune_gc=True)\n"
        "assert young == YOUNG_THRESHOLD == 10000, young\n"
        "assert frozen > 1000, frozen  # start-up objects: modules, classes, ...\n"
        "assert gc.get_threshold()[0] == 10000\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- RFC 7118 over wsproto, without sockets -----------------------------------------------


def _connected() -> tuple[SipWebSocket, SipWebSocket]:
    client = SipWebSocket(client=True, host="127.0.0.1", port=5062)
    server = SipWebSocket(client=False)
    answer = server.receive(client.handshake())
    assert answer.ready and answer.error is None
    assert client.receive(answer.send).ready
    return client, server


def test_ws_handshake_offers_and_selects_sip() -> None:
    client = SipWebSocket(client=True, host="::1", port=5062)
    request = client.handshake()
    assert b"Sec-WebSocket-Protocol: sip\r\n" in request
    assert b"Host: [::1]:5062\r\n" in request
    answer = SipWebSocket(client=False).receive(request)
    assert b"Sec-WebSocket-Protocol: sip\r\n" in answer.send


def test_ws_one_sip_message_per_websocket_message() -> None:
    client, server = _connected()
    framed = client.frame(OPTIONS)
    assert framed[0] == 0x81  # FIN + text frame: the message is UTF-8 (RFC 7118 §5.2)
    # Split anywhere, the message comes out once, whole.
    first = server.receive(framed[:7])
    second = server.receive(framed[7:] + client.frame(OPTIONS))
    assert first.messages == [] and second.messages == [OPTIONS, OPTIONS]
    assert client.frame(b"\xff\xfe")[0] == 0x82  # not UTF-8: a binary frame


def test_ws_ping_is_answered_and_close_ends_the_stream() -> None:
    client, server = _connected()
    peer = client._ws  # the raw wsproto connection, to send control frames
    got = server.receive(peer.send(Ping(payload=b"hi")))
    assert got.send and got.messages == [] and not got.closed
    got = server.receive(peer.send(CloseConnection(code=1000)))
    assert got.closed and got.send  # the Close is echoed (RFC 6455 §5.5.1)


def test_ws_handshake_failures_are_explained() -> None:
    server = SipWebSocket(client=False)
    browser = WSConnection(ConnectionType.CLIENT)
    got = server.receive(browser.send(Request(host="h", target="/", subprotocols=["chat"])))
    assert got.error == "the WebSocket client did not offer the 'sip' subprotocol"
    assert got.send.startswith(b"HTTP/1.1 400 ")
