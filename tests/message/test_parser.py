"""Parser probes: the shapes real traffic takes (RFC 3261 §7, §20, §25)."""

from __future__ import annotations

import pytest

import sipsans
from sipsans import (
    Headers,
    NameAddr,
    ParserLimits,
    RemoteProtocolError,
    Request,
    Response,
    SipURI,
    make_request,
    make_response,
    parse_message,
)

BASE = (
    b"OPTIONS sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 63104 OPTIONS\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def with_lines(*extra: bytes, drop: tuple[bytes, ...] = ()) -> bytes:
    head, _, _ = BASE.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.startswith(drop or (b"\x00",))]
    return b"\r\n".join([*lines, *extra]) + b"\r\n\r\n"


def test_compact_header_names_are_the_long_names() -> None:
    data = (
        b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
        b"v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
        b"f: <sip:alice@atlanta.example.com>;tag=1\r\n"
        b"t: <sip:bob@biloxi.example.com>\r\n"
        b"i: abc@host\r\n"
        b"m: <sip:alice@192.0.2.1>\r\n"
        b"k: timer\r\n"
        b"s: hello\r\n"
        b"c: text/plain\r\n"
        b"CSeq: 1 INVITE\r\n"
        b"l: 2\r\n"
        b"\r\nhi"
    )
    m = parse_message(data)
    assert m.top_via.branch == "z9hG4bK776asdhds"
    assert m.from_.tag == "1"
    assert m.call_id == "abc@host"
    assert m.headers.get("Content-Type") == "text/plain"
    assert m.headers.get("Supported") == "timer"
    assert m.headers.get("Subject") == "hello"
    assert m.content_length == 2
    assert m.body == b"hi"
    assert m.contacts[0].uri == sipsans.parse_uri("sip:alice@192.0.2.1")
    # names are kept as written on output
    assert b"\r\nv: SIP/2.0/UDP" in bytes(m)


def test_folded_lines_are_unfolded_to_one_space() -> None:
    m = parse_message(with_lines(b"Subject: I know you're there,\r\n     pick up the phone"))
    assert m.headers.get("Subject") == "I know you're there, pick up the phone"
    assert b"\r\n     pick" not in bytes(m)  # never re-emitted folded


def test_two_via_lines_and_comma_joined_vias() -> None:
    two_lines = parse_message(
        with_lines(b"Via: SIP/2.0/TCP proxy.example.com:5061;branch=z9hG4bKa;received=192.0.2.9")
    )
    assert [v.host for v in two_lines.vias] == ["pc33.atlanta.example.com", "proxy.example.com"]
    assert two_lines.vias[1].port == 5061
    assert two_lines.vias[1].transport == "TCP"
    assert two_lines.vias[1].received == "192.0.2.9"
    joined = parse_message(
        BASE.replace(
            b"branch=z9hG4bK776asdhds\r\n",
            b"branch=z9hG4bK776asdhds, SIP/2.0/TCP proxy.example.com:5061;branch=z9hG4bKa\r\n",
        )
    )
    assert len(joined.vias) == 2
    assert joined.vias[1].branch == "z9hG4bKa"
    assert list(joined.vias) == [joined.vias[0], joined.vias[1]]


def test_lower_case_names_without_space_after_colon() -> None:
    data = BASE.replace(b"Call-ID: ", b"call-id:").replace(b"CSeq: ", b"cseq:")
    m = parse_message(data)
    assert m.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert m.cseq == sipsans.CSeq(63104, "OPTIONS")


def test_display_name_directly_followed_by_angle_bracket() -> None:
    data = BASE.replace(b"From: Alice <", b'From: "Alice Liddell"<')
    m = parse_message(data)
    assert m.from_.display_name == "Alice Liddell"
    assert m.from_.tag == "1928301774"


def test_ipv6_hosts_in_uri_and_via() -> None:
    data = BASE.replace(
        b"OPTIONS sip:bob@biloxi.example.com", b"OPTIONS sip:bob@[2001:db8::10]:5070"
    )
    data = data.replace(b"pc33.atlanta.example.com;", b"[2001:db8::9:1]:5060;")
    m = parse_message(data)
    assert isinstance(m, Request)
    assert isinstance(m.uri, SipURI)
    assert (m.uri.host, m.uri.port) == ("[2001:db8::10]", 5070)
    assert m.top_via.sent_by == ("[2001:db8::9:1]", 5060)


def test_unknown_method_and_headers_kept_verbatim() -> None:
    data = BASE.replace(b"OPTIONS", b"FROBNICATE").replace(
        b"Content-Length: 0", b"X-Weird_Header.1: ;;,,  value with  spaces ;\r\nContent-Length: 0"
    )
    m = parse_message(data)
    assert isinstance(m, Request)
    assert m.method == "FROBNICATE"
    assert m.headers.get("x-weird_header.1") == ";;,,  value with  spaces ;"
    assert ("X-Weird_Header.1", ";;,,  value with  spaces ;") in list(m.headers)
    assert b"X-Weird_Header.1: ;;,,  value with  spaces ;\r\n" in bytes(m)


def test_list_headers_split_on_commas_outside_quotes_and_angles() -> None:
    data = with_lines(
        b'Contact: "Doe, John" <sip:j@h;a=1,2>, <sip:k@h>;q=0.5',
        b"Allow: INVITE, ACK,BYE",
        b'X-Custom: a, "b, c"',
    )
    m = parse_message(data)
    assert [c.display_name for c in m.contacts] == ["Doe, John", None]
    assert m.contacts[1].param("q") == "0.5"
    assert m.headers.get_all("Allow") == ["INVITE", "ACK", "BYE"]
    assert m.headers.get_all("X-Custom") == ['a, "b, c"']  # unknown: never split


def test_contact_wildcard() -> None:
    m = parse_message(with_lines(b"Contact: *", b"Expires: 0"))
    assert m.contact_is_wildcard
    assert m.contacts == []


@pytest.mark.parametrize(
    ("mutation", "status"),
    [
        ((b"SIP/2.0\r\nVia", b"SIP/3.0\r\nVia"), 505),
        ((b"CSeq: 63104 OPTIONS", b"CSeq: 63104 INVITE"), 400),
        ((b"CSeq: 63104", b"CSeq: 99999999999"), 400),
        ((b"Max-Forwards: 70", b"Max-Forwards: 256"), 400),
        ((b"Content-Length: 0", b"Content-Length: 5"), 400),
        ((b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n", b""), 400),
        ((b"Via: SIP/2.0/UDP", b"Via: SIP/2.0/UDP;"), 400),
        ((b"Alice <sip:", b"Ali,ce <sip:"), 400),
        ((b"sip:bob@biloxi.example.com SIP", b"sip:bob@biloxi example.com SIP"), 400),
    ],
)
def test_rejections_carry_a_status_hint(mutation: tuple[bytes, bytes], status: int) -> None:
    data = BASE.replace(*mutation)
    assert data != BASE
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(data).validate()
    assert info.value.status_hint == status


def test_partial_message_survives_for_stateless_answers() -> None:
    data = BASE.replace(b"Max-Forwards: 70", b"Max-Forwards: 70\r\nContent-Length: 12")
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(data)
    partial = info.value.partial
    assert isinstance(partial, Request)
    assert partial.headers.get("Call-ID") == "a84b4c76e66710@pc33.atlanta.example.com"


def test_limits_bound_the_work() -> None:
    tight = ParserLimits(max_headers=5, max_line_length=64, max_message_size=400)
    with pytest.raises(RemoteProtocolError, match="max_headers") as info:
        parse_message(BASE, limits=tight)
    assert info.value.status_hint == 513
    with pytest.raises(RemoteProtocolError, match="max_message_size"):
        parse_message(BASE + b"x" * 400, limits=tight)
    long_line = with_lines(b"Subject: " + b"y" * 100)
    with pytest.raises(RemoteProtocolError, match="max_line_length"):
        parse_message(long_line, limits=ParserLimits(max_line_length=64))
    with pytest.raises(ValueError, match="max_headers"):
        ParserLimits(max_headers=0)


def test_leading_crlf_is_ignored_and_trailing_bytes_discarded() -> None:
    m = parse_message(b"\r\n\r\n" + BASE + b"garbage")
    assert m.body == b""
    assert bytes(m) == BASE


def test_bare_lf_leniency() -> None:
    m = parse_message(BASE.replace(b"\r\n", b"\n"))
    assert m.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert bytes(m) == BASE  # strict CRLF on output


def test_status_line_variants() -> None:
    response = BASE.replace(b"OPTIONS sip:bob@biloxi.example.com SIP/2.0", b"SIP/2.0 180 Ringing")
    m = parse_message(response)
    assert isinstance(m, Response)
    assert (m.status_code, m.reason) == (180, "Ringing")
    for bad in (b"SIP/2.0 1800 Ringing", b"SIP/2.0 099 Odd", b"SIP/2.0 700 Odd", b"SIP/2.0"):
        with pytest.raises(RemoteProtocolError):
            parse_message(response.replace(b"SIP/2.0 180 Ringing", bad))


def test_headers_container() -> None:
    h = Headers([("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("v", "SIP/2.0/UDP b;branch=z9hG4bK2")])
    assert "VIA" in h and "via" in h
    assert h.lines("Via") == ["SIP/2.0/UDP a;branch=z9hG4bK1", "SIP/2.0/UDP b;branch=z9hG4bK2"]
    h.prepend("Via", "SIP/2.0/UDP c;branch=z9hG4bK0")
    assert h.get("v") == "SIP/2.0/UDP c;branch=z9hG4bK0"
    assert h.remove_first("Via") == "SIP/2.0/UDP c;branch=z9hG4bK0"
    h.add("Route", "<sip:p1;lr>, <sip:p2;lr>")
    assert h.remove_first("Route") == "<sip:p1;lr>"
    assert h.get("Route") == "<sip:p2;lr>"
    h.set("Via", "SIP/2.0/UDP z;branch=z9hG4bKz")
    assert h.lines("via") == ["SIP/2.0/UDP z;branch=z9hG4bKz"]
    assert h.remove("Route") == 1
    assert len(h) == 1
    with pytest.raises(ValueError, match="CR or LF"):
        h.add("Subject", "a\r\nVia: injected")
    with pytest.raises(ValueError, match="header name"):
        h.add("Bad Name", "x")


def test_typed_views_follow_header_changes() -> None:
    m = parse_message(BASE)
    assert m.top_via.branch == "z9hG4bK776asdhds"
    m.headers.prepend("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKnew")
    assert m.top_via.branch == "z9hG4bKnew"
    assert len(m.vias) == 2


def test_factories_fill_mandatory_headers() -> None:
    request = make_request(
        "INVITE",
        "sip:bob@biloxi.example.com",
        from_=NameAddr("sip:alice@atlanta.example.com", "Alice", (("tag", "88sja8x"),)),
        to=NameAddr(sipsans.parse_uri("sip:bob@biloxi.example.com")),
        call_id="987asjd97y7atg",
        cseq=986759,
        via="SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnashds8;rport",
        contact="<sip:alice@192.0.2.1>",
        body=b"v=0\r\n",
        content_type="application/sdp",
    )
    again = parse_message(bytes(request))
    assert isinstance(again, Request)
    assert again == request
    assert again.max_forwards == 70
    assert again.cseq == sipsans.CSeq(986759, "INVITE")
    assert again.content_length == 5
    response = make_response(again, 180, to_tag="a6c85cf")
    assert response.reason == "Ringing"
    assert response.to.tag == "a6c85cf"
    assert response.vias == again.vias
    assert (response.call_id, response.cseq, response.from_) == (
        again.call_id,
        again.cseq,
        again.from_,
    )
    assert parse_message(bytes(response)) == response
    with pytest.raises(ValueError, match="content_type"):
        make_response(again, 200, body=b"x")
    with pytest.raises(ValueError, match="100-699"):
        make_response(again, 99)


def test_bytes_always_writes_a_correct_content_length() -> None:
    m = parse_message(BASE)
    m.body = b"hello"
    assert b"Content-Length: 5\r\n\r\nhello" in bytes(m)
    bare = Request("OPTIONS", "sip:a@b", [("Call-ID", "x")])
    assert bytes(bare).endswith(b"Content-Length: 0\r\n\r\n")


@pytest.mark.parametrize(
    "line",
    [
        b'From: "A\rB" <sip:alice@atlanta.example.com>;tag=1928301774',  # CR in qdtext
        b'From: "A\nB" <sip:alice@atlanta.example.com>;tag=1928301774',  # LF in qdtext
        b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKa\nb",  # LF in a param
        b"Subject: lunch\rtoday",  # CR in TEXT-UTF8
        b"Subject: lunch\n",  # a line ending in a bare LF inside a CRLF message
    ],
)
def test_bare_cr_or_lf_inside_a_header_line_is_refused_400(line: bytes) -> None:
    """RFC 3261 §7.3.1, §25.1: CR and LF appear in a header section only as the CRLF
    that ends (or folds) a line; qdtext, gen-value and TEXT-UTF8 all exclude them."""
    key = line.split(b":", 1)[0]
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(with_lines(line, drop=(key + b":",)))
    assert info.value.status_hint == 400
    assert isinstance(info.value.partial, Request)  # so a UAS can still answer 400


def test_parsing_a_single_value_refuses_cr_and_lf_too() -> None:
    """The same §25.1 rules hold for the value parsers used on their own: what they
    accept can always be written back into a header."""
    with pytest.raises(RemoteProtocolError):
        sipsans.parse_name_addr('"A\rB" <sip:alice@192.0.2.1>;tag=1', header="From")
    with pytest.raises(RemoteProtocolError):
        sipsans.parse_via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\nb")
    ok = sipsans.parse_name_addr('"A\\"B" <sip:alice@192.0.2.1>;tag=1', header="From")
    assert ok.display_name == 'A"B'


def test_bare_lf_line_ends_are_still_read_when_the_message_has_no_cr() -> None:
    """The bare-LF leniency (whole message written with LF line ends) is unaffected."""
    m = parse_message(BASE.replace(b"\r\n", b"\n"))
    assert m.cseq.seq == 63104


@pytest.mark.parametrize("param", ["rport=5060x", "RPORT=x", "rPort=50 60", "Rport=\x01"])
def test_rport_value_must_be_digits_whatever_the_case_of_its_name(param: str) -> None:
    """RFC 3581 §3: ``rport = "rport" [EQUAL 1*DIGIT]``, and parameter names compare
    case-insensitively (RFC 3261 §7.3.1), so ``RPort=x`` is an invalid rport too."""
    with pytest.raises(RemoteProtocolError):
        sipsans.parse_via(f"SIP/2.0/UDP 192.0.2.1;{param};branch=z9hG4bK1")
    assert sipsans.parse_via("SIP/2.0/UDP 192.0.2.1;RPort=5060").rport == 5060


def test_the_bare_ipv6_via_leniency_needs_an_ipv6_address() -> None:
    """RFC 5118 §4 wants brackets; a bare IPv6 sent-by is accepted (deployed phones send
    it), but only when the host itself is IPv6: colons in the parameters do not count."""
    assert sipsans.parse_via("SIP/2.0/UDP fe80::1:5060;branch=z9hG4bK1").host == "[fe80::1:5060]"
    for bad in ("\x1fSIP/2.0/UDP 1.2;x=a:b:c", "SIP/2.0/UDP 1.2 x;y=a:b:c"):
        with pytest.raises(RemoteProtocolError):
            sipsans.parse_via(bad)
