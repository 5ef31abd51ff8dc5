"""SUBSCRIBE/NOTIFY (RFC 6665) with asyncio: watch someone's presence, then stop.

Bob is a presence notifier (``UAConfig(event_packages=("presence",))``): he accepts
Alice's SUBSCRIBE, which sends the first NOTIFY with his current state at once, and
later sends a NOTIFY with a new state. Alice, the subscriber, gets both NOTIFYs and
un-subscribes (SUBSCRIBE with Expires: 0); Bob's UA answers that with a final NOTIFY
(``terminated;reason=timeout``) by itself. Both are sessions of this one process on
free UDP ports of 127.0.0.1.

Run it from the repository root:

    python examples/subscribe.py
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable
from typing import Any

import sipsans
from sipsans_asyncio import Listen, Session

Address = tuple[str, int]
PIDF = "application/pidf+xml"  # the presence document format (RFC 3863)


def presence(basic: str) -> bytes:
    """A minimal PIDF document: "open" (reachable) or "closed"."""
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
        return sipsans.UserAgent(
            endpoint, identity=f"sip:{name}@{host}", config=sipsans.UAConfig(**config)
        )

    return make


async def notifier(bob: Session[sipsans.UserAgent]) -> str | None:
    """Bob: serve the first presence subscription; return why it ended."""
    async for event in bob:
        if isinstance(event, sipsans.IncomingSubscription):
            print(f"bob: SUBSCRIBE to {event.subscription.event} from {event.request.from_.uri}")
            sub = bob.wrap(event.subscription)  # an AsyncSubscription
            # 200 OK, then at once the first NOTIFY with the current state (§4.2.1.2).
            await sub.accept(body=presence("open"), content_type=PIDF)
            await asyncio.sleep(0.1)  # ... Bob goes away ...
            # Always send the full state: NOTIFYs are not queued, a newer one wins.
            response = await sub.notify(presence("closed"), content_type=PIDF)
            print(f"bob: NOTIFY 'closed' answered {response.status_code}")
            return await sub.closed(timeout=10)
    return None


async def main() -> int:
    udp = [Listen("udp", "127.0.0.1", 0)]
    async with (
        Session(user_agent("alice"), listen=udp) as alice,
        Session(user_agent("bob", event_packages=("presence",)), listen=udp) as bob,
    ):
        serving = asyncio.create_task(notifier(bob))
        host, port = bob.addresses["UDP"]
        # Returns once the first NOTIFY arrived; the UA refreshes the subscription
        # before it expires for as long as it lasts.
        watch = await alice.subscribe(f"sip:bob@{host}:{port}", "presence", expires=600, timeout=5)
        first = watch.last_notify.body if watch.last_notify else b""
        print(f"alice: subscribed ({watch.state.value}), bob is {basic_of(first)}")

        # Every NOTIFY also comes as a NotifyReceived event (the UA has answered it 200).
        async with asyncio.timeout(5):
            async for event in alice:
                if isinstance(event, sipsans.NotifyReceived):
                    state = basic_of(event.request.body)
                    print(f"alice: NOTIFY ({event.state.value}): bob is {state}")
                    if state == "closed":
                        break

        reason = await watch.unsubscribe(timeout=5)  # returns once the final NOTIFY came
        print(f"alice: unsubscribed ({watch.state.value}, reason {reason})")
        served = await asyncio.wait_for(serving, 5)
        print(f"bob: the subscription ended ({served})")
        if watch.state is not sipsans.SubscriptionState.TERMINATED or served is None:
            return 1
    print("ok: subscribed, notified, unsubscribed")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
