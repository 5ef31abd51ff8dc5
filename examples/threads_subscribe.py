"""A presence subscription (RFC 6665) from plain threads, with sipsans_anyio.blocking.

Bob's thread is the notifier: it accepts Alice's SUBSCRIBE (the first NOTIFY goes at
once), then NOTIFYs a new state and waits for the end. Alice subscribes from the main
thread, reads the NOTIFYs with ``next_event()``, and un-subscribes; Bob's UA sends the
final NOTIFY by itself. No ``async`` anywhere.

Run it from the repository root:

    python examples/threads_subscribe.py
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable
from typing import Any

import sipsans
from sipsans_anyio import Listen
from sipsans_anyio.blocking import BlockingSession

Address = tuple[str, int]
UA = BlockingSession[sipsans.UserAgent]
PIDF = "application/pidf+xml"


_print_lock = threading.Lock()


def say(line: str) -> None:
    """Print a whole line at once: two threads' print() calls could interleave."""
    with _print_lock:
        print(line, flush=True)


def presence(basic: str) -> bytes:
    return (
        f'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@example.com">'
        f'<tuple id="t1"><status><basic>{basic}</basic></status></tuple></presence>'
    ).encode()


def basic_of(body: bytes) -> str:
    found = re.search(rb"<basic>(\w+)</basic>", body)
    return found.group(1).decode() if found else "?"


def user_agent(name: str, **config: Any) -> Callable[[Address], sipsans.UserAgent]:
    def make(address: Address) -> sipsans.UserAgent:
        host, port = address
        endpoint = sipsans.Endpoint(
            sipsans.EndpointConfig(advertised_host=host, advertised_port=port)
        )
        ua = sipsans.UAConfig(**config)
        return sipsans.UserAgent(endpoint, identity=f"sip:{name}@{host}", config=ua)

    return make


def notifier(bob: UA, ended: list[str | None]) -> None:
    """Bob's thread: serve the first presence subscription until it ends."""
    event = bob.next_event(timeout=5)
    while not isinstance(event, sipsans.IncomingSubscription):
        event = bob.next_event(timeout=5)
    sub = bob.wrap(event.subscription)  # a BlockingSubscription
    sub.accept(body=presence("open"), content_type=PIDF)  # 200, then the first NOTIFY
    threading.Event().wait(0.1)
    response = sub.notify(presence("closed"), content_type=PIDF)
    say(f"bob: NOTIFY 'closed' answered {response.status_code}")
    ended.append(sub.closed(timeout=10))


def main() -> int:
    udp = [Listen("udp", "127.0.0.1", 0)]
    ended: list[str | None] = []
    with (
        UA(user_agent("alice"), listen=udp) as alice,
        UA(user_agent("bob", event_packages=("presence",)), listen=udp) as bob,
    ):
        worker = threading.Thread(target=notifier, args=(bob, ended))
        worker.start()
        host, port = bob.addresses["UDP"]
        watch = alice.subscribe(f"sip:bob@{host}:{port}", "presence", timeout=5)
        first = watch.last_notify.body if watch.last_notify else b""
        say(f"alice: subscribed ({watch.state.value}), bob is {basic_of(first)}")
        state = ""
        while state != "closed":  # every NOTIFY also comes as a NotifyReceived event
            event = alice.next_event(timeout=5)
            if isinstance(event, sipsans.NotifyReceived):
                state = basic_of(event.request.body)
                say(f"alice: NOTIFY ({event.state.value}): bob is {state}")
        reason = watch.unsubscribe(timeout=5)
        say(f"alice: unsubscribed ({watch.state.value}, reason {reason})")
        worker.join(timeout=10)
        say(f"bob: the subscription ended ({ended[0] if ended else None})")
    if watch.state is not sipsans.SubscriptionState.TERMINATED or not ended:
        return 1
    say("ok: subscribed, notified, unsubscribed from threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
