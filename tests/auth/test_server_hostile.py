"""The digest server under hostile input: malformed credentials are a 400 or a 401 and
never an exception; every use of a nonce spends its nc; failed attempts are limited
per source and per user, with a doubling back-off and bounded tables."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsans import Request, make_request, parse_message
from sipsans.auth import (
    AuthRetry,
    Credentials,
    DigestClient,
    DigestServer,
    FailureLimits,
    Verdict,
    compute_ha1,
    compute_response,
    parse_authorization,
)
from sipsans.errors import LocalProtocolError

SECRET = b"0123456789abcdef0123456789abcdef"
REALM = "example.com"
URI = "sip:example.com"


def password(username: str, realm: str) -> str | None:
    return {"alice": "wonderland", "bob": "builder"}.get(username)


def server(**kwargs: object) -> DigestServer:
    kwargs.setdefault("rng", random.Random(7))
    kwargs.setdefault("qop", ("auth",))
    return DigestServer(SECRET, REALM, **kwargs)  # type: ignore[arg-type]


def register(*authorization: str, cseq: int = 1) -> Request:
    return make_request(
        "REGISTER",
        URI,
        from_="<sip:alice@example.com>;tag=a1",
        to="<sip:alice@example.com>",
        call_id="reg-1",
        cseq=cseq,
        via="SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1",
        headers=[("Authorization", a) for a in authorization],
    )


def raw_register(authorization: bytes) -> Request:
    """A REGISTER as the parser builds it from bytes (invalid UTF-8 included)."""
    message = parse_message(
        b"REGISTER sip:example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n"
        b"From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:alice@example.com>\r\n"
        b"Call-ID: reg-1\r\nCSeq: 1 REGISTER\r\nAuthorization: " + authorization + b"\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    assert isinstance(message, Request)
    return message


def credentials(
    srv: DigestServer,
    *,
    user: str = "alice",
    pw: str = "wonderland",
    nonce: str | None = None,
    nc: int = 1,
    now: float = 0.0,
    response: str | None = None,
) -> str:
    """An Authorization value for a REGISTER to URI, right unless ``pw``/``response`` say not."""
    nonce = nonce if nonce is not None else srv.make_nonce(now=now)
    count = f"{nc:08x}"
    digest = compute_response(
        algorithm="SHA-256",
        ha1=compute_ha1("SHA-256", user, REALM, pw),
        nonce=nonce,
        method="REGISTER",
        uri=URI,
        qop="auth",
        nc=count,
        cnonce="c0ffee",
    )
    return (
        f'Digest username="{user}", realm="{REALM}", nonce="{nonce}", uri="{URI}", '
        f'response="{response if response is not None else digest}", algorithm=SHA-256, '
        f'qop=auth, nc={count}, cnonce="c0ffee"'
    )


# -- malformed credentials: 400 or 401, never an exception -------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "é" * 64,  # non-ASCII: hmac.compare_digest raised TypeError on it
        "\u0665" * 64,  # Arabic-Indic digits: str.isdigit-like, not hex
        "zz",
        "0" * 129,
    ],
)
def test_a_response_that_is_not_hex_is_a_400(value: str) -> None:
    srv = server()
    line = credentials(srv, response="x").replace('response="x"', f'response="{value}"')
    verdict = srv.verify(register(line), now=1.0, password=password)
    assert (verdict.ok, verdict.status) == (False, 400)
    assert "response" in verdict.reason


def test_credentials_that_are_not_utf8_are_a_400() -> None:
    srv = server()
    nonce = srv.make_nonce(now=0.0).encode()
    for field in (b'username="\xff\xfe"', b'uri="sip:\xc3"', b'cnonce="\xed\xa0\x80"'):
        good = {
            b"username": b'username="alice"',
            b"uri": b'uri="sip:example.com"',
            b"cnonce": b'cnonce="c0ffee"',
        }
        good[field.split(b"=")[0]] = field
        line = (
            b"Digest "
            + good[b"username"]
            + b', realm="example.com", nonce="'
            + nonce
            + b'", '
            + good[b"uri"]
            + b', response="00", qop=auth, nc=00000001, '
            + good[b"cnonce"]
        )
        verdict = srv.verify(raw_register(line), now=1.0, password=password)
        assert (verdict.ok, verdict.status) == (False, 400), field
        assert "not UTF-8" in verdict.reason


def test_non_ascii_opaque_is_refused_not_raised() -> None:
    srv = server(opaque="op")
    line = credentials(srv) + ', opaque="ö"'
    verdict = srv.verify(register(line), now=1.0, password=password)
    assert (verdict.ok, verdict.status, verdict.reason) == (False, 401, "opaque does not match")


@pytest.mark.parametrize(
    ("edit", "status"),
    [
        (lambda line: line.replace("nc=00000001", "nc=1"), 400),
        (lambda line: line.replace("nc=00000001", "nc=0000000g"), 400),
        (lambda line: line.replace("qop=auth", "qop=auth-conf"), 401),
        (lambda line: line.replace(", qop=auth", ""), 401),
        (lambda line: line.replace('username="alice", ', ""), 400),
        (lambda line: line.replace('uri="sip:example.com", ', ""), 400),
        (lambda line: line + ', nc="00000002"', 400),  # a parameter twice
        (lambda line: line + ', realm="example.com"', 400),
        (lambda line: line.replace('"c0ffee"', '"' + "c" * 5000 + '"'), 400),
        (lambda line: line.replace('"alice"', '"' + "a" * 5000 + '"'), 400),
        (lambda line: line.replace("algorithm=SHA-256", "algorithm=SHA-1"), 401),
    ],
)
def test_malformed_credentials_get_400_or_401(edit: object, status: int) -> None:
    srv = server()
    line = edit(credentials(srv))  # type: ignore[operator]
    verdict = srv.verify(register(line), now=1.0, password=password)
    assert (verdict.ok, verdict.status) == (False, status), verdict.reason


def test_nc_without_qop_on_an_rfc2069_server_is_checked() -> None:
    srv = DigestServer(SECRET, REALM, algorithms=("MD5",), qop=(), rng=random.Random(1))
    line = (
        f'Digest username="alice", realm="{REALM}", nonce="{srv.make_nonce(now=0.0)}", '
        f'uri="{URI}", response="00", nc=zz'
    )
    verdict = srv.verify(register(line), now=1.0, password=password)
    assert verdict.status == 400  # it raised ValueError from int("zz", 16)


_FRAGMENTS = st.sampled_from(
    [
        'username="alice"', 'username="é"', "username*=UTF-8''%C3%A9", "username*=x''%ff",
        'realm="example.com"', 'realm="other"', 'uri="sip:example.com"', 'uri="::"',
        'response="00"', 'response="ö"', 'response=""', "response=zz", "algorithm=MD5",
        "algorithm=SHA-256-sess", "algorithm=é", "qop=auth", "qop=auth-int", "qop=x",
        "nc=00000001", "nc=ffffffff", "nc=1", 'cnonce="c"', 'cnonce=""', 'opaque="é"',
        "userhash=true", "stale=true", "=", ",", '"', "Digest", "Basic", "token68==", "\t",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    fragments=st.lists(st.one_of(_FRAGMENTS, st.text(max_size=40)), max_size=14),
    nonce=st.sampled_from(["ours", "expired", "forged", "none"]),
    userhash=st.booleans(),
)
def test_any_authorization_header_gets_a_verdict(
    fragments: list[str], nonce: str, userhash: bool
) -> None:
    srv = server(opaque=None, userhash=userhash, qop=("auth", "auth-int"))
    issued = {"ours": 0.0, "expired": -1000.0}.get(nonce)
    parts = ["Digest", *fragments]
    if issued is not None:
        parts.insert(1, f'nonce="{srv.make_nonce(now=issued)}",')
    elif nonce == "forged":
        parts.insert(1, 'nonce="AAAA",')
    line = " ".join(parts).replace("\r", " ").replace("\n", " ")
    req = register(line)
    for now in (1.0, 2.0):  # twice: the second sees the nc the first recorded
        verdict = srv.verify(
            req,
            now=now,
            password=password,
            resolve_userhash=lambda h, realm, alg: None,
            source="192.0.2.66",
        )
        assert not verdict.ok
        assert verdict.status in (400, 401, 503), verdict
        srv.refusal(req, verdict, now=now, to_tag="t")  # and it can be answered


# -- one guess per nc ----------------------------------------------------------------------


def test_a_wrong_guess_spends_the_nc() -> None:
    srv = server()
    nonce = srv.make_nonce(now=0.0)
    wrong = srv.verify(
        register(credentials(srv, nonce=nonce, pw="guess")), now=1.0, password=password
    )
    assert "wrong credentials" in wrong.reason
    # The same nonce and nc with the right password: the count was spent by the guess
    # (it used to be recorded only on success, so one nonce took unlimited guesses).
    replay = srv.verify(register(credentials(srv, nonce=nonce)), now=2.0, password=password)
    assert not replay.ok and "replayed" in replay.reason
    assert srv.verify(register(credentials(srv, nonce=nonce, nc=2)), now=3.0, password=password).ok
    assert srv.tracked_nonces() == 1


def test_an_expired_nonce_is_still_stale_only_with_the_right_digest() -> None:
    srv = server(nonce_lifetime=10.0)
    nonce = srv.make_nonce(now=0.0)
    wrong = srv.verify(register(credentials(srv, nonce=nonce, pw="x")), now=60.0, password=password)
    assert not wrong.stale and "wrong credentials" in wrong.reason
    right = srv.verify(register(credentials(srv, nonce=nonce)), now=60.0, password=password)
    assert right == Verdict(False, stale=True, reason="nonce expired", status=401)


# -- failure limits ------------------------------------------------------------------------


def guess(
    srv: DigestServer, now: float, *, user: str = "alice", pw: str = "guess", source: str = "a"
) -> Verdict:
    line = credentials(srv, user=user, pw=pw, now=now)
    return srv.verify(register(line), now=now, password=password, source=source)


def test_a_guessing_source_backs_off_and_the_back_off_doubles() -> None:
    srv = server(limits=FailureLimits(source_failures=3, user_failures=0, backoff=10.0))
    assert [guess(srv, t).status for t in (0.0, 1.0)] == [401, 401]
    third = guess(srv, 2.0)  # the limit: blocked at once
    assert (third.status, third.retry_after) == (503, 10)
    # Blocked: even the right password is not looked at, and other users neither.
    blocked = guess(srv, 3.0, pw="wonderland")
    assert (blocked.status, blocked.retry_after) == (503, 9)
    assert guess(srv, 3.5, user="bob", pw="builder").status == 503
    # Another source is not affected.
    assert guess(srv, 4.0, pw="wonderland", source="b").ok
    # After the back-off: three more tries, then twice as long.
    assert guess(srv, 12.0, pw="wonderland").ok
    assert [guess(srv, t).status for t in (13.0, 14.0)] == [401, 401]
    again = guess(srv, 15.0)
    assert (again.status, again.retry_after) == (503, 20)
    assert guess(srv, 34.9, pw="wonderland").status == 503
    assert guess(srv, 35.0, pw="wonderland").ok


def test_failures_count_within_a_window() -> None:
    srv = server(limits=FailureLimits(source_failures=3, user_failures=0, window=60.0))
    statuses = [guess(srv, t).status for t in (0.0, 30.0, 61.0, 90.0, 121.5)]
    assert statuses == [401, 401, 401, 401, 401]  # never three within one window
    assert guess(srv, 122.0).status == 401
    assert guess(srv, 123.0).status == 503


def test_a_user_guessed_from_many_sources_backs_off() -> None:
    srv = server(limits=FailureLimits(source_failures=3, user_failures=5, backoff=30.0))
    statuses = [guess(srv, float(i), source=f"10.0.0.{i}").status for i in range(5)]
    assert statuses == [401, 401, 401, 401, 503]
    # alice is blocked from everywhere (the documented trade-off), bob is not.
    assert guess(srv, 6.0, pw="wonderland", source="fresh").status == 503
    assert guess(srv, 6.0, user="bob", pw="builder", source="fresh").ok
    assert guess(srv, 34.0, pw="wonderland", source="fresh").ok


def test_malformed_or_replayed_attempts_do_not_count() -> None:
    srv = server(limits=FailureLimits(source_failures=2, user_failures=2))
    nonce = srv.make_nonce(now=0.0)
    for t in range(10):
        assert srv.verify(register('Digest realm="x'), now=t, password=password, source="a")
        # no credentials at all, a forged nonce, a replay: no digest computed, no count
        assert srv.verify(register(), now=t, password=password, source="a").status == 401
        forged = credentials(srv, nonce="AAAA", pw="x")
        assert srv.verify(register(forged), now=t, password=password, source="a").status == 401
    line = credentials(srv, nonce=nonce)
    assert srv.verify(register(line), now=11.0, password=password, source="a").ok
    for t in range(12, 20):
        replay = srv.verify(register(line), now=t, password=password, source="a")
        assert "replayed" in replay.reason
    assert srv.stats() == {"tracked_nonces": 1, "failing_sources": 0, "failing_users": 0}


def test_tables_are_bounded_and_forget() -> None:
    limits = FailureLimits(source_failures=3, user_failures=3, max_tracked=50, max_backoff=600.0)
    srv = server(limits=limits)
    for i in range(500):
        guess(srv, i / 100, user=f"user{i}", source=f"10.0.{i // 256}.{i % 256}")
    assert srv.stats()["failing_sources"] == 50
    assert srv.stats()["failing_users"] == 50
    # Forgotten max_backoff after the last failure.
    guess(srv, 606.0, user="alice", source="last")
    assert srv.stats()["failing_sources"] == 1
    assert srv.stats()["failing_users"] == 1


def test_limits_can_be_turned_off_or_answer_403() -> None:
    unlimited = server(limits=None)
    assert all(guess(unlimited, float(t)).status == 401 for t in range(100))
    assert "failing_sources" not in unlimited.stats()
    forbidding = server(limits=FailureLimits(source_failures=1, status=403))
    verdict = guess(forbidding, 0.0)
    assert (verdict.status, verdict.retry_after) == (403, None)
    response = forbidding.refusal(register(), verdict, now=0.0, to_tag="t")
    assert (response.status_code, response.reason) == (403, "Too Many Failed Attempts")
    assert "Retry-After" not in response.headers


def test_refusal_builds_each_answer() -> None:
    srv = server(limits=FailureLimits(source_failures=1, backoff=12.5))
    req = register()
    challenge = srv.refusal(req, srv.verify(req, now=0.0, password=password), now=0.0)
    assert challenge.status_code == 401 and "WWW-Authenticate" in challenge.headers
    bad = srv.refusal(req, Verdict(False, reason="x", status=400), now=0.0, to_tag="t")
    assert (bad.status_code, bad.reason) == (400, "Malformed Credentials")
    blocked = srv.refusal(req, guess(srv, 0.0), now=0.0)
    assert (blocked.status_code, blocked.headers.get("Retry-After")) == (503, "13")
    with pytest.raises(LocalProtocolError, match="failed verdict"):
        srv.refusal(req, Verdict(True, username="alice"), now=0.0)


def test_limit_settings_are_checked() -> None:
    for bad in (
        {"source_failures": -1},
        {"window": 0.0},
        {"backoff": 10.0, "max_backoff": 5.0},
        {"status": 429},
        {"max_tracked": 0},
    ):
        with pytest.raises(LocalProtocolError):
            FailureLimits(**bad)


def test_the_ua_client_still_gets_through_a_limited_server() -> None:
    # The default limits leave an honest client alone: challenge, retry, refreshes.
    srv = server()
    client = DigestClient(Credentials("alice", "wonderland"), rng=random.Random(1))
    req = register()
    result = client.authorize(req, srv.challenge_response(req, now=0.0))
    assert isinstance(result, AuthRetry)
    assert srv.verify(result.apply(req), now=1.0, password=password, source="a").ok
    for cseq in range(2, 50):
        later = register(cseq=cseq)
        for name, value in client.authenticate(later):
            later.headers.add(name, value)
        creds = parse_authorization(later.headers.lines("Authorization")[0])
        assert creds is not None and creds.nc == f"{cseq:08x}"
        assert srv.verify(later, now=float(cseq), password=password, source="a").ok
