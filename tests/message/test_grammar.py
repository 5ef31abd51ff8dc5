"""RFC 3261 §25 grammar helpers: tokens, quoted strings, escapes, hosts and ports."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsans.errors import LocalProtocolError, RemoteProtocolError
from sipsans.message.grammar import (
    HEADER_CHARS,
    PARAM_CHARS,
    PASSWORD_CHARS,
    TOKEN_CHARS,
    UNRESERVED,
    USER_CHARS,
    canonical_host,
    is_hostname,
    is_ipv4,
    is_ipv6_reference,
    is_token,
    parse_host,
    parse_port,
    pct_decode,
    pct_decode_lenient,
    pct_encode,
    quote_string,
    split_host_port,
    unquote_string,
)

# ---------------------------------------------------------------------------
# token
# ---------------------------------------------------------------------------


def test_token_chars_are_exactly_rfc3261() -> None:
    # token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )
    expected = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
    assert set(TOKEN_CHARS) == expected


@pytest.mark.parametrize(
    "s",
    [
        "INVITE",
        "z9hG4bK776asdhds",
        # RFC 4475 §3.1.1.2 intmeth: the whole odd method is one token.
        "!interesting-Method0123456789_*+`.%indeed'~",
        # RFC 4475 §3.1.1.5 esc02: '%' is a token character, never an escape here.
        "RE%47IST%45R",
    ],
)
def test_is_token_accepts(s: str) -> None:
    assert is_token(s)


@pytest.mark.parametrize("s", ["", " ", "IN VITE", "a@b", "a;b", "a:b", 'a"b', "é", "a\r\n", "<a>"])
def test_is_token_rejects(s: str) -> None:
    assert not is_token(s)


@given(st.text())
def test_is_token_matches_the_char_set(s: str) -> None:
    assert is_token(s) == (bool(s) and set(s) <= TOKEN_CHARS)


# ---------------------------------------------------------------------------
# quoted-string
# ---------------------------------------------------------------------------


def test_quote_string_escapes_quote_and_backslash() -> None:
    assert quote_string('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'
    assert quote_string("") == '""'
    assert quote_string("Bob Smith") == '"Bob Smith"'
    assert quote_string("tab\there") == '"tab\there"'  # HTAB is LWS, allowed raw
    assert quote_string("Zoë") == '"Zoë"'  # UTF8-NONASCII is qdtext


def test_quote_string_escapes_controls_as_quoted_pairs() -> None:
    assert quote_string("a\x00b\x07c\x7f") == '"a\\\x00b\\\x07c\\\x7f"'


@pytest.mark.parametrize("s", ["a\rb", "a\nb", "\r\n"])
def test_quote_string_refuses_cr_lf(s: str) -> None:
    with pytest.raises(LocalProtocolError, match="CR and LF"):
        quote_string(s)


def test_unquote_intmeth_display_name() -> None:
    # RFC 4475 §3.1.1.2 intmeth: To: "BEL:\<BEL> NUL:\<NUL> DEL:\<DEL>"
    raw = '"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f"'
    assert unquote_string(raw) == "BEL:\x07 NUL:\x00 DEL:\x7f"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ('""', ""),
        ('"Bob"', "Bob"),
        ('"\\"quoted\\""', '"quoted"'),
        ('"back\\\\slash"', "back\\slash"),
        ('"\\a\\b"', "ab"),  # any quoted-pair stands for the character itself
        ('"%Z%45"', "%Z%45"),  # RFC 4475 esc02: no percent-decoding in display names
        ('"Zoë"', "Zoë"),
        ('"a\tb"', "a\tb"),
        # leniency: raw controls other than CR/LF are tolerated inside the quotes
        ('"a\x00b\x1f\x7f"', "a\x00b\x1f\x7f"),
    ],
)
def test_unquote_string(raw: str, value: str) -> None:
    assert unquote_string(raw) == value


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        # RFC 4475 §3.1.2.6 quotbal
        ('"Mr. J. User <sip:j.user@example.com>', "unterminated"),
        ('"abc\\"', "unterminated"),
        ('"abc\\', "unterminated"),
        ('"', "unterminated"),
        ("abc", "does not start"),
        ("", "does not start"),
        ('"a"b', "after the closing quote"),
        ('"a\rb"', "line break"),
        ('"a\nb"', "line break"),
        ('"a\\\rb"', "quoted-pair"),
        ('"a\\éb"', "quoted-pair"),
    ],
)
def test_unquote_string_rejects(raw: str, problem: str) -> None:
    with pytest.raises(RemoteProtocolError, match=problem) as exc:
        unquote_string(raw)
    assert exc.value.status_hint == 400


@given(st.text().filter(lambda s: "\r" not in s and "\n" not in s))
def test_quote_unquote_round_trip(s: str) -> None:
    assert unquote_string(quote_string(s)) == s


# ---------------------------------------------------------------------------
# escapes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("plain", "plain"),
        ("%61lice", "alice"),
        ("%6c%72", "lr"),  # lower-case hex digits are fine
        ("sips%3Auser%40example.com", "sips:user@example.com"),  # RFC 4475 esc01
        ("null-%00-null", "null-\x00-null"),  # RFC 4475 escnull: no truncation
        ("%00%00", "\x00\x00"),
        ("%C3%A9t%C3%A9", "été"),  # UTF-8 aware
        ("value%25%34%31", "value%41"),  # decoded exactly once
        ("100%25", "100%"),
    ],
)
def test_pct_decode(raw: str, value: str) -> None:
    assert pct_decode(raw) == value


def test_pct_decode_undecodable_bytes_survive() -> None:
    decoded = pct_decode("a%FFb%C3")
    assert decoded == "a\udcffb\udcc3"
    assert pct_encode(decoded, UNRESERVED) == "a%FFb%C3"


@pytest.mark.parametrize("raw", ["%", "abc%", "%4", "%4g", "%ZZ", "%Z%45", "a%+1", "% 1"])
def test_pct_decode_rejects_bad_escapes(raw: str) -> None:
    with pytest.raises(RemoteProtocolError, match="invalid escape") as exc:
        pct_decode(raw)
    assert exc.value.status_hint == 400


def test_pct_decode_lenient_keeps_bad_percent_literal() -> None:
    assert pct_decode_lenient("%Z%45") == "%ZE"
    assert pct_decode_lenient("100%") == "100%"
    assert pct_decode_lenient("no escapes") == "no escapes"


def test_pct_encode() -> None:
    assert pct_encode("alice", USER_CHARS) == "alice"
    assert pct_encode("a b", USER_CHARS) == "a%20b"
    assert pct_encode("a@b:c", USER_CHARS) == "a%40b%3Ac"
    assert pct_encode("é", USER_CHARS) == "%C3%A9"  # upper-case hex, UTF-8
    assert pct_encode("100%", USER_CHARS) == "100%25"
    assert pct_encode("a;b?c", USER_CHARS) == "a;b?c"  # user-unreserved
    assert pct_encode("a;b?c", PARAM_CHARS) == "a%3Bb%3Fc"
    assert pct_encode("<sip:x>", HEADER_CHARS) == "%3Csip:x%3E"
    assert pct_encode("x:y", PASSWORD_CHARS) == "x%3Ay"
    assert pct_encode("\x00", frozenset()) == "%00"


@given(st.text(), st.sampled_from([USER_CHARS, PASSWORD_CHARS, PARAM_CHARS, HEADER_CHARS]))
def test_pct_round_trip_text(s: str, safe: frozenset[str]) -> None:
    encoded = pct_encode(s, safe)
    assert encoded.isascii()
    assert set(encoded) <= safe | set("%0123456789ABCDEF")
    assert pct_decode(encoded) == s


@given(st.binary())
def test_pct_round_trip_bytes(data: bytes) -> None:
    escaped = "".join(f"%{b:02X}" for b in data)
    assert pct_encode(pct_decode(escaped), frozenset()) == escaped


def test_component_char_sets() -> None:
    assert "%" not in USER_CHARS | PASSWORD_CHARS | PARAM_CHARS | HEADER_CHARS
    assert "@" not in USER_CHARS | PASSWORD_CHARS | PARAM_CHARS | HEADER_CHARS
    assert ":" not in USER_CHARS and ":" not in PASSWORD_CHARS
    assert set(";?/&=+$,") <= USER_CHARS
    assert set("[]/:&+$") <= PARAM_CHARS and ";" not in PARAM_CHARS and "=" not in PARAM_CHARS
    assert set("[]/?:+$") <= HEADER_CHARS and "&" not in HEADER_CHARS
    assert "=" not in HEADER_CHARS


# ---------------------------------------------------------------------------
# hosts and ports
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "EXAMPLE.COM",
        "example.com.",
        "a",
        "host-of-the-hour.example.com",
        "a--b.example.com",
        "1and1.com",
        "x1",
        "my_service.internal",  # leniency: '_' in labels
    ],
)
def test_hostnames(host: str) -> None:
    assert is_hostname(host)
    assert parse_host(host) == host


@pytest.mark.parametrize(
    "host", ["", "-a.com", "a-.com", "a..com", ".a.com", "a.1com", "example.123", "a b", "a.com.."]
)
def test_not_hostnames(host: str) -> None:
    assert not is_hostname(host)


@pytest.mark.parametrize("addr", ["192.0.2.1", "0.0.0.0", "255.255.255.255", "010.000.002.001"])
def test_ipv4(addr: str) -> None:
    assert is_ipv4(addr)
    assert parse_host(addr) == addr


@pytest.mark.parametrize("addr", ["256.0.0.1", "1.2.3", "1.2.3.4.5", "1.2.3.1000", "a.b.c.d"])
def test_not_ipv4(addr: str) -> None:
    assert not is_ipv4(addr)


def test_bad_ipv4_message() -> None:
    with pytest.raises(RemoteProtocolError, match="octet must be 0-255"):
        parse_host("192.0.2.256")


@pytest.mark.parametrize(
    "ref",
    [
        "[2001:db8::10]",
        "[2001:DB8::10]",
        "[::1]",
        "[::]",
        "[::ffff:192.0.2.2]",  # RFC 5118 §4.9 IPv4-mapped
        "[2001:db8::192.0.2.1]",  # RFC 5118 §4.10 correct 2-colon form
        "[2001:db8:::192.0.2.1]",  # RFC 5118 §4.10 3-colon form, tolerated
        "[2001:0db8:0000:0000:0000:0000:0000:0010]",
    ],
)
def test_ipv6_references(ref: str) -> None:
    assert is_ipv6_reference(ref)
    assert parse_host(ref) == ref


@pytest.mark.parametrize(
    "ref",
    [
        "[]",
        "[2001:db8::10",
        "2001:db8::10",
        "[1:2:3:4:5:6:7:8:9]",
        "[2001:db8::10::1]",
        "[fe80::1%eth0]",
        "[2001:db8::g]",
        "[2001:db8:::1]",  # three colons without the IPv4 tail is not the RFC 5118 form
        "[192.0.2.1]",
        "[1:2:3:4:5:6:7:::192.0.2.1]",  # 3-colon form, but too many groups
        "[1::2:::192.0.2.1]",  # 3-colon form with a second '::'
    ],
)
def test_not_ipv6_references(ref: str) -> None:
    assert not is_ipv6_reference(ref)


def test_canonical_host() -> None:
    assert canonical_host("AtLanTa.CoM") == "atlanta.com"
    assert canonical_host("[2001:DB8:0:0::10]") == "[2001:db8::10]"
    assert canonical_host("[2001:db8:::192.0.2.1]") == canonical_host("[2001:db8::c000:201]")
    assert canonical_host("192.0.2.4") == "192.0.2.4"
    assert canonical_host("[Not-IPv6]") == "[not-ipv6]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.com", ("example.com", None)),
        ("example.com:5060", ("example.com", 5060)),
        ("192.0.2.1:0", ("192.0.2.1", 0)),
        ("192.0.2.1:65535", ("192.0.2.1", 65535)),
        ("[2001:db8::10]", ("[2001:db8::10]", None)),
        ("[2001:db8::10]:5070", ("[2001:db8::10]", 5070)),  # RFC 5118 §4.4 port-unambiguous
        ("[2001:db8::10:5070]", ("[2001:db8::10:5070]", None)),  # RFC 5118 §4.3 ambiguous
        ("[2001:db8:::192.0.2.1]", ("[2001:db8:::192.0.2.1]", None)),  # RFC 5118 §4.10
        ("[::ffff:192.0.2.2]:5061", ("[::ffff:192.0.2.2]", 5061)),
        ("host:05060", ("host", 5060)),
    ],
)
def test_split_host_port(text: str, expected: tuple[str, int | None]) -> None:
    assert split_host_port(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("example.com:65536", "out of range"),
        ("example.com:", "invalid port"),
        ("example.com:50a", "invalid port"),
        ("example.com:-1", "invalid port"),
        ("2001:db8::10", "must be enclosed in brackets"),  # RFC 5118 §4.2 ipv6-bad
        ("[2001:db8::10", "closing ']'"),
        ("[2001:db8::10]5070", "only ':' port"),
        ("[2001:db8::10]:99999", "out of range"),
        ("[zz::1]", "invalid IPv6 reference"),
        ("", "empty host"),
        (":5060", "empty host"),
        ("bad_host!:5060", "invalid host"),
        ("a:b:c", "invalid host"),
    ],
)
def test_split_host_port_rejects(text: str, problem: str) -> None:
    with pytest.raises(RemoteProtocolError, match=problem) as exc:
        split_host_port(text)
    assert exc.value.status_hint == 400


def test_split_host_port_bare_ipv6_when_allowed() -> None:
    # For places without brackets in RFC 3261, e.g. Via received= (RFC 5118 §4.5).
    assert split_host_port("2001:db8::9:255", allow_bare_ipv6=True) == ("[2001:db8::9:255]", None)
    assert parse_host("2001:db8::1", allow_bare_ipv6=True) == "[2001:db8::1]"


@given(st.integers(min_value=0, max_value=65535))
def test_parse_port_range(port: int) -> None:
    assert parse_port(str(port)) == port
    assert split_host_port(f"h.example:{port}") == ("h.example", port)


@given(st.ip_addresses(v=6), st.none() | st.integers(min_value=0, max_value=65535))
def test_split_host_port_ipv6_property(addr: object, port: int | None) -> None:
    for spelling in (str(addr), getattr(addr, "exploded", "")):
        text = f"[{spelling}]" + ("" if port is None else f":{port}")
        host, got_port = split_host_port(text)
        assert host == f"[{spelling}]"
        assert got_port == port
        assert canonical_host(host) == f"[{addr}]"
