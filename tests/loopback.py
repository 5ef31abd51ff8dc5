"""Helpers for the loopback tests of the adapters (tests/adapters/test_adapter_*.py).

A :class:`Flavour` is one way of running a session: ``sipsans_asyncio`` on asyncio, or
``sipsans_anyio`` on asyncio or on trio. The tests are written once with anyio (which
drives plain asyncio code too) and run in every flavour through the :func:`flavour`
fixture, which also sets the ``anyio_backend`` the anyio pytest plugin runs them on.
"""

from __future__ import annotations

import random
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
import pytest

import sipsans
import sipsans_anyio
import sipsans_asyncio

Address = tuple[str, int]

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0\r\n"
)


@dataclass(frozen=True)
class Flavour:
    """A session class and the anyio backend its tests run on."""

    name: str
    backend: str
    session: Any  # sipsans_asyncio.Session or sipsans_anyio.Session (the class)

    def __call__(self, core: Any, *transports: str, **options: Any) -> Any:
        """A session of this flavour listening on 127.0.0.1, port 0, for each transport."""
        listen = [sipsans_asyncio.Listen(t, "127.0.0.1", 0) for t in transports or ("udp",)]
        return self.session(core, listen=listen, **options)


FLAVOURS = [
    Flavour("asyncio", "asyncio", sipsans_asyncio.Session),
    Flavour("anyio-asyncio", "asyncio", sipsans_anyio.Session),
    Flavour("anyio-trio", "trio", sipsans_anyio.Session),
]
ANYIO_FLAVOURS = [f for f in FLAVOURS if f.session is sipsans_anyio.Session]


def by_flavour(flavours: list[Flavour] = FLAVOURS) -> pytest.MarkDecorator:
    """``@by_flavour()``: run an async test once per flavour (argument ``flavour``)."""
    return pytest.mark.parametrize(
        ("flavour", "anyio_backend"),
        [pytest.param(f, f.backend, id=f.name) for f in flavours],
    )


def endpoint_factory(seed: int, **config: Any) -> Callable[[Address], sipsans.Endpoint]:
    """An Endpoint made once the session knows its advertised address."""

    def make(addr: Address) -> sipsans.Endpoint:
        cfg = sipsans.EndpointConfig(advertised_host=addr[0], advertised_port=addr[1], **config)
        return sipsans.Endpoint(cfg, rng=random.Random(seed))

    return make


def ua_factory(
    name: str, seed: int, *, ua: sipsans.UAConfig | None = None, **config: Any
) -> Callable[[Address], sipsans.UserAgent]:
    """A UserAgent ``sip:name@127.0.0.1`` made once the session knows its address
    (``ua``: its UAConfig; ``config``: EndpointConfig fields such as ``t1``)."""

    def make(addr: Address) -> sipsans.UserAgent:
        cfg = sipsans.EndpointConfig(advertised_host=addr[0], advertised_port=addr[1], **config)
        rng = random.Random(seed)
        return sipsans.UserAgent(
            sipsans.Endpoint(cfg, rng=rng), identity=f"sip:{name}@127.0.0.1", rng=rng, config=ua
        )

    return make


def uri_of(session: Any, transport: str = "UDP", user: str = "bob") -> str:
    """The address reaching ``session`` over ``transport``: ``sip:user@host:port``, or
    ``<sip:user@host:port;transport=ws>`` (in angle brackets, so that ``transport`` is a
    URI parameter and not a To header parameter, RFC 3261 §20.10)."""
    host, port = session.addresses[transport]
    if transport == "UDP":
        return f"sip:{user}@{host}:{port}"
    return f"<sip:{user}@{host}:{port};transport={transport.lower()}>"


def options(to: Address, transport: str = "UDP", cseq: int = 1) -> sipsans.Request:
    """An out-of-dialog OPTIONS to ``to`` over ``transport``."""
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
    """An ``on_event`` UAS over Endpoint events: ``status`` to every request but ACK."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.session: Any = None
        self.seen: list[object] = []

    @property
    def requests(self) -> list[sipsans.RequestReceived]:
        return [e for e in self.seen if isinstance(e, sipsans.RequestReceived)]

    def __call__(self, event: object) -> None:
        self.seen.append(event)
        if isinstance(event, sipsans.RequestReceived) and event.txn is not None:
            response = sipsans.make_response(
                event.request, self.status, to_tag="uas1", headers=[("Allow", "OPTIONS")]
            )
            self.session.command(self.session.core.send_response, event.txn, response)


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1 and a client trusting its CA."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


# -- a bare peer ---------------------------------------------------------------------------


class RawPeer:
    """A SIP peer without a stack: a UDP socket on 127.0.0.1 (anyio's, so that it runs in
    every flavour) that sends hand-written SIP and keeps every message it receives."""

    def __init__(self, sock: anyio.abc.UDPSocket) -> None:
        self.sock = sock
        self.port: int = sock.extra(anyio.abc.SocketAttribute.local_port)
        self.uri = f"sip:raw@127.0.0.1:{self.port}"
        self.seen: list[sipsans.Request | sipsans.Response] = []

    async def send(self, to: tuple[str, int], *lines: str, body: bytes = b"") -> None:
        head = [*lines, f"Content-Length: {len(body)}", "", ""]
        await self.sock.sendto("\r\n".join(head).encode() + body, *to)

    async def receive(self, match: Any) -> Any:
        """The next message received for which ``match(message)`` holds."""
        while True:
            data, _ = await self.sock.receive()
            message = sipsans.parse_message(data)
            self.seen.append(message)
            if match(message):
                return message


def is_request(method: str) -> Any:
    return lambda m: isinstance(m, sipsans.Request) and m.method == method


def is_final(method: str, status: int) -> Any:
    return lambda m: (
        isinstance(m, sipsans.Response) and m.cseq.method == method and m.status_code == status
    )


@asynccontextmanager
async def raw_peer() -> AsyncIterator[RawPeer]:
    async with await anyio.create_udp_socket(local_host="127.0.0.1", local_port=0) as sock:
        yield RawPeer(sock)


async def call_from(peer: RawPeer, to: tuple[str, int], call_id: str) -> None:
    """The raw peer's INVITE (with an SDP offer) to ``to``."""
    await peer.send(
        to,
        f"INVITE sip:bob@{to[0]}:{to[1]} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bK-{call_id}-1",
        "Max-Forwards: 70",
        "From: <sip:raw@127.0.0.1>;tag=raw1",
        "To: <sip:bob@127.0.0.1>",
        f"Call-ID: {call_id}",
        "CSeq: 1 INVITE",
        f"Contact: <{peer.uri}>",
        "Content-Type: application/sdp",
        body=SDP,
    )
