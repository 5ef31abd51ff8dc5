"""Pre-emptive credentials stay in their protection space (RFC 7616 §3.6, RFC 3261 §22.3).

The space is the realm, the kind of challenge and the server that challenged: the
Request-URI's root for a 401, the next hop (first Route, else the Request-URI) for a
407. Credentials cached for one server never ride on a request to another.
"""

from __future__ import annotations

import random

from sipsans import Request, make_request, make_response
from sipsans.auth import (
    AuthRetry,
    Credentials,
    DigestClient,
    next_hop_space,
    parse_authorization,
    protection_space,
)


def request(
    method: str, uri: str, *, route: str | None = None, cseq: int = 1, call_id: str = "c1"
) -> Request:
    return make_request(
        method,
        uri,
        from_="<sip:alice@alice.example>;tag=a1",
        to="<sip:bob@bob.example>",
        call_id=call_id,
        cseq=cseq,
        via="SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1",
        headers=[("Route", route)] if route else [],
    )


def answered(client: DigestClient, req: Request, header: str, realm: str) -> Request:
    """Challenge ``req`` (401 for WWW-Authenticate, 407 for Proxy-Authenticate) and
    return the client's retry."""
    status = 407 if header == "Proxy-Authenticate" else 401
    challenge = make_response(
        req, status, headers=[(header, f'Digest realm="{realm}", nonce="n-{realm}", qop="auth"')]
    )
    result = client.authorize(req, challenge)
    assert isinstance(result, AuthRetry)
    return result.apply(req)


def realms_sent(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for name, value in headers:
        creds = parse_authorization(value)
        assert creds is not None
        out.append((name, creds.realm))
    return out


def test_spaces_of_a_request() -> None:
    assert protection_space(request("INVITE", "sip:bob@Bob.Example")) == "sip:bob.example:5060"
    assert protection_space(request("INVITE", "sips:bob@bob.example")) == "sips:bob.example:5061"
    assert protection_space(request("INVITE", "sip:bob@bob.example:5080;transport=tcp")) == (
        "sip:bob.example:5080"
    )
    routed = request("INVITE", "sip:bob@bob.example", route="<sip:proxy.example;lr>")
    assert protection_space(routed) == "sip:bob.example:5060"
    assert next_hop_space(routed) == "sip:proxy.example:5060"
    assert next_hop_space(request("INVITE", "sip:bob@bob.example")) == "sip:bob.example:5060"


def test_www_credentials_go_only_to_the_server_that_challenged() -> None:
    client = DigestClient(Credentials("alice", "secret"), rng=random.Random(1))
    answered(client, request("INVITE", "sip:bob@bob.example"), "WWW-Authenticate", "bob.example")
    # A REGISTER to an unrelated registrar carries nothing (the reported leak).
    assert client.authenticate(request("REGISTER", "sip:registrar.example")) == []
    # Nor does a request to another port or scheme of that host.
    assert client.authenticate(request("OPTIONS", "sip:bob@bob.example:5080")) == []
    assert client.authenticate(request("OPTIONS", "sips:bob@bob.example")) == []
    # The server that challenged gets them, with the next nc; the host is compared
    # case-insensitively and an absent port is the scheme's default.
    again = client.authenticate(request("OPTIONS", "sip:carol@BOB.example:5060", cseq=2))
    assert realms_sent(again) == [("Authorization", "bob.example")]
    creds = parse_authorization(again[0][1])
    assert creds is not None and creds.nc == "00000002"


def test_same_realm_at_two_servers_keeps_two_nonces() -> None:
    # A realm name is not proof of the same server: each keeps its own nonce and nc.
    client = DigestClient(Credentials("alice", "secret"), rng=random.Random(1))
    for host in ("a.example", "b.example"):
        req = request("REGISTER", f"sip:{host}")
        challenge = make_response(
            req,
            401,
            headers=[("WWW-Authenticate", f'Digest realm="shared", nonce="n-{host}", qop="auth"')],
        )
        result = client.authorize(req, challenge)
        assert isinstance(result, AuthRetry)
    assert client.realms() == [("shared", False)]
    assert client.spaces() == [
        ("shared", False, "sip:a.example:5060"),
        ("shared", False, "sip:b.example:5060"),
    ]
    for host in ("a.example", "b.example"):
        [(_, value)] = client.authenticate(request("REGISTER", f"sip:{host}", cseq=2))
        creds = parse_authorization(value)
        assert creds is not None and creds.nonce == f"n-{host}"


def test_proxy_credentials_follow_the_next_hop() -> None:
    client = DigestClient(Credentials("alice", "secret"), rng=random.Random(1))
    via_proxy = request("INVITE", "sip:bob@bob.example", route="<sip:proxy.example;lr>")
    answered(client, via_proxy, "Proxy-Authenticate", "proxy.example")
    # Another destination through the same proxy: the proxy's credentials go along.
    other = request("MESSAGE", "sip:carol@carol.example", route="<sip:proxy.example;lr>")
    assert realms_sent(client.authenticate(other)) == [("Proxy-Authorization", "proxy.example")]
    # The same destination without the proxy (or through another one): nothing.
    assert client.authenticate(request("MESSAGE", "sip:bob@bob.example")) == []
    elsewhere = request("MESSAGE", "sip:bob@bob.example", route="<sip:other-proxy.example;lr>")
    assert client.authenticate(elsewhere) == []
