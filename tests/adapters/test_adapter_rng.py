"""sipsans_session.rng.BufferedSystemRandom: the cryptographic rng the adapters give the
cores they build (RFC 3261 §19.3 tags, §8.1.1.7 branches, §8.1.1.4 Call-IDs), drawn
from a buffer of os.urandom bytes instead of one system call per draw."""

from __future__ import annotations

import argparse
import itertools
import os
import pickle
import random
import re
import threading
from collections import Counter
from collections.abc import Callable

import pytest

import sipsans
from sipsans_asyncio.cli.stack import Stack
from sipsans_session import rng as rng_module
from sipsans_session.rng import BUFFER_SIZE, BufferedSystemRandom


class FakeUrandom:
    """os.urandom returning the bytes of ``pattern`` over and over, recording each size
    asked for (to check which bytes each draw was cut from)."""

    def __init__(self, pattern: bytes) -> None:
        self.stream = itertools.cycle(pattern)
        self.sizes: list[int] = []

    def __call__(self, size: int) -> bytes:
        self.sizes.append(size)
        return bytes(itertools.islice(self.stream, size))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Callable[[bytes], FakeUrandom]:
    def install(pattern: bytes) -> FakeUrandom:
        source = FakeUrandom(pattern)
        monkeypatch.setattr(rng_module, "_urandom", source)
        return source

    return install


# -- values and where they come from ------------------------------------------------------


@pytest.mark.parametrize("k", [0, 1, 7, 8, 9, 12, 31, 32, 48, 63, 64, 65, 96, 128, 1000])
def test_getrandbits_gives_k_bits(k: int) -> None:
    rng = BufferedSystemRandom()
    values = [rng.getrandbits(k) for _ in range(200)]
    assert all(0 <= v < 2**k for v in values)
    # Every one of the k bits is used: the top bit is set in about half of the draws.
    assert max(values).bit_length() == k


def test_getrandbits_rejects_a_negative_count() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        BufferedSystemRandom().getrandbits(-1)


def test_draws_are_cut_from_one_buffer_in_order(fake: Callable[[bytes], FakeUrandom]) -> None:
    source = fake(bytes(range(256)))
    rng = BufferedSystemRandom()
    assert rng.getrandbits(16) == 0x0001
    assert rng.getrandbits(8) == 0x02
    # k not a multiple of 8: the top k bits of the next whole bytes (here 0x03 0x04).
    assert rng.getrandbits(12) == 0x0304 >> 4
    assert rng.getrandbits(1) == 0x05 >> 7
    assert rng.getrandbits(64) == int.from_bytes(bytes(range(6, 14)))
    assert source.sizes == [BUFFER_SIZE]  # one read for all of them


def test_a_draw_across_the_end_of_the_buffer_takes_fresh_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The n-th read of the OS returns the byte n everywhere: a value tells which
    # buffer it was cut from.
    sizes: list[int] = []

    def urandom(size: int) -> bytes:
        sizes.append(size)
        return bytes([len(sizes)]) * size

    monkeypatch.setattr(rng_module, "_urandom", urandom)
    rng = BufferedSystemRandom()
    assert {rng.getrandbits(8) for _ in range(BUFFER_SIZE - 6)} == {1}
    # 8 bytes asked for, 6 left: the draw comes whole from a new buffer, and the 6 left
    # over are never used for anything.
    assert rng.getrandbits(64) == int.from_bytes(b"\x02" * 8)
    assert rng.getrandbits(20) == int.from_bytes(b"\x02" * 3) >> 4
    assert sizes == [BUFFER_SIZE, BUFFER_SIZE]


def test_a_draw_larger_than_the_buffer_reads_the_os_directly(
    fake: Callable[[bytes], FakeUrandom],
) -> None:
    source = fake(bytes(range(1, 256)))
    rng = BufferedSystemRandom()
    k = (BUFFER_SIZE + 10) * 8 - 3  # not a multiple of 8 either
    value = rng.getrandbits(k)
    assert value.bit_length() <= k
    # BUFFER_SIZE + 10 bytes from one read of the OS, shifted right by 3.
    assert source.sizes == [BUFFER_SIZE + 10]
    expected = bytes(itertools.islice(itertools.cycle(range(1, 256)), BUFFER_SIZE + 10))
    assert value == int.from_bytes(expected) >> 3


def test_randbelow_is_exactly_uniform_over_a_uniform_buffer(
    fake: Callable[[bytes], FakeUrandom],
) -> None:
    # Every byte value once per 256 bytes. randrange(3) takes 2 bits (the top of one
    # byte) per draw and rejects 3: exactly as many 0s, 1s and 2s, none other.
    source = fake(bytes(range(256)))
    rng = BufferedSystemRandom()
    draws = [rng.randrange(3) for _ in range(768)]  # four passes, the last up to byte 191
    assert Counter(draws) == {0: 256, 1: 256, 2: 256}
    assert source.sizes == [BUFFER_SIZE]
    # A power of two needs no rejection: randrange(256) gives the next bytes themselves.
    assert [rng.randrange(256) for _ in range(256)] == [*range(192, 256), *range(192)]


def test_random_is_a_53_bit_float_below_one(fake: Callable[[bytes], FakeUrandom]) -> None:
    fake(b"\xff" * 7 + b"\x00" * 7)
    rng = BufferedSystemRandom()
    assert rng.random() == (2**53 - 1) / 2**53  # the largest value, still below 1.0
    assert rng.random() == 0.0


def test_the_random_methods_all_work_on_it() -> None:
    rng = BufferedSystemRandom()
    assert 210 <= rng.randint(210, 400) <= 400
    assert 1 <= rng.randrange(1, 2**15) < 2**15
    assert rng.choice("abc") in "abc"
    assert sorted(rng.sample(range(10), 10)) == list(range(10))
    assert 0.0 <= rng.uniform(0, 2) <= 2
    assert len(rng.randbytes(33)) == 33
    items = list(range(20))
    rng.shuffle(items)
    assert sorted(items) == list(range(20))


def test_uniformity_sanity_chi_square() -> None:
    rng = BufferedSystemRandom()
    draws = 100_000
    counts = Counter(rng.randrange(10) for _ in range(draws))
    expected = draws / 10
    chi2 = sum((counts[v] - expected) ** 2 / expected for v in range(10))
    # 9 degrees of freedom: the mean is 9; above 60 has probability below 1e-9, so this
    # only fails for a generator that is really biased.
    assert chi2 < 60
    bits = Counter(rng.getrandbits(1) for _ in range(draws))
    assert abs(bits[1] - draws / 2) < 6 * (draws / 4) ** 0.5  # six standard deviations


# -- no state, threads and fork -------------------------------------------------------------


def test_it_cannot_be_seeded_or_its_state_saved() -> None:
    rng = BufferedSystemRandom()
    with pytest.raises(NotImplementedError, match=r"random\.Random\(seed\)"):
        rng.seed(42)
    with pytest.raises(NotImplementedError):
        rng.getstate()
    with pytest.raises(NotImplementedError):
        rng.setstate(random.Random(1).getstate())
    with pytest.raises(NotImplementedError):
        pickle.dumps(rng)


def test_threads_sharing_it_never_get_the_same_bytes() -> None:
    rng = BufferedSystemRandom()
    results: list[list[int]] = [[] for _ in range(4)]

    def draw(out: list[int]) -> None:
        out.extend(rng.getrandbits(64) for _ in range(20_000))

    threads = [threading.Thread(target=draw, args=(out,)) for out in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    values = [v for out in results for v in out]
    # 80,000 64-bit values: a repeat by chance has probability ~2e-10; a byte used
    # twice would repeat a whole value.
    assert len(set(values)) == len(values)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_repeat_its_parents_draws() -> None:
    rng = BufferedSystemRandom()
    rng.getrandbits(64)  # the buffer is full: the child inherits it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, rng.getrandbits(64).to_bytes(8))
        os._exit(0)
    os.close(write)
    child = int.from_bytes(os.read(read, 8))
    os.close(read)
    os.waitpid(pid, 0)
    assert rng.getrandbits(64) != child


# -- the cores the CLI builds ---------------------------------------------------------------


def test_the_cli_cores_draw_their_tags_from_the_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    real = os.urandom

    def counting(size: int) -> bytes:
        reads.append(size)
        return real(size)

    monkeypatch.setattr(rng_module, "_urandom", counting)
    monkeypatch.setattr(random, "_urandom", counting)  # what random.SystemRandom reads
    args = argparse.Namespace(user=None, password=None, trace=None)
    ua = Stack(args).user_agent(("127.0.0.1", 5060))
    tags: set[str] = set()
    branches: set[str | None] = set()
    call_ids: set[str] = set()
    for n in range(64):
        ua.invite(f"sip:bob{n}@127.0.0.1:5070", now=0.0)
        (sent,) = ua.transmits()
        request = sipsans.parse_message(sent.data)
        assert isinstance(request, sipsans.Request)
        tag = request.from_.tag
        assert tag is not None
        tags.add(tag)
        branches.add(request.top_via.branch)
        call_ids.add(request.call_id)
    assert reads == [BUFFER_SIZE]  # one read of the OS for all 64 calls
    assert len(tags) == len(branches) == len(call_ids) == 64
    # §19.3 asks for at least 32 random bits; the UA's tags carry 48, all of them used.
    assert all(re.fullmatch(r"[0-9a-f]{12}", tag) for tag in tags)
    assert max(int(tag, 16) for tag in tags).bit_length() == 48
