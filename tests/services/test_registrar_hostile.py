"""The registrar under hostile traffic, on an Endpoint in virtual time.

Any Authorization header, however malformed, gets a final response (400 or 401) and
its transaction ends; a password guesser is slowed to a trickle by the failure limits
while honest users still register.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from sipsans import (
    Endpoint,
    EndpointConfig,
    Registrar,
    RequestReceived,
    Response,
    make_request,
    parse_message,
)
from sipsans.auth import (
    DEFAULT_LIMITS,
    AuthRetry,
    Credentials,
    DigestClient,
    DigestServer,
    FailureLimits,
    compute_ha1,
    compute_response,
)

SECRET = b"fedcba9876543210fedcba9876543210"
REALM = "example.com"
USERS = {"alice": "secret"}


class RegistrarHost:
    """A registrar on an Endpoint at 192.0.2.10, driven as an adapter drives it: each
    datagram in, each event answered, each transmit collected; time is virtual."""

    def __init__(self, *, limits: FailureLimits | None = DEFAULT_LIMITS, max_txns: int = 65_536):
        self.ep = Endpoint(
            EndpointConfig(advertised_host="192.0.2.10", max_transactions=max_txns),
            rng=random.Random(1),
        )
        self.digest = DigestServer(SECRET, REALM, rng=random.Random(2), limits=limits)
        self.registrar = Registrar(
            domains=[REALM],
            authenticator=self.digest,
            password_lookup=lambda user, realm: USERS.get(user),
            rng=random.Random(3),
        )
        self.now = 0.0
        self.errors: list[BaseException] = []  # what escaped the registrar, if anything

    def receive(self, data: bytes, source: str = "198.51.100.7") -> list[Response]:
        """Hand one datagram in; the responses that went out for it."""
        self.ep.receive_datagram(data, remote=(source, 5060), now=self.now)
        for event in self.ep.events():
            if isinstance(event, RequestReceived) and event.txn is not None:
                try:
                    response = self.registrar.handle_register(
                        event.request, now=self.now, source=event.source
                    )
                except Exception as exc:  # an adapter would log it and go on
                    self.errors.append(exc)
                    continue
                self.ep.send_response(event.txn, response, now=self.now)
        out = []
        for transmit in self.ep.transmits():
            message = parse_message(transmit.data)
            assert isinstance(message, Response)
            out.append(message)
        return out

    def run_until(self, end: float) -> None:
        while (deadline := self.ep.get_next_timer()) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            self.ep.handle_timer(now=self.now)
            self.ep.transmits()
        self.now = end


def register_bytes(authorization: bytes | None, *, branch: str, cseq: int = 1) -> bytes:
    auth = b"Authorization: " + authorization + b"\r\n" if authorization is not None else b""
    return (
        b"REGISTER sip:example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-" + branch.encode() + b"\r\n"
        b"Max-Forwards: 70\r\n"
        b"From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:alice@example.com>\r\n"
        b"Call-ID: hostile-" + branch.encode() + b"\r\n"
        b"CSeq: " + str(cseq).encode() + b" REGISTER\r\n"
        b"Contact: <sip:alice@198.51.100.7>\r\n" + auth + b"Content-Length: 0\r\n\r\n"
    )


def nonce_of(host: RegistrarHost, branch: str) -> str:
    [challenge] = host.receive(register_bytes(None, branch=branch))
    assert challenge.status_code == 401
    value = challenge.headers.get("WWW-Authenticate")
    assert value is not None
    return value.split('nonce="', 1)[1].split('"', 1)[0]


def test_a_non_ascii_response_is_answered_and_its_transaction_ends() -> None:
    # It made hmac.compare_digest raise TypeError: no answer, and a server transaction
    # that never ended; 65,536 of them and every later request got 503.
    host = RegistrarHost(max_txns=8)
    for i in range(20):
        nonce = nonce_of(host, f"c{i}")
        line = (
            f'Digest username="alice", realm="{REALM}", nonce="{nonce}", uri="sip:example.com",'
            f' response="{"é" * 32}", qop=auth, nc=00000001, cnonce="x"'
        ).encode()
        [answer] = host.receive(register_bytes(line, branch=f"b{i}"))
        assert answer.status_code == 400
        host.run_until(host.now + 40.0)  # Timer J: the transactions end
    assert host.errors == []
    assert host.ep.stats()["transactions"] == 0
    [answer] = host.receive(register_bytes(None, branch="after"))
    assert answer.status_code == 401  # not 503: the table never filled


_PIECES = st.sampled_from(
    [
        b'username="alice"', b'username="\xff\xfe"', b"username*=UTF-8''%C3%A9",
        b"username*=UTF-8''%ff", b'realm="example.com"', b'realm="\xc3\xa9"',
        b'uri="sip:example.com"', b'uri="\xed\xa0\x80"', b'uri="::"', b'response="00"',
        b'response="\xc3\xa9\xc3\xa9"', b'response="' + b"0" * 3000 + b'"', b"response=zz",
        b"algorithm=SHA-256", b"algorithm=MD5-sess", b"algorithm=\xff", b"qop=auth",
        b"qop=auth-int", b"qop=bogus", b"nc=00000001", b"nc=fffffffff", b"nc=\xd9\xa5",
        b'cnonce="c"', b"cnonce=", b'opaque="\xc3\xb6"', b"userhash=true", b"stale=true",
        b"=", b",", b'"', b"Digest", b"Basic", b"abc==", b"\t", b"NONCE",
    ]
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    headers=st.lists(
        st.lists(st.one_of(_PIECES, st.binary(max_size=24)), max_size=10), min_size=1, max_size=6
    ),
    sources=st.lists(st.sampled_from(["198.51.100.7", "198.51.100.8", "203.0.113.9"])),
)
def test_any_authorization_gets_a_final_response_and_the_table_drains(
    headers: list[list[bytes]], sources: list[str]
) -> None:
    host = RegistrarHost(limits=FailureLimits(source_failures=3, user_failures=4))
    for i, pieces in enumerate(headers):
        nonce = nonce_of(host, f"n{i}").encode()
        value = b" ".join(pieces).replace(b"NONCE", b'nonce="' + nonce + b'"')
        value = value.replace(b"\r", b" ").replace(b"\n", b" ")
        if not value.lower().startswith(b"digest"):
            value = b"Digest " + value
        source = sources[i % len(sources)] if sources else "198.51.100.7"
        # The request and a retransmission of it: one answer each, the same one.
        data = register_bytes(value, branch=f"h{i}")
        first = host.receive(data, source)
        again = host.receive(data, source)
        assert host.errors == []
        assert [r.status_code for r in first] == [r.status_code for r in again]
        assert len(first) == 1 and first[0].status_code in (400, 401, 503), first
        host.now += 0.5
    host.run_until(host.now + 64.0)  # past Timer J
    stats = host.ep.stats()
    assert stats["transactions"] == 0 and stats["timers"] == 0, stats
    assert host.registrar.stats(host.now)["tracked_nonces"] <= len(headers)


def _guess(host: RegistrarHost, i: int, password: str, source: str) -> int:
    """One svcrack-style guess: fetch a challenge, answer it; the final status."""
    [challenge] = host.receive(register_bytes(None, branch=f"g{i}"), source)
    if challenge.status_code != 401:
        return challenge.status_code
    value = challenge.headers.get("WWW-Authenticate")
    assert value is not None
    nonce = value.split('nonce="', 1)[1].split('"', 1)[0]
    response = compute_response(
        algorithm="SHA-256",
        ha1=compute_ha1("SHA-256", "alice", REALM, password),
        nonce=nonce,
        method="REGISTER",
        uri="sip:example.com",
        qop="auth",
        nc="00000001",
        cnonce="c",
    )
    line = (
        f'Digest username="alice", realm="{REALM}", nonce="{nonce}", uri="sip:example.com", '
        f'response="{response}", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c"'
    )
    [answer] = host.receive(register_bytes(line.encode(), branch=f"a{i}", cseq=2), source)
    return answer.status_code


def test_a_guesser_gets_a_few_tries_per_back_off() -> None:
    host = RegistrarHost()  # the defaults: 10 per source a minute, back-off from 60 s
    outcomes = []
    for i in range(2000):  # one guess every 50 ms for 100 s
        outcomes.append(_guess(host, i, f"guess{i}", "203.0.113.66"))
        host.now += 0.05
    assert outcomes[:9] == [401] * 9
    assert outcomes[9] == 503
    assert outcomes.count(401) <= 20  # ten, then ten more after the first minute
    # ...while alice, elsewhere, registers as usual.
    assert _guess(host, 9999, "secret", "192.0.2.1") == 200
    blocked = register_bytes(None, branch="late")
    [answer] = host.receive(blocked, "203.0.113.66")
    assert answer.status_code == 503 and answer.headers.get("Retry-After") is not None


def test_an_honest_phone_registers_for_a_day_under_the_limits() -> None:
    host = RegistrarHost()
    phone = DigestClient(Credentials("alice", "secret"), rng=random.Random(9))
    statuses = []
    for cseq in range(1, 200):
        request = make_request(
            "REGISTER",
            "sip:example.com",
            from_="<sip:alice@example.com>;tag=p1",
            to="<sip:alice@example.com>",
            call_id="phone-1",
            cseq=2 * cseq,
            via=f"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-p{cseq}",
            headers=[("Contact", "<sip:alice@192.0.2.1>")],
        )
        for name, value in phone.authenticate(request):
            request.headers.add(name, value)
        [answer] = host.receive(bytes(request), "192.0.2.1")
        if answer.status_code == 401:
            retry = phone.authorize(request, answer)
            assert isinstance(retry, AuthRetry)
            again = retry.apply(request)
            again.headers.set("Via", f"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-r{cseq}")
            again.headers.set("CSeq", f"{2 * cseq + 1} REGISTER")  # §22.2: a new CSeq
            [answer] = host.receive(bytes(again), "192.0.2.1")
        statuses.append(answer.status_code)
        host.run_until(host.now + 450.0)  # refresh every 7.5 minutes
    assert set(statuses) == {200}
    assert host.digest.stats() == {"tracked_nonces": 1, "failing_sources": 0, "failing_users": 0}
