"""A small pure DNS cache keyed by (record type, name), for adapters that fetch records.

DNS answers may be reused until their TTL runs out (RFC 1035 §3.2.1, RFC 2181 §8); an
answer with no records may be reused for the negative TTL (RFC 2308 §5: the SOA
minimum, which the caller passes when it has it). The cache reads no clock: every call
takes ``now`` on the caller's clock, and records come back with their *remaining* TTL,
so a plan fed from the cache computes the right expiry.

    cache = DnsCache()
    cache.put_answer(query, records, now=t)          # what the resolver returned
    plan.answer_from(cache, now=t)                   # answer what the cache holds

It holds at most ``max_entries`` record sets: when full it first drops the expired
ones, then the oldest stored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from ..errors import LocalProtocolError
from .records import Query, Record, RecordKind, dns_name, effective_ttl, kind_of

__all__ = ["CachedSet", "DnsCache"]

_KINDS: Final = frozenset({"NAPTR", "SRV", "A", "AAAA"})


class _Entry:
    __slots__ = ("additional", "expires", "records")

    def __init__(
        self, expires: float, records: tuple[tuple[Record, float], ...], additional: bool
    ) -> None:
        self.expires = expires
        self.records = records  # each with its own absolute expiry
        self.additional = additional


@dataclass(frozen=True, slots=True)
class CachedSet:
    """A cached record set: ``records`` with their remaining TTLs, and whether they
    came as additional data of another answer (``additional``), which a plan reads as
    RFC 2782 intends: the server sent the addresses it had, so the other address
    family need not be asked for."""

    records: tuple[Record, ...]
    additional: bool


class DnsCache:
    """Record sets by (kind, name) until their TTL, on the caller's clock.

    ``max_ttl`` caps how long anything is kept (a day by default: a hostile or
    mistaken TTL of years must not pin a target). ``negative_ttl`` is how long an
    empty answer is kept when :meth:`put` is not told (0 keeps none).
    """

    def __init__(
        self, *, max_entries: int = 1024, max_ttl: float = 86400.0, negative_ttl: float = 30.0
    ) -> None:
        if max_entries < 1:
            raise LocalProtocolError("DnsCache max_entries must be >= 1")
        if max_ttl < 0 or negative_ttl < 0:
            raise LocalProtocolError("DnsCache TTL bounds must be >= 0")
        self._max_entries = max_entries
        self._max_ttl = float(max_ttl)
        self._negative_ttl = float(negative_ttl)
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._now: float | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, kind: RecordKind, name: str, *, now: float) -> tuple[Record, ...] | None:
        """The records cached for (kind, name), with their remaining TTLs; ``()`` for a
        cached empty answer; None when nothing valid is cached."""
        found = self.get_set(kind, name, now=now)
        return None if found is None else found.records

    def get_set(self, kind: RecordKind, name: str, *, now: float) -> CachedSet | None:
        """Like :meth:`get`, also saying whether the set came as additional data."""
        self._check_now(now)
        key = (kind, dns_name(name))
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= now:
            del self._entries[key]
            return None
        records = tuple(dataclasses.replace(r, ttl=expiry - now) for r, expiry in entry.records)
        return CachedSet(records, entry.additional)

    def put(
        self,
        kind: RecordKind,
        name: str,
        records: Iterable[Record],
        *,
        now: float,
        negative_ttl: float | None = None,
        additional: bool = False,
    ) -> None:
        """Cache *records* as the (kind, name) set, each until ``now + ttl`` (capped by
        ``max_ttl``; the set expires with its first record). An empty set is kept for
        *negative_ttl* (default: the cache's). A set with a TTL of 0 is not kept.
        ``additional`` marks a set that came as additional data of another answer."""
        self._check_now(now)
        if kind not in _KINDS:
            raise LocalProtocolError(f"unknown record kind {kind!r}")
        stamped = tuple(
            (r, now + min(effective_ttl(r.ttl), self._max_ttl)) for r in records if r.ttl >= 0
        )
        if stamped:
            expires = min(expiry for _, expiry in stamped)
        else:
            ttl = self._negative_ttl if negative_ttl is None else negative_ttl
            expires = now + min(max(ttl, 0.0), self._max_ttl)
        key = (kind, dns_name(name))
        self._entries.pop(key, None)
        if expires <= now:
            return
        if len(self._entries) >= self._max_entries:
            self._make_room(now)
        self._entries[key] = _Entry(expires, stamped, additional)

    def put_answer(
        self,
        query: Query,
        records: Iterable[Record],
        *,
        now: float,
        negative_ttl: float | None = None,
    ) -> None:
        """Cache a whole DNS answer: the records of the queried type under the query,
        the others (additional data) under their own type and owner name."""
        main: list[Record] = []
        extra: dict[tuple[RecordKind, str], list[Record]] = {}
        for record in records:
            kind = kind_of(record)
            if kind == query.kind:
                main.append(record)
            else:
                extra.setdefault((kind, dns_name(record.name)), []).append(record)
        self.put(query.kind, query.name, main, now=now, negative_ttl=negative_ttl)
        for (kind, name), found in extra.items():
            self.put(kind, name, found, now=now, additional=True)

    def clear(self) -> None:
        self._entries.clear()

    def _make_room(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if e.expires <= now]:
            del self._entries[key]
        while len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]

    def _check_now(self, now: float) -> None:
        if self._now is not None and now < self._now:
            raise LocalProtocolError(f"now went backwards: {now} after {self._now}")
        self._now = now
