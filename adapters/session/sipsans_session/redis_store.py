"""A :class:`~sipsans_session.store.Store` on Redis, through ``redis.asyncio`` (the
``redis`` extra: ``pip install sipsans[redis]``).

- ``write``: one pipeline (no MULTI: the keys are independent) of ``SET key value PX
  ttl`` and ``DEL key``: a batch of snapshots costs one round trip.
- ``lock``: ``SET name owner NX PX ttl`` (one owner, freed by time even if its holder
  dies); ``unlock``: a compare-and-delete script, so that a holder whose lock expired
  never frees another's.
- Every call is bounded by ``timeout`` seconds; a refused connection, a timeout or any
  other Redis error becomes :class:`~sipsans_session.store.StoreUnavailable`. The
  client reconnects by itself on the next call once Redis is back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping
from typing import Any

from .errors import StoreUnavailable

__all__ = ["RedisStore"]

_UNLOCK = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("DEL", KEYS[1])
end
return 0
"""


def _redis() -> Any:
    try:
        import redis.asyncio  # noqa: PLC0415  (the optional `redis` extra)
    except ImportError as exc:
        raise ImportError(
            "a Redis store needs the redis package: pip install sipsans[redis]"
        ) from exc
    return redis


class RedisStore:
    """Redis at ``url`` (``redis://HOST:PORT/DB``), each call bounded by ``timeout``."""

    def __init__(self, url: str, *, timeout: float = 0.5) -> None:
        redis = _redis()
        self.url = url
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._client = redis.asyncio.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
        )
        self._unlock = self._client.register_script(_UNLOCK)

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        return StoreUnavailable(f"redis at {self.url}: {exc.__class__.__name__}: {exc}")

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._client.get(key)
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        return None if value is None else bytes(value)

    async def write(
        self, puts: Mapping[str, bytes], deletes: Collection[str], *, ttl: float
    ) -> None:
        if not puts and not deletes:
            return
        px = max(1, round(ttl * 1000))
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for key, value in puts.items():
                    pipe.set(key, value, px=px)
                if deletes:
                    pipe.delete(*deletes)
                await pipe.execute()
        except self._errors as exc:
            raise self._unavailable(exc) from exc

    async def lock(self, name: str, owner: str, *, ttl: float) -> bool:
        try:
            taken = await self._client.set(name, owner, nx=True, px=max(1, round(ttl * 1000)))
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        return bool(taken)

    async def unlock(self, name: str, owner: str) -> None:
        try:
            await self._unlock(keys=[name], args=[owner])
        except self._errors as exc:
            raise self._unavailable(exc) from exc

    async def memory_usage(self, key: str) -> int | None:
        """Bytes Redis uses for ``key`` (``MEMORY USAGE``: value, key and overhead)."""
        try:
            used = await self._client.memory_usage(key)
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        return None if used is None else int(used)

    async def aclose(self) -> None:
        with contextlib.suppress(*self._errors):
            await self._client.aclose()
