"""UserAgent cost per call, in memory: calls per second, instructions per call, and
the memory an idle dialog holds.

    .venv/bin/python bench/calls.py                     # both workloads + memory
    .venv/bin/python bench/calls.py uas -n 4000         # one workload
    .venv/bin/python bench/calls.py --baseline DIR      # also time the sipsans in DIR
    .venv/bin/python bench/calls.py --instructions      # callgrind: instructions per call
    .venv/bin/python bench/calls.py uas --profile       # cProfile, top functions

Workloads (each iteration is one whole call):

* ``calls``: two UserAgents in memory, INVITE / 180 / 200 / ACK / BYE / 200, the callee
  answering with ``ringing()`` then ``accept()``.
* ``uas``: one UserAgent as a UAS fed the datagrams of sipp's built-in ``uac`` scenario
  (INVITE with SDP, ACK, BYE), answering 180 then 200 with SDP as ``sipsans uas --ring``
  does. Everything below the socket: receive, parse, match, dialog, serialize.

The clock is virtual. For calls per second it advances ``1/--rate`` per call and the
UA's timers fire when due, so the transactions and timers that outlive a call pile up as
under a real load of that rate. For ``--instructions`` it jumps 200 s per call, so
every timer of a call (Timers J, K, L, M, the ring timer...) fires within its own
iteration and the count covers all of it; each workload runs under
``valgrind --tool=callgrind`` with 0 and with N calls after the same warm-up, and the
difference divided by N is printed (independent of the machine's load).

``--baseline DIR`` times the same workloads with ``sipsans`` imported from DIR (a copy
of the package, e.g. from before a change), interleaved with the working tree's runs in
separate processes, and prints the ratio: a before/after figure from one run.

Memory per idle dialog: N calls are set up and confirmed (no BYE), every transaction
is left to end, and the growth seen by tracemalloc is divided by the 2N dialogs
(both ends hold one each).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import random
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent

SDP = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
A, B = ("192.0.2.1", 5060), ("192.0.2.2", 5060)

# -- the sipp-like UAC's datagrams ---------------------------------------------------------

UAS = ("127.0.0.1", 5060)
UAC = ("127.0.0.1", 5061)
_SIPP_SDP = (
    b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n"
    b"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
_SIPP = (
    b"%(method)s sip:service@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-%(n)d-%(step)d\r\n"
    b"From: sipp <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag00%(n)d\r\n"
    b"To: service <sip:service@127.0.0.1:5060>%(totag)s\r\n"
    b"Call-ID: %(n)d-4242@127.0.0.1\r\n"
    b"CSeq: %(cseq)s\r\n"
    b"Contact: sip:sipp@127.0.0.1:5061\r\n"
    b"Max-Forwards: 70\r\n"
    b"Subject: Performance Test\r\n"
    b"%(ctype)s"
    b"Content-Length: %(length)d\r\n\r\n"
)
ANSWER = (
    b"v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
_TO_TAG = re.compile(rb"\r\nTo:[^\r]*;tag=([^;\r]+)", re.IGNORECASE)


def sipp_datagram(method: bytes, n: int, to_tag: bytes = b"") -> bytes:
    """The request ``method`` of sipp's ``uac`` scenario for call ``n``."""
    body = _SIPP_SDP if method == b"INVITE" else b""
    fields = {
        b"method": method,
        b"n": n,
        b"step": {b"INVITE": 0, b"ACK": 5, b"BYE": 7}[method],
        b"totag": b";tag=" + to_tag if to_tag else b"",
        b"cseq": {b"INVITE": b"1 INVITE", b"ACK": b"1 ACK", b"BYE": b"2 BYE"}[method],
        b"ctype": b"Content-Type: application/sdp\r\n" if body else b"",
        b"length": len(body),
    }
    return _SIPP % fields + body


# -- workloads: set-up returns one call as a function of (call number, now) ----------------

Call = Callable[[int, float], None]


def _make(host: str, seed: int, trying: bool = False) -> Any:
    from sipsans import Endpoint, EndpointConfig, UserAgent

    config = EndpointConfig(advertised_host=host, trying_delay=0.2 if trying else None)
    ep = Endpoint(config, rng=random.Random(seed))
    return UserAgent(ep, identity=f"sip:u@{host}", rng=random.Random(seed + 1))


def _fire(ua: Any, now: float) -> None:
    deadline = ua.get_next_timer()
    if deadline is not None and deadline <= now:
        ua.handle_timer(now=now)


def _pump(alice: Any, bob: Any, now: float) -> None:
    """Deliver every transmit at once until both are quiet; Bob rings and answers."""
    from sipsans import IncomingCall

    busy = True
    while busy:
        busy = False
        for src, dst, addr in ((alice, bob, A), (bob, alice, B)):
            for ev in src.events():
                if isinstance(ev, IncomingCall):
                    ev.dialog.ringing(now=now)
                    ev.dialog.accept(body=SDP, now=now)
            for t in src.transmits():
                dst.receive_datagram(t.data, remote=addr, now=now)
                busy = True


def calls_workload() -> tuple[Call, list[Any]]:
    """Full calls between two UserAgents."""
    alice, bob = _make(A[0], 1), _make(B[0], 2)

    def call(_n: int, now: float) -> None:
        _fire(alice, now)
        _fire(bob, now)
        _pump(alice, bob, now)
        dialog = alice.invite("sip:u@192.0.2.2", body=SDP, now=now)
        _pump(alice, bob, now)
        dialog.bye(now=now)
        _pump(alice, bob, now)

    return call, [alice, bob]


def uas_workload(ua: Any = None) -> tuple[Call, list[Any]]:
    """sipp ``-sn uac`` calls into one UserAgent (the ``sipsans uas --ring`` path); into
    ``ua`` when given, else a new one."""
    from sipsans import IncomingCall

    if ua is None:
        ua = _make(UAS[0], 1, trying=True)

    def call(n: int, now: float) -> None:
        _fire(ua, now)
        ua.transmits()
        ua.events()
        ua.receive_datagram(sipp_datagram(b"INVITE", n), remote=UAC, local=UAS, now=now)
        for event in ua.events():
            if isinstance(event, IncomingCall):
                event.dialog.ringing(now=now)
                event.dialog.accept(body=ANSWER, content_type="application/sdp", now=now)
        sent = ua.transmits()
        tag = next(
            m.group(1)
            for t in sent
            if t.data.startswith(b"SIP/2.0 200") and (m := _TO_TAG.search(t.data))
        )
        ua.receive_datagram(sipp_datagram(b"ACK", n, tag), remote=UAC, local=UAS, now=now)
        ua.events()
        ua.receive_datagram(sipp_datagram(b"BYE", n, tag), remote=UAC, local=UAS, now=now)
        ua.events()
        sent = ua.transmits()
        assert len(sent) == 1 and sent[0].data.startswith(b"SIP/2.0 200"), sent

    return call, [ua]


WORKLOADS: dict[str, Callable[[], tuple[Call, list[Any]]]] = {
    "calls": calls_workload,
    "uas": uas_workload,
}
WARM_UP = 50


def run(name: str, n: int, step: float) -> tuple[float, list[Any]]:
    """Warm up, then ``n`` calls with the clock advancing ``step`` per call; returns the
    CPU seconds of the ``n`` calls and the UAs."""
    call, uas = WORKLOADS[name]()
    now = 0.0
    for i in range(WARM_UP):
        now += step
        call(i, now)
    start = time.process_time()
    for i in range(WARM_UP, WARM_UP + n):
        now += step
        call(i, now)
    return time.process_time() - start, uas


# -- memory per idle dialog ------------------------------------------------------------


def bytes_per_idle_dialog(n: int) -> float:
    alice, bob = _make(A[0], 3), _make(B[0], 4)
    now = 0.0

    def settle() -> None:
        nonlocal now
        now += 100
        for _ in range(3):  # timers may start more timers (Timer K after a 2xx, ...)
            alice.handle_timer(now=now)
            bob.handle_timer(now=now)
            _pump(alice, bob, now)
        alice.events()
        bob.events()

    for _ in range(10):  # warm caches before measuring
        alice.invite("sip:u@192.0.2.2", body=SDP, now=now)
        _pump(alice, bob, now)
    settle()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(n):
        alice.invite("sip:u@192.0.2.2", body=SDP, now=now)
        _pump(alice, bob, now)
    # Idle: every transaction (Timers M, L, K...) has ended, only the dialogs remain.
    settle()
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    for ua in (alice, bob):
        stats = ua.stats()
        assert stats["transactions"] == 0 and stats["dialogs"] == n + 10, stats
    # Both ends hold one confirmed dialog per call: report per dialog.
    return grown / (2 * n)


# -- instructions (callgrind) ------------------------------------------------------------


def _instructions(name: str, n: int, pythonpath: str | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            str(HERE),
            "--run",
            name,
            str(n),
            "--step",
            "200",
        ]
        env = dict(os.environ, PYTHONHASHSEED="0")
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        for line in out.read_text().splitlines():
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise RuntimeError("callgrind wrote no totals")


def _timed(name: str, n: int, step: float, pythonpath: str | None) -> float:
    """CPU seconds of ``n`` calls in a fresh process importing sipsans from ``pythonpath``."""
    cmd = [sys.executable, str(HERE), "--run", name, str(n), "--step", str(step)]
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    return float(done.stdout.split()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("workloads", nargs="*", help=f"any of {', '.join(WORKLOADS)}")
    parser.add_argument("-n", type=int, default=3000, help="calls per timed run (default 3000)")
    parser.add_argument("--rate", type=float, default=1000.0, help="calls/s of virtual time")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per tree, best kept")
    parser.add_argument("--baseline", metavar="DIR", help="also time the sipsans package in DIR")
    parser.add_argument("--instructions", action="store_true", help="callgrind counts")
    parser.add_argument("--profile", action="store_true", help="cProfile the first workload")
    parser.add_argument("--memory", type=int, default=2000, help="idle dialogs to measure")
    parser.add_argument("--run", nargs=2, metavar=("WORKLOAD", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--step", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:
        seconds, _ = run(args.run[0], int(args.run[1]), args.step)
        print(f"{seconds:.6f}")
        return 0
    names = args.workloads or list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")
    step = 1.0 / args.rate
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        _, uas = run(names[0], args.n, step)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        print("tables after the run:", uas[-1].stats())
        return 0
    trees = [("working tree", str(ROOT))]
    if args.baseline:
        trees.append(("baseline", str(Path(args.baseline).resolve())))
    for name in names:
        if args.instructions:
            counts = [
                (_instructions(name, args.n, path) - _instructions(name, 0, path)) / args.n
                for _, path in trees
            ]
            for (label, _), count in zip(trees, counts, strict=True):
                print(f"{name}: {label}: {count:,.0f} instructions per call")
            if len(counts) == 2:
                print(f"{name}: baseline / working tree: {counts[1] / counts[0]:.2f}x")
            continue
        best = [float("inf")] * len(trees)
        for _ in range(args.repeats):  # interleaved: noise hits every tree alike
            for i, (_, path) in enumerate(trees):
                best[i] = min(best[i], _timed(name, args.n, step, path))
        rates = [args.n / s for s in best]
        for (label, _), rate in zip(trees, rates, strict=True):
            print(f"{name}: {label}: {rate:,.0f} calls/s ({1e6 / rate:,.0f} us CPU per call)")
        if len(rates) == 2:
            print(f"{name}: working tree / baseline: {rates[0] / rates[1]:.2f}x")
    if args.memory and not args.instructions:
        per_dialog = bytes_per_idle_dialog(args.memory)
        print(f"memory per idle confirmed dialog: {per_dialog:,.0f} bytes (bench/memory.py)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
