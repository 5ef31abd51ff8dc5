"""URIs: RFC 3261 §19.1 (sip/sips), RFC 3966 (tel), RFC 5118 (IPv6), RFC 4475 cases."""

from __future__ import annotations

import ipaddress
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsans.errors import LocalProtocolError, RemoteProtocolError
from sipsans.message import uri as uri_module
from sipsans.message.uri import URI, AbsoluteURI, SipURI, TelURI, parse_uri

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"


def sip(text: str) -> SipURI:
    u = parse_uri(text)
    assert isinstance(u, SipURI), text
    return u


def tel(text: str) -> TelURI:
    u = parse_uri(text)
    assert isinstance(u, TelURI), text
    return u


# ---------------------------------------------------------------------------
# RFC 3261 §19.1.4 comparison, with the RFC's own examples
# ---------------------------------------------------------------------------

RFC3261_EQUAL = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    (
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ),
    (
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ),
]

RFC3261_NOT_EQUAL = [
    # different usernames (userinfo is case-sensitive)
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    # can resolve to different ports
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    # can resolve to different transports
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    # can resolve to different port and transports
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    # different header component
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    # even though that's what phone21.boxesbybob.com resolves to
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
]


@pytest.mark.parametrize(("a", "b"), RFC3261_EQUAL)
def test_rfc3261_equal_examples(a: str, b: str) -> None:
    ua, ub = parse_uri(a), parse_uri(b)
    assert ua == ub
    assert ub == ua
    assert hash(ua) == hash(ub)


@pytest.mark.parametrize(("a", "b"), RFC3261_NOT_EQUAL)
def test_rfc3261_not_equal_examples(a: str, b: str) -> None:
    ua, ub = parse_uri(a), parse_uri(b)
    assert ua != ub
    assert ub != ua


def test_rfc3261_equality_is_not_transitive() -> None:
    # §19.1.4: both equal sip:carol@chicago.com, but not each other.
    on = parse_uri("sip:carol@chicago.com;security=on")
    off = parse_uri("sip:carol@chicago.com;security=off")
    plain = parse_uri("sip:carol@chicago.com")
    assert on == plain and off == plain
    assert on != off


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),  # never equivalent
        ("sip:atlanta.com", "sip:alice@atlanta.com"),  # user omitted vs present
        ("sip:alice@atlanta.com", "sip:alice:pw@atlanta.com"),  # password omitted vs present
        ("sip:alice:pw@atlanta.com", "sip:alice:PW@atlanta.com"),  # password case-sensitive
        ("sip:alice@atlanta.com", "sip:alice@atlanta.com;user=phone"),
        ("sip:alice@atlanta.com", "sip:alice@atlanta.com;ttl=1"),
        ("sip:alice@atlanta.com", "sip:alice@atlanta.com;method=INVITE"),
        ("sip:alice@atlanta.com", "sip:alice@atlanta.com;maddr=239.255.255.1"),
        ("sip:a@h;maddr=192.0.2.1", "sip:a@h;maddr=192.0.2.2"),
        ("sip:a@h;foo=1", "sip:a@h;foo=2"),  # present in both: must match
        ("sip:a@h;foo", "sip:a@h;foo=1"),
        ("sip:a@h?subject=A", "sip:a@h?subject=a"),  # header values exact
        ("sip:a@h?x=1", "sip:a@h?x=1&x=2"),
        ("sip:a@h:5060", "sip:a@h:5061"),
        ("sip:%00@h", "sip:%00%00@h"),  # RFC 4475 escnull: two distinct contacts
    ],
)
def test_not_equal_rules(a: str, b: str) -> None:
    assert parse_uri(a) != parse_uri(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("sip:alice@ATLANTA.com", "sip:alice@atlanta.com"),
        ("sip:%75se%72@example.com", "sip:user@example.com"),  # RFC 4475 esc01 To
        ("sip:a@h;TRANSPORT=TCP;LR", "sip:a@h;lr;transport=tcp"),
        ("sip:a@h;maddr=EXAMPLE.com", "sip:a@h;maddr=example.com"),
        ("sip:a@h;x=%41", "sip:a@h;X=a"),
        ("sip:a@h?Subject=x&PRIORITY=y", "sip:a@h?priority=y&subject=x"),
        ("sip:a@h?subject=project%20x", "sip:a@h?Subject=project%20x"),
        ("sip:a@[2001:DB8::10]", "sip:a@[2001:db8:0:0::10]"),
        ("sip:a@[2001:db8:::192.0.2.1]", "sip:a@[2001:db8::192.0.2.1]"),
        ("SIPS:a@h", "sips:a@h"),
        ("sip:a@h;lr", "sip:a@h"),  # lr appears in one only: ignored
    ],
)
def test_equal_rules(a: str, b: str) -> None:
    ua, ub = parse_uri(a), parse_uri(b)
    assert ua == ub
    assert hash(ua) == hash(ub)


def test_comparison_with_other_types() -> None:
    u = parse_uri("sip:a@h")
    assert u != "sip:a@h"
    assert u != parse_uri("tel:+1234")
    assert parse_uri("tel:+1234") != parse_uri("x-tel:+1234")
    same = u
    assert u == same
    assert {u, parse_uri("sip:a@h")} == {u}


# ---------------------------------------------------------------------------
# components and RFC 4475 URI cases
# ---------------------------------------------------------------------------


def test_common_uri_components() -> None:
    u = sip("sip:bob@biloxi.example.com;transport=tcp")
    assert u.scheme == "sip"
    assert u.user == "bob"
    assert u.password is None
    assert u.host == "biloxi.example.com"
    assert u.port is None
    assert u.params == (("transport", "tcp"),)
    assert u.headers == ()
    assert u.transport == "tcp"
    assert not u.secure
    assert not u.lr
    assert str(u) == "sip:bob@biloxi.example.com;transport=tcp"


def test_all_components() -> None:
    u = sip(
        "SIPS:alice:secret@Atlanta.COM:5061;Transport=TLS;lr;maddr=192.0.2.1;user=Phone;"
        "method=INVITE;ttl=15;x=%41?Subject=hi%20there&Priority=urgent"
    )
    assert u.scheme == "sips" and u.secure
    assert (u.user, u.password) == ("alice", "secret")
    assert u.host == "Atlanta.COM"
    assert u.host_port == ("Atlanta.COM", 5061)
    assert u.transport == "tls"
    assert u.lr
    assert u.maddr == "192.0.2.1"
    assert u.user_param == "phone"
    assert u.method == "INVITE"
    assert u.ttl == 15
    assert u.param("X") == "A"
    assert u.param("lr") is None and u.has_param("LR")
    assert u.param("missing") is None and not u.has_param("missing")
    assert u.headers == (("Subject", "hi there"), ("Priority", "urgent"))
    assert str(u).startswith("sips:alice:secret@Atlanta.COM:5061;Transport=TLS;lr;")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sip:alice@atlanta.com", ("alice", None, "atlanta.com", None, (), ())),
        (
            "sip:alice:secretword@atlanta.com;transport=tcp",
            ("alice", "secretword", "atlanta.com", None, (("transport", "tcp"),), ()),
        ),
        (
            "sips:alice@atlanta.com?subject=project%20x&priority=urgent",
            (
                "alice",
                None,
                "atlanta.com",
                None,
                (),
                (("subject", "project x"), ("priority", "urgent")),
            ),
        ),
        (
            "sip:+1-212-555-1212:1234@gateway.com;user=phone",
            ("+1-212-555-1212", "1234", "gateway.com", None, (("user", "phone"),), ()),
        ),
        ("sips:1212@gateway.com", ("1212", None, "gateway.com", None, (), ())),
        ("sip:alice@192.0.2.4", ("alice", None, "192.0.2.4", None, (), ())),
        (
            "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
            (
                None,
                None,
                "atlanta.com",
                None,
                (("method", "REGISTER"),),
                (("to", "alice@atlanta.com"),),
            ),
        ),
        (
            "sip:alice;day=tuesday@atlanta.com",
            ("alice;day=tuesday", None, "atlanta.com", None, (), ()),
        ),
    ],
)
def test_rfc3261_19_1_3_examples(text: str, expected: tuple[object, ...]) -> None:
    u = sip(text)
    assert (u.user, u.password, u.host, u.port, u.params, u.headers) == expected
    assert str(u) == text
    assert u == uri_module._parse_slow(text)


def test_absent_accessors() -> None:
    u = sip("sip:h.example")
    assert u.user is None
    assert u.transport is None and u.maddr is None and u.user_param is None
    assert u.method is None and u.ttl is None and not u.lr


@pytest.mark.parametrize(
    "text", ["sip:a@h;ttl=256", "sip:a@h;ttl=abc", "sip:a@h;ttl", "sip:a@h;ttl=1000"]
)
def test_bad_ttl_raises_on_access(text: str) -> None:
    u = sip(text)
    with pytest.raises(RemoteProtocolError, match="ttl"):
        _ = u.ttl


def test_esc01_request_uri() -> None:
    # RFC 4475 §3.1.1.3 esc01
    u = sip("sip:sips%3Auser%40example.com@example.net")
    assert u.user == "sips:user@example.com"
    assert u.host == "example.net"
    assert str(u) == "sip:sips%3Auser%40example.com@example.net"


def test_esc01_contact_params_decoded_once() -> None:
    u = sip("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert u.user == "caller"
    assert u.params == (("lr", None), ("name", "value%41"))
    assert u.lr
    assert parse_uri(str(u)) == u
    assert str(u) == "sip:caller@host5.example.net;lr;name=value%2541"


def test_esc01_from_with_spaces() -> None:
    assert sip("sip:I%20have%20spaces@example.net").user == "I have spaces"


def test_semiuri_user_contains_semicolon() -> None:
    # RFC 4475 §3.1.1.9 semiuri: the ';' belongs to the user part because '@' follows it.
    u = sip("sip:user;par=u%40example.net@example.com")
    assert u.user == "user;par=u@example.net"
    assert u.host == "example.com"
    assert u.params == ()
    assert parse_uri(str(u)) == u


def test_escnull_users() -> None:
    # RFC 4475 §3.1.1.4 escnull: %00 must not truncate.
    assert sip("sip:null-%00-null@example.com").user == "null-\x00-null"
    assert sip("sip:%00@host5.example.com").user == "\x00"
    assert sip("sip:%00%00@host5.example.com").user == "\x00\x00"
    assert str(sip("sip:%00%00@host5.example.com")) == "sip:%00%00@host5.example.com"


def test_regescrt_route_header() -> None:
    # RFC 4475 §3.3.14 regescrt
    u = sip("sip:user@example.com?Route=%3Csip:sip.example.com%3E")
    assert u.headers == (("Route", "<sip:sip.example.com>"),)
    assert u.without_headers() == sip("sip:user@example.com")
    assert str(u) == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"


def test_intmeth_unusual_userinfo() -> None:
    # RFC 4475 §3.1.1.2 intmeth Request-URI: every odd character is a legal user or
    # password character.
    u = sip(
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
        "(doesn't-it)@example.com"
    )
    assert u.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert u.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert u.host == "example.com"
    assert parse_uri(str(u)) == u


def test_cparam_unknown_param_is_a_uri_param() -> None:
    # RFC 4475 §3.3.13 cparam02 (inside <>, the param belongs to the URI)
    u = sip("sip:+19725552222@gw1.example.net;unknownparam")
    assert u.user == "+19725552222"
    assert u.params == (("unknownparam", None),)


@pytest.mark.parametrize(
    ("text", "scheme", "opaque"),
    [
        (
            "nobodyKnowsThisScheme:totallyopaquecontent",
            "nobodyKnowsThisScheme",
            "totallyopaquecontent",
        ),
        ("soap.beep://192.0.2.103:3002", "soap.beep", "//192.0.2.103:3002"),
        ("isbn:2983792873", "isbn", "2983792873"),
        ("http://www.example.com", "http", "//www.example.com"),
        ("name:John_Smith", "name", "John_Smith"),
        ("urn:service:sos", "urn", "service:sos"),
        ("mailto:a@example.com?subject=x%20y", "mailto", "a@example.com?subject=x%20y"),
    ],
)
def test_other_schemes_are_absolute_uris(text: str, scheme: str, opaque: str) -> None:
    # RFC 4475 §3.3.2 unkscm, §3.3.3 novelsc, §3.3.4 unksm2
    u = parse_uri(text)
    assert isinstance(u, AbsoluteURI)
    assert (u.scheme, u.opaque) == (scheme, opaque)
    assert str(u) == text
    assert parse_uri(str(u)) == u


def test_absolute_uri_equality() -> None:
    assert parse_uri("HTTP://www.example.com") == parse_uri("http://www.example.com")
    assert hash(parse_uri("HTTP://x")) == hash(parse_uri("http://x"))
    assert parse_uri("http://www.example.com") != parse_uri("http://WWW.example.com")
    assert AbsoluteURI("isbn", "1") == parse_uri("isbn:1")
    with pytest.raises(LocalProtocolError, match="scheme"):
        AbsoluteURI("1sbn", "1")
    with pytest.raises(LocalProtocolError, match="not allowed"):
        AbsoluteURI("isbn", "1 2")
    with pytest.raises(LocalProtocolError, match="nothing after"):
        AbsoluteURI("isbn", "")


# ---------------------------------------------------------------------------
# RFC 5118 IPv6
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("sip:user@[2001:db8::10]", "[2001:db8::10]", None),  # §4.1 ipv6-good
        ("sip:[2001:db8::10:5070]", "[2001:db8::10:5070]", None),  # §4.3 port-ambiguous
        ("sip:[2001:db8::10]:5070", "[2001:db8::10]", 5070),  # §4.4 port-unambiguous
        ("sip:ted@[::ffff:192.0.2.2]", "[::ffff:192.0.2.2]", None),  # §4.9 IPv4-mapped
        ("sip:user@[2001:db8::192.0.2.1]", "[2001:db8::192.0.2.1]", None),  # §4.10
        ("sip:user@[2001:db8:::192.0.2.1]", "[2001:db8:::192.0.2.1]", None),  # §4.10, tolerated
        ("sip:caller@[2001:db8::9:1];transport=tcp", "[2001:db8::9:1]", None),
    ],
)
def test_rfc5118_hosts(text: str, host: str, port: int | None) -> None:
    u = sip(text)
    assert (u.host, u.port) == (host, port)
    assert parse_uri(str(u)) == u


def test_rfc5118_port_ambiguity_matters_for_equality() -> None:
    assert parse_uri("sip:[2001:db8::10:5070]") != parse_uri("sip:[2001:db8::10]:5070")


def test_rfc5118_ipv6_bad() -> None:
    # §4.2: the only rejection RFC 5118 requires.
    with pytest.raises(RemoteProtocolError, match=r"must be enclosed in brackets") as exc:
        parse_uri("sip:2001:db8::10")
    assert exc.value.status_hint == 400
    assert "[2001:db8::10]" in str(exc.value)


def test_maddr_with_ipv6_value() -> None:
    u = sip("sip:a@h;maddr=[2001:db8::1]")
    assert u.maddr == "[2001:db8::1]"
    assert str(u) == "sip:a@h;maddr=[2001:db8::1]"


# ---------------------------------------------------------------------------
# RFC 3966 tel
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number", "is_global"),
    [
        ("tel:+1-201-555-0123", "+1-201-555-0123", True),  # RFC 3966 §6
        ("tel:7042;phone-context=example.com", "7042", False),  # RFC 3966 §6
        ("tel:863-1234;phone-context=+1-914-555", "863-1234", False),  # RFC 3966 §6
        ("TEL:+1(201)555.0123", "+1(201)555.0123", True),
        ("tel:*21#;phone-context=example.com", "*21#", False),
        ("tel:ABCD;phone-context=example.com", "ABCD", False),
    ],
)
def test_tel_uris(text: str, number: str, is_global: bool) -> None:
    u = tel(text)
    assert u.number == number
    assert u.is_global is is_global
    assert parse_uri(str(u)) == u


def test_tel_params() -> None:
    u = tel("tel:+1-201-555-0123;ext=1234;isub=%41b;Foo=Bar;flag")
    assert u.ext == "1234"
    assert u.isub == "Ab"
    assert u.param("foo") == "Bar"
    assert u.has_param("FLAG") and u.param("flag") is None
    assert u.phone_context is None
    assert u.digits == "+12015550123"
    assert str(u) == "tel:+1-201-555-0123;ext=1234;isub=Ab;Foo=Bar;flag"
    assert tel("tel:863-1234;phone-context=+1-914-555").phone_context == "+1-914-555"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("tel:+1-201-555-0123", "tel:+12015550123"),
        ("tel:+1-201-555-0123", "tel:+1(201)555.0123"),
        ("tel:+1234;ext=1-2;foo=bar", "tel:+1234;FOO=BAR;ext=12"),
        ("tel:7042;phone-context=EXAMPLE.com", "tel:7042;phone-context=example.com"),
        ("tel:863-1234;phone-context=+1-914-555", "tel:8631234;phone-context=+1914555"),
        ("tel:abcd;phone-context=example.com", "tel:ABCD;phone-context=example.com"),
        ("tel:+1234;isub=%41", "tel:+1234;isub=a"),
    ],
)
def test_tel_equal(a: str, b: str) -> None:
    ua, ub = parse_uri(a), parse_uri(b)
    assert ua == ub
    assert hash(ua) == hash(ub)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("tel:+1234", "tel:+12345"),
        ("tel:+1234", "tel:+1234;ext=1"),  # a parameter in one only
        ("tel:+7042", "tel:7042;phone-context=example.com"),  # global vs local
        ("tel:7042;phone-context=example.com", "tel:7042;phone-context=example.net"),
        ("tel:+1234;foo=a", "tel:+1234;foo=b"),
    ],
)
def test_tel_not_equal(a: str, b: str) -> None:
    assert parse_uri(a) != parse_uri(b)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("tel:7042", "phone-context"),  # RFC 3966 §5.1.5
        ("tel:+", "invalid global number"),
        ("tel:+1-x", "invalid global number"),
        ("tel:", "invalid tel number"),
        ("tel:12g4;phone-context=example.com", "invalid tel number"),
        ("tel:+1234;;x", "empty parameter"),
        ("tel:+1234;a_b=1", "invalid parameter name"),
        ("tel:+1234;ext=1;EXT=2", "appears twice"),
        ("tel:+1234;ext=abc", "invalid tel extension"),
        ("tel:7042;phone-context=", "invalid phone-context"),
        ("tel:7042;phone-context=-bad-", "invalid phone-context"),
        ("tel:+1234;isub", "isub"),
        ("tel:+1234;x=%zz", "invalid escape"),
    ],
)
def test_tel_rejects(text: str, problem: str) -> None:
    with pytest.raises(RemoteProtocolError, match=problem) as exc:
        parse_uri(text)
    assert exc.value.status_hint == 400


def test_tel_constructor() -> None:
    assert TelURI("+1-201-555-0123", [("ext", "12")]) == parse_uri("tel:+12015550123;ext=12")
    with pytest.raises(LocalProtocolError, match="phone-context"):
        TelURI("7042")
    assert repr(TelURI("+1")) == "TelURI('tel:+1')"
    with pytest.raises(LocalProtocolError, match="parameter name"):
        TelURI("+1", [("a_b", "1")])
    u = TelURI("+1", [("x", "a b")])
    assert str(u) == "tel:+1;x=a%20b"
    first = str(u)
    assert str(u) is first  # rendered once, then cached


# ---------------------------------------------------------------------------
# rejection with useful messages
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty URI"),
        ("sip:user@example.com; lr", "whitespace"),  # RFC 4475 §3.1.2.8 lwsruri
        ("sip:user@example.com\t", "whitespace"),
        ("sip:user@exa\x00mple.com", "control character"),
        ("<sip:user@example.com>", "enclosed in '<' '>'"),  # RFC 4475 §3.1.2.7 ltgtruri
        ("sip:2001:db8::10", "must be enclosed in brackets"),  # RFC 5118 §4.2
        ("sip:user@example.com:99999", "out of range"),
        ("sip:user@example.com:", "invalid port"),
        ("sip:user@example.com:50x0", "invalid port"),
        ("sip:user@exa_mple!.com", "invalid host"),
        ("sip:user@1.2.3.256", "0-255"),
        ("sip:user@[2001:db8::10", "closing ']'"),
        ("sip:user@", "no host"),
        ("sip:", "no host"),
        ("sip:;lr", "no host"),
        ("sip:@example.com", "empty user"),
        ("sip:a%4@example.com", "invalid escape"),  # bad escape in the user part
        ("sip:a:b%g0@example.com", "invalid escape"),  # ... in the password
        ("sip:a@h;x=%", "invalid escape"),  # ... in a parameter value
        ("sip:a@h;%zz=1", "invalid escape"),  # ... in a parameter name
        ("sip:a@h?x=%2", "invalid escape"),  # ... in a header value
        ("sip:a@b@example.com", "more than one '@'"),
        ("sip:a@h;;lr", "empty URI parameter"),
        ("sip:a@h;lr;", "empty URI parameter"),
        ("sip:a@h;=1", "has no name"),
        ("sip:a@h;x=<1>", "not allowed in the parameter"),
        ("sip:a@h?", "empty header part"),
        ("sip:a@h?subject", "name=value"),
        ("sip:a@h?=x", "name=value"),
        ("sip:a@h?a=1&&b=2", "name=value"),
        ("sip:a@h?x=a=b", "not allowed in the header"),
        ("sip:a<b@h", "not allowed in the user part"),
        ("sip:a:b:c@h", "not allowed in the password"),
        ("sip:alicé@h", "non-ASCII"),
        ("user@example.com", "no valid scheme"),
        (":user@example.com", "no valid scheme"),
        ("1sip:a@h", "no valid scheme"),
        ("isbn:", "nothing after the scheme"),
        ("http://x/a|b", "not allowed"),
        ("http://x/%zz", "invalid escape"),
    ],
)
def test_parse_uri_rejects(text: str, problem: str) -> None:
    with pytest.raises(RemoteProtocolError, match=problem) as exc:
        parse_uri(text)
    assert exc.value.status_hint == 400


def test_rejection_names_the_bad_part() -> None:
    with pytest.raises(RemoteProtocolError) as exc:
        parse_uri("sip:user@example.com; lr")
    assert "offset 21" in str(exc.value)
    assert "'sip:user@example.com; lr'" in str(exc.value)


# ---------------------------------------------------------------------------
# leniencies (each documented in sipsans/message/uri.py or sipsans/message/grammar.py)
# ---------------------------------------------------------------------------


def test_lenient_hash_in_user_part() -> None:
    u = sip("sip:*21#@pbx.example.com")
    assert u.user == "*21#"
    assert str(u) == "sip:*21%23@pbx.example.com"
    assert parse_uri(str(u)) == u


def test_lenient_empty_param_value_and_equals_in_value() -> None:
    u = sip("sip:a@h;x=;tok=YWJj==")
    assert u.params == (("x", ""), ("tok", "YWJj=="))
    assert str(u) == "sip:a@h;x=;tok=YWJj%3D%3D"
    assert parse_uri(str(u)) == u


def test_lenient_underscore_in_host() -> None:
    assert sip("sip:a@my_service.internal:5060").host == "my_service.internal"


def test_duplicate_params_first_wins() -> None:
    u = sip("sip:a@h;transport=tcp;transport=udp")
    assert u.transport == "tcp"
    assert u.params == (("transport", "tcp"), ("transport", "udp"))
    assert u == sip("sip:a@h;transport=tcp")
    assert str(u) == "sip:a@h;transport=tcp;transport=udp"


# ---------------------------------------------------------------------------
# canonical output
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("sip:bob@biloxi.example.com", "sip:bob@biloxi.example.com"),
        ("SIP:Bob@Biloxi.Example.COM", "sip:Bob@Biloxi.Example.COM"),
        ("sip:%61lice@atlanta.com", "sip:alice@atlanta.com"),
        ("sip:a%3bb@h", "sip:a;b@h"),  # ';' is user-unreserved: written raw
        ("sip:a@h;p=a%3bb", "sip:a@h;p=a%3Bb"),  # ... but not in a parameter
        ("sip:%C3%A9@h", "sip:%C3%A9@h"),
        ("sip:a:%70w@h", "sip:a:pw@h"),
        ("sip:h:05060", "sip:h:5060"),
        ("sip:a@h?to=sip:bob%40biloxi.com", "sip:a@h?to=sip:bob%40biloxi.com"),
    ],
)
def test_canonical_form(text: str, canonical: str) -> None:
    u = parse_uri(text)
    assert str(u) == canonical
    assert parse_uri(canonical) == u


def test_repr_and_pickle() -> None:
    u = sip("sip:a@h;lr")
    assert repr(u) == "SipURI('sip:a@h;lr')"
    assert repr(parse_uri("isbn:1")) == "AbsoluteURI('isbn:1')"
    for v in (u, parse_uri("tel:+1;ext=2"), parse_uri("isbn:1")):
        w = pickle.loads(pickle.dumps(v))
        assert w == v and str(w) == str(v)


# ---------------------------------------------------------------------------
# construction and copies
# ---------------------------------------------------------------------------


def test_constructor_and_escaping() -> None:
    u = SipURI("example.com", user="a@b c", password="p:w", port=5060, params=[("lr", None)])
    assert str(u) == "sip:a%40b%20c:p%3Aw@example.com:5060;lr"
    assert parse_uri(str(u)) == u
    assert SipURI("[::1]", scheme="SIPS").scheme == "sips"


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"host": "example.com", "scheme": "tel"}, "scheme"),
        ({"host": "2001:db8::1"}, "brackets"),
        ({"host": "bad host"}, "invalid host"),
        ({"host": "h", "port": 70000}, "port"),
        ({"host": "h", "port": True}, "port"),
        ({"host": "h", "user": ""}, "non-empty"),
        ({"host": "h", "password": "x"}, "needs a user"),
        ({"host": "h", "params": [("", "x")]}, "parameter names"),
        ({"host": "h", "headers": [("", "x")]}, "header names"),
        ({"host": "h", "user": "\ud800"}, "surrogate"),
        ({"host": "h", "params": [("x", "\udfff")]}, "surrogate"),
    ],
)
def test_constructor_rejects(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(LocalProtocolError, match=problem):
        SipURI(**kwargs)  # type: ignore[arg-type]


def test_replace_and_params() -> None:
    u = sip("sip:alice@atlanta.com;transport=udp;lr?Subject=x")
    assert u.replace(port=5062).port == 5062
    assert u.replace(scheme="sips").secure
    assert u.replace(user=None).user is None
    assert str(u.replace(host="[2001:db8::1]")).startswith("sip:alice@[2001:db8::1];")
    assert u.with_param("Transport", "tcp").params == (("Transport", "tcp"), ("lr", None))
    assert u.with_param("ob").params[-1] == ("ob", None)
    assert u.without_param("LR").params == (("transport", "udp"),)
    assert u.without_headers().headers == ()
    w = u.without_headers()
    assert w.without_headers() is w
    assert (
        str(u.with_param("x", "a b")) == "sip:alice@atlanta.com;transport=udp;lr;x=a%20b?Subject=x"
    )
    # the original is untouched
    assert str(u) == "sip:alice@atlanta.com;transport=udp;lr?Subject=x"


def test_with_param_drops_duplicates() -> None:
    u = sip("sip:a@h;x=1;y;x=2")
    assert u.with_param("x", "3").params == (("x", "3"), ("y", None))


def test_immutable() -> None:
    u = sip("sip:a@h")
    with pytest.raises(AttributeError):
        u.user = "b"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        u.extra = 1  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------
# the shared corpus: every URI in a request line
# ---------------------------------------------------------------------------

_REJECTED_REQUEST_URIS = {"ltgtruri", "lwsruri", "ipv6-bad"}


def _request_uris() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for sub in ("rfc4475", "rfc5118"):
        for path in sorted((CORPUS / sub).glob("*.dat")):
            first = path.read_bytes().split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8")
            if " SIP/" not in first or first.startswith("SIP/"):
                continue  # a response, or not a request line
            # Request-Line = Method SP Request-URI SP SIP-Version; strip() only
            # undoes lwsstart's doubled spaces, never whitespace inside the URI.
            target = first.partition(" ")[2].rsplit(" SIP/", 1)[0].strip(" ")
            out.append((path.stem, target))
    return out


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_corpus_request_uris() -> None:
    cases = _request_uris()
    assert len(cases) > 40
    for name, target in cases:
        if name in _REJECTED_REQUEST_URIS:
            with pytest.raises(RemoteProtocolError):
                parse_uri(target)
        else:
            u = parse_uri(target)
            assert parse_uri(str(u)) == u, name
    names = {name for name, _ in cases}
    assert names >= _REJECTED_REQUEST_URIS


# ---------------------------------------------------------------------------
# bounded caches and the fast path
# ---------------------------------------------------------------------------


def test_caches_stay_bounded() -> None:
    for i in range(uri_module._CACHE_MAX * 3):
        parse_uri(f"sip:u{i}@h{i}.example.com;p{i}=v")
    assert len(uri_module._uri_cache) <= uri_module._CACHE_MAX


def test_cached_result_is_equal_and_immutable() -> None:
    a = parse_uri("sip:cache@example.com;lr")
    b = parse_uri("sip:cache@example.com;lr")
    assert a == b and str(a) == str(b)


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------

_label = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,6}[A-Za-z0-9])?", fullmatch=True)
_toplabel = st.from_regex(r"[A-Za-z]([A-Za-z0-9-]{0,6}[A-Za-z0-9])?", fullmatch=True)
_hostnames = st.builds(
    lambda labels, top, dot: ".".join([*labels, top]) + dot,
    st.lists(_label, max_size=3),
    _toplabel,
    st.sampled_from(["", "", "", "."]),
)
_ipv4 = st.ip_addresses(v=4).map(str)
_ipv6 = st.ip_addresses(v=6).flatmap(
    lambda a: st.sampled_from([f"[{a.compressed}]", f"[{a.exploded}]", f"[{a.exploded.upper()}]"])
)
_hosts = st.one_of(_hostnames, _ipv4, _ipv6)
# Arbitrary text, with the URI delimiters over-represented.
_delims = st.sampled_from(list('@;?%:=&,/+$#[]<>" é\x00'))
# Any character but surrogates, plus the U+DC80-U+DCFF surrogates that stand for
# undecodable bytes (surrogateescape), which must survive as the same %HH.
_chars = st.one_of(
    st.characters(exclude_categories=["Cs"]),
    st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF),
    _delims,
)
_text = st.lists(_chars, max_size=12).map("".join)
_nonempty = _text.filter(bool)
_params = st.lists(st.tuples(_nonempty, st.none() | _text), max_size=4)
_headers = st.lists(st.tuples(_nonempty, _text), max_size=3)


@st.composite
def sip_uris(draw: st.DrawFn) -> SipURI:
    user = draw(st.none() | _nonempty)
    password = draw(st.none() | _text) if user is not None else None
    return SipURI(
        draw(_hosts),
        scheme=draw(st.sampled_from(["sip", "sips", "SIP"])),
        user=user,
        password=password,
        port=draw(st.none() | st.integers(min_value=0, max_value=65535)),
        params=draw(_params),
        headers=draw(_headers),
    )


@settings(max_examples=300)
@given(sip_uris())
def test_round_trip(u: SipURI) -> None:
    text = str(u)
    v = parse_uri(text)
    assert v == u
    assert hash(v) == hash(u)
    assert isinstance(v, SipURI)
    # The decoded components survive exactly, not just up to equivalence.
    assert (v.scheme, v.user, v.password, v.host, v.port) == (
        u.scheme,
        u.user,
        u.password,
        u.host,
        u.port,
    )
    assert v.params == u.params
    assert v.headers == u.headers
    assert str(v) == text  # the canonical form is a fixed point


@settings(max_examples=150)
@given(sip_uris())
def test_fast_and_general_paths_agree(u: SipURI) -> None:
    text = str(u)
    general = uri_module._parse_slow(text)
    assert isinstance(general, SipURI)
    fast = parse_uri(text)
    assert isinstance(fast, SipURI)
    assert (general.scheme, general.user, general.password, general.host, general.port) == (
        fast.scheme,
        fast.user,
        fast.password,
        fast.host,
        fast.port,
    )
    assert general.params == fast.params and general.headers == fast.headers


def _check_total(text: str) -> None:
    try:
        u = parse_uri(text)
    except RemoteProtocolError as exc:
        assert exc.status_hint == 400
    else:
        assert parse_uri(str(u)) == u


@given(st.text(max_size=40))
def test_parse_uri_never_crashes(text: str) -> None:
    _check_total(text)


@given(st.from_regex(r"(sips?|tel|SIP|x-y):[A-Za-z0-9@;:?=&%\[\]._+\-#*()]{0,30}", fullmatch=True))
def test_parse_uri_never_crashes_uri_like(text: str) -> None:
    _check_total(text)


_safe = st.text(alphabet="abcXYZ019-_.!~*'()", min_size=1, max_size=6)


@st.composite
def plain_sip_uris(draw: st.DrawFn) -> SipURI:
    user = draw(st.none() | _safe)
    return SipURI(
        draw(st.one_of(_hostnames, _ipv4)),
        user=user,
        password=draw(st.none() | _safe) if user is not None else None,
        port=draw(st.none() | st.integers(min_value=0, max_value=65535)),
        params=draw(st.lists(st.tuples(_safe, st.none() | _safe), max_size=3)),
        headers=draw(st.lists(st.tuples(_safe, _safe), max_size=2)),
    )


@given(plain_sip_uris())
def test_fast_path_agrees_on_plain_uris(u: SipURI) -> None:
    text = str(u)
    m = uri_module._FAST_SIP_RE.fullmatch(text)
    assert m is not None, text  # escape-free URIs must take the fast path
    general = uri_module._parse_slow(text)
    fast = parse_uri(text)
    assert isinstance(general, SipURI) and isinstance(fast, SipURI)
    for v in (general, fast):
        assert (v.user, v.password, v.host, v.port) == (u.user, u.password, u.host, u.port)
        assert v.params == u.params and v.headers == u.headers
        assert str(v) == text


@given(
    st.from_regex(r"\+[0-9]{1,4}(-[0-9]{1,4}){0,3}", fullmatch=True),
    st.lists(
        st.tuples(
            st.sampled_from(["ext", "isub", "foo", "x-y"]),
            st.from_regex(r"[0-9]{1,5}", fullmatch=True),
        ),
        max_size=3,
        unique_by=lambda p: p[0],
    ),
)
def test_tel_round_trip(number: str, params: list[tuple[str, str]]) -> None:
    u = TelURI(number, params)
    v = parse_uri(str(u))
    assert v == u
    assert isinstance(v, TelURI) and v.number == number and v.params == u.params


def test_uri_alias_covers_all_types() -> None:
    values: list[URI] = [parse_uri("sip:a@h"), parse_uri("tel:+1"), parse_uri("isbn:1")]
    assert [type(v) for v in values] == [SipURI, TelURI, AbsoluteURI]
    assert ipaddress.ip_address("::1")  # ipaddress is stdlib: the core may use it
