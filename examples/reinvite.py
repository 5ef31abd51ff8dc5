"""re-INVITEs with asyncio: both ends at once (glare), and one without an offer.

Alice calls Bob. Then both send a re-INVITE at the same moment: each meets the other's
and is answered 491 Request Pending by the far UA (RFC 3261 §14.1). The UAs wait a random
while (the callee 0-2 s, the caller 2.1-4 s: this example takes a few seconds) and
retry; each ``await reinvite()`` returns the retry's 200, the outcome asked for. Then
Alice sends a re-INVITE without a body (a late offer, RFC 3264 §5): Bob's 200 carries
the offer, and Alice's answer goes in the ACK, with ``dialog.ack(body=...)``.

Run it from the repository root:

    python examples/reinvite.py
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import sipsans
from sipsans_asyncio import AsyncDialog, Listen, Session

Address = tuple[str, int]
UA = Session[sipsans.UserAgent]
OFFER = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
)
ANSWER = OFFER.replace(b"4000", b"5000")


def user_agent(name: str) -> Callable[[Address], sipsans.UserAgent]:
    def make(address: Address) -> sipsans.UserAgent:
        host, port = address
        config = sipsans.EndpointConfig(advertised_host=host, advertised_port=port)
        return sipsans.UserAgent(sipsans.Endpoint(config), identity=f"sip:{name}@{host}")

    return make


async def serve(name: str, session: UA, calls: asyncio.Queue[AsyncDialog]) -> None:
    """Either end: answer calls and re-INVITEs (200 with our SDP: an answer to an offer,
    or our offer when the re-INVITE had none); show an ACK that carries an answer."""
    async for event in session:
        if isinstance(event, sipsans.IncomingCall):
            call = session.wrap(event.dialog)
            await call.accept(body=ANSWER, content_type="application/sdp")
            calls.put_nowait(call)
        elif isinstance(event, sipsans.InDialogRequest):
            request = event.request
            if request.method == "INVITE" and event.txn is not None:
                what = "an offer" if request.body else "no offer"
                print(f"{name}: re-INVITE CSeq {request.cseq.seq} with {what}, answering 200")
                session.respond(event.txn, 200, body=ANSWER if request.body else OFFER)
            elif request.method == "ACK" and request.body:
                print(f"{name}: ACK carries the answer ({request.body.splitlines()[-1]!r})")


async def main() -> int:
    udp = [Listen("udp", "127.0.0.1", 0)]
    async with (
        Session(user_agent("alice"), listen=udp) as alice,
        Session(user_agent("bob"), listen=udp) as bob,
    ):
        bobs_calls: asyncio.Queue[AsyncDialog] = asyncio.Queue()
        tasks = [
            asyncio.create_task(serve("alice", alice, asyncio.Queue())),
            asyncio.create_task(serve("bob", bob, bobs_calls)),
        ]
        host, port = bob.addresses["UDP"]
        ours = await alice.invite(f"sip:bob@{host}:{port}", body=OFFER, timeout=5)
        theirs = await asyncio.wait_for(bobs_calls.get(), 5)  # Bob's end of the call
        start = ours.response.cseq.seq if ours.response else 0

        # Glare: both re-INVITE at once. Each await returns the retry's final response.
        mine, yours = await asyncio.gather(ours.reinvite(body=OFFER), theirs.reinvite(body=OFFER))
        retried = mine.cseq.seq - start - 1  # re-INVITEs before the one answered 200
        print(f"alice: re-INVITE answered {mine.status_code} after {retried} retry (491 first)")
        print(f"bob: re-INVITE answered {yours.status_code}")

        # A late offer: a re-INVITE without a body; Bob's 200 offers, our ACK answers.
        offered = await ours.reinvite()
        print(f"alice: the 200 offers {offered.body.splitlines()[-1]!r}")
        await ours.ack(body=ANSWER, content_type="application/sdp")
        await asyncio.sleep(0.2)  # (let Bob print the ACK)
        ok = mine.status_code == yours.status_code == offered.status_code == 200
        await ours.bye()
    await asyncio.gather(*tasks)
    if not ok or retried < 1:
        return 1
    print("ok: glare resolved by the retries, late offer answered in the ACK")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
