"""The call of call.py on trio, through sipsans_anyio.

``sipsans_anyio.Session`` has the API of ``sipsans_asyncio.Session`` and runs on any
anyio backend: this example runs on trio (change ``backend="trio"`` to ``"asyncio"``
and nothing else changes). Alice calls Bob, a second session in this process that rings
and answers; Alice hangs up with BYE once the call is confirmed. It needs the ``trio``
extra (``pip install 'sipsans[trio]'``; the dev environment has it).

Run it from the repository root:

    python examples/trio_call.py
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import anyio

import sipsans
from sipsans_anyio import Listen, Session

Address = tuple[str, int]
SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
)


def user_agent(name: str) -> Callable[[Address], sipsans.UserAgent]:
    """A UserAgent made once the session's socket is bound (so it knows its port)."""

    def make(address: Address) -> sipsans.UserAgent:
        host, port = address
        config = sipsans.EndpointConfig(advertised_host=host, advertised_port=port)
        return sipsans.UserAgent(sipsans.Endpoint(config), identity=f"sip:{name}@{host}")

    return make


async def answer_every_call(bob: Session[sipsans.UserAgent]) -> None:
    """Bob: ring, then answer. The same coroutine works on asyncio."""
    async for event in bob:
        if isinstance(event, sipsans.IncomingCall):
            call = bob.wrap(event.dialog)
            await call.ringing()
            print(f"bob: ringing for {event.request.from_.uri}")
            await call.accept(body=SDP, content_type="application/sdp")
            print("bob: answered")
        elif isinstance(event, sipsans.DialogTerminated):
            print(f"bob: call ended ({event.reason.name})")


async def main() -> int:
    udp = [Listen("udp", "127.0.0.1", 0)]
    async with (
        Session(user_agent("alice"), listen=udp) as alice,
        Session(user_agent("bob"), listen=udp) as bob,
        anyio.create_task_group() as tasks,
    ):
        tasks.start_soon(answer_every_call, bob)
        host, port = bob.addresses["UDP"]
        # `async with` hangs the call up on the way out, had the BYE below not run.
        async with await alice.invite(f"sip:bob@{host}:{port}", body=SDP, timeout=5) as call:
            print(f"alice: call confirmed ({call.state.name})")
            response = await call.bye()
            print(f"alice: BYE answered {response.status_code if response else None}")
            ended = await call.closed(timeout=5)
        # The task group would wait for Bob's loop, which runs until his session closes.
        tasks.cancel_scope.cancel()
    if ended is not sipsans.TerminatedReason.UAC_BYE:
        print(f"error: the call ended with {ended}")
        return 1
    print("ok: call on trio confirmed and hung up")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main, backend="trio"))
