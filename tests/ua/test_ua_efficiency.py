"""What the UserAgent's speed work must not change, and the bounds it promises.

* An incoming request is validated once (``ua_server.check_request``): the verdict is
  that of ``Request.validate()`` for every message of the corpora, good or bad.
* Timers of finished calls do not stay behind: the ring timer (180 s) and the 2xx
  retransmission timer of an answered, ACKed call are gone with it, so the UA's timer
  table follows the live calls, not call rate x ring timeout.
* ``Dialog.id`` is kept, and follows the remote tag a UAC learns.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import corpus_files

from sipsans import (
    DialogState,
    Endpoint,
    EndpointConfig,
    IncomingCall,
    RemoteProtocolError,
    Request,
    UserAgent,
    parse_message,
)
from sipsans.dialog.model import Dialog, DialogId, contact_target
from sipsans.message.uri import SipURI
from sipsans.ua.server import check_request

FUZZ_PARSER = Path(__file__).resolve().parents[2] / "fuzz" / "corpus" / "parser"
MESSAGES = [
    *corpus_files("rfc4475", "*.dat"),
    *corpus_files("rfc5118", "*.dat"),
    *(sorted(FUZZ_PARSER.iterdir()) if FUZZ_PARSER.is_dir() else []),
]

GOOD = (
    "INVITE sip:bob@192.0.2.10 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
    "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bK2\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice@192.0.2.1>;tag=a\r\n"
    "To: <sip:bob@192.0.2.10>\r\n"
    "Call-ID: c1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@192.0.2.1>\r\n"
    "Route: <sip:192.0.2.3;lr>\r\n"
    "Record-Route: <sip:192.0.2.4;lr>\r\n"
    "Content-Length: 0\r\n\r\n"
)
#: One defect per message, in each part validation covers beyond the parser's checks.
BROKEN = {
    "request-uri": ("INVITE sip:bob@192.0.2.10 ", "INVITE sip:@ "),
    "second via": ("192.0.2.2:5060;", "[bad:5060;"),
    "from uri": ("<sip:alice@192.0.2.1>;tag=a", "<sip:alice@[x>;tag=a"),
    "max-forwards": ("Max-Forwards: 70", "Max-Forwards: many"),
    "contact": ("Contact: <sip:alice@192.0.2.1>", "Contact: <sip:alice@[x>"),
    "route": ("Route: <sip:192.0.2.3;lr>", "Route: <sip:[x;lr>"),
    "record-route": ("Record-Route: <sip:192.0.2.4;lr>", "Record-Route: <sip:[x;lr>"),
}


def verdict(data: bytes, check: str) -> tuple[int, str] | None:
    """None when ``check`` accepts the freshly parsed request, else (status, message)."""
    request = parse_message(data)
    assert isinstance(request, Request)
    try:
        request.validate() if check == "validate" else check_request(request)
    except RemoteProtocolError as exc:
        return exc.status_hint, str(exc)
    return None


def _requests(paths: list[Path]) -> list[bytes]:
    out = []
    for path in paths:
        data = path.read_bytes()
        try:
            if isinstance(parse_message(data), Request):
                out.append(data)
        except RemoteProtocolError:
            pass  # refused by the parser: never reaches the UA
    return out


@pytest.mark.parametrize("data", _requests(MESSAGES))
def test_check_request_agrees_with_validate_on_the_corpora(data: bytes) -> None:
    assert verdict(data, "check") == verdict(data, "validate")


@pytest.mark.parametrize("part", sorted(BROKEN))
def test_check_request_refuses_what_validate_refuses(part: str) -> None:
    assert verdict(GOOD.encode(), "check") is None
    old, new = BROKEN[part]
    assert old in GOOD
    data = GOOD.replace(old, new).encode()
    refused = verdict(data, "validate")
    assert refused is not None and refused[0] == 400
    assert verdict(data, "check") == refused


def _sipp_call(n: int, method: str, to_tag: str = "") -> bytes:
    body = b"v=0\r\n" if method == "INVITE" else b""
    lines = [
        f"{method} sip:service@192.0.2.10:5060 SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.1:5061;branch=z9hG4bK-{n}-{method}",
        f"From: sipp <sip:sipp@192.0.2.1:5061>;tag={n}",
        "To: <sip:service@192.0.2.10>" + (f";tag={to_tag}" if to_tag else ""),
        f"Call-ID: {n}@192.0.2.1",
        f"CSeq: {2 if method == 'BYE' else 1} {method}",
        "Contact: <sip:sipp@192.0.2.1:5061>",
        "Max-Forwards: 70",
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_finished_calls_leave_no_ua_timers() -> None:
    """A callee that rings, answers, gets the ACK and then the BYE: once the endpoint's
    transactions end, nothing is scheduled (the 180 s ring timers of the calls are gone
    with them), however many calls came and went."""
    ep = Endpoint(EndpointConfig(advertised_host="192.0.2.10"), rng=random.Random(1))
    ua = UserAgent(ep, identity="sip:service@192.0.2.10", rng=random.Random(2))
    peer = ("192.0.2.1", 5061)
    now = 0.0
    for n in range(200):
        now += 0.001
        ua.receive_datagram(_sipp_call(n, "INVITE"), remote=peer, now=now)
        (call,) = [e for e in ua.events() if isinstance(e, IncomingCall)]
        call.dialog.ringing(now=now)
        call.dialog.accept(body=b"v=0\r\n", content_type="application/sdp", now=now)
        tag = call.dialog.id.local_tag
        ua.receive_datagram(_sipp_call(n, "ACK", tag), remote=peer, now=now)
        ua.receive_datagram(_sipp_call(n, "BYE", tag), remote=peer, now=now)
        assert call.dialog.state is DialogState.TERMINATED
        assert ua.stats()["ua_timers"] == 0
        ua.transmits()
        ua.events()
    # The endpoint's own timers (Timers J, L...) end within 64*T1 of the last call.
    while (deadline := ua.get_next_timer()) is not None:
        assert deadline < now + 64 * ep.config.t1 + 1.0, "a timer outlived its call"
        now = deadline
        ua.handle_timer(now=now)
    assert {k: v for k, v in ua.stats().items() if v} == {}


def test_dialog_id_follows_the_remote_tag() -> None:
    d = Dialog(
        role="uac",
        call_id="c1",
        local_tag="l",
        remote_tag="",
        local_uri="<sip:a@192.0.2.1>",
        remote_uri="<sip:b@192.0.2.2>",
        local_contact="<sip:a@192.0.2.1>",
        remote_target="sip:b@192.0.2.2",
        route_set=(),
        local_cseq=1,
        remote_cseq=None,
        state=DialogState.CALLING,
    )
    assert d.id == DialogId("c1", "l", "")
    d.remote_tag = "r"
    assert d.remote_tag == "r"
    assert d.id == DialogId("c1", "l", "r")


class _CountingRandom(random.Random):
    """Counts the draws the UA makes (each is a system call with SystemRandom)."""

    draws = 0

    def getrandbits(self, k: int, /) -> int:
        self.draws += 1
        return super().getrandbits(k)


def test_an_incoming_call_draws_once() -> None:
    """The callee's tag (§19.3: at least 32 random bits) and its initial CSeq come from
    one draw of the injected rng; the tags of successive calls differ."""
    ep = Endpoint(EndpointConfig(advertised_host="192.0.2.10"), rng=random.Random(1))
    rng = _CountingRandom(2)
    ua = UserAgent(ep, identity="sip:service@192.0.2.10", rng=rng)
    peer = ("192.0.2.1", 5061)
    tags = set()
    for n in range(20):
        before = rng.draws
        ua.receive_datagram(_sipp_call(n, "INVITE"), remote=peer, now=1.0)
        (call,) = [e for e in ua.events() if isinstance(e, IncomingCall)]
        assert rng.draws == before + 1
        tag = call.dialog.id.local_tag
        assert len(tag) == 12 and int(tag, 16) >= 0  # 48 bits in hex
        tags.add(tag)
    assert len(tags) == 20


def test_callee_bye_carries_the_invite_from_and_to() -> None:
    """§12.2.1.1: the callee's BYE has the INVITE's To (with our tag) as From and its
    From (with the caller's tag) as To, display names and URIs as received."""
    ep = Endpoint(EndpointConfig(advertised_host="192.0.2.10"), rng=random.Random(1))
    ua = UserAgent(ep, identity="sip:service@192.0.2.10", rng=random.Random(2))
    peer = ("192.0.2.1", 5061)
    ua.receive_datagram(_sipp_call(7, "INVITE"), remote=peer, now=1.0)
    (call,) = [e for e in ua.events() if isinstance(e, IncomingCall)]
    call.dialog.accept(body=b"v=0\r\n", content_type="application/sdp", now=1.0)
    tag = call.dialog.id.local_tag
    ua.receive_datagram(_sipp_call(7, "ACK", tag), remote=peer, now=1.0)
    ua.transmits()
    call.dialog.bye(now=2.0)
    (sent,) = ua.transmits()
    bye = parse_message(sent.data)
    assert isinstance(bye, Request) and bye.method == "BYE"
    assert bye.from_.uri == parse_message(_sipp_call(7, "INVITE")).to.uri
    assert bye.from_.tag == tag
    assert bye.to.display_name == "sipp" and str(bye.to.uri) == "sip:sipp@192.0.2.1:5061"
    assert bye.to.tag == "7"
    assert call.dialog.state is DialogState.TERMINATED


CONTACTS = [
    ["sip:sipp@192.0.2.1:5061"],
    ['"Alice" <sip:alice@192.0.2.1;transport=tcp>;expires=60'],
    ["<sip:a@192.0.2.1>, <sip:b@192.0.2.2>"],  # the first value of the line
    ["<sip:a@192.0.2.1>", "<sip:b@192.0.2.2>"],  # two lines
    ["*"],  # no URI (a REGISTER's wildcard)
    ["<tel:+15551234567>"],  # a URI, but no SIP one: no target (§8.1.1.8)
    ["<sip:alice@[x>"],  # broken: None
    [],
]


@pytest.mark.parametrize("lines", CONTACTS, ids=lambda lines: repr(lines)[:40])
def test_remote_target_is_the_first_contacts_sip_uri(lines: list[str]) -> None:
    """§12.1.1: the remote target is the first Contact's URI, when it is a SIP or SIPS
    URI (§8.1.1.8); it reads the same as the Contact view, whatever the line carries
    (a name-addr, parameters, two values)."""
    head = GOOD.partition("Contact:")[0] + "".join(f"Contact: {v}\r\n" for v in lines)
    data = (head + "Content-Length: 0\r\n\r\n").encode()
    expected: str | None
    try:
        contacts = parse_message(data).contacts
        uri = contacts[0].uri if contacts else None
        expected = str(uri) if isinstance(uri, SipURI) else None
    except RemoteProtocolError:
        expected = None
    assert contact_target(parse_message(data)) == expected


def test_cancelled_alarms_do_not_pile_up() -> None:
    """A UA cancels most of its alarms (every answered call's ring timer): cancelled
    entries are dropped in batches, so the heap stays within about twice the live
    alarms, not one entry per call ever made."""
    from sipsans.ua.alarms import Alarms

    alarms = Alarms()
    live = [alarms.at(1000.0 + n, print, n) for n in range(10)]
    for n in range(10_000):
        alarms.cancel(alarms.at(180.0 + n, print, n))
        assert alarms.heap_size() <= 2 * len(live) + 65
    assert len(alarms) == len(live)
