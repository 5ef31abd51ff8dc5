"""The call of call.py from plain threads, with sipsans_anyio.blocking.

No ``async`` anywhere: ``BlockingSession`` runs the session's event loop in a thread of
its own (anyio's blocking portal) and every method blocks the calling thread until the
loop has done the work. Bob answers in a worker thread (ring, accept, wait for the
BYE); Alice calls from the main thread and hangs up. Both are sessions of this process
on free UDP ports of 127.0.0.1. It needs the ``anyio`` extra
(``pip install 'sipsans[anyio]'``; the dev environment has it).

Run it from the repository root:

    python examples/threads_call.py
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import sipsans
from sipsans_anyio import Listen
from sipsans_anyio.blocking import BlockingSession

Address = tuple[str, int]
SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
)


_print_lock = threading.Lock()


def say(line: str) -> None:
    """Print a whole line at once: two threads' print() calls could interleave."""
    with _print_lock:
        print(line, flush=True)


def user_agent(name: str) -> Callable[[Address], sipsans.UserAgent]:
    """A UserAgent made once the session's socket is bound (so it knows its port)."""

    def make(address: Address) -> sipsans.UserAgent:
        host, port = address
        config = sipsans.EndpointConfig(advertised_host=host, advertised_port=port)
        return sipsans.UserAgent(sipsans.Endpoint(config), identity=f"sip:{name}@{host}")

    return make


def answer_one_call(bob: BlockingSession[sipsans.UserAgent], ended: list[object]) -> None:
    """Bob's thread: answer the first call and note how it ended."""
    event = bob.next_event(timeout=5)  # TimeoutError if nothing comes
    while not isinstance(event, sipsans.IncomingCall):
        event = bob.next_event(timeout=5)
    call = bob.wrap(event.dialog)  # a BlockingDialog: AsyncDialog's methods, blocking
    call.ringing()
    say(f"bob ({threading.current_thread().name}): ringing")
    call.accept(body=SDP, content_type="application/sdp")  # blocks until the ACK
    say(f"bob ({threading.current_thread().name}): answered")
    ended.append(call.closed(timeout=5))


def main() -> int:
    udp = [Listen("udp", "127.0.0.1", 0)]
    # (The [sipsans.UserAgent] tells type checkers what the core is.)
    with (
        BlockingSession[sipsans.UserAgent](user_agent("alice"), listen=udp) as alice,
        BlockingSession[sipsans.UserAgent](user_agent("bob"), listen=udp) as bob,
    ):
        ended: list[object] = []
        worker = threading.Thread(target=answer_one_call, args=(bob, ended), name="bob-thread")
        worker.start()
        host, port = bob.addresses["UDP"]
        with alice.invite(f"sip:bob@{host}:{port}", body=SDP, timeout=5) as call:
            say(f"alice ({threading.current_thread().name}): call {call.state.name}")
            response = call.bye()
            say(f"alice: BYE answered {response.status_code if response else None}")
        worker.join(timeout=10)  # bounded: never hang on a broken peer
        if worker.is_alive() or ended != [sipsans.TerminatedReason.UAC_BYE]:
            say(f"error: bob's thread saw {ended}")
            return 1
    say("ok: call from threads confirmed and hung up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
