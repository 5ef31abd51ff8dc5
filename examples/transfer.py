"""A blind call transfer with REFER (RFC 3515), three parties on asyncio.

Alice calls Bob. Bob transfers her to Carol: he sends REFER with ``Refer-To: Carol``
within the call. Alice accepts it (202), calls Carol, and reports how that call went
in NOTIFYs that Bob receives (``SIP/2.0 100 Trying``, then ``SIP/2.0 200 OK``). Once
Bob reads the 200 he hangs up, and Alice is left talking to Carol. The three are
sessions of this one process, each on its own free UDP port of 127.0.0.1.

Run it from the repository root:

    python examples/transfer.py
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import sipsans
from sipsans.dialog.replaces import parse_sipfrag
from sipsans_asyncio import AsyncDialog, Listen, Session

Address = tuple[str, int]
UA = Session[sipsans.UserAgent]
SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
)


def user_agent(name: str) -> Callable[[Address], sipsans.UserAgent]:
    def make(address: Address) -> sipsans.UserAgent:
        host, port = address
        config = sipsans.EndpointConfig(advertised_host=host, advertised_port=port)
        return sipsans.UserAgent(sipsans.Endpoint(config), identity=f"sip:{name}@{host}")

    return make


def uri_of(session: UA, name: str) -> str:
    host, port = session.addresses["UDP"]
    return f"sip:{name}@{host}:{port}"


async def answer_calls(name: str, session: UA) -> None:
    """Bob and Carol: answer every call; print the NOTIFYs that report a transfer."""
    async for event in session:
        if isinstance(event, sipsans.IncomingCall):
            print(f"{name}: call from {event.request.from_.uri}, answering")
            await session.wrap(event.dialog).accept(body=SDP, content_type="application/sdp")
        elif isinstance(event, sipsans.NotifyReceived):
            # A REFER's NOTIFYs carry a status line (message/sipfrag, RFC 3515 §2.4.5).
            status, reason = parse_sipfrag(event.request.body) or (None, None)
            print(f"{name}: NOTIFY 'SIP/2.0 {status} {reason}' ({event.state.value})")


async def transferee(alice: UA) -> AsyncDialog:
    """Alice: on a REFER, accept it, call its target and tell the referrer how it went.
    Returns the new call."""
    async for event in alice:
        if isinstance(event, sipsans.ReferReceived):
            print(f"alice: REFER to {event.refer_to.uri}, accepting it")
            # 202 Accepted; the UA then sends the first NOTIFY (100 Trying) itself.
            await alice.respond(event.txn, 202)
            referrer = alice.wrap(event.dialog_id)  # the call with Bob
            call = await alice.invite(event.refer_to, body=SDP, timeout=5)
            # A final status ends the REFER's implicit subscription.
            await referrer.notify_refer(200)
            return call
    raise RuntimeError("the session closed before any REFER arrived")


async def main() -> int:
    udp = [Listen("udp", "127.0.0.1", 0)]
    async with (
        Session(user_agent("alice"), listen=udp) as alice,
        Session(user_agent("bob"), listen=udp) as bob,
        Session(user_agent("carol"), listen=udp) as carol,
    ):
        tasks = [
            asyncio.create_task(answer_calls("bob", bob)),
            asyncio.create_task(answer_calls("carol", carol)),
        ]
        transferred = asyncio.create_task(transferee(alice))

        first = await alice.invite(uri_of(bob, "bob"), body=SDP, timeout=5)
        print("alice: call with bob confirmed")
        [with_alice] = bob.dialogs()  # Bob's end of that call
        await with_alice.established(timeout=5)  # (Bob has seen the ACK)

        accepted = await with_alice.refer(uri_of(carol, "carol"))
        print(f"bob: REFER answered {accepted.status_code}")
        progress = with_alice.as_subscription()  # the REFER's implicit subscription
        ended = await progress.closed(timeout=5)  # once the final NOTIFY came
        final = parse_sipfrag(progress.last_notify.body if progress.last_notify else b"")
        print(f"bob: transfer subscription ended ({ended}), outcome {final}")
        if final is None or final[0] != 200:
            return 1
        bye = await with_alice.bye()
        print(f"bob: hung up, BYE answered {bye.status_code if bye else None}")

        second = await asyncio.wait_for(transferred, 5)
        print(f"alice: call with bob {first.state.name}, call with carol {second.state.name}")
        if not (first.is_terminated and second.state is sipsans.DialogState.CONFIRMED):
            return 1
    # Closing the sessions hung up Alice and Carol's call and ended the event loops.
    await asyncio.gather(*tasks)
    print("ok: alice was transferred from bob to carol")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
