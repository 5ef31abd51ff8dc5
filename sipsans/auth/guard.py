"""A digest-protected UAS: which requests need credentials, and the answer to those
that lack them (RFC 3261 §22.2, §22.4).

A :class:`DigestGuard` wraps a :class:`~sipsans.auth.DigestServer` with the password
(or HA1) lookup and the methods it protects. :meth:`DigestGuard.answer` takes a
received request and returns None when it may go on (not protected, or carrying valid
credentials) or the response to send instead: a 401 with a fresh nonce, a 400 for
malformed credentials, or 503 with Retry-After while the source or user is backing off
(:class:`~sipsans.auth.FailureLimits`). A UserAgent given one with
``ua.protect(guard)`` applies it before it reports IncomingCall or accepts a BYE::

    guard = DigestGuard(DigestServer(secret, "bob.example"), users={"alice": "secret"})
    ua.protect(guard)  # INVITE and BYE now need alice's credentials

ACK and CANCEL can never be protected: they cannot be challenged, since they are
never resubmitted (RFC 3261 §22.1).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

from ..errors import LocalProtocolError
from ..message.model import Request, Response
from .server import DigestServer, HA1Lookup, PasswordLookup, UserhashLookup, Verdict

__all__ = ["DigestGuard"]


class DigestGuard:
    """Digest protection of the requests a UAS receives (see the module docstring).

    ``server`` makes the challenges and checks them (its realm, algorithms, nonce
    lifetime and failure limits). Give one of ``users`` (``{username: password}``),
    ``password`` (``(username, realm) -> password or None``) or ``ha1`` (see
    :meth:`DigestServer.verify`). ``methods`` are the methods that need credentials
    (default INVITE and BYE); within a dialog they are asked only of the peer of a
    call we answered, the one who authenticated its INVITE.
    """

    __slots__ = ("_ha1", "_password", "_resolve_userhash", "methods", "server")

    def __init__(
        self,
        server: DigestServer,
        *,
        users: Mapping[str, str] | None = None,
        password: PasswordLookup | None = None,
        ha1: HA1Lookup | None = None,
        resolve_userhash: UserhashLookup | None = None,
        methods: Iterable[str] = ("INVITE", "BYE"),
    ) -> None:
        if sum(x is not None for x in (users, password, ha1)) != 1:
            raise LocalProtocolError("DigestGuard needs exactly one of users=, password= or ha1=")
        if users is not None:
            password = _lookup(dict(users))
        self.server = server
        self._password = password
        self._ha1 = ha1
        self._resolve_userhash = resolve_userhash
        #: The methods that need credentials.
        self.methods = frozenset(m.upper() for m in methods)
        if self.methods & {"ACK", "CANCEL"}:
            raise LocalProtocolError("ACK and CANCEL cannot be challenged (RFC 3261 §22.1)")

    def check(self, request: Request, *, now: float, source: Hashable | None = None) -> Verdict:
        """The server's verdict on *request*'s credentials (see :meth:`DigestServer.verify`;
        *source*, the peer's host, feeds the failure limits)."""
        return self.server.verify(
            request,
            now=now,
            password=self._password,
            ha1=self._ha1,
            resolve_userhash=self._resolve_userhash,
            source=source,
        )

    def answer(
        self,
        request: Request,
        *,
        now: float,
        source: Hashable | None = None,
        to_tag: str | None = None,
    ) -> Response | None:
        """None when *request* may go on (its method is not protected, or its
        credentials are valid); otherwise the response to send instead (a challenge,
        400, or the back-off answer), with ``to_tag``."""
        if request.method not in self.methods:
            return None
        verdict = self.check(request, now=now, source=source)
        if verdict.ok:
            return None
        return self.server.refusal(request, verdict, now=now, to_tag=to_tag)


def _lookup(users: dict[str, str]) -> PasswordLookup:
    """A password lookup over a ``{username: password}`` table (any realm)."""

    def password(username: str, realm: str) -> str | None:
        return users.get(username)

    return password
