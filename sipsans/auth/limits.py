"""Limits on failed digest attempts: back-off against password guessing.

Digest authentication leaves a server open to online guessing (RFC 7616 §5, security
considerations): every 401 hands out a nonce, and every request carrying a wrong
response is one guess. The protocol leaves the defence to the server; this module is
it. A :class:`FailureLimiter` counts failed attempts per *source* (the
peer's host address) and per *user* (the username the credentials claim) in fixed
windows of :attr:`FailureLimits.window` seconds. A key that reaches its limit within
a window is blocked for a back-off that doubles at each new block (``backoff``,
``2*backoff``, ... up to ``max_backoff``). While blocked, the server answers at once
with :attr:`FailureLimits.status` (503 with Retry-After by default) without computing
any digest.

Only wrong digests count (including those for unknown users, which cost the same
work). Requests that never reach the digest (no credentials, a nonce this server did
not issue, a replayed ``nc``) tell the peer nothing about the password and do not
count; a success does not clear the failures either, so an attacker holding one valid
account cannot reset the counters between guesses.

Memory is bounded: each table keeps at most :attr:`FailureLimits.max_tracked` keys,
least recently failed first out, and a key is forgotten ``max_backoff`` seconds after
its last failure (its back-off starts again from ``backoff``).

The per-user limit trades one risk for another: a guesser spread over many sources is
stopped, but anyone can lock a user out for the back-off by failing often enough in
that user's name. Set ``user_failures=0`` to turn it off.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field

from ..config import bounded, check_settings
from ..errors import LocalProtocolError

__all__ = ["DEFAULT_LIMITS", "FailureLimiter", "FailureLimits", "retry_after"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FailureLimits:
    """How many failed digest attempts are tolerated, and the back-off after that.

    The defaults let a user mistype a password a few times a minute and stop an online
    guesser at about ten guesses per source per back-off, the back-off growing to an
    hour: a few hundred guesses a day instead of thousands a second.
    """

    #: Failed attempts from one source address within ``window`` that start a back-off
    #: (0: no per-source limit).
    source_failures: int = field(default=10, metadata=bounded(at_least=0))
    #: Failed attempts for one username within ``window`` that start a back-off, from
    #: any source (0: no per-user limit; see the module docstring for the trade-off).
    user_failures: int = field(default=20, metadata=bounded(at_least=0))
    #: Length of the counting window, in seconds.
    window: float = field(default=60.0, metadata=bounded(above=0))
    #: The first back-off, in seconds; it doubles at each new block of the same key.
    backoff: float = field(default=60.0, metadata=bounded(above=0, at_most="max_backoff"))
    #: The longest back-off, in seconds; a key is forgotten this long after its last
    #: failure.
    max_backoff: float = 3600.0
    #: The answer while blocked: 503 (with Retry-After, RFC 3261 §21.5.4) or 403.
    status: int = field(default=503, metadata=bounded(one_of=(403, 503)))
    #: The most keys each table (sources, users) remembers.
    max_tracked: int = field(default=10_000, metadata=bounded(at_least=1))

    def __post_init__(self) -> None:
        check_settings(self, LocalProtocolError)


#: The limits a DigestServer applies unless told otherwise.
DEFAULT_LIMITS = FailureLimits()


class _Record:
    """The failures of one key: the current window and the back-off reached."""

    __slots__ = ("blocked_until", "failures", "last", "strikes", "window_start")

    def __init__(self, now: float) -> None:
        self.window_start = now
        self.failures = 0
        #: How many back-offs this key has earned (each doubles the next one).
        self.strikes = 0
        self.blocked_until = float("-inf")
        self.last = now


class _Table:
    """Failure records by key, least recently failed first, bounded."""

    __slots__ = ("_limit", "_limits", "_records")

    def __init__(self, limits: FailureLimits, limit: int) -> None:
        self._limits = limits
        self._limit = limit
        self._records: OrderedDict[Hashable, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def _expire(self, now: float) -> None:
        records = self._records
        keep = self._limits.max_backoff
        while records:
            record = next(iter(records.values()))
            if now < record.last + keep:
                break
            records.popitem(last=False)

    def blocked(self, key: Hashable, now: float) -> float:
        """Seconds ``key`` is still blocked for at ``now`` (0.0: not blocked)."""
        if not self._limit:
            return 0.0
        self._expire(now)
        record = self._records.get(key)
        if record is None or record.blocked_until <= now:
            return 0.0
        return record.blocked_until - now

    def failed(self, key: Hashable, now: float) -> float:
        """Count a failure of ``key``; the back-off it starts, or 0.0."""
        if not self._limit:
            return 0.0
        limits = self._limits
        records = self._records
        self._expire(now)
        record = records.get(key)
        if record is None:
            while len(records) >= limits.max_tracked:
                records.popitem(last=False)
            record = records[key] = _Record(now)
        else:
            records.move_to_end(key)
        record.last = now
        if now - record.window_start >= limits.window:
            record.window_start, record.failures = now, 0
        record.failures += 1
        if record.failures < self._limit:
            return 0.0
        backoff = min(limits.backoff * 2.0**record.strikes, limits.max_backoff)
        record.strikes += 1
        record.failures = 0
        record.blocked_until = now + backoff
        record.window_start = record.blocked_until  # the count starts again after it
        return backoff


class FailureLimiter:
    """Failure tables per source and per user (see the module docstring)."""

    __slots__ = ("_sources", "_users", "limits")

    def __init__(self, limits: FailureLimits | None = None) -> None:
        self.limits = limits if limits is not None else FailureLimits()
        self._sources = _Table(self.limits, self.limits.source_failures)
        self._users = _Table(self.limits, self.limits.user_failures)

    def blocked_source(self, source: Hashable | None, now: float) -> float:
        """Seconds the source is still blocked for (0.0: not blocked, or no source)."""
        return 0.0 if source is None else self._sources.blocked(source, now)

    def blocked_user(self, username: str, now: float) -> float:
        """Seconds the username is still blocked for (0.0: not blocked)."""
        return self._users.blocked(username, now)

    def failed(self, source: Hashable | None, username: str, now: float) -> float:
        """Count one wrong digest; the longest back-off it starts (0.0: none)."""
        by_source = 0.0 if source is None else self._sources.failed(source, now)
        return max(by_source, self._users.failed(username, now))

    def stats(self) -> dict[str, int]:
        """How many sources and users the tables remember."""
        return {"failing_sources": len(self._sources), "failing_users": len(self._users)}


def retry_after(seconds: float) -> int:
    """Whole seconds for a Retry-After header (RFC 3261 §20.33), rounded up, at least 1."""
    return max(1, math.ceil(round(seconds, 6)))
