"""What the REGISTER and PUBLISH clients share: state kept alive at a server by refreshing it.

A :class:`~sipsans.ua.register_client.Registration` (RFC 3261 §10.2) and a
:class:`~sipsans.services.publication.Publication` (RFC 3903 §4) run the same skeleton,
which :class:`RefreshingClient` holds: one request in flight at a time (§10.2, RFC 3903
§4.1), every request with the same Call-ID and From tag and a CSeq one higher (§10.2.4),
credentials sent ahead for the nonces already known and a retry per challenge (§22.3),
a refresh ``max(g / 2, g - refresh_margin)`` seconds after sending for a grant of ``g``
seconds, and transient failures retried with a doubling back-off (or what Retry-After
says, §20.33) until ``max_failures`` in a row. Each machine keeps its own states, its
own events and what its responses mean.

It lives in the ua layer because the UserAgent keeps its registrations with it; the
PUBLISH client, a service above the UA (DESIGN.md §1), builds on it from there.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import Generic, TypedDict, TypeVar, Unpack

from ..auth import Credentials, DigestClient
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.grammar import is_digits
from ..message.model import Request, Response

__all__ = [
    "TRANSIENT_STATUS",
    "ClientOptions",
    "RefreshingClient",
    "StateChange",
    "digest_client",
    "header_int",
    "new_token",
    "refresh_delay",
    "seconds_left",
]

#: Status codes worth retrying later (the server or the path may recover); every
#: other final failure that is not 401/407/423 ends the registration at once.
TRANSIENT_STATUS = frozenset({408, 480, 500, 502, 503, 504})

StateT = TypeVar("StateT")
EventT = TypeVar("EventT")


def refresh_delay(granted: float, margin: float) -> float:
    """Seconds after sending until a binding granted *granted* seconds is refreshed.

    ``max(granted / 2, granted - margin)``: *margin* seconds before expiry, but never
    earlier than half-way.
    """
    return max(granted / 2.0, granted - margin)


def header_int(message: Request | Response, name: str) -> int | None:
    """An integer header (Expires, Min-Expires, Retry-After); None if absent or malformed.

    Retry-After may carry a comment and parameters after the delta-seconds
    (RFC 3261 §20.33); only the leading number is read.
    """
    value = message.headers.get(name)
    if value is None:
        return None
    head = value.strip(" \t").split("(", 1)[0].split(";", 1)[0].strip(" \t")
    return int(head) if is_digits(head) else None


def seconds_left(deadline: float, now: float) -> int:
    """Whole seconds from ``now`` to ``deadline``, rounded up (a live binding or
    subscription never shows 0) and never negative.

    ``(now + e) - now`` may exceed ``e`` by a rounding error of the clock's floats;
    microseconds are dropped first, so that what was just granted reads back exactly."""
    return max(0, math.ceil(round(deadline - now, 6)))


def digest_client(
    credentials: DigestClient | Credentials | Iterable[Credentials] | None, rng: random.Random
) -> DigestClient | None:
    """The DigestClient for *credentials* (None: challenges cannot be answered)."""
    if credentials is None or isinstance(credentials, DigestClient):
        return credentials
    return DigestClient(credentials, rng=rng)


def new_token(rng: random.Random, bits: int = 64) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


class ClientOptions(TypedDict, total=False):
    """The keyword arguments every refreshing client takes (see RefreshingClient)."""

    rng: random.Random | None
    credentials: DigestClient | Credentials | Iterable[Credentials] | None
    refresh_margin: float
    max_failures: int
    retry_interval: float
    max_retry_interval: float
    headers: Iterable[tuple[str, str]]


class StateChange(TypedDict, Generic[StateT]):
    """What every refreshing client's state-change event says, whatever the machine:
    the new ``state`` and the ``previous`` one, the response ``status`` that caused it
    (None for a local cause), ``reason`` in words and the ``expires`` granted."""

    state: StateT
    previous: StateT
    status: int | None
    reason: str
    expires: int | None


class RefreshingClient(Generic[StateT, EventT]):
    """The bookkeeping a refreshing client machine shares (see the module docstring).

    ``rng`` makes the Call-ID, the From tag and the cnonces (default
    ``random.SystemRandom()``); ``credentials`` answer 401/407 (one retry per challenge;
    later requests carry credentials for the remembered nonce, §22.3); ``headers`` are
    added to every request (User-Agent, Supported, ...). ``max_failures`` consecutive
    transient failures (408, 480, 5xx, timeouts) end the machine in its failed state;
    between them it waits ``retry_interval`` seconds, doubling up to
    ``max_retry_interval``, or what a Retry-After says (§20.33, typically on 503).

    Subclasses set ``_state`` and say which states hold nothing at the server
    (:meth:`_holds_nothing`) and what event a change makes (:meth:`_changed`); they call
    :meth:`_advance` first in every command, :meth:`_set` for every change of state,
    :meth:`_send` for every request they return, :meth:`_is_ours` for every response and
    :meth:`_back_off` for every transient failure.
    """

    _state: StateT

    def __init__(
        self,
        *,
        rng: random.Random | None = None,
        credentials: DigestClient | Credentials | Iterable[Credentials] | None = None,
        refresh_margin: float = 300.0,
        max_failures: int = 3,
        retry_interval: float = 30.0,
        max_retry_interval: float = 600.0,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self._rng = rng if rng is not None else random.SystemRandom()
        self.digest = digest_client(credentials, self._rng)
        self.refresh_margin = refresh_margin
        self.max_failures = max_failures
        self.retry_interval = retry_interval
        self.max_retry_interval = max_retry_interval
        self.headers = list(headers)
        self.call_id = new_token(self._rng, 128)
        self.from_tag = new_token(self._rng)
        self.cseq = 0
        #: When the state runs out at the server (on the caller's clock), or None.
        self.expires_at: float | None = None
        #: The expiry the server granted last.
        self.granted: int | None = None
        self.failures = 0  # consecutive transient failures
        self._refresh_at: float | None = None
        self._retry_at: float | None = None
        self._pending: Request | None = None
        self._sent_at = 0.0
        self._events: list[EventT] = []
        self._now = float("-inf")

    @property
    def state(self) -> StateT:
        """The current state (see the machine's state table)."""
        return self._state

    @property
    def pending(self) -> Request | None:
        """The request awaiting its final response, if any."""
        return self._pending

    def take_events(self) -> list[EventT]:
        """The state changes since the last call, oldest first (drains)."""
        out, self._events = self._events, []
        return out

    def _set(
        self,
        state: StateT,
        *,
        status: int | None = None,
        reason: str = "",
        expires: int | None = None,
    ) -> None:
        """Enter ``state``; a change is reported as the machine's event."""
        previous = self._state
        self._state = state
        if self._holds_nothing(state):
            self._forget()
        if previous is not state:
            self._events.append(
                self._changed(
                    state=state, previous=previous, status=status, reason=reason, expires=expires
                )
            )

    def _holds_nothing(self, state: StateT) -> bool:
        """Whether nothing is kept at the server in ``state`` (ended, failed)."""
        raise NotImplementedError

    def _changed(self, **change: Unpack[StateChange[StateT]]) -> EventT:
        """The machine's event for ``change``, with what names the machine's subject."""
        raise NotImplementedError

    def _forget(self) -> None:
        """Drop what the server had granted (the machine holds nothing there now)."""
        self.expires_at = self._refresh_at = self._retry_at = None
        self.granted = None

    def on_timeout(self, now: float, reason: str = "transaction timed out") -> Request | None:
        """The request in flight got no final response (timer F) or could not be sent:
        a removal ends as if it had succeeded (the state is left to expire at the
        server), anything else is a transient failure (§8.1.3.1: as a 408)."""
        self._advance(now)
        if self._pending is None:
            return None
        self._pending = None
        if not self._removal_failed(reason):
            self._transient(now, 408, reason, None)
        return self._after_final(now)

    def _removal_failed(self, reason: str) -> bool:
        """When the request in flight removed the state at the server: end the machine
        (``reason`` is why the removal failed) and return True; else False."""
        raise NotImplementedError

    def _transient(self, now: float, code: int, reason: str, retry_after: int | None) -> None:
        """A transient failure (408, 480, 5xx, a time-out): back off, or fail for good."""
        raise NotImplementedError

    def _after_final(self, now: float) -> Request | None:
        """The request to send once a final response (or a time-out) ended the one in
        flight: what was queued meanwhile, or None."""
        raise NotImplementedError

    def _advance(self, now: float) -> None:
        if now < self._now:
            raise LocalProtocolError(f"time went backwards: {now} < {self._now}")
        self._now = now

    def _preauthorize(self, request: Request) -> Request:
        """Add credentials for the nonces already known (§22.3); returns ``request``."""
        if self.digest is not None:
            for name, value in self.digest.authenticate(request):
                request.headers.add(name, value)
        return request

    def _send(self, request: Request, now: float) -> Request:
        """``request`` is the one in flight from ``now``; returns it."""
        self._pending = request
        self._sent_at = now
        self._retry_at = None
        return request

    def _is_ours(self, response: Response) -> bool:
        """Whether ``response`` answers the request in flight (Call-ID and CSeq)."""
        pending = self._pending
        if pending is None:
            return False
        try:
            return response.call_id == pending.call_id and response.cseq == pending.cseq
        except RemoteProtocolError:
            return False

    def _grant(self, granted: int) -> None:
        """The server granted ``granted`` seconds to the request sent last."""
        self.failures = 0
        self.granted = granted
        self.expires_at = self._sent_at + granted
        self._refresh_at = self._sent_at + refresh_delay(granted, self.refresh_margin)
        self._retry_at = None

    def _back_off(self, now: float, retry_after: int | None) -> bool:
        """Count a transient failure: False when it is the ``max_failures``-th in a row,
        else True with the retry scheduled (Retry-After, or a doubling interval)."""
        self.failures += 1
        if self.failures >= self.max_failures:
            return False
        if retry_after is not None:
            delay = float(retry_after)
        else:
            delay = min(self.retry_interval * 2 ** (self.failures - 1), self.max_retry_interval)
        self._retry_at = now + delay
        return True
