"""The presence subscription of subscribe.py (RFC 6665) on trio, through sipsans_anyio.

Bob is a presence notifier: he accepts Alice's SUBSCRIBE (the first NOTIFY goes at once)
and later NOTIFYs a new state. Alice reads both NOTIFYs, then un-subscribes; Bob's UA
sends the final NOTIFY by itself. The same code runs on asyncio with ``backend="asyncio"``.

Run it from the repository root:

    python examples/trio_subscribe.py
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

import anyio

import sipsans
from sipsans_anyio import Listen, Session

Address = tuple[str, int]
PIDF = "application/pidf+xml"


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


async def notifier(bob: Session[sipsans.UserAgent], ended: list[str | None]) -> None:
    """Bob: accept the first presence subscription, notify a change, wait for its end."""
    async for event in bob:
        if isinstance(event, sipsans.IncomingSubscription):
            sub = bob.wrap(event.subscription)
            sub.accept(body=presence("open"), content_type=PIDF)  # 200, then NOTIFY
            await anyio.sleep(0.1)
            response = await sub.notify(presence("closed"), content_type=PIDF)
            print(f"bob: NOTIFY 'closed' answered {response.status_code}")
            ended.append(await sub.closed(timeout=10))
            return


async def main() -> int:
    udp = [Listen("udp", "127.0.0.1", 0)]
    ended: list[str | None] = []
    async with (
        Session(user_agent("alice"), listen=udp) as alice,
        Session(user_agent("bob", event_packages=("presence",)), listen=udp) as bob,
        anyio.create_task_group() as tasks,
    ):
        tasks.start_soon(notifier, bob, ended)
        host, port = bob.addresses["UDP"]
        watch = await alice.subscribe(f"sip:bob@{host}:{port}", "presence", timeout=5)
        first = watch.last_notify.body if watch.last_notify else b""
        print(f"alice: subscribed ({watch.state.value}), bob is {basic_of(first)}")
        with anyio.fail_after(5):
            async for event in alice:
                if isinstance(event, sipsans.NotifyReceived):
                    state = basic_of(event.request.body)
                    print(f"alice: NOTIFY ({event.state.value}): bob is {state}")
                    if state == "closed":
                        break
        reason = await watch.unsubscribe(timeout=5)
        print(f"alice: unsubscribed ({watch.state.value}, reason {reason})")
        with anyio.fail_after(5):
            while not ended:
                await anyio.sleep(0.02)
        print(f"bob: the subscription ended ({ended[0]})")
    if watch.state is not sipsans.SubscriptionState.TERMINATED:
        return 1
    print("ok: subscribed, notified, unsubscribed on trio")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main, backend="trio"))
