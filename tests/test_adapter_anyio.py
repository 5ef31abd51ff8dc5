"""Loopback tests of the anyio adapter, on asyncio and on trio, and of its blocking facade."""

from __future__ import annotations

import random
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest

import sipsans
from sipsans_anyio import Listen, RequestTimeout, Session, TransportError
from sipsans_anyio.blocking import BlockingSession

trustme = pytest.importorskip("trustme")

Address = tuple[str, int]

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def endpoint_factory(seed: int, **config: Any) -> Callable[[Address], sipsans.Endpoint]:
    def make(addr: Address) -> sipsans.Endpoint:
        cfg = sipsans.EndpointConfig(advertised_host=addr[0], advertised_port=addr[1], **config)
        return sipsans.Endpoint(cfg, rng=random.Random(seed))

    return make


def options(to: Address, cseq: int = 1) -> sipsans.Request:
    uri = f"sip:uas@{to[0]}:{to[1]}"
    return sipsans.make_request(
        "OPTIONS",
        uri,
        from_="<sip:uac@127.0.0.1>;tag=uac1",
        to=f"<{uri}>",
        call_id=f"anyio-{cseq}@127.0.0.1",
        cseq=cseq,
    )


class Answerer:
    """Answers every request but ACK with ``status``; remembers the thread it ran on."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.session: Any = None
        self.requests: list[sipsans.RequestReceived] = []
        self.threads: set[int] = set()

    def __call__(self, event: object) -> None:
        self.threads.add(threading.get_ident())
        if isinstance(event, sipsans.RequestReceived) and event.txn is not None:
            self.requests.append(event)
            reply = sipsans.make_response(event.request, self.status, to_tag="uas1")
            self.session.command(self.session.core.send_response, event.txn, reply)


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
        listen = [Listen("udp" if transport == "UDP" else "tcp", "127.0.0.1", 0)]
        async with Session(endpoint_factory(2), listen=listen, ssl_client=ssl_client) as uac:
            to = uas.addresses[transport]
            with anyio.fail_after(10):
                response = await uac.request(options(to), target=sipsans.Target(transport, *to))
    return response, app


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_options_roundtrip(transport: str) -> None:
    response, app = await _roundtrip(transport)
    assert response.status_code == 200
    assert [e.source.transport for e in app.requests] == [transport]


async def test_options_over_tls(tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server, client = tls_contexts
    response, app = await _roundtrip("TLS", ssl_server=server, ssl_client=client)
    assert response.status_code == 200
    assert app.requests[0].source.transport == "TLS"


async def test_tls_verification_failure_is_explained(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server, _ = tls_contexts
    with pytest.raises(TransportError, match="certificate verification failed"):
        await _roundtrip("TLS", ssl_server=server, ssl_client=ssl.create_default_context())


async def test_refused_connection_fails_the_request() -> None:
    async with Session(endpoint_factory(3), listen=[Listen("tcp", "127.0.0.1", 0)]) as probe:
        dead = probe.addresses["TCP"]
    async with Session(endpoint_factory(4), listen=[Listen("tcp", "127.0.0.1", 0)]) as uac:
        with pytest.raises(TransportError, match="refused"), anyio.fail_after(10):
            await uac.request(options(dead), target=sipsans.Target("TCP", *dead))


async def test_timer_task_drives_retransmissions_and_timeout() -> None:
    async with Session(endpoint_factory(5), listen=[Listen("udp", "127.0.0.1", 0)]) as silent:
        dead = silent.addresses["UDP"]
        factory = endpoint_factory(6, t1=0.01, t2=0.04)
        async with Session(factory, listen=[Listen("udp", "127.0.0.1", 0)]) as uac:
            with pytest.raises(RequestTimeout), anyio.fail_after(10):
                await uac.request(options(dead), target=sipsans.Target("UDP", *dead))
        with anyio.fail_after(5):
            first = await silent.next_event()
        assert isinstance(first, sipsans.RequestReceived)


async def test_async_for_events_until_close() -> None:
    async with Session(endpoint_factory(7), listen=[Listen("udp", "127.0.0.1", 0)]) as uas:
        to = uas.addresses["UDP"]
        async with (
            Session(endpoint_factory(8), listen=[Listen("udp", "127.0.0.1", 0)]) as uac,
            anyio.create_task_group() as tg,
        ):
            results: list[sipsans.Response] = []

            async def call() -> None:
                target = sipsans.Target("UDP", *to)
                results.append(await uac.request(options(to), target=target))

            tg.start_soon(call)
            with anyio.fail_after(10):
                async for event in uas:
                    if isinstance(event, sipsans.RequestReceived) and event.txn is not None:
                        reply = sipsans.make_response(event.request, 486, to_tag="x")
                        uas.command(uas.core.send_response, event.txn, reply)
                        break
        assert results[0].status_code == 486
    with pytest.raises(EOFError):
        await uas.next_event()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_blocking_facade_from_threads(backend: str) -> None:
    app = Answerer()
    with BlockingSession[sipsans.Endpoint](
        endpoint_factory(9),
        backend=backend,
        listen=[Listen("udp", "127.0.0.1", 0)],
        on_event=app,
    ) as uas:
        app.session = uas.session
        to = uas.addresses["UDP"]
        listen = [Listen("udp", "127.0.0.1", 0)]
        with BlockingSession[sipsans.Endpoint](
            endpoint_factory(10), backend=backend, listen=listen
        ) as uac:
            answers: list[int] = []

            def worker(n: int) -> None:
                target = sipsans.Target("UDP", *to)
                response = uac.request(options(to, cseq=n), target=target, timeout=10)
                answers.append(response.status_code)

            threads = [threading.Thread(target=worker, args=(n,)) for n in range(1, 5)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=20)
            assert sorted(answers) == [200, 200, 200, 200]
            with pytest.raises(TimeoutError):
                uac.next_event(timeout=0.05)
    assert len(app.requests) == 4
    assert threading.get_ident() not in app.threads  # callbacks ran in the loop's thread
