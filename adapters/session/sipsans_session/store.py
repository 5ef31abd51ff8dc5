"""Where the snapshots of shared dialogs live (DESIGN.md §10): a small key-value
interface, an in-memory implementation, and the opening of one from a URL.

:class:`Store` is what :class:`~sipsans_session.shared.SharedDialogs` needs of a shared
store, and nothing more: read a value, write a batch of values (each with a
time-to-live, a safety net for values nobody deletes) and deletions in one round trip,
and a lock with a time-to-live that one owner at a time holds (so that two processes
asked for the same dialog at once do not both restore it). Every method is a coroutine
and raises :class:`StoreUnavailable` when the store cannot be reached; none blocks the
loop.

- :class:`MemoryStore`: a dict, for tests and for several sessions of one process.
- :class:`~sipsans_session.redis_store.RedisStore`: Redis through ``redis.asyncio``
  (the ``redis`` extra: ``pip install sipsans[redis]``).

:func:`open_store` makes one from ``memory:`` or ``redis://HOST:PORT/DB``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import Protocol

from .errors import StoreUnavailable

__all__ = ["MemoryStore", "Store", "StoreUnavailable", "open_store"]


class Store(Protocol):
    """A shared key-value store with time-to-live and locks (see the module docstring).
    Keys are text, values bytes, times-to-live seconds."""

    async def get(self, key: str) -> bytes | None:
        """The value of ``key``, or None when there is none (or it expired)."""
        ...

    async def write(
        self, puts: Mapping[str, bytes], deletes: Collection[str], *, ttl: float
    ) -> None:
        """Set every key of ``puts`` (each expiring ``ttl`` seconds from now) and delete
        every key of ``deletes``, in one round trip."""
        ...

    async def lock(self, name: str, owner: str, *, ttl: float) -> bool:
        """Take the lock ``name`` for ``owner`` unless someone holds it: True when
        taken. It frees itself ``ttl`` seconds later."""
        ...

    async def unlock(self, name: str, owner: str) -> None:
        """Free the lock ``name`` if ``owner`` holds it (a lock that expired and was taken
        by another is left alone)."""
        ...

    async def aclose(self) -> None:
        """Release the connections."""
        ...


class MemoryStore:
    """A :class:`Store` in a dict, shared by whatever holds the object. ``available``
    False makes every call raise :class:`StoreUnavailable` (to test outages); ``clock``
    is the time expiries are measured on."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._values: dict[str, tuple[bytes, float]] = {}
        self.available = True
        #: Round trips made (each call is one).
        self.round_trips = 0

    def _check(self) -> float:
        if not self.available:
            raise StoreUnavailable("memory store switched off")
        self.round_trips += 1
        return self._clock()

    def _live(self, key: str, now: float) -> bytes | None:
        found = self._values.get(key)
        if found is None:
            return None
        if found[1] <= now:
            del self._values[key]
            return None
        return found[0]

    def live_keys(self) -> list[str]:
        """The keys that have not expired (for tests and inspection)."""
        now = self._clock()
        return [key for key in list(self._values) if self._live(key, now) is not None]

    async def get(self, key: str) -> bytes | None:
        return self._live(key, self._check())

    async def write(
        self, puts: Mapping[str, bytes], deletes: Collection[str], *, ttl: float
    ) -> None:
        now = self._check()
        for key, value in puts.items():
            self._values[key] = (value, now + ttl)
        for key in deletes:
            self._values.pop(key, None)

    async def lock(self, name: str, owner: str, *, ttl: float) -> bool:
        now = self._check()
        if self._live(name, now) is not None:
            return False
        self._values[name] = (owner.encode(), now + ttl)
        return True

    async def unlock(self, name: str, owner: str) -> None:
        now = self._check()
        if self._live(name, now) == owner.encode():
            del self._values[name]

    async def aclose(self) -> None:
        return None


def open_store(url: str, *, timeout: float = 0.5) -> Store:
    """The store ``url`` names: ``memory:`` (this process only) or
    ``redis://[:PASSWORD@]HOST:PORT/DB`` (``rediss://`` over TLS). ``timeout``: seconds
    a Redis call may take before it counts as unreachable. ValueError for another
    scheme; ImportError naming the extra when ``redis`` is not installed."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        return MemoryStore()
    if scheme in ("redis", "rediss", "unix"):
        from .redis_store import RedisStore  # noqa: PLC0415  (the optional `redis` extra)

        return RedisStore(url, timeout=timeout)
    raise ValueError(f"unknown store {url!r}: give redis://HOST:PORT/DB or memory:")
