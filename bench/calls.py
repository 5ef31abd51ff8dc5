"""Full calls (INVITE/180/200/ACK/BYE/200) between two UserAgents in memory.

Prints calls per second and the memory per idle confirmed dialog (tracemalloc).
Usage: python bench/calls.py [CALLS]
"""

from __future__ import annotations

import random
import sys
import time
import tracemalloc

from sipsans import Endpoint, EndpointConfig, IncomingCall, UserAgent

SDP = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
A, B = ("192.0.2.1", 5060), ("192.0.2.2", 5060)


def make(host: str, seed: int) -> UserAgent:
    ep = Endpoint(EndpointConfig(advertised_host=host, trying_delay=None), rng=random.Random(seed))
    return UserAgent(ep, identity=f"sip:u@{host}", rng=random.Random(seed + 1))


def pump(alice: UserAgent, bob: UserAgent, now: float) -> None:
    """Deliver every transmit at once until both are quiet; Bob answers at once."""
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


def calls_per_second(n: int) -> float:
    alice, bob = make(A[0], 1), make(B[0], 2)
    now = 0.0
    start = time.perf_counter()
    for _ in range(n):
        call = alice.invite("sip:u@192.0.2.2", body=SDP, now=now)
        pump(alice, bob, now)
        call.bye(now=now)
        pump(alice, bob, now)
        now += 0.001
    elapsed = time.perf_counter() - start
    # Let every transaction and timer finish, then check nothing is left.
    now += 100
    alice.handle_timer(now=now)
    bob.handle_timer(now=now)
    pump(alice, bob, now)
    assert alice.stats()["dialogs"] == 0 and bob.stats()["dialogs"] == 0
    return n / elapsed


def bytes_per_idle_dialog(n: int) -> float:
    alice, bob = make(A[0], 3), make(B[0], 4)
    now = 0.0
    for _ in range(10):  # warm caches before measuring
        alice.invite("sip:u@192.0.2.2", body=SDP, now=now)
        pump(alice, bob, now)
    now += 100
    alice.handle_timer(now=now)
    bob.handle_timer(now=now)
    pump(alice, bob, now)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(n):
        alice.invite("sip:u@192.0.2.2", body=SDP, now=now)
        pump(alice, bob, now)
    # Idle: every transaction (Timers M, L, K...) has ended, only the dialogs remain.
    now += 100
    alice.handle_timer(now=now)
    bob.handle_timer(now=now)
    pump(alice, bob, now)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert alice.stats()["transactions"] == 0
    # Both ends hold one confirmed dialog per call: report per dialog.
    return grown / (2 * n)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rate = calls_per_second(n)
    print(f"full calls (INVITE/180/200/ACK/BYE/200), in memory: {rate:,.0f} calls/s")
    per_dialog = bytes_per_idle_dialog(2000)
    print(f"memory per idle confirmed dialog: {per_dialog:,.0f} bytes (target <= 2048)")


if __name__ == "__main__":
    main()
