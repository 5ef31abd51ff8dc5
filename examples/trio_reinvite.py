"""The re-INVITEs of reinvite.py on trio, through sipsans_anyio: glare, then a late offer.

Alice calls Bob; both re-INVITE at once, meet 491 (RFC 3261 §14.1), and each await
returns the retry's 200 a few seconds later. Then Alice re-INVITEs without a body: Bob's
200 offers, Alice answers in the ACK (RFC 3264 §5). The same code runs on asyncio with
``backend="asyncio"``. It needs the ``trio`` extra (the dev environment has it).

Run it from the repository root:

    python examples/trio_reinvite.py
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import anyio
from anyio.streams.memory import MemoryObjectSendStream

import sipsans
from sipsans_anyio import AsyncDialog, Listen, Session

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


async def serve(name: str, session: UA, calls: MemoryObjectSendStream[AsyncDialog]) -> None:
    """Either end: answer calls and re-INVITEs; show an ACK that carries an answer."""
    async for event in session:
        if isinstance(event, sipsans.IncomingCall):
            call = session.wrap(event.dialog)
            await call.accept(body=ANSWER, content_type="application/sdp")
            calls.send_nowait(call)
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
    results: dict[str, sipsans.Response] = {}
    send, receive = anyio.create_memory_object_stream[AsyncDialog](10)
    async with (
        Session(user_agent("alice"), listen=udp) as alice,
        Session(user_agent("bob"), listen=udp) as bob,
        anyio.create_task_group() as tasks,
    ):
        tasks.start_soon(serve, "alice", alice, send.clone())
        tasks.start_soon(serve, "bob", bob, send)
        host, port = bob.addresses["UDP"]
        ours = await alice.invite(f"sip:bob@{host}:{port}", body=OFFER, timeout=5)
        with anyio.fail_after(5):
            theirs = await receive.receive()  # Bob's end of the call

        async def reinvite(name: str, dialog: AsyncDialog) -> None:
            results[name] = await dialog.reinvite(body=OFFER)

        async with anyio.create_task_group() as both:  # glare: both at once
            both.start_soon(reinvite, "alice", ours)
            both.start_soon(reinvite, "bob", theirs)
        start = ours.response.cseq.seq if ours.response else 0
        retried = results["alice"].cseq.seq - start - 1
        print(f"alice: re-INVITE answered {results['alice'].status_code} after {retried} retry")
        print(f"bob: re-INVITE answered {results['bob'].status_code}")

        offered = await ours.reinvite()  # a late offer
        print(f"alice: the 200 offers {offered.body.splitlines()[-1]!r}")
        await ours.ack(body=ANSWER, content_type="application/sdp")
        await anyio.sleep(0.2)  # (let Bob print the ACK)
        await ours.bye()
        tasks.cancel_scope.cancel()
    codes = {r.status_code for r in results.values()} | {offered.status_code}
    if codes != {200} or retried < 1:
        return 1
    print("ok: glare on trio resolved by the retries, late offer answered in the ACK")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main, backend="trio"))
