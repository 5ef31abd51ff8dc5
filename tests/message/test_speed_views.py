"""The shortcuts a UAS takes on every request and answer give the verdicts and lines of
the careful path (RFC 3261 §8.2, §20.22, §20.10, §8.2.6).

* ``Message.check_max_forwards`` / ``check_contacts`` raise exactly when reading
  ``max_forwards`` / ``contacts`` (and each Contact URI) raises, with the same message,
  however often the same value comes back (they memoize the values that passed).
* ``ViaList.parse_all`` parses (and rejects) what iterating the list does.
* ``make_response`` memoizes the checked form of the header pairs it is given: a
  repeated pair gives the same line, a bad pair is rejected every time.
* A built message is written by joining its lines as stored; the lines it copies from
  a received request (Vias with stray whitespace) come out as the careful path writes
  them: ``name: value`` without surrounding whitespace (RFC 3261 §7.3.1).
* ``parse_name_addr`` hands one value to every message with the same text: equal to
  a fresh parse, and changing a copy (``with_tag``) leaves it as it was.
* ``NameAddr.tag`` (kept in a slot) is the first ``tag`` parameter, whichever way the
  value was made (RFC 3261 §19.3; parameter names are case-insensitive, §7.3.1).
"""

from __future__ import annotations

from typing import cast

import pytest

from sipsans import Headers, RemoteProtocolError, Request, make_response, parse_message
from sipsans.message.fields import NameAddr, _parse_name_addr_slow, parse_name_addr

HEAD = (
    "OPTIONS sip:bob@192.0.2.10 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
    "From: <sip:alice@192.0.2.1>;tag=a\r\n"
    "To: <sip:bob@192.0.2.10>\r\n"
    "Call-ID: c1\r\n"
    "CSeq: 1 OPTIONS\r\n"
)


def request(*lines: str) -> Request:
    data = HEAD + "".join(f"{line}\r\n" for line in lines) + "Content-Length: 0\r\n\r\n"
    message = parse_message(data.encode())
    assert isinstance(message, Request)
    return message


def outcome(read: object) -> str | None:
    """None when ``read()`` passes, else the message of its RemoteProtocolError."""
    try:
        read()  # type: ignore[operator]
    except RemoteProtocolError as exc:
        assert exc.status_hint == 400
        return str(exc)
    return None


MAX_FORWARDS = [
    ["Max-Forwards: 70"],
    ["Max-Forwards: 0"],
    ["Max-Forwards: 255"],
    ["Max-Forwards: 256"],
    ["Max-Forwards: 070"],
    ["Max-Forwards: -1"],
    ["Max-Forwards: many"],
    ["Max-Forwards: ７０"],  # fullwidth digits are not DIGIT (RFC 5234)
    ["Max-Forwards:   70  "],
    ["Max-Forwards: 70", "Max-Forwards: 70"],
    ["Max-Forwards: 70", "Max-Forwards: 69"],
    [],
]


@pytest.mark.parametrize("lines", MAX_FORWARDS, ids=" | ".join)
def test_max_forwards_check_is_the_views_verdict(lines: list[str]) -> None:
    expected = outcome(lambda: request(*lines).max_forwards)
    for _ in range(2):  # a second time, after any memo was filled
        assert outcome(request(*lines).check_max_forwards) == expected


def test_max_forwards_verdicts_follow_rfc3261_20_22() -> None:
    assert outcome(request("Max-Forwards: 255").check_max_forwards) is None
    assert outcome(request("Max-Forwards: 256").check_max_forwards) is not None
    assert outcome(request("Max-Forwards: many").check_max_forwards) is not None


CONTACTS = [
    ["Contact: sip:carol@192.0.2.7:5061"],
    ["Contact: <sip:carol@192.0.2.7>;expires=60"],
    ['Contact: "Carol" <sip:carol@192.0.2.7>, <sip:c2@192.0.2.8>'],
    ["Contact: *"],
    ["Contact: *, <sip:carol@192.0.2.7>"],
    ["Contact: <sip:carol@[x>"],
    ["Contact: sip:carol@192.0.2.7:99999"],
    ["Contact: <sip:carol@192.0.2.7>,"],
    ["Contact: <sip:carol@192.0.2.7>", "Contact: <sip:dave@[x>"],
    ["Contact: <sip:carol@192.0.2.7>", "Contact: <sip:carol@192.0.2.7>"],
]


@pytest.mark.parametrize("lines", CONTACTS, ids=" | ".join)
def test_contact_check_is_the_views_verdict(lines: list[str]) -> None:
    def careful() -> None:
        for contact in request(*lines).contacts:
            contact.uri  # noqa: B018

    expected = outcome(careful)
    for _ in range(3):  # the first check may remember the value; later ones use that
        assert outcome(request(*lines).check_contacts) == expected


def test_a_remembered_contact_does_not_excuse_a_different_one() -> None:
    assert outcome(request("Contact: <sip:carol@192.0.2.7>").check_contacts) is None
    # One more character, one more line: each is checked on its own.
    assert outcome(request("Contact: <sip:carol@192.0.2.7>x").check_contacts) is not None
    bad_second = request("Contact: <sip:carol@192.0.2.7>", "Contact: <sip:carol@[x>")
    assert outcome(bad_second.check_contacts) is not None


def test_the_contact_view_is_built_as_before_after_a_check() -> None:
    message = request("Contact: <sip:carol@192.0.2.7>;q=0.5")
    message.check_contacts()
    (contact,) = message.contacts
    assert str(contact.uri) == "sip:carol@192.0.2.7"
    assert contact.param("q") == "0.5"


def test_parse_all_rejects_a_bad_lower_via_as_iterating_does() -> None:
    bad = request("Via: SIP/2.0/UDP [bad:5060;branch=z9hG4bK2")
    with pytest.raises(RemoteProtocolError) as iterating:
        list(bad.vias)
    with pytest.raises(RemoteProtocolError) as parse_all:
        request("Via: SIP/2.0/UDP [bad:5060;branch=z9hG4bK2").vias.parse_all()
    assert str(parse_all.value) == str(iterating.value)
    good = request("Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK2")
    good.vias.parse_all()
    assert [via.host for via in good.vias] == ["192.0.2.1", "192.0.2.2"]


def test_response_header_pairs_are_the_lines_headers_add_writes() -> None:
    pairs = (
        ("Contact", "<sip:me@192.0.2.10>"),
        ("Allow", "INVITE, ACK, BYE"),
        ("User-Agent", "  sipsans  "),
        ("X-Count", cast(str, 7)),  # not a str: converted as Headers.add converts it
    )
    expected = Headers()
    for name, value in pairs:
        expected.add(name, value)
    for _ in range(2):  # the second answer reads the memo
        response = make_response(
            request(), 200, headers=pairs, body=b"v=0\r\n", content_type="application/sdp"
        )
        lines = response.headers.items()
        assert lines[5:9] == expected.items()
        assert lines[9] == ("Content-Type", "application/sdp")
        assert response.headers.get("contact") == "<sip:me@192.0.2.10>"
        assert response.headers.get("x-count") == "7"


@pytest.mark.parametrize(
    ("name", "value"), [("Bad Name", "v"), ("X-Injected", "a\r\nVia: evil"), ("X-Lf", "a\nb")]
)
def test_a_bad_response_header_is_rejected_every_time(name: str, value: str) -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match=name.split(maxsplit=1)[0]):
            make_response(request(), 200, headers=((name, value),))


def test_a_response_writes_copied_vias_without_their_stray_whitespace() -> None:
    data = (
        b"OPTIONS sip:bob@192.0.2.10 SIP/2.0\r\n"
        b"Via:  SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1 \t\r\n"  # RFC 4475 style
        b"Via:SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK2\r\n"
        b"From: <sip:alice@192.0.2.1>;tag=a \r\n"
        b"To:   <sip:bob@192.0.2.10>\r\n"
        b"Call-ID: c1\r\n"
        b"CSeq: 1 OPTIONS\r\n"
        b"Timestamp: 5 \r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    for status in (100, 200):
        received = parse_message(data)
        assert isinstance(received, Request)
        response = make_response(received, status, to_tag="b", headers=(("Server", " s "),))
        response.headers.add("Warning", '399 host "x" ')
        stamp = "Timestamp: 5\r\n" if status == 100 else ""
        expected = (
            f"SIP/2.0 {status} {response.reason}\r\n"
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
            "Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK2\r\n"
            "From: <sip:alice@192.0.2.1>;tag=a\r\n"
            "To: <sip:bob@192.0.2.10>;tag=b\r\n"
            "Call-ID: c1\r\n"
            f"CSeq: 1 OPTIONS\r\n{stamp}"
            "Server: s\r\n"
            "Content-Length: 0\r\n"
            'Warning: 399 host "x"\r\n\r\n'
        )
        assert bytes(response) == expected.encode()
        # The request itself (lines as received) is written the careful way too.
        assert bytes(received).startswith(
            b"OPTIONS sip:bob@192.0.2.10 SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
            b"Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK2\r\n"
        )


def test_a_shared_from_is_the_value_a_fresh_parse_gives() -> None:
    first = request()
    second = request()
    text = "<sip:alice@192.0.2.1>;tag=a"
    assert first.from_ == second.from_ == _parse_name_addr_slow(text, "From")
    assert (first.from_.tag, str(second.from_.uri)) == ("a", "sip:alice@192.0.2.1")
    changed = first.from_.with_tag("other")
    assert (changed.tag, first.from_.tag, second.from_.tag) == ("other", "a", "a")
    assert str(second.from_) == text


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("<sip:a@192.0.2.1>;tag=t1", "t1"),
        ("<sip:a@192.0.2.1>;tag=a-b.c", "a-b.c"),
        ("<sip:a@192.0.2.1>;x=1;Tag=t2;tag=t3", "t2"),
        ("sip:a@192.0.2.1;tag=t4", "t4"),
        ('"A b" <sip:a@192.0.2.1> ; tag = t5', "t5"),
        ("<sip:a@192.0.2.1>;expires=60", None),
        ("sip:a@192.0.2.1", None),
    ],
)
def test_the_tag_is_the_first_tag_parameter_however_the_value_is_made(
    text: str, tag: str | None
) -> None:
    parsed = parse_name_addr(text)
    assert parsed.tag == _parse_name_addr_slow(text, "To").tag == tag
    assert parsed.tag == NameAddr(parsed.uri, parsed.display_name, parsed.params).tag
    assert parsed.replace(display_name="B").tag == tag
    assert parsed.replace(params=(("x", None), ("TAG", "n1"))).tag == "n1"
    assert parsed.replace(params=()).tag is None
    assert parsed.with_tag("n2").tag == "n2"
    assert parsed.tag == tag  # the shared value is unchanged by its copies
