"""CPU per call of the whole ``sipsans uas`` path, in one process, without sockets.

    .venv/bin/python bench/uas_path.py [--rate 1000] [--calls 4000] [--profile [N]]

The datagrams of sipp's built-in ``uac`` scenario (INVITE with SDP, ACK, BYE) are read
by the asyncio session's ``UdpSocket`` from a fake OS socket, and everything the CLI's
``uas`` does happens: the UserAgent core, the pump, the CLI's event handler (the same
``UasHandler`` ``sipsans uas`` runs) answering with its SDP, the send routing down to
the fake socket's ``sendto``, which does nothing. The clock is
virtual and advances by ``1/rate`` per call, and the session's timer fires when its
deadline passes, so the transactions that linger after a call (Timer J of the BYE,
Timer L of the INVITE: 32 s on UDP) pile up as they do under ``sipp -r RATE``: the
collector and the timer heap see a steady state of about ``32 * rate`` calls' worth.
Warm-up runs that many calls first, then ``--calls`` more are timed with
``time.process_time()``.

What is left out (measured by ``bench/uas_cps.py`` instead): the event loop, the
system calls and the machine's load. ``--profile`` prints the top functions by own
time (cProfile; the split matters, its overhead inflates the total), and the time
spent in the garbage collector is measured with ``gc.callbacks``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import random
import socket
import statistics
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, NamedTuple, cast

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "adapters" / "session"))
sys.path.insert(0, str(HERE.parent / "adapters" / "asyncio"))

from calls import _TO_TAG, UAC, UAS, sipp_datagram  # noqa: E402

from sipsans_asyncio.cli.main import build_parser  # noqa: E402
from sipsans_asyncio.cli.stack import Stack  # noqa: E402
from sipsans_asyncio.cli.uas import UasHandler  # noqa: E402
from sipsans_asyncio.protocols import UdpSocket  # noqa: E402
from sipsans_asyncio.run import tune_gc  # noqa: E402
from sipsans_asyncio.session import Session  # noqa: E402
from sipsans_session import Listen  # noqa: E402
from sipsans_session import rng as rng_module  # noqa: E402
from sipsans_session.driver import TIMER_RESOLUTION, Driver  # noqa: E402
from sipsans_session.icmp import IcmpErrors  # noqa: E402

# sipp's uac scenario, as bench/calls.py writes its datagrams.
datagram = sipp_datagram


class _FakeSocket:
    """The OS socket under :class:`UdpSocket`: ``recvfrom`` hands out the datagrams put
    in ``inbox``; ``sendto`` only remembers the last datagram."""

    family = socket.AF_INET

    def __init__(self) -> None:
        self.inbox: deque[bytes] = deque()
        self.last = b""
        self.sent = 0

    def setsockopt(self, level: int, option: int, value: int) -> None:
        """Accepted (IP_RECVERR: ICMP errors reported, as on Linux)."""

    def recvfrom(self, size: int) -> tuple[bytes, tuple[str, int]]:
        if not self.inbox:
            raise BlockingIOError
        return self.inbox.popleft(), UAC

    def sendto(self, data: bytes, remote: tuple[str, int]) -> None:
        self.last = data
        self.sent += 1


class _Udp(UdpSocket):
    """The session's UDP socket object on a :class:`_FakeSocket` (no loop reader)."""

    def __init__(self, driver: Driver[Any], sock: _FakeSocket) -> None:
        self.driver = driver
        self.sock = sock  # type: ignore[assignment]
        self.local = UAS
        self._backlog = deque()
        self._waiting = sock.inbox.__len__  # (the real one polls the socket)
        self._icmp = IcmpErrors(sock, driver.send_failed)  # type: ignore[arg-type]


class VirtualClock:
    """The session's clock in virtual time: the driver reads :meth:`time`, the bench
    moves :attr:`now` on."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now


def _no_wake_up(deadline: float) -> None:
    """The driver's ``wake_at``: nothing to arm (it keeps the deadline; the bench fires
    the timer by hand once the virtual clock passes it)."""


class Rig(NamedTuple):
    """The asyncio session of ``sipsans uas`` on a fake socket and a virtual clock."""

    session: Session[Any]
    udp: _Udp
    handler: UasHandler
    clock: VirtualClock


def build(timer_resolution: float, seed: int | None = 0) -> Rig:
    """The session, its UDP socket object and the CLI's handler, as ``sipsans uas``
    makes them, and the virtual clock. With a ``seed``, the bytes the CLI's
    ``BufferedSystemRandom`` draws from come from ``random.Random(seed)`` instead of
    ``os.urandom`` (same code path): tags of other values cost other instruction
    counts (rejection sampling, leading zeros), which moved ``bench/instructions.py
    adapter-call`` by some 3,000 from run to run."""
    if seed is not None:
        rng_module._urandom = random.Random(seed).randbytes
    # --quiet: no line per call (the bench measures the SIP path, not the terminal).
    args = build_parser().parse_args(["uas", "--listen", f"{UAS[0]}:{UAS[1]}", "--quiet"])
    session: Session[Any] = Session(
        Stack(args).user_agent, listen=[Listen("UDP", *UAS)], timer_resolution=timer_resolution
    )
    clock = VirtualClock()
    session.driver.clock = clock.time  # (what start() does with the loop's)
    session.driver.wake_at = _no_wake_up
    udp = _Udp(session.driver, _FakeSocket())
    session._udp = [udp]
    session.addresses["UDP"] = UAS
    session.advertised = UAS
    assert session._factory is not None
    session._set_core(session._factory(UAS))
    handler = UasHandler(session, args, media_port=40000)
    session.on_event = handler.on_event  # (as sipsans uas does)
    return Rig(session, udp, handler, clock)


def run_calls(rig: Rig, first: int, count: int, rate: float) -> int:
    """Calls ``first`` .. ``first + count - 1``, their three datagrams evenly spaced, each
    read on its own (as at a load the UAS keeps up with); returns how many times the
    session's timer fired."""
    step = 1.0 / rate / 3
    fired = 0
    driver, udp, clock = rig.session.driver, rig.udp, rig.clock
    sock = cast(_FakeSocket, udp.sock)

    def deliver(data: bytes) -> None:
        nonlocal fired
        clock.now += step
        deadline = driver.deadline
        if deadline is not None and deadline <= clock.now:
            fired += 1
            driver.fire()
        sock.inbox.append(data)
        udp._read_ready()

    for n in range(first, first + count):
        deliver(datagram(b"INVITE", n))
        match = _TO_TAG.search(sock.last)
        assert match is not None and sock.last.startswith(b"SIP/2.0 200"), sock.last[:40]
        tag = match.group(1)
        deliver(datagram(b"ACK", n, tag))
        deliver(datagram(b"BYE", n, tag))
        assert sock.last.startswith(b"SIP/2.0 200"), sock.last[:40]
    return fired


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="virtual calls/s")
    parser.add_argument("--calls", type=int, default=4000, help="timed calls")
    parser.add_argument("--block", type=int, default=500, help="calls per timed block")
    parser.add_argument("--linger", type=float, default=33.0, help="warm-up, virtual seconds")
    parser.add_argument("--no-tune-gc", action="store_true")
    parser.add_argument(
        "--timer-resolution", type=float, default=TIMER_RESOLUTION, help="the session's, s"
    )
    parser.add_argument("--profile", type=int, nargs="?", const=30, metavar="TOP")
    args = parser.parse_args()

    async def go() -> None:
        rig = build(args.timer_resolution)
        session, handler = rig.session, rig.handler
        sock = cast(_FakeSocket, rig.udp.sock)
        if not args.no_tune_gc:
            tune_gc()
        warm = int(args.linger * args.rate)
        run_calls(rig, 1, warm, args.rate)
        gc_time = [0.0, 0]
        started = [0.0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started[0] = time.process_time()
            else:
                gc_time[0] += time.process_time() - started[0]
                gc_time[1] += 1

        gc.callbacks.append(on_gc)
        sent0 = sock.sent
        profile = cProfile.Profile() if args.profile else None
        fired = 0
        blocks: list[float] = []  # CPU seconds per call of each block
        first = warm + 1
        while first <= warm + args.calls:
            count = min(args.block, warm + args.calls + 1 - first)
            t0 = time.process_time()
            if profile is not None:
                profile.enable()
            fired += run_calls(rig, first, count, args.rate)
            if profile is not None:
                profile.disable()
            blocks.append((time.process_time() - t0) / count)
            first += count
        gc.callbacks.remove(on_gc)
        if not blocks:
            return
        stats = session.core.stats()
        print(
            f"{args.calls} calls at {args.rate:g}/s virtual (after {warm} warm-up calls),"
            f" CPU per call over blocks of {args.block}: min {min(blocks) * 1e6:.1f} us,"
            f" median {statistics.median(blocks) * 1e6:.1f} us"
            f"{' (under cProfile)' if profile else ''}"
        )
        print(
            f"  GC {gc_time[0] / args.calls * 1e6:.1f} us/call ({gc_time[1]} collections);"
            f" per call {(sock.sent - sent0) / args.calls:.2f} datagrams sent,"
            f" {fired / args.calls:.2f} timer wake-ups; live transactions"
            f" {stats.get('transactions')}, calls handled {handler.ended}"
        )
        if profile is not None:
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)

    asyncio.run(go())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
