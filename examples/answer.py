"""Answer calls with asyncio: ring, accept with an SDP answer, then see the caller's BYE.

Bob is the callee this example is about: for an incoming INVITE he sends 180 Ringing,
lets it ring for a moment, accepts with 200 OK carrying his SDP answer, waits for the
caller's ACK, and then for the call to end. Alice, the caller, is a second session in
this same process (127.0.0.1, free ports) that hangs up after a short talk.

Run it from the repository root:

    python examples/answer.py
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import sipsans
from sipsans_asyncio import Listen, Session

Address = tuple[str, int]

OFFER = (
    b"v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\n"
)
# Bob's answer picks PCMU (payload 0) from the offer (RFC 3264 §6). A real application
# derives it from the offer and its own media ports.
ANSWER = (
    b"v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"
)


def user_agent(name: str) -> Callable[[Address], sipsans.UserAgent]:
    """A UserAgent made once the session's socket is bound (so it knows its port)."""

    def make(address: Address) -> sipsans.UserAgent:
        host, port = address
        config = sipsans.EndpointConfig(advertised_host=host, advertised_port=port)
        return sipsans.UserAgent(sipsans.Endpoint(config), identity=f"sip:{name}@{host}")

    return make


async def callee(bob: Session[sipsans.UserAgent]) -> sipsans.TerminatedReason | None:
    """Bob: answer the first call, and return how it ended."""
    async for event in bob:
        if not isinstance(event, sipsans.IncomingCall):
            continue  # e.g. DialogStateChanged: the dialog methods below wait for those
        invite = event.request
        print(f"bob: INVITE from {invite.from_.uri}, SDP offer of {len(invite.body)} bytes")
        call = bob.wrap(event.dialog)  # the awaitable view of the core's dialog
        await call.ringing()
        print("bob: 180 Ringing sent")
        # The user takes a moment to pick up. Unanswered for UAConfig.ring_timeout, the
        # UA would answer 480 by itself.
        await asyncio.sleep(0.3)
        # 200 OK with the answer; retransmitted until the ACK comes, and accept() returns
        # only then (CallFailed if the caller gave up first).
        await call.accept(body=ANSWER, content_type="application/sdp")
        print(f"bob: call confirmed by the ACK (state {call.state.name})")
        # The UA answers the BYE with 200 by itself; closed() returns once it did.
        reason = await call.closed(timeout=10)
        print(f"bob: the caller hung up: {reason}")
        return reason
    return None


async def main() -> int:
    udp = [Listen("udp", "127.0.0.1", 0)]
    async with (
        Session(user_agent("alice"), listen=udp) as alice,
        Session(user_agent("bob"), listen=udp) as bob,
    ):
        answering = asyncio.create_task(callee(bob))
        host, port = bob.addresses["UDP"]
        call = await alice.invite(f"sip:bob@{host}:{port}", body=OFFER, timeout=5)
        got_answer = call.response is not None and call.response.body == ANSWER
        print(f"alice: call confirmed, Bob's SDP answer received: {got_answer}")
        await asyncio.sleep(0.2)  # talk
        response = await call.bye()
        print(f"alice: BYE answered {response.status_code if response else None}")
        reason = await answering
    if not got_answer or reason is not sipsans.TerminatedReason.UAC_BYE:
        print(f"error: answer received {got_answer}, call ended by {reason}")
        return 1
    print("ok: rang, answered with SDP, and saw the BYE")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
