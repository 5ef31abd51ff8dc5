"""Digest client (RFC 3261 §22.2-§22.4, RFC 7616, RFC 8760): answering 401 and 407.

The UserAgent owns one :class:`DigestClient`. When a request is challenged it calls
:meth:`DigestClient.authorize` with the request it sent and the 401/407 response, and
gets either an :class:`AuthRetry` (the header lines for the retry; the caller builds
the new request with a new CSeq, RFC 3261 §22.2) or an :class:`AuthFailure` (give up
and report ``AuthenticationFailed``).

No endless loops: the client looks at the credentials the challenged request carried.
If it already answered a challenge of that realm and the server challenges again
without ``stale=true``, the credentials were rejected; a ``stale=true`` challenge is
answered with the new nonce (RFC 7616 §3.3) at most ``max_stale`` times in a row, and
never with the nonce that was just declared stale.

State per protection space: the chosen challenge, its nonce and the nonce count
``nc`` (RFC 7616 §3.4: the count of requests sent with that nonce, 8 hex digits), so
:meth:`DigestClient.authenticate` can put credentials on later requests before they
are challenged (RFC 3261 §22.3).

Protection space (RFC 7616 §3.6: the realm *and* the server's canonical root URL).
RFC 3261 §22.1 leaves the realm alone to define it, because SIP has no root URL; but
credentials cached by realm alone go to whichever server the next request meets, so
a nonce and response made for one server leak to an unrelated one. The client takes
as the server the one that challenged, as far as the request it sent can tell:

* a 401 (WWW-Authenticate) comes from the UAS or registrar, which is the server the
  Request-URI names: the space is the Request-URI's scheme, host and port
  (:func:`protection_space`), the SIP image of HTTP's ``scheme://host:port``;
* a 407 (Proxy-Authenticate) comes from a proxy on the path, which the UAC knows only
  as the next hop the request names (§8.1.2: its first Route, else its Request-URI):
  the space is that URI's scheme, host and port (:func:`next_hop_space`).

Credentials go on a new request only when realm, kind and space all match; a request
to another server is challenged first. An outbound proxy given only as a transport
target (no Route header) cannot be seen in the request, so its credentials follow the
Request-URI; the cost is one extra challenge, never a leak.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.headers import Headers, canonical_key
from ..message.model import Request, Response
from ..message.uri import URI, SipURI
from .digest import ALGORITHMS, compute_ha1, compute_response, compute_userhash
from .params import DigestAuthorization, DigestChallenge, parse_auth_header, parse_authorization

__all__ = [
    "AuthFailure",
    "AuthRetry",
    "Credentials",
    "DigestClient",
    "next_hop_space",
    "protection_space",
]

# (challenge header, credentials header, is_proxy)
_KINDS = (
    ("WWW-Authenticate", "Authorization", False),
    ("Proxy-Authenticate", "Proxy-Authorization", True),
)


@dataclass(frozen=True, slots=True)
class Credentials:
    """A username and password, for one realm or (``realm=None``) for any realm."""

    username: str
    password: str
    realm: str | None = None

    def __repr__(self) -> str:  # never print the password
        return f"Credentials(username={self.username!r}, password=..., realm={self.realm!r})"


@dataclass(frozen=True, slots=True)
class AuthRetry:
    """Header lines to put on the retried request, one per challenged realm.

    ``headers`` are ``(name, value)`` pairs, ``name`` being ``Authorization`` (for
    WWW-Authenticate challenges) or ``Proxy-Authorization``. :meth:`apply` returns a
    copy of a request with them in place of older credentials for the same realms.
    """

    headers: tuple[tuple[str, str], ...]

    def apply(self, request: Request) -> Request:
        """A copy of *request* carrying these credentials (the CSeq is left alone)."""
        replaced = {(canonical_key(name), _realm_of(value)) for name, value in self.headers}
        kept: list[tuple[str, str]] = []
        for name, value in request.headers:
            key = canonical_key(name)
            if key in ("authorization", "proxy-authorization"):
                realm = _realm_of(value)
                if realm is not None and (key, realm) in replaced:
                    continue
            kept.append((name, value))
        kept += self.headers
        return Request(request.method, request.uri, Headers(kept), request.body)


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """The challenge cannot or should not be answered; the UA reports AuthenticationFailed."""

    reason: str
    realm: str | None = None
    proxy: bool = False


@dataclass(slots=True)
class _RealmState:
    challenge: DigestChallenge
    algorithm: str
    qop: str | None
    credentials: Credentials
    nc: int = 0
    stale_streak: int = 0


def _root(uri: URI) -> str:
    """``scheme:host:port`` of a SIP URI, the port defaulted by scheme (RFC 3261 §19.1.2);
    the whole URI, lower case, for other schemes."""
    if isinstance(uri, SipURI):
        scheme = uri.scheme.lower()
        port = uri.port if uri.port is not None else (5061 if scheme == "sips" else 5060)
        return f"{scheme}:{uri.host.lower()}:{port}"
    return str(uri).lower()


def protection_space(request: Request) -> str:
    """The server a 401 to *request* came from: its Request-URI's root (see the module
    docstring), e.g. ``"sip:example.com:5060"``."""
    return _root(request.uri)


def next_hop_space(request: Request) -> str:
    """The server a 407 to *request* came through: the root of its next hop (§8.1.2:
    the first Route, else the Request-URI)."""
    try:
        routes = request.routes
    except RemoteProtocolError:  # not ours to judge here: fall back to the Request-URI
        routes = []
    return _root(routes[0].uri if routes else request.uri)


def _space(request: Request, proxy: bool) -> str:
    return next_hop_space(request) if proxy else protection_space(request)


def _realm_of(value: str) -> str | None:
    try:
        items = parse_auth_header(value)
    except RemoteProtocolError:
        return None
    return items[0].get("realm") if len(items) == 1 and items[0].is_digest else None


def _sent_credentials(request: Request, header: str, realm: str) -> DigestAuthorization | None:
    for line in request.headers.lines(header):
        try:
            creds = parse_authorization(line)
        except RemoteProtocolError:
            continue
        if creds is not None and creds.realm == realm:
            return creds
    return None


class DigestClient:
    """Answers Digest challenges with per-realm credentials and remembers nonces.

    ``credentials``: one :class:`Credentials` or several; a realm uses the first whose
    ``realm`` equals the challenge's realm, else the first with ``realm=None``.
    ``algorithms``: the algorithms this client accepts, in order of preference
    (default: all of :data:`~sipsans.auth.ALGORITHMS`, strongest first).
    ``prefer_auth_int``: choose qop ``auth-int`` when offered (default: ``auth``, and
    ``auth-int`` only when it is the only choice). ``rng`` makes the cnonces.
    """

    def __init__(
        self,
        credentials: Credentials | Iterable[Credentials] = (),
        *,
        rng: random.Random | None = None,
        algorithms: Sequence[str] = ALGORITHMS,
        prefer_auth_int: bool = False,
        max_stale: int = 3,
    ) -> None:
        self.credentials: list[Credentials] = (
            [credentials] if isinstance(credentials, Credentials) else list(credentials)
        )
        self._rng = rng if rng is not None else random.SystemRandom()
        unknown = [a for a in algorithms if a not in ALGORITHMS]
        if unknown:
            raise LocalProtocolError(f"unsupported digest algorithms {unknown}; use {ALGORITHMS}")
        self.algorithms = tuple(algorithms)
        self.prefer_auth_int = prefer_auth_int
        self.max_stale = max_stale
        #: (is_proxy, realm, protection space) -> what was last answered there
        self._state: dict[tuple[bool, str, str], _RealmState] = {}

    # -- choosing --------------------------------------------------------------

    def credentials_for(
        self, realm: str, extra: Iterable[Credentials] | None = None
    ) -> Credentials | None:
        """The credentials used for *realm* (per-request *extra* ones first)."""
        pool = [*(extra or ()), *self.credentials]
        for cred in pool:
            if cred.realm == realm:
                return cred
        for cred in pool:
            if cred.realm is None:
                return cred
        return None

    def _qop(self, challenge: DigestChallenge) -> str | None:
        """The qop to use; None for RFC 2069 mode, "" when no offered qop is supported."""
        if not challenge.qop:
            return None
        if "auth-int" in challenge.qop and (self.prefer_auth_int or "auth" not in challenge.qop):
            return "auth-int"
        return "auth" if "auth" in challenge.qop else ""

    def choose(self, challenges: Iterable[DigestChallenge]) -> DigestChallenge | None:
        """The strongest supported challenge of *challenges* (all of one realm)."""
        best: tuple[int, DigestChallenge] | None = None
        for ch in challenges:
            algorithm = ch.canonical_algorithm
            if algorithm not in self.algorithms or self._qop(ch) == "":
                continue
            rank = self.algorithms.index(algorithm)
            if best is None or rank < best[0]:
                best = (rank, ch)
        return best[1] if best else None

    # -- answering -------------------------------------------------------------

    def authorize(
        self,
        request: Request,
        response: Response,
        *,
        credentials: Iterable[Credentials] | None = None,
    ) -> AuthRetry | AuthFailure:
        """Answer the 401/407 *response* to *request* (the request as it was sent).

        Returns the credentials for every realm challenged (WWW-Authenticate and
        Proxy-Authenticate alike, RFC 3261 §22.3), or an :class:`AuthFailure` when a
        realm has no supported challenge or no credentials, or when its credentials
        were just rejected. *credentials* are tried before the client's own.
        """
        if response.status_code not in (401, 407):
            raise LocalProtocolError(
                f"authorize() needs a 401 or 407 response, got {response.status_code}"
            )
        extra = list(credentials or ())
        out: list[tuple[str, str]] = []
        for challenge_header, header, proxy in _KINDS:
            by_realm: dict[str, list[DigestChallenge]] = {}
            error: str | None = None
            for line in response.headers.lines(challenge_header):
                try:
                    items = parse_auth_header(line)
                    for item in items:
                        if item.is_digest:
                            ch = DigestChallenge.from_params(item)
                            by_realm.setdefault(ch.realm, []).append(ch)
                except RemoteProtocolError as exc:  # skip a broken line, use the others
                    error = str(exc)
            if error is not None and not by_realm:
                return AuthFailure(f"unusable {challenge_header}: {error}", None, proxy)
            for realm, challenges in by_realm.items():
                result = self._answer(
                    request,
                    header=header,
                    proxy=proxy,
                    realm=realm,
                    challenges=challenges,
                    extra=extra,
                )
                if isinstance(result, AuthFailure):
                    return result
                out.append((header, result))
        if not out:
            return AuthFailure(f"{response.status_code} response carries no Digest challenge")
        return AuthRetry(tuple(out))

    def _answer(
        self,
        request: Request,
        *,
        header: str,
        proxy: bool,
        realm: str,
        challenges: list[DigestChallenge],
        extra: list[Credentials],
    ) -> str | AuthFailure:
        challenge = self.choose(challenges)
        if challenge is None:
            offered = sorted(
                {f"{c.algorithm or 'MD5'}/{','.join(c.qop) or '-'}" for c in challenges}
            )
            return AuthFailure(
                f"no supported Digest challenge for realm {realm!r}: {offered}", realm, proxy
            )
        creds = self.credentials_for(realm, extra)
        if creds is None:
            return AuthFailure(f"no credentials for realm {realm!r}", realm, proxy)
        key = (proxy, realm, _space(request, proxy))
        previous = self._state.get(key)
        streak = 0
        sent = _sent_credentials(request, header, realm)
        if sent is not None:
            # The request already carried our credentials for this realm.
            reused = sent.nc is not None and int(sent.nc, 16) > 1
            if challenge.nonce == sent.nonce:
                self._state.pop(key, None)
                return AuthFailure(f"credentials for realm {realm!r} rejected", realm, proxy)
            if challenge.stale or reused:
                # A stale nonce (or, for a reused nonce, one the server forgot): retry
                # with the new nonce, a bounded number of times in a row.
                streak = (previous.stale_streak if previous else 0) + 1
                if streak > self.max_stale:
                    self._state.pop(key, None)
                    return AuthFailure(
                        f"realm {realm!r}: {streak} stale nonces in a row", realm, proxy
                    )
            else:
                self._state.pop(key, None)
                return AuthFailure(f"credentials for realm {realm!r} rejected", realm, proxy)
        qop = self._qop(challenge)
        assert qop != "" and challenge.canonical_algorithm is not None
        state = _RealmState(challenge, challenge.canonical_algorithm, qop, creds, 0, streak)
        self._state[key] = state
        return self._credentials(state, request)

    def _credentials(self, state: _RealmState, request: Request) -> str:
        ch = state.challenge
        creds = state.credentials
        state.nc += 1
        nc = f"{state.nc:08x}" if state.qop is not None else None
        sess = state.algorithm.endswith("-sess")
        cnonce = f"{self._rng.getrandbits(128):032x}" if state.qop is not None or sess else None
        uri = str(request.uri)
        response = compute_response(
            algorithm=state.algorithm,
            ha1=compute_ha1(state.algorithm, creds.username, ch.realm, creds.password),
            nonce=ch.nonce,
            method=request.method,
            uri=uri,
            qop=state.qop,
            nc=nc,
            cnonce=cnonce,
            body=request.body,
        )
        username = creds.username
        if ch.userhash:
            username = compute_userhash(state.algorithm, creds.username, ch.realm)
        extra: tuple[tuple[str, str], ...] = ()
        if cnonce is not None and state.qop is None:
            extra = (("cnonce", cnonce),)  # -sess without qop (RFC 2617 §3.2.2.2)
        return str(
            DigestAuthorization(
                username=username,
                realm=ch.realm,
                nonce=ch.nonce,
                uri=uri,
                response=response,
                algorithm=ch.algorithm,
                qop=state.qop,
                nc=nc,
                cnonce=cnonce,
                opaque=ch.opaque,
                userhash=ch.userhash,
                extra=extra,
            )
        )

    def authenticate(
        self, request: Request, *, realms: Iterable[str] | None = None, proxy: bool | None = None
    ) -> list[tuple[str, str]]:
        """Credentials for a new request from the remembered nonces (RFC 3261 §22.3).

        One ``(header, value)`` per remembered realm whose protection space is the
        server this request goes to (see the module docstring; only *realms* if given;
        only proxy or only WWW realms if *proxy* is given), each with the next ``nc``.
        A server that has forgotten the nonce answers with a new challenge, which
        :meth:`authorize` then answers without counting it as a failure.
        """
        wanted = set(realms) if realms is not None else None
        out: list[tuple[str, str]] = []
        spaces = {False: protection_space(request), True: next_hop_space(request)}
        for (is_proxy, realm, space), state in self._state.items():
            if (wanted is not None and realm not in wanted) or proxy not in (None, is_proxy):
                continue
            if space != spaces[is_proxy]:
                continue  # another server's credentials (RFC 7616 §3.6)
            state.stale_streak = 0  # a new request starts a new retry chain
            header = "Proxy-Authorization" if is_proxy else "Authorization"
            out.append((header, self._credentials(state, request)))
        return out

    def forget(self, realm: str | None = None) -> None:
        """Drop the remembered nonce of *realm* (every realm when None)."""
        for key in list(self._state):
            if realm is None or key[1] == realm:
                del self._state[key]

    def realms(self) -> list[tuple[str, bool]]:
        """The remembered ``(realm, is_proxy)`` pairs (once each, whatever the servers)."""
        return list(dict.fromkeys((realm, proxy) for proxy, realm, _ in self._state))

    def spaces(self) -> list[tuple[str, bool, str]]:
        """The remembered ``(realm, is_proxy, protection space)`` triples."""
        return [(realm, proxy, space) for proxy, realm, space in self._state]
