"""Loopback tests of every session flavour with a bare Endpoint core: sipsans_asyncio,
and sipsans_anyio on asyncio and on trio; UDP, TCP, TLS, WS and WSS (RFC 7118)."""

from __future__ import annotations

import io
import json
import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.abc
import pytest
from loopback import (
    Answerer,
    Flavour,
    by_flavour,
    endpoint_factory,
    options,
    tls_contexts,
)

import sipsans
from sipsans.tools.trace import replay_transcript
from sipsans_asyncio import Listen, RequestTimeout, TransportError
from sipsans_session.addresses import UDP_RECEIVE_BUFFER

wsproto = pytest.importorskip("wsproto")

pytestmark = pytest.mark.anyio

Contexts = tuple[ssl.SSLContext, ssl.SSLContext]


@pytest.fixture(scope="module")
def tls() -> Iterator[Contexts]:
    yield tls_contexts()


async def _roundtrip(
    flavour: Flavour,
    transport: str,
    *,
    ssl_server: ssl.SSLContext | None = None,
    ssl_client: ssl.SSLContext | None = None,
) -> tuple[sipsans.Response, Answerer]:
    """OPTIONS from a client session to a server session answering 200."""
    app = Answerer()
    uas = app.session = flavour(endpoint_factory(1), transport, on_event=app, ssl_server=ssl_server)
    async with uas, flavour(endpoint_factory(2), ssl_client=ssl_client) as uac:
        to = uas.addresses[transport]
        with anyio.fail_after(10):
            response = await uac.request(
                options(to, transport), target=sipsans.Target(transport, *to)
            )
    return response, app


@by_flavour()
@pytest.mark.parametrize("transport", ["UDP", "TCP", "WS"])
async def test_options_roundtrip(flavour: Flavour, transport: str) -> None:
    response, app = await _roundtrip(flavour, transport)
    assert response.status_code == 200
    assert response.to.tag == "uas1"
    assert [e.request.method for e in app.requests] == ["OPTIONS"]
    assert app.requests[0].source.transport == transport


@by_flavour()
@pytest.mark.parametrize("transport", ["TLS", "WSS"])
async def test_options_over_tls(flavour: Flavour, transport: str, tls: Contexts) -> None:
    server, client = tls
    response, app = await _roundtrip(flavour, transport, ssl_server=server, ssl_client=client)
    assert response.status_code == 200
    assert app.requests[0].source.transport == transport


@by_flavour()
async def test_tls_verification_failure_is_explained(flavour: Flavour, tls: Contexts) -> None:
    server, _ = tls
    with pytest.raises(TransportError, match="certificate verification failed"):
        await _roundtrip(flavour, "TLS", ssl_server=server, ssl_client=ssl.create_default_context())


@by_flavour()
async def test_refused_connection_fails_the_request(flavour: Flavour) -> None:
    # Bind a port and close it again so that nothing listens there.
    async with flavour(endpoint_factory(3), "tcp") as probe:
        dead = probe.addresses["TCP"]
    async with flavour(endpoint_factory(4), "tcp") as uac:
        with pytest.raises(TransportError, match="refused"), anyio.fail_after(10):
            await uac.request(options(dead, "TCP"), target=sipsans.Target("TCP", *dead))


@by_flavour()
async def test_udp_request_times_out_with_timer_f(flavour: Flavour) -> None:
    # A UDP socket that never answers; T1 is shortened so that Timer F (64*T1) is quick.
    async with flavour(endpoint_factory(5)) as silent:
        dead = silent.addresses["UDP"]
        async with flavour(endpoint_factory(6, t1=0.01, t2=0.04)) as uac:
            with pytest.raises(RequestTimeout), anyio.fail_after(10):
                await uac.request(options(dead), target=sipsans.Target("UDP", *dead))
        # The silent side saw the OPTIONS once, its retransmissions (Timer E) absorbed.
        seen = []
        with anyio.move_on_after(0.2):
            while True:
                seen.append(await silent.next_event())
        assert [type(e) for e in seen] == [sipsans.RequestReceived]


@by_flavour()
async def test_udp_send_the_kernel_refuses_fails_the_request_at_once(flavour: Flavour) -> None:
    # An IPv6 destination on an IPv4 socket: sendto fails, and the transaction is told
    # at once (RFC 3261 §18.4) instead of retransmitting until Timer F.
    async with flavour(endpoint_factory(9)) as uac:
        with pytest.raises(TransportError, match=r"UDP send to .*::1.* failed"):
            with anyio.fail_after(5):
                await uac.request(
                    options(("[::1]", 5060)), target=sipsans.Target("UDP", "::1", 5060)
                )


def _options_datagram(to: tuple[str, int], source: tuple[str, int], n: int) -> bytes:
    """OPTIONS number ``n`` as a peer at ``source`` sends it (its own Via and Call-ID)."""
    uri = f"sip:uas@{to[0]}:{to[1]}"
    return (
        f"OPTIONS {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {source[0]}:{source[1]};branch=z9hG4bKburst{n}\r\n"
        f"Max-Forwards: 70\r\nTo: <{uri}>\r\nFrom: <sip:peer@127.0.0.1>;tag=p{n}\r\n"
        f"Call-ID: burst-{n}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


@by_flavour()
async def test_a_burst_of_datagrams_is_all_answered(flavour: Flavour) -> None:
    # More requests than one read of the socket takes (32 on asyncio), all queued in the
    # kernel before the session gets to run: each is answered once.
    app = Answerer()
    count = 40
    async with flavour(endpoint_factory(10), on_event=app) as uas:
        app.session = uas
        to = uas.addresses["UDP"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            peer.settimeout(5)
            host, port = peer.getsockname()
            for n in range(count):
                peer.sendto(_options_datagram(to, (host, port), n), to)
            answers: set[str] = set()
            with anyio.fail_after(10):
                while len(answers) < count:
                    data = await anyio.to_thread.run_sync(peer.recv, 65535)
                    response = sipsans.parse_message(data)
                    assert isinstance(response, sipsans.Response)
                    assert response.status_code == 200
                    answers.add(response.call_id)
    assert len(app.requests) == count


@by_flavour()
async def test_udp_sockets_ask_for_a_large_receive_buffer(flavour: Flavour) -> None:
    # Linux's default (208 KiB) overflows under load; the kernel caps the request at
    # net.core.rmem_max and reports twice what it granted.
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    wanted = min(UDP_RECEIVE_BUFFER, rmem_max)
    async with flavour(endpoint_factory(11)) as session:
        host, port = session.addresses["UDP"]
        # The socket bound to that port, found in the process's file descriptors.
        for fd in os.listdir("/proc/self/fd"):
            try:
                sock = socket.socket(fileno=os.dup(int(fd)))
            except OSError:
                continue
            with sock:
                if sock.type == socket.SOCK_DGRAM and sock.getsockname() == (host, port):
                    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= wanted
                    return
    pytest.fail("the session's UDP socket was not found")


@by_flavour()
async def test_events_are_iterable_and_end_on_close(flavour: Flavour) -> None:
    results: list[sipsans.Response] = []
    async with flavour(endpoint_factory(7)) as uas:
        to = uas.addresses["UDP"]
        async with flavour(endpoint_factory(8)) as uac, anyio.create_task_group() as tg:

            async def call() -> None:
                target = sipsans.Target("UDP", *to)
                results.append(await uac.request(options(to), target=target))

            tg.start_soon(call)
            with anyio.fail_after(10):
                async for event in uas:
                    if isinstance(event, sipsans.RequestReceived) and event.txn is not None:
                        reply = sipsans.make_response(event.request, 486, to_tag="busy")
                        uas.command(uas.core.send_response, event.txn, reply)
                        break
    assert results[0].status_code == 486
    with pytest.raises(EOFError):
        await uas.next_event()
    assert [e async for e in uas] == []


@by_flavour()
@pytest.mark.parametrize("transport", ["UDP", "TCP", "WS"])
async def test_trace_of_a_live_session_replays(flavour: Flavour, transport: str) -> None:
    out = io.StringIO()
    app = Answerer()
    uas = app.session = flavour(
        endpoint_factory(9), transport, on_event=app, trace=out, trace_seed=9
    )
    async with uas, flavour(endpoint_factory(10), transport) as uac:
        to = uas.addresses[transport]
        with anyio.fail_after(10):
            await uac.request(options(to, transport), target=sipsans.Target(transport, *to))
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert records[0]["format"] == "sipsans-transcript"
    kinds = [r["kind"] for r in records[1:]]
    assert "send_response" in kinds and "transmit" in kinds
    result = replay_transcript(out.getvalue())
    assert result.ok, result.describe()
    assert result.transmits >= 1


@by_flavour()
async def test_listen_errors_are_clear(flavour: Flavour) -> None:
    async with flavour(endpoint_factory(11)) as first:
        port = first.addresses["UDP"][1]
        taken = flavour.session(endpoint_factory(12), listen=[Listen("udp", "127.0.0.1", port)])
        with pytest.raises(OSError, match=f"cannot listen on UDP 127.0.0.1:{port}"):
            await taken.start()
    with pytest.raises(ValueError, match="needs ssl_server"):
        await flavour(endpoint_factory(13), "tls").start()


# -- WebSocket handshakes that must fail (RFC 7118 §4) ------------------------------------


async def _ws_upgrade(port: int, subprotocols: list[str]) -> object:
    """Offer a WebSocket upgrade to 127.0.0.1:port; the server's answer (a wsproto event)."""
    conn = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    request = wsproto.events.Request(
        host=f"127.0.0.1:{port}", target="/", subprotocols=subprotocols
    )
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(conn.send(request))
        while True:
            conn.receive_data(await stream.receive())
            for event in conn.events():
                return event


@by_flavour()
async def test_ws_server_refuses_an_upgrade_without_the_sip_subprotocol(flavour: Flavour) -> None:
    async with flavour(endpoint_factory(14), "ws") as uas:
        port = uas.addresses["WS"][1]
        with anyio.fail_after(10):
            refused = await _ws_upgrade(port, ["chat"])
            accepted = await _ws_upgrade(port, ["chat", "sip"])
    assert isinstance(refused, wsproto.events.RejectConnection)
    assert refused.status_code == 400
    assert isinstance(accepted, wsproto.events.AcceptConnection)
    assert accepted.subprotocol == "sip"


@by_flavour()
async def test_ws_client_gives_up_when_the_server_ignores_sip(flavour: Flavour) -> None:
    # A WebSocket server that accepts the upgrade without selecting a subprotocol.
    async def serve(stream: anyio.abc.ByteStream) -> None:
        conn = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        async with stream:
            async for data in stream:  # until the client hangs up
                conn.receive_data(data)
                for event in conn.events():
                    if isinstance(event, wsproto.events.Request):
                        await stream.send(conn.send(wsproto.events.AcceptConnection()))

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        async with flavour(endpoint_factory(15), "tcp") as uac:
            target = sipsans.Target("WS", "127.0.0.1", port)
            with pytest.raises(TransportError, match="did not accept the 'sip'"):
                with anyio.fail_after(10):
                    await uac.request(options(("127.0.0.1", port), "WS"), target=target)
        tg.cancel_scope.cancel()
