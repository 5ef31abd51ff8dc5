"""The blind transfer of transfer.py (REFER, RFC 3515) on trio, through sipsans_anyio.

Alice calls Bob; Bob refers her to Carol; Alice accepts (202), calls Carol and reports
the outcome in NOTIFYs (``SIP/2.0 200 OK`` ends the REFER's subscription); Bob hangs up.
The same code runs on asyncio with ``backend="asyncio"``.

Run it from the repository root:

    python examples/trio_transfer.py
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import anyio

import sipsans
from sipsans.dialog.replaces import parse_sipfrag
from sipsans_anyio import AsyncDialog, Listen, Session

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
    """Bob and Carol: answer every call."""
    async for event in session:
        if isinstance(event, sipsans.IncomingCall):
            print(f"{name}: call from {event.request.from_.uri}, answering")
            await session.wrap(event.dialog).accept(body=SDP, content_type="application/sdp")


async def transferee(alice: UA, calls: list[AsyncDialog]) -> None:
    """Alice: accept a REFER, call its target, report the outcome (a final NOTIFY)."""
    async for event in alice:
        if isinstance(event, sipsans.ReferReceived):
            print(f"alice: REFER to {event.refer_to.uri}, accepting it")
            alice.respond(event.txn, 202)  # the UA NOTIFYs "100 Trying" at once
            calls.append(await alice.invite(event.refer_to, body=SDP, timeout=5))
            await alice.wrap(event.dialog_id).notify_refer(200)
            return


async def main() -> int:
    udp = [Listen("udp", "127.0.0.1", 0)]
    new_calls: list[AsyncDialog] = []
    async with (
        Session(user_agent("alice"), listen=udp) as alice,
        Session(user_agent("bob"), listen=udp) as bob,
        Session(user_agent("carol"), listen=udp) as carol,
        anyio.create_task_group() as tasks,
    ):
        tasks.start_soon(answer_calls, "bob", bob)
        tasks.start_soon(answer_calls, "carol", carol)
        tasks.start_soon(transferee, alice, new_calls)
        first = await alice.invite(uri_of(bob, "bob"), body=SDP, timeout=5)
        [with_alice] = bob.dialogs()
        await with_alice.established(timeout=5)
        accepted = await with_alice.refer(uri_of(carol, "carol"))
        print(f"bob: REFER answered {accepted.status_code}")
        progress = with_alice.as_subscription()
        await progress.closed(timeout=5)  # the final NOTIFY ended it
        outcome = parse_sipfrag(progress.last_notify.body if progress.last_notify else b"")
        print(f"bob: transfer outcome {outcome}")
        await with_alice.bye()
        await first.closed(timeout=5)
        done = bool(new_calls) and new_calls[0].state is sipsans.DialogState.CONFIRMED
        print(f"alice: call with bob {first.state.name}, with carol confirmed: {done}")
        tasks.cancel_scope.cancel()
    if outcome is None or outcome[0] != 200 or not done:
        return 1
    print("ok: alice was transferred from bob to carol on trio")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main, backend="trio"))
