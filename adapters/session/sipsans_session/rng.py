"""A cryptographic ``random.Random`` that reads the OS generator 4 KiB at a time.

RFC 3261 asks for tags (§19.3), branches (§8.1.1.7) and Call-IDs (§8.1.1.4) that
cannot be guessed, so the core's default rng is ``random.SystemRandom``: one
``os.urandom`` system call per draw. :class:`BufferedSystemRandom` keeps that guarantee
at less than half the cost per draw: its draws are cut from a buffer of ``os.urandom``
bytes, each byte used at most once, refilled :data:`BUFFER_SIZE` bytes at a time. No
deterministic generator (Mersenne Twister) output is ever returned, and it refuses to be
seeded or to save its state. The core stays pure: the adapters pass it in as the
injected ``rng`` of the cores they build.
"""

from __future__ import annotations

import io
import os
import random
import weakref
from typing import Any, NoReturn

__all__ = ["BUFFER_SIZE", "BufferedSystemRandom"]

#: Bytes read from ``os.urandom`` per refill.
BUFFER_SIZE = 4096
_RECIP_BPF = 2.0**-53  # a float has 53 bits of precision (as random.SystemRandom.random)
_urandom = os.urandom

#: Every instance, so that a forked child drops the bytes its parent also holds.
_instances: weakref.WeakSet[BufferedSystemRandom] = weakref.WeakSet()


class BufferedSystemRandom(random.Random):
    """``random.SystemRandom`` with its ``os.urandom`` reads batched.

    Every method of ``random.Random`` works (``getrandbits``, ``randrange``,
    ``randint``, ``choice``, ``random``, ``uniform``, ``randbytes``, ...) and draws only
    from ``os.urandom`` bytes. Safe to share between threads and across ``os.fork``
    (the child drops the buffer it inherited, which its parent goes on using).
    ``seed``, ``getstate`` and ``setstate`` raise NotImplementedError: give a core
    ``random.Random(seed)`` for a reproducible run.
    """

    def __init__(self) -> None:
        # (random.Random.__init__ would seed, which this generator refuses.)
        self._stream = io.BytesIO()
        self.gauss_next = None  # read by random.Random.gauss
        _instances.add(self)

    def getrandbits(self, k: int, /) -> int:
        """An int of ``k`` random bits."""
        if k < 0:
            raise ValueError("number of bits must be non-negative")
        size = (k + 7) >> 3
        # BytesIO.read is one C call, atomic under the GIL: threads sharing the
        # generator never get the same bytes, without the cost of a lock.
        chunk = self._stream.read(size)
        if len(chunk) < size:
            chunk = self._refill(size)
        return int.from_bytes(chunk) >> ((size << 3) - k)

    def _refill(self, size: int) -> bytes:
        """``size`` fresh bytes, from a new buffer unless more than one is asked for.
        The bytes left in the old buffer were consumed by the short read: dropped."""
        if size > BUFFER_SIZE:
            return _urandom(size)
        stream = io.BytesIO(_urandom(BUFFER_SIZE))
        chunk = stream.read(size)
        self._stream = stream
        return chunk

    def random(self) -> float:
        """A float in [0.0, 1.0), from 53 random bits."""
        return self.getrandbits(53) * _RECIP_BPF

    def _randbelow(self, n: int) -> int:
        """An int in [0, n), uniform: draws of just enough bits, rejecting those >= n
        (on average fewer than two draws)."""
        if n <= 0:
            raise ValueError("the upper bound must be positive")
        k = (n - 1).bit_length()
        r = self.getrandbits(k)
        while r >= n:
            r = self.getrandbits(k)
        return r

    def seed(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError(
            "BufferedSystemRandom cannot be seeded: give the core random.Random(seed)"
            " for a reproducible run"
        )

    def getstate(self) -> NoReturn:
        raise NotImplementedError("BufferedSystemRandom has no state to save")

    def setstate(self, state: Any) -> NoReturn:
        raise NotImplementedError("BufferedSystemRandom has no state to restore")


def _after_fork_in_child() -> None:
    for rng in list(_instances):
        rng._stream = io.BytesIO()


if hasattr(os, "register_at_fork"):  # (not on Windows)
    os.register_at_fork(after_in_child=_after_fork_in_child)
