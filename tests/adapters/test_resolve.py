"""sipsans_session.resolve: the adapters' half of RFC 3263 (asking DNS, caching by TTL),
and sessions that locate: with stub DNS backends on a fake clock, dnspython's records
converted without a network, and a call over loopback that fails over."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Sequence

import pytest
from loopback import SDP, ua_factory

import sipsans
import sipsans_asyncio
from sipsans import Target
from sipsans.locate import (
    AddressRecord,
    DnsQueryFailedError,
    MalformedAnswerError,
    NaptrLoopError,
    NaptrRecord,
    NoTargetsError,
    Query,
    Record,
    ServiceNotOfferedError,
    SrvRecord,
)
from sipsans_session.resolve import (
    AddressBackend,
    DnspythonBackend,
    DnsQueryError,
    Resolver,
    is_local_name,
)


def naptr(name: str, service: str, replacement: str, flags: str = "s") -> NaptrRecord:
    return NaptrRecord(
        name=name,
        order=10,
        preference=50,
        flags=flags,
        service=service,
        regexp="",
        replacement=replacement,
        ttl=300,
    )


def srv(name: str, target: str, port: int, priority: int = 10) -> SrvRecord:
    return SrvRecord(name=name, priority=priority, weight=0, port=port, target=target, ttl=300)


class Zone:
    """A stub DNS backend on a fake clock: each query takes ``delay`` seconds."""

    def __init__(self, records: dict[tuple[str, str], list[Record]], delay: float = 0.0) -> None:
        self.records = records
        self.delay = delay
        self.now = 0.0
        self.asked: list[Query] = []
        self.failing: set[str] = set()

    def clock(self) -> float:
        return self.now

    async def query(self, query: Query) -> list[Record]:
        self.asked.append(query)
        self.now += self.delay
        if query.name in self.failing:
            raise DnsQueryError("no answer within 3 s")
        return list(self.records.get((query.kind, query.name), []))


def resolve(zone: Zone, uri: str, **kw: object) -> list[Target]:
    resolver = Resolver(backend=zone, clock=zone.clock, **kw)  # type: ignore[arg-type]
    return asyncio.run(resolver.targets(uri))


EXAMPLE = {
    ("NAPTR", "example.test"): [naptr("example.test", "SIP+D2T", "_sip._tcp.example.test")],
    ("SRV", "_sip._tcp.example.test"): [
        srv("_sip._tcp.example.test", "a.example.test", 5070),
        srv("_sip._tcp.example.test", "b.example.test", 5080, priority=20),
    ],
    ("A", "a.example.test"): [AddressRecord(name="a.example.test", address="192.0.2.1", ttl=60)],
    ("A", "b.example.test"): [AddressRecord(name="b.example.test", address="192.0.2.2", ttl=60)],
}


def test_targets_in_rfc_order_and_answers_cached_by_ttl() -> None:
    zone = Zone(dict(EXAMPLE))  # type: ignore[arg-type]
    resolver = Resolver(backend=zone, clock=zone.clock)
    first = asyncio.run(resolver.targets("sip:alice@example.test"))
    assert first == [Target("TCP", "192.0.2.1", 5070), Target("TCP", "192.0.2.2", 5080)]
    asked = len(zone.asked)
    zone.now = 29.0  # (the empty AAAA answers are kept for the negative TTL, 30 s)
    assert asyncio.run(resolver.targets("sip:alice@example.test")) == first
    assert len(zone.asked) == asked  # all from the cache
    zone.now = 61.0  # the A records' TTL ran out: asked again, the rest still cached
    asyncio.run(resolver.targets("sip:alice@example.test"))
    assert {str(q) for q in zone.asked[asked:]} <= {
        "A a.example.test",
        "AAAA a.example.test",
        "A b.example.test",
        "AAAA b.example.test",
    }


@pytest.mark.parametrize(
    ("records", "uri", "problem"),
    [
        (  # a malformed answer: an SRV port out of range, an address that is none
            {
                ("SRV", "_sip._udp.bad.test"): [
                    SrvRecord(
                        name="_sip._udp.bad.test",
                        priority=1,
                        weight=0,
                        port=70000,
                        target="x.bad.test",
                        ttl=5,
                    )
                ],
                ("A", "bad.test"): [AddressRecord(name="bad.test", address="999.1.1.1", ttl=5)],
            },
            "sip:bad.test;transport=udp",
            MalformedAnswerError,
        ),
        (
            {("NAPTR", "loop.test"): [naptr("loop.test", "", "loop.test", flags="")]},
            "sip:loop.test",
            NaptrLoopError,
        ),
        (
            {("SRV", "_sip._tcp.dot.test"): [srv("_sip._tcp.dot.test", ".", 0)]},
            "sip:dot.test;transport=tcp",
            ServiceNotOfferedError,
        ),
    ],
)
def test_bad_dns_ends_in_a_clear_error(
    records: dict[tuple[str, str], list[Record]], uri: str, problem: type[Exception]
) -> None:
    with pytest.raises(NoTargetsError) as info:
        resolve(Zone(records), uri)
    assert any(isinstance(p, problem) for p in info.value.problems), info.value.problems
    assert f"no target for {uri}" in str(info.value)


def test_a_silent_server_ends_the_resolution_in_time_never_a_hang() -> None:
    """Each query takes its whole 3 s lifetime and fails; after ``timeout`` seconds the
    queries still missing are not asked at all."""
    zone = Zone({}, delay=3.0)
    zone.failing = {
        "slow.test",
        "_sips._tcp.slow.test",
        "_sip._tcp.slow.test",
        "_sip._udp.slow.test",
    }
    with pytest.raises(NoTargetsError) as info:
        resolve(zone, "sip:slow.test", timeout=7.0)
    assert len(zone.asked) <= 4
    assert zone.now <= 7.0 + 3.0
    assert any(isinstance(p, DnsQueryFailedError) for p in info.value.problems)
    assert "not asked: the resolution took over 7 s" in str(info.value)


def test_numeric_hosts_and_localhost_never_go_to_dns() -> None:
    zone = Zone({})
    assert resolve(zone, "sip:192.0.2.7:5070;transport=tcp") == [Target("TCP", "192.0.2.7", 5070)]
    assert resolve(zone, "sips:[2001:db8::1]") == [Target("TLS", "2001:db8::1", 5061)]

    async def lookup(host: str, family: str) -> list[str]:
        return ["127.0.0.1"] if family == "A" else []

    resolver = Resolver(backend=zone, getaddrinfo=lookup, clock=zone.clock)
    assert asyncio.run(resolver.targets("sip:localhost:5099")) == [Target("UDP", "127.0.0.1", 5099)]
    assert zone.asked == []
    assert (
        is_local_name("LocalHost.") and is_local_name("a.localhost") and not is_local_name("x.test")
    )


def test_tls_targets_remember_the_domain_to_verify() -> None:
    zone = Zone(
        {
            ("SRV", "_sips._tcp.secure.test"): [
                srv("_sips._tcp.secure.test", "edge.secure.test", 5061)
            ],
            ("A", "edge.secure.test"): [
                AddressRecord(name="edge.secure.test", address="192.0.2.9", ttl=60)
            ],
        }
    )
    resolver = Resolver(backend=zone, clock=zone.clock)
    (target,) = asyncio.run(resolver.targets("sips:secure.test"))
    assert resolver.server_names[("TLS", target.address)] == "secure.test"  # RFC 5922 §4


def test_the_address_backend_knows_only_a_and_aaaa() -> None:
    async def lookup(host: str, family: str) -> Sequence[str]:
        if host == "gone.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return ["192.0.2.5"] if family == "A" else ["2001:db8::5"]

    backend = AddressBackend(lookup)
    assert asyncio.run(backend.query(Query("NAPTR", "x.test"))) == []
    assert asyncio.run(backend.query(Query("SRV", "_sip._udp.x.test"))) == []
    assert asyncio.run(backend.query(Query("A", "x.test"))) == [
        AddressRecord(name="x.test", address="192.0.2.5", ttl=30.0)
    ]
    assert asyncio.run(backend.query(Query("A", "gone.test"))) == []

    async def broken(host: str, family: str) -> list[str]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    with pytest.raises(DnsQueryError, match="Temporary failure"):
        asyncio.run(AddressBackend(broken).query(Query("A", "x.test")))
    # Without NAPTR and SRV a domain is its addresses at the default port (§4.2).
    resolver = Resolver(backend=backend, clock=lambda: 0.0)
    assert asyncio.run(resolver.targets("sip:x.test")) == [
        Target("UDP", "192.0.2.5", 5060),
        Target("UDP", "2001:db8::5", 5060),
    ]


def test_dnspython_records_become_sipsans_records() -> None:
    import dns.message
    import dns.rrset

    from sipsans_session import resolve

    naptrs = dns.rrset.from_text(
        "example.test.", 300, "IN", "NAPTR", '10 50 "s" "SIP+D2U" "" _sip._udp.example.test.'
    )
    srvs = dns.rrset.from_text(
        "_sip._udp.example.test.", 600, "IN", "SRV", "10 0 5060 a.example.test."
    )
    addresses = dns.rrset.from_text("a.example.test.", 60, "IN", "A", "192.0.2.1")
    (n,) = resolve._records(naptrs)
    assert n == NaptrRecord(
        name="example.test.",
        order=10,
        preference=50,
        flags="s",
        service="SIP+D2U",
        regexp="",
        replacement="_sip._udp.example.test.",
        ttl=300.0,
    )
    assert resolve._records(srvs) == [
        SrvRecord(
            name="_sip._udp.example.test.",
            priority=10,
            weight=0,
            port=5060,
            target="a.example.test.",
            ttl=600.0,
        )
    ]
    assert resolve._records(addresses) == [
        AddressRecord(name="a.example.test.", address="192.0.2.1", ttl=60.0)
    ]


def test_without_dnspython_a_dns_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dns.asyncresolver", None)
    with pytest.raises(RuntimeError, match=r"pip install sipsans\[dns\]"):
        DnspythonBackend(("127.0.0.1", 53))
    with pytest.raises(RuntimeError, match=r"pip install sipsans\[dns\]"):
        Resolver(server=("127.0.0.1", 53), clock=lambda: 0.0)

    async def lookup(host: str, family: str) -> list[str]:
        return []

    # Without a server asked for, getaddrinfo serves A/AAAA.
    assert isinstance(Resolver(getaddrinfo=lookup, clock=lambda: 0.0).backend, AddressBackend)
    from sipsans_asyncio.cli.main import main

    with pytest.raises(SystemExit):
        main(["options", "sip:example.test", "--dns-server", "127.0.0.1:5353"])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # (sipsans_asyncio's session)


@pytest.mark.anyio
async def test_a_session_that_locates_fails_over_to_the_next_target() -> None:
    """alice's session locates sip:bob@example.test through a stub zone: a TCP port
    where nothing listens first, bob's UDP socket second. The call is answered by bob."""
    bob = sipsans_asyncio.Session(
        ua_factory("bob", 2), listen=[sipsans_asyncio.Listen("udp", "127.0.0.1", 0)]
    )
    async with bob:
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        dead_port = dead.getsockname()[1]
        dead.close()
        bob_port = bob.addresses["UDP"][1]
        zone = Zone(
            {
                ("SRV", "_sip._tcp.example.test"): [
                    srv("_sip._tcp.example.test", "a.example.test", dead_port)
                ],
                ("SRV", "_sip._udp.example.test"): [
                    srv("_sip._udp.example.test", "a.example.test", bob_port)
                ],
                ("A", "a.example.test"): [
                    AddressRecord(name="a.example.test", address="127.0.0.1", ttl=60)
                ],
            }
        )

        async def answer() -> None:
            async for event in bob:
                if isinstance(event, sipsans.IncomingCall):
                    await bob.wrap(event.dialog).accept(body=SDP)

        alice = sipsans_asyncio.Session(
            ua_factory("alice", 1),
            listen=[sipsans_asyncio.Listen("udp", "127.0.0.1", 0)],
            locate=True,
        )
        events: list[object] = []
        alice.on_event = events.append
        async with alice:
            assert alice.resolver is not None
            alice.resolver = Resolver(backend=zone, clock=alice.now)
            assert await alice.locate("sip:bob@example.test") == [
                Target("TCP", "127.0.0.1", dead_port),
                Target("UDP", "127.0.0.1", bob_port),
            ]
            task = asyncio.create_task(answer())
            dialog = await alice.invite("sip:bob@example.test", body=SDP, timeout=5)
            assert dialog.state is sipsans.DialogState.CONFIRMED
            failed = [e for e in events if isinstance(e, sipsans.TargetFailed)]
            assert [(f.target.transport, f.next_target) for f in failed] == [
                ("TCP", Target("UDP", "127.0.0.1", bob_port))
            ]
            await dialog.bye()
            task.cancel()
