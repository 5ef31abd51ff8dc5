"""Memory per idle confirmed dialog, per side: tracemalloc over N in-memory calls.

    .venv/bin/python bench/memory.py                 # 10,000 dialogs, the target of DESIGN.md §8
    .venv/bin/python bench/memory.py -n 2000 --top 25   # and the 25 largest allocation sites

Two UserAgents in memory (``bench/calls.py``'s set-up): Alice calls Bob N times, Bob
answers each call, and nobody hangs up. Twice: with the default ``UAConfig`` (session
timers ``"supported"``: between two sipsans UAs every call negotiates an RFC 4028 session
timer, so each side of an idle dialog also holds a running timer and its alarm) and with
``session_timer="disabled"`` (the dialog alone, as with a peer without timers). The clock
then jumps until every transaction has ended (Timers K, L, M, ...): what is left is N
confirmed dialogs on each side, idle.

tracemalloc measures what the N calls left behind on both sides together (growth between
a snapshot before the calls and one after, with a full collection before each). Then
Alice's UserAgent is dropped and what is freed is her side; then Bob's: his side. Objects
both sides share (interned texts, memo entries) are counted where they are freed last.
The target (DESIGN.md §8) is 1 KiB or less per dialog on each side.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tracemalloc
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

TARGET = 1024


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _make(host: str, seed: int, dialogs: int, session_timer: str) -> Any:
    """A UserAgent as bench/calls.py makes them, allowed ``dialogs`` dialogs at once."""
    from sipsans import Endpoint, EndpointConfig, UAConfig, UserAgent

    ep = Endpoint(EndpointConfig(advertised_host=host), rng=random.Random(seed))
    config = UAConfig(max_dialogs=dialogs, session_timer=session_timer)  # type: ignore[arg-type]
    return UserAgent(ep, identity=f"sip:u@{host}", config=config, rng=random.Random(seed + 1))


def _settle(uas: list[Any], now: float) -> None:
    """Fire every timer due at ``now``, as often as they start others (Timer K...)."""
    from calls import _pump

    alice, bob = uas
    for _ in range(3):
        alice.handle_timer(now=now)
        bob.handle_timer(now=now)
        _pump(alice, bob, now)
    alice.events()
    bob.events()


def _calls(uas: list[Any], n: int, now: float) -> None:
    from calls import SDP, _pump

    alice, bob = uas
    for _ in range(n):
        alice.invite("sip:u@192.0.2.2", body=SDP, now=now)
        _pump(alice, bob, now)


def measure(n: int, top: int, session_timer: str = "supported") -> dict[str, float]:
    # The two UserAgents live in this list only, so that dropping one frees its side.
    uas = [_make(f"192.0.2.{i}", 2 + i, n + 10, session_timer) for i in (1, 2)]
    _calls(uas, 10, 0.0)  # warm the caches and memos before measuring
    _settle(uas, 100.0)
    tracemalloc.start(1)
    before = _traced()
    first = tracemalloc.take_snapshot()
    _calls(uas, n, 100.0)
    _settle(uas, 200.0)  # idle: every transaction has ended, only the dialogs remain
    for ua in uas:
        stats = ua.stats()
        assert stats["transactions"] == 0 and stats["dialogs"] == n + 10, stats
    del ua
    both = _traced() - before
    if top:
        snapshot = tracemalloc.take_snapshot()
        print(f"largest allocation sites, bytes per call (both sides, {n:,} calls):")
        for stat in snapshot.compare_to(first, "lineno")[:top]:
            frame = stat.traceback[0]
            where = f"{Path(frame.filename).parent.name}/{Path(frame.filename).name}"
            print(
                f"  {stat.size_diff / n:8.1f} B  {stat.count_diff / n:5.2f} blocks  "
                f"{where}:{frame.lineno}"
            )
        del snapshot
    del first
    sides = []
    for i in range(2):
        held = _traced()
        uas[i] = None
        sides.append((held - _traced()) / n)
    tracemalloc.stop()
    return {"both": both / n, "alice": sides[0], "bob": sides[1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=10_000, help="calls (default 10,000)")
    parser.add_argument("--top", type=int, default=0, help="print the N largest sites")
    parser.add_argument(
        "--session-timer",
        choices=["supported", "disabled"],
        action="append",
        help="UAConfig.session_timer of both UAs (default: each, one after the other)",
    )
    args = parser.parse_args(argv)
    print(f"idle confirmed dialogs: {args.n:,} on each side; target <= {TARGET} bytes a side")
    for setting in args.session_timer or ["supported", "disabled"]:
        found = measure(args.n, args.top, setting)
        verdict = "met" if max(found["alice"], found["bob"]) <= TARGET else "NOT met"
        print(f"session_timer={setting!r}:")
        print(f"  caller side (Alice): {found['alice']:7,.0f} bytes per dialog")
        print(f"  callee side (Bob):   {found['bob']:7,.0f} bytes per dialog")
        print(f"  both sides together: {found['both']:7,.0f} bytes per call")
        print(f"  target <= {TARGET} bytes per dialog on each side: {verdict}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
