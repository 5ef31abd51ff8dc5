"""UserAgent cost per call vs. dialogs in flight: 1k, 10k, 100k confirmed dialogs held.

    .venv/bin/python bench/dialogs.py            # 1k, 10k and 100k dialogs (~1.5 min)
    .venv/bin/python bench/dialogs.py --quick    # 1k and 10k

One UserAgent as a UAS (``bench/calls.py``'s ``uas`` workload: sipp's ``uac``
datagrams, answered 180 then 200 with SDP). First N calls are set up and confirmed and
never hung up; the clock then jumps past every transaction's end, so the UA holds N idle
dialogs and no transaction. Then whole calls (INVITE, 180, 200, ACK, BYE, 200) are
timed on top of them, the clock advancing 1/4000 s per call (the transactions of the
timed calls linger and pile up as at 4,000 calls/s): microseconds of CPU per call, the
best of a few blocks, garbage collector on (as in a server), with a full collection
before each block. DESIGN.md §8 asks for a flat cost from 1k to 100k in flight
(``bench/transactions.py`` measures the transaction layer alone).
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from calls import UAS, _fire, uas_workload  # noqa: E402


def _ua(held: int) -> Any:
    from sipsans import Endpoint, EndpointConfig, UAConfig, UserAgent

    config = EndpointConfig(
        advertised_host=UAS[0], trying_delay=0.2, max_transactions=held + 100_000
    )
    ep = Endpoint(config, rng=random.Random(1))
    ua_config = UAConfig(max_dialogs=held + 100_000)
    return UserAgent(ep, identity=f"sip:u@{UAS[0]}", config=ua_config, rng=random.Random(2))


def _hold(ua: Any, held: int) -> None:
    """N confirmed calls that never end, then every transaction's end."""
    from calls import _TO_TAG, ANSWER, UAC, sipp_datagram

    from sipsans import IncomingCall

    for n in range(held):
        ua.receive_datagram(sipp_datagram(b"INVITE", n), remote=UAC, local=UAS, now=0.0)
        for event in ua.events():
            if isinstance(event, IncomingCall):
                event.dialog.accept(body=ANSWER, content_type="application/sdp", now=0.0)
        tag = next(m.group(1) for t in ua.transmits() if (m := _TO_TAG.search(t.data)))
        ua.receive_datagram(sipp_datagram(b"ACK", n, tag), remote=UAC, local=UAS, now=0.0)
        ua.events()
    _fire(ua, 100.0)
    ua.transmits()
    ua.events()
    stats = ua.stats()
    assert stats["dialogs"] == held and stats["transactions"] == 0, stats


def per_call(held: int, calls: int, blocks: int) -> float:
    """Best microseconds of CPU per call over ``blocks`` blocks of ``calls`` calls."""
    ua = _ua(held)
    call, _ = uas_workload(ua)
    _hold(ua, held)
    now = 100.0
    number = 10_000_000
    best = float("inf")
    for _ in range(blocks):
        gc.collect()
        start = time.process_time()
        for _ in range(calls):
            now += 1 / 4000
            number += 1
            call(number, now)
        best = min(best, (time.process_time() - start) / calls)
    assert ua.stats()["dialogs"] >= held
    return best * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1k and 10k only")
    parser.add_argument("--calls", type=int, default=2000, help="calls per timed block")
    parser.add_argument("--blocks", type=int, default=5, help="timed blocks, best kept")
    args = parser.parse_args(argv)
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    print(f"{'dialogs held':>12} {'us CPU per call':>16} {'vs 1k':>7}")
    first = None
    for held in sizes:
        us = per_call(held, args.calls, args.blocks)
        first = first or us
        print(f"{held:>12,} {us:>16.1f} {us / first:>6.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
