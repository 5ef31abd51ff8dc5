"""sipsans.locate.Planner: RFC 3263 §4 against its own examples and rules, and bad input."""

from __future__ import annotations

import random

import pytest
from locatehelpers import addr, naptr, resolve, srv, world

from sipsans import LocalProtocolError, Target, parse_uri
from sipsans.errors import SipError
from sipsans.locate import (
    DnsCache,
    DnsQueryFailedError,
    LocateError,
    LocateLimits,
    LookupLimitError,
    MalformedAnswerError,
    NaptrLoopError,
    NaptrRecord,
    NoTargetsError,
    Planner,
    Query,
    Record,
    ServiceNotOfferedError,
    UnsupportedTransportError,
)

ALL = ("UDP", "TCP", "TLS")

# RFC 3263 §4.1, the NAPTR example for example.com (TLS over TCP, then TCP, then UDP),
# with SRV sets and addresses for the names it points at.
RFC3263_EXAMPLE = world(
    [
        naptr("example.com", 50, 50, "SIPS+D2T", "_sips._tcp.example.com."),
        naptr("example.com", 90, 50, "SIP+D2T", "_sip._tcp.example.com"),
        naptr("example.com", 100, 50, "SIP+D2U", "_sip._udp.example.com."),
        srv("_sips._tcp.example.com", 0, 0, 5061, "server1.example.com"),
        srv("_sip._tcp.example.com", 0, 0, 5060, "server1.example.com"),
        srv("_sip._udp.example.com", 0, 0, 5060, "server1.example.com"),
        addr("server1.example.com", "192.0.2.1"),
    ]
)


def plan_for(uri: str, *, transports: tuple[str, ...] = ALL, **kw: object) -> Planner:
    return Planner(uri, rng=random.Random(7), transports=transports, **kw)  # type: ignore[arg-type]


def q(kind: str, name: str) -> Query:
    return Query(kind, name)  # type: ignore[arg-type]


# -- RFC 3263 §4.1: transport selection through NAPTR ---------------------------------
def test_rfc3263_naptr_example_orders_tls_then_tcp_then_udp() -> None:
    plan = plan_for("sip:alice@example.com")
    asked = resolve(plan, RFC3263_EXAMPLE)
    assert asked[0] == q("NAPTR", "example.com")
    assert plan.targets() == [
        Target("TLS", "192.0.2.1", 5061),
        Target("TCP", "192.0.2.1", 5060),
        Target("UDP", "192.0.2.1", 5060),
    ]
    assert plan.problems == ()


def test_rfc3263_naptr_example_client_without_tls_starts_with_tcp() -> None:
    # §4.1: the client discards the services it does not support, so a client without
    # TLS takes TCP, the server's next preference.
    plan = plan_for("sip:alice@example.com", transports=("UDP", "TCP"))
    asked = resolve(plan, RFC3263_EXAMPLE)
    assert q("SRV", "_sips._tcp.example.com") not in asked
    assert [t.transport for t in plan.targets()] == ["TCP", "UDP"]


def test_rfc3263_naptr_example_sips_uri_keeps_only_sips_services() -> None:
    # §4.1: "if the client is resolving a SIPS URI, it MUST discard any services that
    # do not contain 'SIPS' as the protocol in the service field".
    plan = plan_for("sips:alice@example.com")
    asked = resolve(plan, RFC3263_EXAMPLE)
    assert plan.targets() == [Target("TLS", "192.0.2.1", 5061)]
    assert {a.name for a in asked} == {
        "example.com",
        "_sips._tcp.example.com",
        "server1.example.com",
    }


def test_sip_uri_keeps_sips_records_only_when_tls_is_supported() -> None:
    # §4.1: "A client resolving a SIP URI SHOULD retain records with SIPS as the
    # protocol, if the client supports TLS."
    only_sips = world(
        [
            naptr("example.com", 10, 10, "SIPS+D2T", "_sips._tcp.example.com"),
            srv("_sips._tcp.example.com", 0, 0, 5061, "tls.example.com"),
            addr("tls.example.com", "192.0.2.7"),
        ]
    )
    with_tls = plan_for("sip:example.com")
    resolve(with_tls, only_sips)
    assert with_tls.targets() == [Target("TLS", "192.0.2.7", 5061)]
    without_tls = plan_for("sip:example.com", transports=("UDP", "TCP"))
    asked = resolve(without_tls, only_sips)
    # No usable NAPTR record: as if there were none, SRV per transport, then A/AAAA.
    assert q("SRV", "_sip._tcp.example.com") in asked
    with pytest.raises(NoTargetsError):
        without_tls.targets()


def test_naptr_order_then_preference_whatever_the_answer_order() -> None:
    dns = world(
        [
            naptr("example.com", 20, 5, "SIP+D2U", "_sip._udp.example.com"),
            naptr("example.com", 10, 90, "SIP+D2U", "b._udp.example.com"),
            naptr("example.com", 10, 30, "SIP+D2T", "_sip._tcp.example.com"),
            srv("_sip._udp.example.com", 0, 0, 5060, "c.example.com"),
            srv("b._udp.example.com", 0, 0, 5060, "b.example.com"),
            srv("_sip._tcp.example.com", 0, 0, 5060, "a.example.com"),
            addr("a.example.com", "192.0.2.1"),
            addr("b.example.com", "192.0.2.2"),
            addr("c.example.com", "192.0.2.3"),
        ]
    )
    plan = plan_for("sip:example.com")
    resolve(plan, dns)
    assert plan.targets() == [
        Target("TCP", "192.0.2.1", 5060),
        Target("UDP", "192.0.2.2", 5060),
        Target("UDP", "192.0.2.3", 5060),
    ]


def test_naptr_records_of_other_applications_flags_and_services_are_ignored() -> None:
    dns = world(
        [
            naptr("example.com", 1, 1, "E2U+sip", "", flags="u", regexp="!^.*$!sip:a@b!"),
            naptr("example.com", 2, 1, "SIP+D2X", "_sip._x.example.com"),
            naptr("example.com", 3, 1, "SIP+D2U", "_sip._udp.example.com", flags="a"),
            naptr("example.com", 4, 1, "SIP+D2S", "_sip._sctp.example.com"),  # not supported
            naptr("example.com", 5, 1, "sip+d2u", "_sip._udp.example.com", flags="S"),
            srv("_sip._udp.example.com", 0, 0, 5060, "sip.example.com"),
            addr("sip.example.com", "192.0.2.4"),
        ]
    )
    plan = plan_for("sip:example.com")
    asked = resolve(plan, dns)
    assert plan.targets() == [Target("UDP", "192.0.2.4", 5060)]
    assert q("SRV", "_sip._sctp.example.com") not in asked
    assert plan.problems == ()  # nothing was malformed, merely not ours


def test_naptr_supports_sctp_and_websocket_services_when_the_client_does() -> None:
    dns = world(
        [
            naptr("example.com", 1, 1, "SIPS+D2W", "_sips._ws.example.com"),
            naptr("example.com", 2, 1, "SIP+D2W", "_sip._ws.example.com"),
            naptr("example.com", 3, 1, "SIP+D2S", "_sip._sctp.example.com"),
            naptr("example.com", 4, 1, "SIPS+D2S", "_sips._sctp.example.com"),
            srv("_sips._ws.example.com", 0, 0, 443, "h.example.com"),
            srv("_sip._ws.example.com", 0, 0, 80, "h.example.com"),
            srv("_sip._sctp.example.com", 0, 0, 5060, "h.example.com"),
            srv("_sips._sctp.example.com", 0, 0, 5061, "h.example.com"),
            addr("h.example.com", "192.0.2.5"),
        ]
    )
    plan = plan_for("sip:example.com", transports=("WSS", "WS", "SCTP", "TLS-SCTP"))
    resolve(plan, dns)
    assert [(t.transport, t.port) for t in plan.targets()] == [
        ("WSS", 443),
        ("WS", 80),
        ("SCTP", 5060),
        ("TLS-SCTP", 5061),
    ]
    secure = plan_for("sips:example.com", transports=("WSS", "WS", "SCTP", "TLS-SCTP"))
    resolve(secure, dns)
    assert [t.transport for t in secure.targets()] == ["WSS", "TLS-SCTP"]


# -- RFC 3263 §4.1 without NAPTR: SRV per transport, then A/AAAA -------------------
def test_without_naptr_an_srv_query_per_supported_transport_in_preference_order() -> None:
    dns = world(
        [
            srv("_sip._udp.example.com", 0, 0, 5060, "udp.example.com"),
            srv("_sip._tcp.example.com", 0, 0, 5060, "tcp.example.com"),
            addr("udp.example.com", "192.0.2.10"),
            addr("tcp.example.com", "192.0.2.11"),
        ]
    )
    plan = plan_for("sip:example.com", transports=("TLS", "TCP", "UDP"))
    assert plan.next_query() == q("NAPTR", "example.com")
    plan.answer(q("NAPTR", "example.com"), [], now=0)
    # All three can be asked at once.
    assert plan.queries() == [
        q("SRV", "_sips._tcp.example.com"),
        q("SRV", "_sip._tcp.example.com"),
        q("SRV", "_sip._udp.example.com"),
    ]
    resolve(plan, dns)
    assert plan.targets() == [
        Target("TCP", "192.0.2.11", 5060),
        Target("UDP", "192.0.2.10", 5060),
    ]
    udp_first = plan_for("sip:example.com", transports=("UDP", "TCP"))
    resolve(udp_first, dns)
    assert [t.transport for t in udp_first.targets()] == ["UDP", "TCP"]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sip:example.com", Target("UDP", "192.0.2.20", 5060)),
        ("sips:example.com", Target("TLS", "192.0.2.20", 5061)),
    ],
)
def test_without_naptr_or_srv_the_domain_addresses_over_the_default_transport(
    uri: str, expected: Target
) -> None:
    # §4.1: "UDP for a SIP URI, and TCP for a SIPS URI" (TLS over TCP); §4.2: A/AAAA of
    # the domain at the default port.
    plan = plan_for(uri)
    asked = resolve(plan, world([addr("example.com", "192.0.2.20")]))
    assert asked[-2:] == [q("A", "example.com"), q("AAAA", "example.com")]
    assert plan.targets() == [expected]


def test_naptr_found_but_no_srv_falls_back_to_domain_addresses_over_naptr_transport() -> None:
    # §4.2: "If no SRV records were found, the client performs an A or AAAA record
    # lookup of the domain name ... using the transport protocol determined previously".
    dns = world(
        [
            naptr("example.com", 10, 10, "SIP+D2T", "_sip._tcp.example.com"),
            addr("example.com", "192.0.2.30"),
        ]
    )
    plan = plan_for("sip:example.com")
    resolve(plan, dns)
    assert plan.targets() == [Target("TCP", "192.0.2.30", 5060)]


# -- RFC 3263 §4.2: numeric hosts, explicit ports, maddr, transport= -----------------
@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sip:alice@192.0.2.1", Target("UDP", "192.0.2.1", 5060)),
        ("sip:alice@192.0.2.1:5070", Target("UDP", "192.0.2.1", 5070)),
        ("sips:alice@192.0.2.1", Target("TLS", "192.0.2.1", 5061)),
        ("sip:alice@192.0.2.1;transport=tcp", Target("TCP", "192.0.2.1", 5060)),
        ("sip:alice@192.0.2.1;transport=TLS", Target("TLS", "192.0.2.1", 5061)),
        ("sip:alice@[2001:DB8:0::10]", Target("UDP", "2001:db8::10", 5060)),
        ("sips:alice@[2001:db8::10]:5081", Target("TLS", "2001:db8::10", 5081)),
        ("sip:alice@example.com;maddr=192.0.2.9", Target("UDP", "192.0.2.9", 5060)),
        ("sip:alice@example.com:5099;maddr=[2001:db8::9]", Target("UDP", "2001:db8::9", 5099)),
    ],
)
def test_numeric_targets_need_no_dns(uri: str, expected: Target) -> None:
    plan = plan_for(uri)
    assert plan.done
    assert plan.next_query() is None
    assert plan.targets() == [expected]
    assert plan.expires is None


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sip:alice@example.com:5070", Target("UDP", "192.0.2.40", 5070)),
        ("sips:alice@example.com:5071", Target("TLS", "192.0.2.40", 5071)),
        ("sip:alice@example.com:5072;transport=tcp", Target("TCP", "192.0.2.40", 5072)),
    ],
)
def test_explicit_port_means_address_records_only(uri: str, expected: Target) -> None:
    # §4.2: a port present in the URI: A/AAAA of the domain at that port, no NAPTR/SRV.
    plan = plan_for(uri)
    asked = resolve(plan, RFC3263_EXAMPLE | world([addr("example.com", "192.0.2.40")]))
    assert asked == [q("A", "example.com"), q("AAAA", "example.com")]
    assert plan.targets() == [expected]


@pytest.mark.parametrize(
    ("uri", "srv_name", "transport"),
    [
        ("sip:example.com;transport=tcp", "_sip._tcp.example.com", "TCP"),
        ("sip:example.com;transport=udp", "_sip._udp.example.com", "UDP"),
        # §4.2: "For a SIP URI, if the client wishes to use TLS, it also uses ... _sips".
        ("sip:example.com;transport=tls", "_sips._tcp.example.com", "TLS"),
        ("sips:example.com;transport=tcp", "_sips._tcp.example.com", "TLS"),
    ],
)
def test_transport_parameter_skips_naptr_and_queries_that_srv_set(
    uri: str, srv_name: str, transport: str
) -> None:
    plan = plan_for(uri)
    asked = resolve(plan, RFC3263_EXAMPLE)
    assert asked[0] == q("SRV", srv_name)
    assert [t.transport for t in plan.targets()] == [transport]


def test_transport_parameter_without_srv_falls_back_to_default_port() -> None:
    plan = plan_for("sips:example.com;transport=tcp")
    asked = resolve(plan, world([addr("example.com", "192.0.2.50")]))
    assert asked == [
        q("SRV", "_sips._tcp.example.com"),
        q("A", "example.com"),
        q("AAAA", "example.com"),
    ]
    assert plan.targets() == [Target("TLS", "192.0.2.50", 5061)]


def test_websocket_transport_parameter() -> None:
    dns = world(
        [
            srv("_sip._ws.example.com", 0, 0, 8080, "ws.example.com"),
            srv("_sips._ws.example.com", 0, 0, 8443, "ws.example.com"),
            addr("ws.example.com", "192.0.2.60"),
        ]
    )
    plan = plan_for("sip:example.com;transport=ws", transports=("WS", "WSS"))
    resolve(plan, dns)
    assert plan.targets() == [Target("WS", "192.0.2.60", 8080)]
    secure = plan_for("sips:example.com;transport=ws", transports=("WS", "WSS"))
    resolve(secure, dns)
    assert secure.targets() == [Target("WSS", "192.0.2.60", 8443)]


def test_maddr_name_replaces_the_host() -> None:
    plan = plan_for("sip:alice@elsewhere.example.net;maddr=example.com")
    asked = resolve(plan, RFC3263_EXAMPLE)
    assert asked[0] == q("NAPTR", "example.com")
    assert plan.domain == "example.com"
    assert len(plan.targets()) == 3


def test_uri_may_be_a_parsed_sip_uri() -> None:
    plan = Planner(parse_uri("sip:bob@192.0.2.1"), rng=random.Random(1))
    assert plan.targets() == [Target("UDP", "192.0.2.1", 5060)]
    assert plan.uri == parse_uri("sip:bob@192.0.2.1")


# -- sips restrictions and unsupported transports -----------------------------------
@pytest.mark.parametrize(
    ("uri", "transports"),
    [
        ("sips:example.com;transport=udp", ALL),  # sips means TLS on every hop
        ("sip:example.com;transport=sctp", ALL),  # not supported by this client
        ("sip:example.com;transport=dccp", ALL),  # not a SIP transport at all
        ("sips:example.com", ("UDP", "TCP")),  # no secure transport at hand
        ("sips:192.0.2.1", ("UDP", "TCP", "WS")),
        ("sip:192.0.2.1;transport=tcp", ("UDP",)),
    ],
)
def test_unsupported_transport_is_a_clear_error(uri: str, transports: tuple[str, ...]) -> None:
    with pytest.raises(UnsupportedTransportError) as info:
        plan_for(uri, transports=transports)
    assert isinstance(info.value, LocateError)
    assert isinstance(info.value, SipError)


def test_sips_srv_fallback_asks_only_for_secure_services() -> None:
    plan = plan_for("sips:example.com", transports=("UDP", "TCP", "TLS", "WS", "WSS"))
    plan.answer(q("NAPTR", "example.com"), [], now=0)
    assert plan.queries() == [q("SRV", "_sips._tcp.example.com"), q("SRV", "_sips._ws.example.com")]
    assert plan.transports == ("TLS", "WSS")


def test_sip_uri_default_transport_when_udp_is_not_supported() -> None:
    assert plan_for("sip:192.0.2.1", transports=("TLS", "TCP")).targets() == [
        Target("TCP", "192.0.2.1", 5060)
    ]
    assert plan_for("sip:192.0.2.1", transports=("WS",)).targets() == [
        Target("WS", "192.0.2.1", 5060)
    ]


def test_caller_misuse_raises_local_protocol_error() -> None:
    with pytest.raises(LocalProtocolError, match="tel:"):
        Planner("tel:+15551234567", rng=random.Random(1))
    with pytest.raises(LocalProtocolError, match="unknown transport"):
        plan_for("sip:example.com", transports=("UDP", "QUIC"))
    with pytest.raises(LocalProtocolError, match="at least one"):
        plan_for("sip:example.com", transports=())
    with pytest.raises(LocalProtocolError, match="families"):
        plan_for("sip:example.com", families=("A", "MX"))
    with pytest.raises(LocalProtocolError, match=r"LocateLimits\.max_queries"):
        LocateLimits(max_queries=0)
    plan = plan_for("sip:example.com")
    with pytest.raises(LocalProtocolError, match=r"still waits for: NAPTR example\.com"):
        plan.targets()
    with pytest.raises(LocalProtocolError, match="never asked"):
        plan.answer(q("SRV", "_sip._udp.example.com"), [], now=0)
    with pytest.raises(LocalProtocolError, match="Query"):
        plan.answer(("NAPTR", "example.com"), [], now=0)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="NaptrRecord"):
        plan.answer(q("NAPTR", "example.com"), ["not a record"], now=0)  # type: ignore[list-item]
    plan.answer(q("NAPTR", "example.com"), [], now=5)
    with pytest.raises(LocalProtocolError, match="backwards"):
        plan.answer(q("SRV", "_sip._udp.example.com"), [], now=4)


def test_maddr_that_is_no_host_is_a_clear_error() -> None:
    with pytest.raises(NoTargetsError, match="maddr"):
        plan_for("sip:alice@example.com;maddr=bad%20name")


# -- additional data, families, TTLs, duplicates ------------------------------------
def test_additional_section_addresses_save_the_address_queries() -> None:
    answer: list[Record] = [
        srv("_sip._udp.example.com", 0, 0, 5060, "a.example.com"),
        srv("_sip._udp.example.com", 1, 0, 5060, "b.example.com"),
        addr("a.example.com", "192.0.2.1"),
        addr("a.example.com", "2001:db8::1"),
        addr("b.example.com", "192.0.2.2"),
    ]
    plan = plan_for("sip:example.com;transport=udp")
    plan.answer(q("SRV", "_sip._udp.example.com"), answer, now=0)
    assert plan.done  # no A/AAAA query: the answer carried them
    assert plan.targets() == [
        Target("UDP", "192.0.2.1", 5060),
        Target("UDP", "2001:db8::1", 5060),
        Target("UDP", "192.0.2.2", 5060),
    ]


def test_additional_data_answers_a_query_already_listed() -> None:
    # An adapter that asks in parallel may get additional data for a query it already
    # sent; its late answer is then ignored, not an error.
    dns = world(
        [
            naptr("example.com", 1, 1, "SIP+D2U", "_sip._udp.example.com"),
            naptr("example.com", 2, 1, "SIP+D2T", "_sip._tcp.example.com"),
            srv("_sip._udp.example.com", 0, 0, 5060, "h.example.com"),
            srv("_sip._tcp.example.com", 0, 0, 5060, "h.example.com"),
        ]
    )
    plan = plan_for("sip:example.com")
    plan.answer(q("NAPTR", "example.com"), dns["NAPTR", "example.com"], now=0)
    plan.answer(q("SRV", "_sip._udp.example.com"), dns["SRV", "_sip._udp.example.com"], now=0)
    assert plan.queries() == [
        q("A", "h.example.com"),
        q("AAAA", "h.example.com"),
        q("SRV", "_sip._tcp.example.com"),
    ]
    plan.answer(
        q("SRV", "_sip._tcp.example.com"),
        [*dns["SRV", "_sip._tcp.example.com"], addr("h.example.com", "192.0.2.3")],
        now=0,
    )
    assert plan.done
    plan.answer(q("A", "h.example.com"), [addr("h.example.com", "192.0.2.99")], now=0)
    plan.fail(q("AAAA", "h.example.com"), "late")
    assert plan.targets() == [Target("UDP", "192.0.2.3", 5060), Target("TCP", "192.0.2.3", 5060)]
    assert plan.problems == ()


def test_a_naptr_answer_may_carry_the_srv_sets_it_names() -> None:
    plan = plan_for("sip:example.com")
    plan.answer(
        q("NAPTR", "example.com"),
        [
            naptr("example.com", 1, 1, "SIP+D2U", "_sip._udp.example.com"),
            srv("_sip._udp.example.com", 0, 0, 5060, "h.example.com"),
            addr("h.example.com", "192.0.2.8"),
        ],
        now=0,
    )
    assert plan.done
    assert plan.targets() == [Target("UDP", "192.0.2.8", 5060)]


def test_families_order_and_host_name_targets() -> None:
    dns = world(
        [
            srv("_sip._udp.example.com", 0, 0, 5060, "h.example.com"),
            addr("h.example.com", "192.0.2.1"),
            addr("h.example.com", "2001:db8::1"),
        ]
    )
    v6_first = plan_for("sip:example.com;transport=udp", families=("AAAA", "A"))
    resolve(v6_first, dns)
    assert [t.host for t in v6_first.targets()] == ["2001:db8::1", "192.0.2.1"]
    v4_only = plan_for("sip:example.com;transport=udp", families=("A",))
    asked = resolve(v4_only, dns)
    assert q("AAAA", "h.example.com") not in asked
    names = plan_for("sip:example.com;transport=udp", families=())
    asked = resolve(names, dns)
    assert asked == [q("SRV", "_sip._udp.example.com")]
    assert names.targets() == [Target("UDP", "h.example.com", 5060)]


def test_expires_is_the_first_record_expiry_on_the_callers_clock() -> None:
    dns = world(
        [
            naptr("example.com", 1, 1, "SIP+D2U", "_sip._udp.example.com", ttl=3600),
            srv("_sip._udp.example.com", 0, 0, 5060, "h.example.com", ttl=600),
            addr("h.example.com", "192.0.2.1", ttl=120),
        ]
    )
    plan = plan_for("sip:example.com")
    resolve(plan, dns, now=1000.0)
    assert plan.expires == 1120.0
    huge = plan_for("sip:example.com;transport=udp")
    resolve(
        huge,
        world(
            [
                srv("_sip._udp.example.com", 0, 0, 5060, "h.example.com", ttl=2**31),
                addr("h.example.com", "192.0.2.1", ttl=2**31),
            ]
        ),
        now=5.0,
    )
    assert huge.expires == 5.0  # RFC 2181 §8: a TTL with the top bit set counts as zero


def test_each_target_appears_once() -> None:
    dns = world(
        [
            naptr("example.com", 1, 1, "SIP+D2U", "_sip._udp.example.com"),
            naptr("example.com", 2, 1, "SIP+D2U", "backup._udp.example.com"),
            srv("_sip._udp.example.com", 0, 0, 5060, "H.example.com."),
            srv("_sip._udp.example.com", 1, 0, 5060, "h.example.com"),
            srv("backup._udp.example.com", 0, 0, 5060, "h.example.com"),
            srv("backup._udp.example.com", 0, 0, 5062, "h.example.com"),
            addr("h.example.com", "192.0.2.1"),
            addr("h.example.com", "192.0.2.1"),
        ]
    )
    plan = plan_for("sip:example.com")
    asked = resolve(plan, dns)
    assert plan.targets() == [Target("UDP", "192.0.2.1", 5060), Target("UDP", "192.0.2.1", 5062)]
    assert asked.count(q("A", "h.example.com")) == 1


def test_answer_from_a_cache() -> None:
    cache = DnsCache()
    for (kind, name), records in RFC3263_EXAMPLE.items():
        cache.put(kind, name, records, now=0)  # type: ignore[arg-type]
    plan = plan_for("sip:example.com")
    missing = plan.answer_from(cache, now=10)
    # Everything came from the cache except AAAA of the server, which no zone holds.
    assert missing == [q("AAAA", "server1.example.com")]
    plan.answer(missing[0], [], now=10)
    assert len(plan.targets()) == 3
    assert plan.expires == 300.0  # the cached TTLs counted from when they were stored


def test_answer_from_a_cache_reads_additional_sets_as_additional() -> None:
    cache = DnsCache()
    cache.put_answer(
        q("SRV", "_sip._udp.example.com"),
        [
            srv("_sip._udp.example.com", 0, 0, 5060, "h.example.com"),
            srv("_sip._udp.example.com", 1, 0, 5060, "bad.example.com"),
            addr("h.example.com", "192.0.2.1"),
        ],
        now=0,
    )
    cache.put("A", "bad.example.com", [addr("bad.example.com", "nope")], now=0, additional=True)
    plan = plan_for("sip:example.com;transport=udp")
    # No AAAA query for h: its A set came as additional data, as in a live answer.
    assert plan.answer_from(cache, now=1) == []
    assert plan.targets() == [Target("UDP", "192.0.2.1", 5060)]
    # What the cache holds is checked like any answer.
    assert [type(p) for p in plan.problems] == [MalformedAnswerError]


# -- bad input: malformed answers, loops, "not offered", failures, limits -------------
def test_malformed_records_are_skipped_and_reported() -> None:
    answer: list[Record] = [
        srv("_sip._udp.example.com", 0, 0, 70000, "a.example.com"),
        srv("_sip._udp.example.com", -1, 0, 5060, "a.example.com"),
        srv("_sip._udp.example.com", 0, 0, 5060, "bad name.example.com"),
        srv("_sip._udp.example.com", 0, 0, 0, "a.example.com"),
        srv("_sip._udp.example.com", 0, 0, 5060, "a" * 64 + ".example.com"),
        srv("_sip._udp.example.com", 0, 0, 5060, "a.example.com", ttl=-1),
        srv("_sip._udp.example.com", 0, True, 5060, "a.example.com"),
        srv("_sip._udp.example.com", 0, 0, 5060, "good.example.com"),
        addr("good.example.com", "999.0.0.1"),
        addr("good.example.com", "192.0.2.1"),
    ]
    plan = plan_for("sip:example.com;transport=udp")
    plan.answer(q("SRV", "_sip._udp.example.com"), answer, now=0)
    assert plan.targets() == [Target("UDP", "192.0.2.1", 5060)]
    assert len(plan.problems) == 8
    assert all(isinstance(p, MalformedAnswerError) for p in plan.problems)
    assert "70000" in str(plan.problems[0])


@pytest.mark.parametrize(
    "record",
    [
        naptr("example.com", 1, 1, "SIP+D2U", "_sip._udp.example.com", regexp="!.*!x!"),
        naptr("example.com", 1, 1, "SIP+D2U", "."),
        naptr("example.com", 1, 1, "SIP+D2U", ""),
        naptr("example.com", 1, 1, "SIP+D2U", "_sip._udp.example.com", flags="s!"),
        naptr("example.com", 65536, 1, "SIP+D2U", "_sip._udp.example.com"),
        naptr("example.com", 1, 1, "SIP+D2U", "bad..name"),
    ],
)
def test_malformed_naptr_records(record: NaptrRecord) -> None:
    plan = plan_for("sip:example.com")
    plan.answer(q("NAPTR", "example.com"), [record], now=0)
    assert [type(p) for p in plan.problems] == [MalformedAnswerError]
    # Nothing usable: the plan goes on as if there were no NAPTR records.
    assert q("SRV", "_sip._udp.example.com") in plan.queries()


def test_naptr_with_a_regexp_instead_of_a_replacement_is_reported() -> None:
    # RFC 3403 allows it; RFC 3263 records name their SRV set in the replacement.
    plan = plan_for("sip:example.com")
    rec = naptr("example.com", 1, 1, "SIP+D2U", ".", regexp="!^.*$!_sip._udp.example.com!")
    plan.answer(q("NAPTR", "example.com"), [rec], now=0)
    assert [type(p) for p in plan.problems] == [MalformedAnswerError]
    assert "regexp" in str(plan.problems[0])


def test_non_terminal_naptr_records_are_followed() -> None:
    dns = world(
        [
            naptr("example.com", 1, 1, "", "sip.example.net", flags=""),
            naptr("sip.example.net", 1, 1, "SIP+D2U", "_sip._udp.example.net"),
            srv("_sip._udp.example.net", 0, 0, 5060, "h.example.net"),
            addr("h.example.net", "192.0.2.70"),
        ]
    )
    plan = plan_for("sip:example.com")
    asked = resolve(plan, dns)
    assert asked[:2] == [q("NAPTR", "example.com"), q("NAPTR", "sip.example.net")]
    assert plan.targets() == [Target("UDP", "192.0.2.70", 5060)]


@pytest.mark.parametrize(
    "loop",
    [
        [naptr("example.com", 1, 1, "", "example.com.", flags="")],
        [
            naptr("example.com", 1, 1, "", "a.example.net", flags=""),
            naptr("a.example.net", 1, 1, "SIP+D2U", "b.example.net", flags=""),
            naptr("b.example.net", 1, 1, "", "EXAMPLE.com", flags=""),
        ],
    ],
)
def test_naptr_loop_ends_with_a_clear_error(loop: list[NaptrRecord]) -> None:
    plan = plan_for("sip:example.com")
    resolve(plan, world(loop))
    with pytest.raises(NoTargetsError) as info:
        plan.targets()
    loops = [p for p in info.value.problems if isinstance(p, NaptrLoopError)]
    assert len(loops) == 1
    assert "NAPTR loop: example.com -> " in str(loops[0])
    assert "NAPTR loop" in str(info.value)


def test_naptr_chain_longer_than_the_limit_is_cut() -> None:
    chain = [
        naptr(f"n{i}.example.com", 1, 1, "", f"n{i + 1}.example.com", flags="") for i in range(10)
    ]
    plan = plan_for("sip:n0.example.com", limits=LocateLimits(max_naptr_chain=3))
    asked = resolve(plan, world(chain))
    assert [a.name for a in asked if a.kind == "NAPTR"] == [f"n{i}.example.com" for i in range(4)]
    assert any(isinstance(p, LookupLimitError) for p in plan.problems)
    with pytest.raises(NoTargetsError):
        plan.targets()


def test_srv_target_dot_means_not_offered_and_stops_the_fallback() -> None:
    # RFC 2782: "." means "the service is decidedly not available at this domain":
    # no fallback to the domain's own address, although it has one.
    dns = world(
        [
            srv("_sip._tcp.example.com", 0, 0, 0, "."),
            addr("example.com", "192.0.2.80"),
        ]
    )
    plan = plan_for("sip:example.com;transport=tcp")
    asked = resolve(plan, dns)
    assert asked == [q("SRV", "_sip._tcp.example.com")]
    with pytest.raises(NoTargetsError) as info:
        plan.targets()
    assert [type(p) for p in info.value.problems] == [ServiceNotOfferedError]
    assert "not offered" in str(info.value)


def test_srv_dot_for_one_transport_leaves_the_others() -> None:
    dns = world(
        [
            srv("_sips._tcp.example.com", 0, 0, 0, "."),
            srv("_sip._udp.example.com", 0, 0, 5060, "h.example.com"),
            srv("_sip._udp.example.com", 0, 0, 0, "."),  # meaningless beside others
            addr("h.example.com", "192.0.2.81"),
        ]
    )
    plan = plan_for("sip:example.com")
    resolve(plan, dns)
    assert plan.targets() == [Target("UDP", "192.0.2.81", 5060)]
    assert {type(p) for p in plan.problems} == {ServiceNotOfferedError, MalformedAnswerError}


def test_failed_queries_count_as_empty_and_are_reported() -> None:
    plan = plan_for("sip:example.com")
    plan.fail(q("NAPTR", "example.com"), "SERVFAIL")
    for query in plan.queries():
        plan.fail(query, "timed out")
    plan.answer(q("A", "example.com"), [addr("example.com", "192.0.2.90")], now=0)
    plan.fail(q("AAAA", "example.com"), "timed out")
    assert plan.targets() == [Target("UDP", "192.0.2.90", 5060)]
    assert all(isinstance(p, DnsQueryFailedError) for p in plan.problems)
    assert str(plan.problems[0]) == "NAPTR example.com: SERVFAIL"


def test_nothing_found_at_all() -> None:
    plan = plan_for("sip:nowhere.example")
    asked = resolve(plan, {})
    assert len(asked) == 6  # NAPTR, three SRV, A, AAAA
    with pytest.raises(NoTargetsError, match=r"no target for sip:nowhere\.example") as info:
        plan.targets()
    assert info.value.problems == ()


def test_query_limit_ends_the_plan_instead_of_growing_it() -> None:
    # 40 SRV targets, each a distinct host: far more address queries than allowed.
    hosts = [srv("_sip._udp.example.com", 0, 1, 5060, f"h{i}.example.com") for i in range(40)]
    dns = world([*hosts, *(addr(f"h{i}.example.com", f"192.0.2.{i}") for i in range(40))])
    limits = LocateLimits(max_queries=10, max_records=100, max_targets=100)
    plan = plan_for("sip:example.com;transport=udp", limits=limits)
    asked = resolve(plan, dns)
    assert len(asked) == 10
    # One SRV query and nine address queries: four hosts got A and AAAA, the fifth only
    # A (its AAAA was over the budget, so it counts as empty); the rest got nothing.
    assert len(plan.targets()) == 5
    assert any(isinstance(p, LookupLimitError) for p in plan.problems)


def test_record_and_target_limits() -> None:
    answer = [srv("_sip._udp.example.com", 0, 0, 5000 + i, "h.example.com") for i in range(50)]
    plan = plan_for(
        "sip:example.com;transport=udp", limits=LocateLimits(max_records=20, max_targets=5)
    )
    plan.answer(
        q("SRV", "_sip._udp.example.com"), [*answer, addr("h.example.com", "192.0.2.1")], now=0
    )
    # The additional record was past the limit too, so the addresses are asked for.
    resolve(plan, world([addr("h.example.com", "192.0.2.1")]))
    assert [t.port for t in plan.targets()] == [5000, 5001, 5002, 5003, 5004]
    kinds = [str(p) for p in plan.problems if isinstance(p, LookupLimitError)]
    assert len(kinds) == 2
    assert "only the first 20" in kinds[0]


def test_srv_hosts_without_addresses_give_no_fallback() -> None:
    # SRV records were found, so §4.2's fallback to the domain's addresses does not apply.
    dns = world(
        [
            srv("_sip._udp.example.com", 0, 0, 5060, "gone.example.com"),
            addr("example.com", "192.0.2.99"),
        ]
    )
    plan = plan_for("sip:example.com;transport=udp")
    resolve(plan, dns)
    with pytest.raises(NoTargetsError, match=r"gone\.example\.com"):
        plan.targets()


def test_non_terminal_naptr_records_of_the_wrong_family_or_with_a_regexp() -> None:
    dns = world(
        [
            # A sips: URI follows only SIPS (or service-less) delegations.
            naptr("example.com", 1, 1, "SIP+D2U", "n1.example.com", flags=""),
            naptr("example.com", 2, 1, "SIPS+D2T", ".", flags="", regexp="!^.*$!n2!"),
            naptr("example.com", 3, 1, "SIPS+D2T", "_sips._tcp.example.com"),
            srv("_sips._tcp.example.com", 0, 0, 5061, "h.example.com"),
            addr("h.example.com", "192.0.2.1"),
        ]
    )
    plan = plan_for("sips:example.com")
    asked = resolve(plan, dns)
    assert q("NAPTR", "n1.example.com") not in asked
    assert plan.targets() == [Target("TLS", "192.0.2.1", 5061)]
    assert [type(p) for p in plan.problems] == [MalformedAnswerError]
    assert "non-terminal record with a regexp" in str(plan.problems[0])


def test_a_delegation_finished_early_waits_for_its_siblings() -> None:
    dns = world(
        [
            naptr("example.com", 1, 1, "", "gone.example.net", flags=""),
            naptr("example.com", 2, 1, "SIP+D2U", "_sip._udp.example.com"),
            srv("_sip._udp.example.com", 0, 0, 5060, "h.example.com"),
            addr("h.example.com", "192.0.2.1"),
        ]
    )
    plan = plan_for("sip:example.com")
    plan.answer(q("NAPTR", "example.com"), dns["NAPTR", "example.com"], now=0)
    assert plan.queries() == [q("NAPTR", "gone.example.net"), q("SRV", "_sip._udp.example.com")]
    plan.answer(q("NAPTR", "gone.example.net"), [], now=0)
    assert not plan.done
    resolve(plan, dns)
    assert plan.targets() == [Target("UDP", "192.0.2.1", 5060)]


def test_additional_data_never_overrides_an_answer() -> None:
    plan = plan_for("sip:example.com")
    plan.answer(
        q("NAPTR", "example.com"),
        [naptr("example.com", 1, 1, "SIP+D2U", "_sip._udp.example.com")],
        now=0,
    )
    plan.answer(
        q("SRV", "_sip._udp.example.com"),
        [srv("_sip._udp.example.com", 0, 0, 5060, "h.example.com")],
        now=0,
    )
    plan.answer(q("A", "h.example.com"), [addr("h.example.com", "192.0.2.1")], now=0)
    plan.answer(
        q("AAAA", "h.example.com"),
        [addr("h.example.com", "192.0.2.99"), addr("h.example.com", "2001:db8::1")],
        now=0,
    )
    # 192.0.2.99 arrived as additional A data after the A answer: ignored.
    assert [t.host for t in plan.targets()] == ["192.0.2.1", "2001:db8::1"]


def test_problems_are_bounded() -> None:
    bad_srv = [srv("_sip._udp.example.com", 0, 0, 99999, "h.example.com") for _ in range(30)]
    bad_addr = [addr("example.com", "bad") for _ in range(10)]
    plan = plan_for("sip:example.com:5070", limits=LocateLimits(max_records=100))
    plan.answer(q("A", "example.com"), [*bad_srv, *bad_addr], now=0)
    plan.answer(q("AAAA", "example.com"), [], now=0)
    assert len(plan.problems) == 32
    with pytest.raises(NoTargetsError, match="and 8 more problems"):
        plan.targets()


def test_duplicate_transports_and_families_are_dropped() -> None:
    plan = plan_for("sip:example.com", transports=("udp", "UDP", "tcp"), families=("A", "A"))
    assert plan.transports == ("UDP", "TCP")
    plan.answer(q("NAPTR", "example.com"), [], now=0)
    resolve(plan, world([addr("example.com", "192.0.2.1")]))
    assert plan.targets() == [Target("UDP", "192.0.2.1", 5060)]


@pytest.mark.parametrize(
    "record",
    [
        addr("bad name.example.com", "192.0.2.1"),
        addr("é.example.com", "192.0.2.1"),
        addr("x" * 250 + ".com", "192.0.2.1"),
        addr("", "192.0.2.1"),
        NaptrRecord(
            name="example.com",
            order=1,
            preference=1,
            flags="s",
            service=None,  # type: ignore[arg-type]
            regexp="",
            replacement="_sip._udp.example.com",
            ttl=60,
        ),
    ],
)
def test_more_malformed_records(record: Record) -> None:
    plan = plan_for("sip:example.com:5070")
    plan.answer(q("A", "example.com"), [record, addr("example.com", "192.0.2.1")], now=0)
    plan.answer(q("AAAA", "example.com"), [], now=0)
    assert plan.targets() == [Target("UDP", "192.0.2.1", 5070)]
    assert [type(p) for p in plan.problems] == [MalformedAnswerError]
