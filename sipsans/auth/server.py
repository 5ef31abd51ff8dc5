"""Digest server helpers (RFC 3261 §22.4, RFC 7616 §3.3/§3.5, RFC 8760) for registrars and UASs.

A :class:`DigestServer` makes challenges and checks credentials for one realm:

* Nonces are stateless and bound to the server's secret and realm:
  ``nonce = base64(timestamp || random || HMAC-SHA256(secret, realm || timestamp || random))``
  with the timestamp the caller's ``now`` as a big-endian IEEE double and 16 random
  bytes from the injected rng. Forged or altered nonces fail the HMAC check.
* A nonce older than ``nonce_lifetime`` is stale: when the digest was otherwise
  correct the verdict says ``stale=True`` and the application answers with a new
  challenge carrying ``stale=true``, so the client retries without asking its user
  (RFC 7616 §3.3).
* Replay protection: for qop ``auth``/``auth-int`` the nonce count ``nc`` must grow
  strictly for each nonce. The server records the ``nc`` of every use of a fresh
  nonce, right or wrong (RFC 7616 §3.4: the count of requests sent with it), so an
  ``nc`` is spent once whatever the outcome, and remembers the highest of every
  nonce in use until it expires; memory is bounded by ``max_nonces``: when the table
  is full the oldest entries are dropped and every nonce not newer than the dropped
  ones is from then on treated as stale (so a dropped nonce cannot be replayed).
  Without qop (RFC 2069 mode, only when the server is configured with ``qop=()``)
  there is no ``nc`` and a captured request can be replayed until its nonce expires.
* Password guessing: wrong digests are counted per source and per user by a
  :class:`~sipsans.auth.limits.FailureLimiter` (``limits=``, on by default); past the
  limits the verdict is 503 with Retry-After (or 403) for a doubling back-off.
* Malformed credentials (not UTF-8, absurdly long, a response that is not hex, a bad
  ``nc``, a parameter twice, one missing) are a 400 verdict, never an exception.
* Every comparison of secret-derived values uses :func:`hmac.compare_digest` on bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import struct
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace

from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.model import Request, Response, make_response
from ..message.uri import parse_uri
from .digest import ALGORITHMS, compute_ha1, compute_response
from .limits import DEFAULT_LIMITS, FailureLimiter, FailureLimits, retry_after
from .params import DigestAuthorization, DigestChallenge, parse_authorization

__all__ = ["DigestServer", "Verdict"]

_STAMP = struct.Struct("!d")
_RANDOM_BYTES = 16
_MAC_BYTES = 32
_NONCE_BYTES = _STAMP.size + _RANDOM_BYTES + _MAC_BYTES

#: password(username, realm) -> password or None for an unknown user
PasswordLookup = Callable[[str, str], "str | None"]
#: ha1(username, realm, algorithm) -> hex H(username:realm:password) for that algorithm
#: (base name, e.g. "SHA-256" also for "SHA-256-sess"), or None for an unknown user
HA1Lookup = Callable[[str, str, str], "str | None"]
#: resolve_userhash(userhash, realm, algorithm) -> the plain username, or None
UserhashLookup = Callable[[str, str, str], "str | None"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of :meth:`DigestServer.verify`.

    ``ok``: accept the request. Otherwise answer ``status`` (:meth:`DigestServer.refusal`
    builds the response): 400 for malformed credentials; 401/407, a new challenge
    with ``stale=verdict.stale``; 503 (or 403, see
    :class:`~sipsans.auth.limits.FailureLimits`) while the source or user is backing
    off after too many failures, with ``retry_after`` seconds. ``reason`` explains
    (log it; do not send it to the peer). ``username`` is the authenticated user when
    ``ok``.
    """

    ok: bool
    stale: bool = False
    reason: str = ""
    username: str | None = None
    status: int = 200
    retry_after: int | None = None


class DigestServer:
    """Digest challenges and verification for one realm.

    ``algorithms`` are offered one challenge each, strongest first (RFC 8760 §2.4);
    ``qop`` is what each challenge offers (``()`` for RFC 2069 mode). ``proxy=True``
    uses 407 / Proxy-Authenticate / Proxy-Authorization instead of 401 /
    WWW-Authenticate / Authorization (RFC 3261 §22.3). ``opaque``, when given, is
    sent with every challenge and must come back unchanged. ``userhash=True`` asks
    clients to hash their username (RFC 7616 §3.4.4); :meth:`verify` then needs
    ``resolve_userhash``. ``limits`` bound failed attempts per source and per user
    (:class:`~sipsans.auth.limits.FailureLimits`; None: no limits).
    """

    def __init__(
        self,
        secret: bytes,
        realm: str,
        *,
        algorithms: Sequence[str] = ("SHA-256", "MD5"),
        qop: Sequence[str] = ("auth", "auth-int"),
        nonce_lifetime: float = 300.0,
        rng: random.Random | None = None,
        proxy: bool = False,
        opaque: str | None = None,
        userhash: bool = False,
        max_nonces: int = 100_000,
        limits: FailureLimits | None = DEFAULT_LIMITS,
    ) -> None:
        if len(secret) < 16:
            raise LocalProtocolError("DigestServer needs a secret of at least 16 random bytes")
        bad = [a for a in algorithms if a not in ALGORITHMS] + [
            q for q in qop if q not in ("auth", "auth-int")
        ]
        if bad or not algorithms:
            raise LocalProtocolError(
                f"unsupported algorithms/qop {bad}: algorithms from {ALGORITHMS}, "
                "qop from ('auth', 'auth-int')"
            )
        self._secret = bytes(secret)
        self.realm = realm
        self.algorithms = tuple(sorted(algorithms, key=ALGORITHMS.index))
        self.qop = tuple(qop)
        self.nonce_lifetime = nonce_lifetime
        self._rng = rng if rng is not None else random.SystemRandom()
        self.proxy = proxy
        self.opaque = opaque
        self.userhash = userhash
        self.max_nonces = max_nonces
        # nonce -> (issued at, highest nc seen), in first-use order
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._forgotten_until = float("-inf")  # nonces issued up to here may have been dropped
        #: Failed attempts per source and per user (None: unlimited).
        self.limiter = FailureLimiter(limits) if limits is not None else None

    # -- names -------------------------------------------------------------------

    @property
    def status_code(self) -> int:
        return 407 if self.proxy else 401

    @property
    def challenge_header(self) -> str:
        return "Proxy-Authenticate" if self.proxy else "WWW-Authenticate"

    @property
    def credentials_header(self) -> str:
        return "Proxy-Authorization" if self.proxy else "Authorization"

    # -- nonces ------------------------------------------------------------------

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._secret, self.realm.encode("utf-8") + body, hashlib.sha256).digest()

    def make_nonce(self, *, now: float) -> str:
        """A fresh nonce issued at *now*."""
        body = _STAMP.pack(now) + self._rng.getrandbits(_RANDOM_BYTES * 8).to_bytes(
            _RANDOM_BYTES, "big"
        )
        return base64.b64encode(body + self._mac(body)).decode("ascii")

    def nonce_issued_at(self, nonce: str) -> float | None:
        """When *nonce* was issued, or None if this server (secret and realm) did not make it."""
        try:
            raw = base64.b64decode(nonce.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            return None
        if len(raw) != _NONCE_BYTES:
            return None
        body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        issued: float = _STAMP.unpack_from(body)[0]
        return issued

    # -- challenges ----------------------------------------------------------------

    def challenges(self, *, now: float, stale: bool = False) -> list[str]:
        """Challenge header values, one per algorithm, strongest first (RFC 8760 §2.4).

        They share one fresh nonce. Add each as its own header line.
        """
        offered = DigestChallenge(
            realm=self.realm,
            nonce=self.make_nonce(now=now),
            qop=self.qop,
            opaque=self.opaque,
            stale=stale,
            userhash=self.userhash,
        )
        return [str(replace(offered, algorithm=algorithm)) for algorithm in self.algorithms]

    def challenge_response(
        self, request: Request, *, now: float, stale: bool = False, to_tag: str | None = None
    ) -> Response:
        """The 401 (or 407) response to *request* carrying :meth:`challenges`."""
        header = self.challenge_header
        return make_response(
            request,
            self.status_code,
            to_tag=to_tag,
            headers=[(header, value) for value in self.challenges(now=now, stale=stale)],
        )

    def refusal(
        self, request: Request, verdict: Verdict, *, now: float, to_tag: str | None = None
    ) -> Response:
        """The response to send for a failed *verdict* on *request*: 400, a new
        challenge (401/407, ``stale=true`` when the verdict says so), or the back-off
        answer (503 with Retry-After, or 403)."""
        if verdict.ok:
            raise LocalProtocolError("refusal() is for a failed verdict")
        if verdict.status in (401, 407):
            return self.challenge_response(request, now=now, stale=verdict.stale, to_tag=to_tag)
        headers = []
        if verdict.retry_after is not None and verdict.status == 503:
            headers.append(("Retry-After", str(verdict.retry_after)))
        reason = "Malformed Credentials" if verdict.status == 400 else None
        if verdict.status in (403, 503):
            reason = "Too Many Failed Attempts"
        return make_response(request, verdict.status, reason, to_tag=to_tag, headers=headers)

    # -- verification ---------------------------------------------------------------

    def find_credentials(self, request: Request) -> DigestAuthorization | None:
        """The Digest credentials for this realm in *request*, or None.

        Raises RemoteProtocolError (400) when the matching line is malformed;
        lines of other schemes, and lines that name another realm, are skipped.
        """
        for line in request.headers.lines(self.credentials_header):
            creds = parse_authorization(line)
            if creds is not None and creds.realm == self.realm:
                return creds
        return None

    def verify(
        self,
        request: Request,
        *,
        now: float,
        password: PasswordLookup | None = None,
        ha1: HA1Lookup | None = None,
        resolve_userhash: UserhashLookup | None = None,
        source: Hashable | None = None,
    ) -> Verdict:
        """Check the request's credentials for this realm at time *now*.

        Give exactly one of *password* (``(username, realm) -> password``) or *ha1*
        (``(username, realm, algorithm) -> HA1 hex``, see
        :func:`~sipsans.auth.compute_ha1`). *source* names the peer for the failure
        limits (its host address; None: only the per-user limit applies). Every use
        of a fresh nonce records its nonce count, so calling this twice for one
        request fails the second time. Never raises for anything the peer sent.
        """
        if (password is None) == (ha1 is None):
            raise LocalProtocolError("verify() needs exactly one of password= or ha1=")
        limiter = self.limiter
        if limiter is not None:
            wait = limiter.blocked_source(source, now)
            if wait:
                return self._blocked(f"source {source!r} backing off", wait)
        challenge = self.status_code
        try:
            creds = self.find_credentials(request)
        except RemoteProtocolError as exc:
            return Verdict(False, reason=str(exc), status=400)
        if creds is None:
            return Verdict(
                False, reason=f"no credentials for realm {self.realm!r}", status=challenge
            )
        algorithm = creds.canonical_algorithm
        if algorithm not in self.algorithms:
            return Verdict(
                False, reason=f"algorithm {creds.algorithm!r} not offered", status=challenge
            )
        if (creds.qop or None) not in (self.qop or (None,)):
            return Verdict(False, reason=f"qop {creds.qop!r} not offered", status=challenge)
        if algorithm.endswith("-sess") and creds.cnonce is None:
            return Verdict(False, reason=f"{algorithm} without cnonce", status=400)
        if self.opaque is not None and (
            creds.opaque is None or not _same_secret(creds.opaque, self.opaque)
        ):
            return Verdict(False, reason="opaque does not match", status=challenge)
        issued = self.nonce_issued_at(creds.nonce)
        if issued is None:
            return Verdict(False, reason="nonce not issued by this server", status=challenge)

        username = creds.username
        if creds.userhash:
            found = (
                resolve_userhash(creds.username, self.realm, algorithm)
                if resolve_userhash is not None
                else None
            )
            if found is None:
                return Verdict(False, reason="unknown userhash", status=challenge)
            username = found
        elif self.userhash:
            return Verdict(False, reason="userhash required", status=challenge)
        if limiter is not None:
            wait = limiter.blocked_user(username, now)
            if wait:
                return self._blocked(f"user {username!r} backing off", wait)

        # A fresh nonce's nc is spent by this use, whatever the digest says (a wrong
        # guess cannot be retried with the same count); a replayed one is refused
        # before any hashing. Expired and forgotten nonces are judged by the digest
        # below: stale=true only when it is right (RFC 7616 §3.3).
        fresh = issued <= now <= issued + self.nonce_lifetime
        forgotten = False
        if fresh:
            self._expire(now)
            seen = self._seen.get(creds.nonce)
            forgotten = seen is None and issued <= self._forgotten_until
            if creds.nc is not None and not forgotten:
                nc = int(creds.nc, 16)
                if seen is not None and nc <= seen[1]:
                    return Verdict(
                        False,
                        reason=f"nc {creds.nc} replayed (last {seen[1]:08x})",
                        status=challenge,
                    )
                self._record(creds.nonce, issued, nc)

        base = algorithm.removesuffix("-sess")
        if password is not None:
            secret = password(username, self.realm)
            known_ha1 = (
                compute_ha1(base, username, self.realm, secret) if secret is not None else None
            )
        else:
            assert ha1 is not None
            known_ha1 = ha1(username, self.realm, base)
        expected = compute_response(
            algorithm=algorithm,
            ha1=known_ha1 if known_ha1 is not None else "0" * 32,  # same work for unknown users
            nonce=creds.nonce,
            method=request.method,
            uri=creds.uri,
            qop=creds.qop,
            nc=creds.nc,
            cnonce=creds.cnonce,
            body=request.body,
        )
        if not _same_secret(expected, creds.response) or known_ha1 is None:
            reason = f"wrong credentials for {username!r}"
            if limiter is not None:
                wait = limiter.failed(source, username, now)
                if wait:
                    return self._blocked(reason + ", backing off", wait)
            return Verdict(False, reason=reason, status=challenge)
        if not _same_uri(creds.uri, request):
            return Verdict(
                False, reason=f"digest uri {creds.uri!r} is not the Request-URI", status=400
            )
        if not fresh:
            return Verdict(False, stale=True, reason="nonce expired", status=challenge)
        if forgotten:
            return Verdict(
                False, stale=True, reason="nonce forgotten (table full)", status=challenge
            )
        return Verdict(True, username=username)

    def _blocked(self, reason: str, wait: float) -> Verdict:
        assert self.limiter is not None
        status = self.limiter.limits.status
        return Verdict(
            False,
            reason=reason,
            status=status,
            retry_after=retry_after(wait) if status == 503 else None,
        )

    def _expire(self, now: float) -> None:
        seen = self._seen
        while seen:
            nonce, (issued, _) = next(iter(seen.items()))
            if issued + self.nonce_lifetime >= now:
                break
            del seen[nonce]

    def _record(self, nonce: str, issued: float, nc: int) -> None:
        seen = self._seen
        if nonce in seen:
            seen[nonce] = (issued, nc)
            return
        while len(seen) >= self.max_nonces:
            _, (dropped, _) = seen.popitem(last=False)
            self._forgotten_until = max(self._forgotten_until, dropped)
        seen[nonce] = (issued, nc)

    def tracked_nonces(self) -> int:
        """How many nonces the replay table currently remembers."""
        return len(self._seen)

    def stats(self) -> dict[str, int]:
        """Sizes of the server's tables: nonces in use, failing sources and users."""
        limited = self.limiter.stats() if self.limiter is not None else {}
        return {"tracked_nonces": len(self._seen), **limited}


def _same_secret(a: str, b: str) -> bool:
    # compare_digest refuses str with non-ASCII characters: compare the UTF-8 bytes
    # (the parser has already refused values that are not text).
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def _same_uri(digest_uri: str, request: Request) -> bool:
    # RFC 7616 §3.4.6 / RFC 2617 §3.2.2.5: the digest-uri must name the Request-URI.
    # Compare the text first, then by RFC 3261 §19.1.4 URI equality, which tolerates
    # differences such as parameter order and escaping.
    actual = str(request.uri)
    if hmac.compare_digest(digest_uri.encode("utf-8"), actual.encode("utf-8")):
        return True
    try:
        return parse_uri(digest_uri) == request.uri
    except RemoteProtocolError:
        return False
