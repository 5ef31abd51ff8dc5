"""What carriers ask of a call: reliable provisional responses (100rel/PRACK, RFC 3262),
a session timer (RFC 4028) and UPDATE (RFC 3311), with asyncio.

Alice calls Bob; both are sessions in this process on 127.0.0.1. Bob sends his early
media answer in a reliable 183 Session Progress: the UA retransmits it until Alice's UA
PRACKs it (which it does by itself), and holds Bob's 200 OK until then. Alice's INVITE
asked for a session timer; Bob's 2xx grants it and both UAs say so (``SessionRefreshed``:
the caller refreshes, by UPDATE at half the interval, or the callee hangs up when the
session expires). Then Alice puts Bob on hold and back with UPDATE offers, every session
description made by ``sipsans.sdp``, and hangs up.

Run it from the repository root:

    python examples/prack_timers.py
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Callable

import sipsans
from sipsans.sdp import Capabilities, hold, make_answer, make_offer, parse_sdp, resume
from sipsans_asyncio import Listen, Session

Address = tuple[str, int]
RNG = random.Random(3)  # the o= session ids; a real program passes its own (or none)


def user_agent(name: str, config: sipsans.UAConfig) -> Callable[[Address], sipsans.UserAgent]:
    """A UserAgent made once the session's socket is bound (so it knows its port)."""

    def make(address: Address) -> sipsans.UserAgent:
        host, port = address
        endpoint = sipsans.Endpoint(
            sipsans.EndpointConfig(advertised_host=host, advertised_port=port)
        )
        return sipsans.UserAgent(endpoint, identity=f"sip:{name}@{host}", config=config)

    return make


async def callee(bob: Session[sipsans.UserAgent]) -> None:
    """Bob: early media in a reliable 183, then 200 OK; answers UPDATE offers."""
    me = Capabilities.audio(host="127.0.0.1", port=40002, codecs=("PCMU", "telephone-event"))
    last = None
    async for event in bob:
        if isinstance(event, sipsans.IncomingCall):
            call = bob.wrap(event.dialog)
            last = make_answer(parse_sdp(event.request.body), me, rng=RNG)
            # reliable=True: Alice's INVITE says "Supported: 100rel" (the default).
            await call.progress(body=bytes(last), reliable=True)
            print("bob: 183 Session Progress sent reliably, with the SDP answer")
            # Accepted now, sent once the 183 is PRACKed (RFC 3262 §3).
            await call.accept(body=bytes(last), wait=False)
        elif isinstance(event, sipsans.SessionRefreshed):
            who = "bob" if event.we_refresh else "alice"
            print(f"bob: session timer {event.interval} s, {who} refreshes")
        elif isinstance(event, sipsans.InDialogRequest) and event.txn is not None:
            request = event.request
            if request.method == "UPDATE" and request.body:
                offer = parse_sdp(request.body)
                last = make_answer(offer, me, previous=last, rng=RNG)
                offered, answered = offer.media[0].direction, last.media[0].direction
                print(f"bob: UPDATE offers {offered}, answering {answered}")
                await bob.respond(event.txn, 200, body=bytes(last))
            else:
                await bob.respond(event.txn, 200)


async def main() -> int:
    udp = [Listen("udp", "127.0.0.1", 0)]
    # The defaults say it already (rel100="supported", session_timer="supported",
    # session_expires=1800, min_se=90); spelled out here to show the settings.
    config = sipsans.UAConfig(rel100="supported", session_timer="supported", session_expires=600)
    async with (
        Session(user_agent("alice", config), listen=udp) as alice,
        Session(user_agent("bob", sipsans.UAConfig()), listen=udp) as bob,
    ):
        answering = asyncio.create_task(callee(bob))
        timers: list[sipsans.SessionRefreshed] = []

        def alice_events(event: object) -> None:
            """Alice's events, as they come (the session's on_event callback)."""
            if isinstance(event, sipsans.SessionRefreshed):
                timers.append(event)
            elif isinstance(event, sipsans.ResponseReceived) and event.response.status_code == 183:
                rseq = event.response.headers.get("RSeq")
                print(f"alice: 183 with RSeq {rseq}: the UA PRACKs it by itself")

        alice.on_event = alice_events
        mine = Capabilities.audio(host="127.0.0.1", port=40000, codecs=("PCMU", "PCMA"))
        offer = make_offer(mine, rng=RNG)
        host, port = bob.addresses["UDP"]
        call = await alice.invite(f"sip:bob@{host}:{port}", body=bytes(offer), timeout=5)
        assert call.response is not None
        print(f"alice: answered, {call.response.headers.get('Session-Expires')} (Session-Expires)")
        (timer,) = timers
        print(f"alice: we refresh: {timer.we_refresh}, at {timer.interval / 2:g} s, by UPDATE")

        # Hold and resume with UPDATE offers (RFC 3311), made by sipsans.sdp.
        held = hold(offer)
        response = await call.update(body=bytes(held))
        answer = parse_sdp(response.body)
        print(f"alice: hold answered {answer.media[0].direction}")
        response = await call.update(body=bytes(resume(held, original=offer)))
        print(f"alice: resume answered {parse_sdp(response.body).media[0].direction}")

        bye = await call.bye()
        assert bye is not None and bye.status_code == 200
        print("alice: BYE answered 200")
        answering.cancel()
    print("ok: reliable 183 PRACKed, session timer negotiated, hold and resume by UPDATE")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
