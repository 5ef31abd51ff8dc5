"""Loopback tests of the asyncio adapter with a bare Endpoint: UDP, TCP, TLS, WS."""

from __future__ import annotations

import asyncio
import io
import json
import random
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import sipsans
from sipsans.trace import replay_transcript
from sipsans_asyncio import (
    Listen,
    RequestTimeout,
    Session,
    TraceWriter,
    TransportError,
    client_context,
)

trustme = pytest.importorskip("trustme")

Address = tuple[str, int]

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # this adapter is asyncio's own; sipsans_anyio is tested on trio too


def endpoint_factory(seed: int, **config: Any) -> Callable[[Address], sipsans.Endpoint]:
    def make(addr: Address) -> sipsans.Endpoint:
        cfg = sipsans.EndpointConfig(advertised_host=addr[0], advertised_port=addr[1], **config)
        return sipsans.Endpoint(cfg, rng=random.Random(seed))

    return make


def options(to: Address, transport: str = "UDP", cseq: int = 1) -> sipsans.Request:
    uri = f"sip:uas@{to[0]}:{to[1]}"
    if transport != "UDP":
        uri += f";transport={transport.lower()}"
    return sipsans.make_request(
        "OPTIONS",
        uri,
        from_="<sip:uac@127.0.0.1>;tag=uac1",
        to=f"<{uri}>",
        call_id=f"options-{cseq}@127.0.0.1",
        cseq=cseq,
    )


class Answerer:
    """A tiny UAS application over Endpoint events: 200 to every request but ACK."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.session: Session[sipsans.Endpoint] | None = None
        self.seen: list[object] = []

    def __call__(self, event: object) -> None:
        self.seen.append(event)
        if isinstance(event, sipsans.RequestReceived) and event.txn is not None:
            assert self.session is not None
            response = sipsans.make_response(
                event.request, self.status, to_tag="uas1", headers=[("Allow", "OPTIONS")]
            )
            self.session.command(self.session.core.send_response, event.txn, response)


@pytest.fixture(scope="module")
def tls_contexts() -> Iterator[tuple[ssl.SSLContext, ssl.SSLContext]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    yield server, client


async def _roundtrip(
    transport: str,
    *,
    ssl_server: ssl.SSLContext | None = None,
    ssl_client: ssl.SSLContext | None = None,
) -> tuple[sipsans.Response, Answerer]:
    app = Answerer()
    uas = Session(
        endpoint_factory(1),
        listen=[Listen(transport, "127.0.0.1", 0)],
        on_event=app,
        ssl_server=ssl_server,
    )
    app.session = uas
    async with uas:
        listen = "udp" if transport == "UDP" else "tcp"
        async with Session(
            endpoint_factory(2), listen=[Listen(listen, "127.0.0.1", 0)], ssl_client=ssl_client
        ) as uac:
            to = uas.addresses[transport]
            target = sipsans.Target(transport, *to)
            async with asyncio.timeout(10):
                response = await uac.request(options(to, transport), target=target)
            return response, app


@pytest.mark.parametrize("transport", ["UDP", "TCP", "WS"])
async def test_options_roundtrip(transport: str) -> None:
    response, app = await _roundtrip(transport)
    assert response.status_code == 200
    assert response.to.tag == "uas1"
    received = [e for e in app.seen if isinstance(e, sipsans.RequestReceived)]
    assert [e.request.method for e in received] == ["OPTIONS"]
    assert received[0].source.transport == transport


@pytest.mark.parametrize("transport", ["TLS", "WSS"])
async def test_options_over_tls(
    transport: str, tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server, client = tls_contexts
    response, app = await _roundtrip(transport, ssl_server=server, ssl_client=client)
    assert response.status_code == 200
    received = [e for e in app.seen if isinstance(e, sipsans.RequestReceived)]
    assert received[0].source.transport == transport


async def test_tls_verification_failure_is_explained(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server, _ = tls_contexts
    with pytest.raises(TransportError, match="certificate verification failed"):
        await _roundtrip("TLS", ssl_server=server, ssl_client=client_context())


async def test_refused_tcp_connection_fails_the_request() -> None:
    # Bind a port and close it again so that nothing listens there.
    probe = Session(endpoint_factory(3), listen=[Listen("tcp", "127.0.0.1", 0)])
    async with probe:
        dead = probe.addresses["TCP"]
    async with Session(endpoint_factory(4), listen=[Listen("tcp", "127.0.0.1", 0)]) as uac:
        with pytest.raises(TransportError, match="refused"):
            async with asyncio.timeout(10):
                await uac.request(options(dead, "TCP"), target=sipsans.Target("TCP", *dead))


async def test_udp_request_times_out_with_timer_f() -> None:
    # A UDP socket that never answers; T1 is shortened so that Timer F (64*T1) is quick.
    async with Session(endpoint_factory(5), listen=[Listen("udp", "127.0.0.1", 0)]) as silent:
        dead = silent.addresses["UDP"]
        factory = endpoint_factory(6, t1=0.01, t2=0.04)
        async with Session(factory, listen=[Listen("udp", "127.0.0.1", 0)]) as uac:
            with pytest.raises(RequestTimeout):
                async with asyncio.timeout(10):
                    await uac.request(options(dead), target=sipsans.Target("UDP", *dead))
        # The silent side saw the OPTIONS and its retransmissions (Timer E).
        seen = []
        while not silent._queue.empty():
            seen.append(silent._queue.get_nowait())
        requests = [e for e in seen if isinstance(e, sipsans.RequestReceived)]
        assert len(requests) == 1


async def test_events_are_iterable_and_end_on_close() -> None:
    uas = Session(endpoint_factory(7), listen=[Listen("udp", "127.0.0.1", 0)])
    async with uas:
        to = uas.addresses["UDP"]
        async with Session(endpoint_factory(8), listen=[Listen("udp", "127.0.0.1", 0)]) as uac:
            pending = asyncio.ensure_future(
                uac.request(options(to), target=sipsans.Target("UDP", *to))
            )
            async with asyncio.timeout(10):
                async for event in uas:
                    if isinstance(event, sipsans.RequestReceived) and event.txn is not None:
                        reply = sipsans.make_response(event.request, 486, to_tag="busy")
                        uas.command(uas.core.send_response, event.txn, reply)
                        break
                response = await pending
            assert response.status_code == 486
    with pytest.raises(EOFError):
        await uas.next_event()
    assert [e async for e in uas] == []


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_trace_of_a_live_session_replays(transport: str) -> None:
    out = io.StringIO()
    app = Answerer()
    uas = Session(
        endpoint_factory(9),
        listen=[Listen(transport, "127.0.0.1", 0)],
        on_event=app,
        trace=out,
        trace_seed=9,
    )
    app.session = uas
    async with uas:
        to = uas.addresses[transport]
        listen = [Listen(transport, "127.0.0.1", 0)]
        async with Session(endpoint_factory(10), listen=listen) as uac:
            async with asyncio.timeout(10):
                await uac.request(options(to, transport), target=sipsans.Target(transport, *to))
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert records[0]["format"] == "sipsans-transcript"
    kinds = [r["kind"] for r in records[1:]]
    assert "send_response" in kinds and "transmit" in kinds
    result = replay_transcript(out.getvalue())
    assert result.ok, result.describe()
    assert result.transmits >= 1


def test_trace_writer_records_io(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    writer = TraceWriter(path, seed=3)
    writer.datagram_in(1.0, b"x", "UDP", ("127.0.0.1", 5060), None)
    writer.stream_open(1.5, 1, "TCP", ("127.0.0.1", 5060), ("127.0.0.1", 40000))
    writer.stream_in(1.6, 1, b"")
    writer.stream_closed(1.7, 1)
    writer.transport_error(1.8, 4)
    writer.timer(2.0)
    writer.transmit(2.0, sipsans.Transmit(b"y", "UDP", ("127.0.0.1", 5062)))
    writer.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {"format": "sipsans-transcript", "version": 1, "seed": 3, "config": {}}
    assert [r["kind"] for r in lines[1:]] == [
        "datagram_in",
        "stream_open",
        "stream_in",
        "stream_closed",
        "transport_error",
        "timer",
        "transmit",
    ]
    assert lines[1]["data"] == "eA==" and lines[-1]["remote"] == ["127.0.0.1", 5062]


async def test_listen_errors_are_clear() -> None:
    async with Session(endpoint_factory(11), listen=[Listen("udp", "127.0.0.1", 0)]) as first:
        port = first.addresses["UDP"][1]
        with pytest.raises(OSError, match=f"cannot listen on UDP 127.0.0.1:{port}"):
            await Session(endpoint_factory(12), listen=[Listen("udp", "127.0.0.1", port)]).start()
    with pytest.raises(ValueError, match="needs ssl_server"):
        await Session(endpoint_factory(13), listen=[Listen("tls", "127.0.0.1", 0)]).start()
    with pytest.raises(ValueError, match="unknown transport"):
        Listen("sctp")
