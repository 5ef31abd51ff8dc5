"""Place a call with asyncio: INVITE, wait until it is confirmed, then hang up with BYE.

Alice calls Bob. Bob is a second session in this same process, on its own UDP port of
127.0.0.1, that answers every call with an SDP answer, so the example needs no other
program. Alice's side is what you would copy into a softphone or a test client.

Run it from the repository root:

    python examples/call.py
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import sipsans
from sipsans_asyncio import CallFailed, Listen, Session

Address = tuple[str, int]

# A minimal SDP offer/answer (RFC 4566): one audio stream, PCMU. sipsans carries the
# body; negotiating media is the application's business.
SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
)


def user_agent(name: str) -> Callable[[Address], sipsans.UserAgent]:
    """A factory, not a UserAgent: the session calls it once its socket is bound, so the
    UA puts the real port (we listen on port 0) into its Via and Contact headers."""

    def make(address: Address) -> sipsans.UserAgent:
        host, port = address
        config = sipsans.EndpointConfig(advertised_host=host, advertised_port=port)
        return sipsans.UserAgent(sipsans.Endpoint(config), identity=f"sip:{name}@{host}")

    return make


async def answer_every_call(bob: Session[sipsans.UserAgent]) -> None:
    """Bob: answer each call at once. The loop ends when Bob's session closes."""
    async for event in bob:
        if isinstance(event, sipsans.IncomingCall):
            print(f"bob: incoming call from {event.request.from_.uri}")
            # wrap() gives the awaitable view of the core's dialog; accept() sends the
            # 200 OK with our SDP answer and returns once the caller's ACK arrived.
            await bob.wrap(event.dialog).accept(body=SDP, content_type="application/sdp")
        elif isinstance(event, sipsans.DialogTerminated):
            print(f"bob: call ended ({event.reason.name})")


async def main() -> int:
    udp = [Listen("udp", "127.0.0.1", 0)]  # port 0: the system picks a free port
    async with (
        Session(user_agent("alice"), listen=udp) as alice,
        Session(user_agent("bob"), listen=udp) as bob,
    ):
        answering = asyncio.create_task(answer_every_call(bob))
        host, port = bob.addresses["UDP"]
        try:
            # Returns once the 2xx is ACKed; a timeout CANCELs the call.
            call = await alice.invite(f"sip:bob@{host}:{port}", body=SDP, timeout=5)
        except CallFailed as exc:  # 486 Busy, 603 Decline, 408 no answer, ...
            print(f"alice: {exc}")
            return 1
        answer = call.response
        assert answer is not None  # the 200 OK that confirmed the call
        media = answer.body.splitlines()[-1].decode()  # the answer's m= line
        print(f"alice: call confirmed ({answer.status_code} {answer.reason}), answer {media!r}")
        response = await call.bye()
        if response is None or response.status_code != 200:
            print(f"alice: BYE failed: {response}")
            return 1
        print(f"alice: BYE answered {response.status_code}")
        print(f"alice: call ended: {await call.closed(timeout=5)}")
    # Both sessions are closed here, which ended Bob's `async for`: collect the task (and
    # any exception it raised) rather than leave it behind.
    await answering
    print("ok: call confirmed and hung up")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
