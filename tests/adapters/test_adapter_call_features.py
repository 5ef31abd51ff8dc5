"""The call features on every adapter (asyncio, anyio on asyncio and trio, blocking), UA
<-> UA over loopback UDP: reliable provisional responses (``ringing(reliable=...)``,
``progress(body=..., reliable=...)``, ``prack(body=...)``), an UPDATE offer in the early
dialog, and the session timer that the INVITE asks for by default."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest
from loopback import FLAVOURS, SDP, Flavour, by_flavour, ua_factory, uri_of

import sipsans
import sipsans_anyio
from sipsans_anyio.blocking import BlockingSession
from sipsans_asyncio import AsyncDialog

pytestmark = pytest.mark.anyio

ANSWER = SDP.replace(b"4000", b"4002")
OFFER = SDP.replace(b"4000", b"4004")


async def callee(bob: Any, log: list[str]) -> None:
    """Bob: a reliable 183 carrying his offer (the INVITE has none), then, once its
    PRACK brought the answer, 200 OK. UPDATE offers are answered."""
    async for event in bob:
        if isinstance(event, sipsans.IncomingCall):
            call = bob.wrap(event.dialog)
            await call.ringing(reliable=True)
            await call.progress(body=OFFER, reliable=True)  # queued behind the 180
        elif isinstance(event, sipsans.InDialogRequest):
            method = event.request.method
            log.append(f"{method} {'answer' if event.txn is None else 'request'}")
            if method == "PRACK" and event.txn is None:
                await bob.wrap(event.dialog_id).accept(body=OFFER, wait=False)
            elif event.txn is not None:
                await bob.respond(event.txn, 200, body=ANSWER if event.request.body else b"")
        elif isinstance(event, sipsans.SessionRefreshed):
            log.append(f"timer {event.interval} {'refresher' if event.we_refresh else 'not'}")


async def caller(alice: Any, to: str, log: list[str]) -> AsyncDialog:
    """Alice: INVITE without an offer; answers the offer of the reliable 183 in the PRACK."""
    async with anyio.create_task_group() as tg:

        async def answer_offers() -> None:
            async for event in alice:
                if isinstance(event, sipsans.ProvisionalOffer):
                    response = await alice.wrap(event.dialog_id).prack(body=ANSWER)
                    log.append(f"prack {response.status_code}")
                elif isinstance(event, sipsans.SessionRefreshed):
                    log.append(f"timer {event.interval}")
                    tg.cancel_scope.cancel()

        tg.start_soon(answer_offers)
        dialog: AsyncDialog = await alice.invite(to)
    return dialog


@by_flavour()
async def test_reliable_provisionals_prack_answer_and_timer(flavour: Flavour) -> None:
    bob_log: list[str] = []
    alice_log: list[str] = []
    async with (
        flavour(ua_factory("alice", 41)) as alice,
        flavour(ua_factory("bob", 42)) as bob,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(callee, bob, bob_log)
        with anyio.fail_after(10):
            dialog = await caller(alice, uri_of(bob), alice_log)
            assert dialog.state is sipsans.DialogState.CONFIRMED
            assert dialog.response is not None and dialog.response.body == OFFER
            response = await dialog.update(body=OFFER)
            assert response.status_code == 200 and response.body == ANSWER
            await dialog.bye()
        tg.cancel_scope.cancel()
    assert alice_log == ["prack 200", "timer 1800"]
    assert bob_log[:2] == ["PRACK answer", "timer 1800 not"]
    assert bob_log[2] == "UPDATE request"


@by_flavour([f for f in FLAVOURS if f.name == "asyncio"])
async def test_an_update_offer_in_the_early_dialog(flavour: Flavour) -> None:
    """The caller updates the session while the call rings: its INVITE offer was
    answered in a reliable 183, so the early dialog takes a new offer (RFC 3311 §5.1)."""
    answered = anyio.Event()
    async with (
        flavour(ua_factory("alice", 43)) as alice,
        flavour(ua_factory("bob", 44)) as bob,
        anyio.create_task_group() as tg,
    ):

        async def bob_side() -> None:
            async for event in bob:
                if isinstance(event, sipsans.IncomingCall):
                    await bob.wrap(event.dialog).progress(body=ANSWER, reliable=True)
                elif isinstance(event, sipsans.InDialogRequest) and event.txn is not None:
                    await bob.respond(event.txn, 200, body=ANSWER)
                    answered.set()

        tg.start_soon(bob_side)
        with anyio.fail_after(10):
            dialog = await alice.invite(uri_of(bob), body=SDP, wait=False)
            while dialog.state is not sipsans.DialogState.EARLY:
                await anyio.sleep(0.01)
            await anyio.sleep(0.1)  # the PRACK of the 183
            response = await dialog.update(body=OFFER)
            assert response.status_code == 200 and response.body == ANSWER
            await answered.wait()
            await dialog.hangup()
        tg.cancel_scope.cancel()


def test_blocking_reliable_ringing_and_prack() -> None:
    udp = [sipsans_anyio.Listen("udp", "127.0.0.1", 0)]
    alice_session: BlockingSession[sipsans.UserAgent] = BlockingSession(
        ua_factory("alice", 45), listen=udp
    )
    bob_session: BlockingSession[sipsans.UserAgent] = BlockingSession(
        ua_factory("bob", 46), backend="trio", listen=udp
    )
    seen: list[str] = []
    with alice_session as alice, bob_session as bob:
        stop = threading.Event()

        def bob_thread() -> None:
            while not stop.is_set():
                try:
                    event = bob.next_event(timeout=0.1)
                except TimeoutError:
                    continue
                if isinstance(event, sipsans.IncomingCall):
                    call = bob.wrap(event.dialog)
                    call.progress(body=OFFER, reliable=True)
                elif isinstance(event, sipsans.InDialogRequest) and event.txn is None:
                    seen.append(f"{event.request.method} answer")
                    bob.wrap(event.dialog_id).accept(body=OFFER, wait=False)

        worker = threading.Thread(target=bob_thread)
        worker.start()
        try:
            dialog = alice.invite(uri_of(bob), wait=False)
            offer = None
            for _ in range(100):
                try:
                    event = alice.next_event(timeout=0.1)
                except TimeoutError:
                    continue
                if isinstance(event, sipsans.ProvisionalOffer):
                    offer = event
                    break
            assert offer is not None and offer.response.body == OFFER
            response = alice.wrap(offer.dialog_id).prack(body=ANSWER)
            assert response.status_code == 200
            dialog.established(timeout=5)
            assert dialog.bye() is not None
        finally:
            stop.set()
            worker.join()
    assert seen == ["PRACK answer"]
