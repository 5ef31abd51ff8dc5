"""re-INVITEs from plain threads (sipsans_anyio.blocking): two at once, then a late offer.

Alice calls Bob. A thread on each side sends a re-INVITE at the same moment (a barrier
lets them go together). When they cross, each is answered 491 by the far UA and retried
after a random wait (RFC 3261 §14.1); either way each blocking ``reinvite()`` returns the
final outcome, the retry's 200. Then Alice re-INVITEs without a body: Bob's 200 offers,
and Alice answers in the ACK (RFC 3264 §5). Both are blocking sessions of this process.

Run it from the repository root:

    python examples/threads_reinvite.py
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import sipsans
from sipsans_anyio import Listen
from sipsans_anyio.blocking import BlockingDialog, BlockingSession

Address = tuple[str, int]
UA = BlockingSession[sipsans.UserAgent]
OFFER = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
)
ANSWER = OFFER.replace(b"4000", b"5000")


_print_lock = threading.Lock()


def say(line: str) -> None:
    """Print a whole line at once: two threads' print() calls could interleave."""
    with _print_lock:
        print(line, flush=True)


def user_agent(name: str) -> Callable[[Address], sipsans.UserAgent]:
    def make(address: Address) -> sipsans.UserAgent:
        host, port = address
        config = sipsans.EndpointConfig(advertised_host=host, advertised_port=port)
        return sipsans.UserAgent(sipsans.Endpoint(config), identity=f"sip:{name}@{host}")

    return make


def serve(name: str, session: UA, calls: list[BlockingDialog], stop: threading.Event) -> None:
    """A thread per end: answer calls and re-INVITEs; show an ACK carrying an answer."""
    while not stop.is_set():
        try:
            event = session.next_event(timeout=0.05)
        except TimeoutError:
            continue
        if isinstance(event, sipsans.IncomingCall):
            call = session.wrap(event.dialog)
            call.accept(body=ANSWER, content_type="application/sdp")
            calls.append(call)
        elif isinstance(event, sipsans.InDialogRequest):
            request = event.request
            if request.method == "INVITE" and event.txn is not None:
                what = "an offer" if request.body else "no offer"
                say(f"{name}: re-INVITE CSeq {request.cseq.seq} with {what}, answering 200")
                session.respond(event.txn, 200, body=ANSWER if request.body else OFFER)
            elif request.method == "ACK" and request.body:
                say(f"{name}: ACK carries the answer ({request.body.splitlines()[-1]!r})")


def main() -> int:
    udp = [Listen("udp", "127.0.0.1", 0)]
    stop = threading.Event()
    bobs_calls: list[BlockingDialog] = []
    with UA(user_agent("alice"), listen=udp) as alice, UA(user_agent("bob"), listen=udp) as bob:
        servers = [
            threading.Thread(target=serve, args=("alice", alice, [], stop)),
            threading.Thread(target=serve, args=("bob", bob, bobs_calls, stop)),
        ]
        for thread in servers:
            thread.start()
        try:
            host, port = bob.addresses["UDP"]
            ours = alice.invite(f"sip:bob@{host}:{port}", body=OFFER, timeout=5)
            for _ in range(250):  # Bob's thread notes his end once the ACK came
                if bobs_calls:
                    break
                threading.Event().wait(0.02)
            theirs = bobs_calls[0]
            together, codes = threading.Barrier(2), dict[str, int]()

            def reinvite(name: str, dialog: BlockingDialog) -> None:
                together.wait()
                codes[name] = dialog.reinvite(body=OFFER).status_code

            racers = [
                threading.Thread(target=reinvite, args=("alice", ours)),
                threading.Thread(target=reinvite, args=("bob", theirs)),
            ]
            for thread in racers:
                thread.start()
            for thread in racers:
                thread.join(timeout=15)
            say(f"alice: re-INVITE answered {codes.get('alice')}")
            say(f"bob: re-INVITE answered {codes.get('bob')}")

            offered = ours.reinvite()  # a late offer
            say(f"alice: the 200 offers {offered.body.splitlines()[-1]!r}")
            ours.ack(body=ANSWER, content_type="application/sdp")
            threading.Event().wait(0.2)  # (let Bob print the ACK)
            ours.bye()
        finally:
            stop.set()
            for thread in servers:
                thread.join(timeout=5)
    if codes != {"alice": 200, "bob": 200} or offered.status_code != 200:
        return 1
    say("ok: re-INVITEs from threads answered, late offer answered in the ACK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
