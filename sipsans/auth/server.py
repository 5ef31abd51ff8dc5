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
  strictly for each nonce. The server remembers the highest ``nc`` of every nonce
  in use until it expires; memory is bounded by ``max_nonces``: when the table is
  full the oldest entries are dropped and every nonce not newer than the dropped
  ones is from then on treated as stale (so a dropped nonce cannot be replayed).
  Without qop (RFC 2069 mode, only when the server is configured with ``qop=()``)
  there is no ``nc`` and a captured request can be replayed until its nonce expires.
* Every comparison of secret-derived values uses :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import struct
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.model import Request, Response, make_response
from ..message.uri import parse_uri
from .digest import ALGORITHMS, compute_ha1, compute_response
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

    ``ok``: accept the request. Otherwise answer ``status``: 400 for malformed
    credentials, else 401/407 with :meth:`DigestServer.challenge_response` passing
    ``stale=verdict.stale``. ``reason`` explains (log it; do not send it to the
    peer). ``username`` is the authenticated user when ``ok``.
    """

    ok: bool
    stale: bool = False
    reason: str = ""
    username: str | None = None
    status: int = 200


class DigestServer:
    """Digest challenges and verification for one realm.

    ``algorithms`` are offered one challenge each, strongest first (RFC 8760 §2.4);
    ``qop`` is what each challenge offers (``()`` for RFC 2069 mode). ``proxy=True``
    uses 407 / Proxy-Authenticate / Proxy-Authorization instead of 401 /
    WWW-Authenticate / Authorization (RFC 3261 §22.3). ``opaque``, when given, is
    sent with every challenge and must come back unchanged. ``userhash=True`` asks
    clients to hash their username (RFC 7616 §3.4.4); :meth:`verify` then needs
    ``resolve_userhash``.
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
        nonce = self.make_nonce(now=now)
        return [
            str(
                DigestChallenge(
                    realm=self.realm,
                    nonce=nonce,
                    algorithm=algorithm,
                    qop=self.qop,
                    opaque=self.opaque,
                    stale=stale,
                    userhash=self.userhash,
                )
            )
            for algorithm in self.algorithms
        ]

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
    ) -> Verdict:
        """Check the request's credentials for this realm at time *now*.

        Give exactly one of *password* (``(username, realm) -> password``) or *ha1*
        (``(username, realm, algorithm) -> HA1 hex``, see
        :func:`~sipsans.auth.compute_ha1`). A successful check records the nonce
        count, so calling this twice for one request fails the second time.
        """
        if (password is None) == (ha1 is None):
            raise LocalProtocolError("verify() needs exactly one of password= or ha1=")
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
            creds.opaque is None or not hmac.compare_digest(creds.opaque, self.opaque)
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
        if not hmac.compare_digest(expected, creds.response) or known_ha1 is None:
            return Verdict(False, reason=f"wrong credentials for {username!r}", status=challenge)
        if not _same_uri(creds.uri, request):
            return Verdict(
                False, reason=f"digest uri {creds.uri!r} is not the Request-URI", status=400
            )

        # The digest is right; now the nonce must be fresh and the nc new.
        if not issued <= now <= issued + self.nonce_lifetime:
            return Verdict(False, stale=True, reason="nonce expired", status=challenge)
        self._expire(now)
        seen = self._seen.get(creds.nonce)
        if seen is None and issued <= self._forgotten_until:
            return Verdict(
                False, stale=True, reason="nonce forgotten (table full)", status=challenge
            )
        if creds.nc is not None:
            nc = int(creds.nc, 16)
            if seen is not None and nc <= seen[1]:
                return Verdict(
                    False, reason=f"nc {creds.nc} replayed (last {seen[1]:08x})", status=challenge
                )
            self._record(creds.nonce, issued, nc)
        return Verdict(True, username=username)

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
