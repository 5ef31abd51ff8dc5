"""A blind transfer (REFER, RFC 3515) from plain threads, with sipsans_anyio.blocking.

Alice calls Bob from the main thread. Bob's thread refers her to Carol; Alice's thread
accepts the REFER (202), calls Carol and reports the outcome in a final NOTIFY; Bob reads
it and hangs up. Carol's thread answers. No ``async`` anywhere.

Run it from the repository root:

    python examples/threads_transfer.py
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import sipsans
from sipsans.dialog.replaces import parse_sipfrag
from sipsans_anyio import Listen
from sipsans_anyio.blocking import BlockingDialog, BlockingSession

Address = tuple[str, int]
UA = BlockingSession[sipsans.UserAgent]
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
    def make(address: Address) -> sipsans.UserAgent:
        host, port = address
        config = sipsans.EndpointConfig(advertised_host=host, advertised_port=port)
        return sipsans.UserAgent(sipsans.Endpoint(config), identity=f"sip:{name}@{host}")

    return make


def uri_of(session: UA, name: str) -> str:
    host, port = session.addresses["UDP"]
    return f"sip:{name}@{host}:{port}"


def next_of(session: UA, kind: type) -> object:
    """The next event of ``kind`` (others are dropped); TimeoutError after 5 s of none."""
    event = session.next_event(timeout=5)
    while not isinstance(event, kind):
        event = session.next_event(timeout=5)
    return event


def answer_one(name: str, session: UA, calls: list[BlockingDialog]) -> None:
    call = next_of(session, sipsans.IncomingCall)
    assert isinstance(call, sipsans.IncomingCall)
    say(f"{name}: call from {call.request.from_.uri}, answering")
    dialog = session.wrap(call.dialog)
    dialog.accept(body=SDP, content_type="application/sdp")  # blocks until the ACK
    calls.append(dialog)


def transferee(alice: UA, calls: list[BlockingDialog]) -> None:
    """Alice's thread: accept the REFER, call its target, send the final NOTIFY."""
    refer = next_of(alice, sipsans.ReferReceived)
    assert isinstance(refer, sipsans.ReferReceived)
    say(f"alice: REFER to {refer.refer_to.uri}, accepting it")
    alice.respond(refer.txn, 202)  # the UA NOTIFYs "100 Trying" at once
    calls.append(alice.invite(refer.refer_to, body=SDP, timeout=5))
    alice.wrap(refer.dialog_id).notify_refer(200)  # ends the REFER's subscription


def main() -> int:
    udp = [Listen("udp", "127.0.0.1", 0)]
    bobs, carols, alices = list[BlockingDialog](), list[BlockingDialog](), list[BlockingDialog]()
    with (
        UA(user_agent("alice"), listen=udp) as alice,
        UA(user_agent("bob"), listen=udp) as bob,
        UA(user_agent("carol"), listen=udp) as carol,
    ):
        threads = [
            threading.Thread(target=answer_one, args=("bob", bob, bobs)),
            threading.Thread(target=answer_one, args=("carol", carol, carols)),
        ]
        for thread in threads:
            thread.start()
        first = alice.invite(uri_of(bob, "bob"), body=SDP, timeout=5)
        threads[0].join(timeout=5)  # Bob has his end of the call once the ACK came
        threads.append(threading.Thread(target=transferee, args=(alice, alices)))
        threads[-1].start()
        with_alice = bobs[0]
        say(f"bob: REFER answered {with_alice.refer(uri_of(carol, 'carol')).status_code}")
        progress = with_alice.as_subscription()
        progress.closed(timeout=5)  # the final NOTIFY ended it
        outcome = parse_sipfrag(progress.last_notify.body if progress.last_notify else b"")
        say(f"bob: transfer outcome {outcome}")
        with_alice.bye()
        for thread in threads:
            thread.join(timeout=10)
        first.closed(timeout=5)
        done = bool(alices) and alices[0].state is sipsans.DialogState.CONFIRMED
        say(f"alice: call with bob {first.state.name}, with carol confirmed: {done}")
    if outcome is None or outcome[0] != 200 or not done:
        return 1
    say("ok: alice was transferred from bob to carol, from threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
