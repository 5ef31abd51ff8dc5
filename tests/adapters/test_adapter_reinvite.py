"""re-INVITEs through the adapters, as a user awaits them (DESIGN.md §3, §6): glare
(RFC 3261 §14.1) ends with the retry's outcome, bounded; an offer-less re-INVITE is
answered in the ACK (RFC 3264 §5). On asyncio, anyio on asyncio and on trio, and the
blocking facade."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from loopback import SDP, Flavour, by_flavour, ua_factory, uri_of

import sipsans
from sipsans_anyio import Listen
from sipsans_anyio.blocking import BlockingSession
from sipsans_asyncio import AsyncDialog

pytestmark = pytest.mark.anyio

#: The answer to an offer made in a 2xx (RFC 3264 §5: it goes in the ACK).
ANSWER = SDP.replace(b"m=audio 4000", b"m=audio 5000")


def answers(statuses: list[int], default: int = 200) -> Any:
    """The status for the n-th re-INVITE: ``statuses[n]``, then ``default``."""
    return lambda n: statuses[n] if n < len(statuses) else default


class Peer:
    """One end's application: answers calls, and answers the n-th re-INVITE with
    ``status(n)`` (200 with ``reinvite_body``, or e.g. 491); keeps what it saw."""

    def __init__(self, status: Any = None, reinvite_body: bytes = SDP) -> None:
        self.status = status if status is not None else answers([])
        self.reinvite_body = reinvite_body
        self.reinvites: list[sipsans.Request] = []
        self.acks: list[sipsans.Request] = []
        self.calls: list[AsyncDialog] = []
        self.answered = anyio.Event()

    async def run(self, session: Any) -> None:
        async for event in session:
            if isinstance(event, sipsans.IncomingCall):
                call = session.wrap(event.dialog)
                self.calls.append(call)
                await call.accept(body=SDP)
                self.answered.set()
            elif isinstance(event, sipsans.InDialogRequest):
                request = event.request
                if request.method == "ACK":
                    self.acks.append(request)
                elif request.method == "INVITE" and event.txn is not None:
                    status = self.status(len(self.reinvites))
                    self.reinvites.append(request)
                    body = self.reinvite_body if status < 300 else b""
                    session.respond(event.txn, status, body=body)
                elif event.txn is not None:
                    session.respond(event.txn, 200)


@asynccontextmanager
async def a_call(
    flavour: Flavour, seed: int, alice_peer: Peer, bob_peer: Peer, **ua: Any
) -> AsyncIterator[tuple[AsyncDialog, AsyncDialog]]:
    """A confirmed call, Alice to Bob, each end's events read by its :class:`Peer`:
    yields (Alice's dialog, Bob's)."""
    config = sipsans.UAConfig(**ua) if ua else None
    async with (
        flavour(ua_factory("alice", seed, ua=config)) as alice,
        flavour(ua_factory("bob", seed + 1, ua=config)) as bob,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(alice_peer.run, alice)
        tg.start_soon(bob_peer.run, bob)
        with anyio.fail_after(10):
            ours = await alice.invite(uri_of(bob), body=SDP)
            await bob_peer.answered.wait()
        yield ours, bob_peer.calls[0]
        tg.cancel_scope.cancel()


# -- glare (§14.1) -------------------------------------------------------------------------


@by_flavour()
async def test_glare_both_reinvites_return_the_retrys_200(flavour: Flavour) -> None:
    """Both ends re-INVITE at once: each meets the other's 491, backs off (the callee
    0-2 s, the caller 2.1-4 s) and retries; each await returns the retry's 200, not
    the 491."""
    alice_peer, bob_peer = Peer(), Peer()
    async with a_call(flavour, 61, alice_peer, bob_peer) as (ours, theirs):
        results: dict[str, sipsans.Response] = {}

        async def reinvite(name: str, dialog: AsyncDialog) -> None:
            results[name] = await dialog.reinvite(body=SDP)

        with anyio.fail_after(15):
            async with anyio.create_task_group() as tg:
                tg.start_soon(reinvite, "alice", ours)
                tg.start_soon(reinvite, "bob", theirs)
        invite_cseq = ours.response.cseq.seq if ours.response is not None else 0
    assert {name: r.status_code for name, r in results.items()} == {"alice": 200, "bob": 200}
    assert results["alice"].body == results["bob"].body == SDP
    # Each end's first re-INVITE met the other's and was answered 491 by the UA (the
    # applications never saw it); each application answered the other's retry, whose
    # CSeq tells that it is one.
    assert [r.cseq.seq for r in bob_peer.reinvites] == [invite_cseq + 2]
    assert len(alice_peer.reinvites) == 1


@by_flavour()
async def test_a_peer_that_always_answers_491_ends_the_reinvite_with_491(
    flavour: Flavour,
) -> None:
    """§14.1 retries are bounded (UAConfig.glare_retries): after that many rounds of
    491 the last 491 is the outcome, and no further re-INVITE goes out."""
    alice_peer, bob_peer = Peer(answers([], 491)), Peer()
    async with a_call(flavour, 63, alice_peer, bob_peer, glare_retries=1) as (_, theirs):
        with anyio.fail_after(15):
            response = await theirs.reinvite(body=SDP)  # the callee's: 0-2 s back-offs
        await anyio.sleep(0.3)
        assert response.status_code == 491
        assert len(alice_peer.reinvites) == 2  # the first and one retry
        assert theirs.state is sipsans.DialogState.CONFIRMED  # a 491 ends nothing


def _blocking_call(seed: int, statuses: Any, **ua: Any) -> tuple[Any, list[sipsans.Request]]:
    """For the blocking tests: a generator that opens two blocking sessions (Bob on
    trio), has Bob answer the n-th re-INVITE with ``statuses(n)`` from a thread, calls
    him and yields Alice's dialog; and the list of re-INVITEs Bob saw."""
    seen: list[sipsans.Request] = []
    config = sipsans.UAConfig(**ua) if ua else None

    def run() -> Any:
        udp = [Listen("udp", "127.0.0.1", 0)]
        alice_session: BlockingSession[sipsans.UserAgent] = BlockingSession(
            ua_factory("alice", seed, ua=config), listen=udp
        )
        bob_session: BlockingSession[sipsans.UserAgent] = BlockingSession(
            ua_factory("bob", seed + 1), backend="trio", listen=udp
        )
        with alice_session as alice, bob_session as bob:
            stop = threading.Event()

            def bob_answers() -> None:
                while not stop.is_set():
                    try:
                        event = bob.next_event(timeout=0.05)
                    except TimeoutError:
                        continue
                    if isinstance(event, sipsans.IncomingCall):
                        bob.wrap(event.dialog).accept(body=SDP)
                    elif isinstance(event, sipsans.InDialogRequest) and event.txn is not None:
                        status = statuses(len(seen))
                        seen.append(event.request)
                        bob.respond(event.txn, status, body=SDP if status < 300 else b"")

            worker = threading.Thread(target=bob_answers)
            worker.start()
            try:
                yield alice.invite(uri_of(bob), body=SDP, timeout=5)
            finally:
                stop.set()
                worker.join()

    return run(), seen


def test_a_reinvite_that_met_491_returns_the_retrys_200_blocking() -> None:
    """Bob answers the first re-INVITE 491 (as in glare): the blocking ``reinvite()``
    returns once the retry was answered, with its 200."""
    calls, seen = _blocking_call(73, answers([491]))
    dialog = next(calls)
    response = dialog.reinvite(body=SDP)
    calls.close()
    assert response.status_code == 200 and response.body == SDP
    assert [r.cseq.seq for r in seen] == [seen[0].cseq.seq, seen[0].cseq.seq + 1]


def test_a_peer_that_always_answers_491_blocking() -> None:
    calls, seen = _blocking_call(75, answers([], 491), glare_retries=1)
    dialog = next(calls)
    response = dialog.reinvite(body=SDP)
    calls.close()
    assert response.status_code == 491
    assert len(seen) == 2  # the first and one retry


# -- an offer-less re-INVITE (RFC 3264 §5) -------------------------------------------------


@by_flavour()
@pytest.mark.parametrize("who", ["caller", "callee"])
async def test_an_offerless_reinvite_is_answered_in_the_ack(flavour: Flavour, who: str) -> None:
    """``await dialog.reinvite()`` without a body returns the 200 carrying the peer's
    offer; ``await dialog.ack(body=answer)`` sends the answer in the ACK. Either end may
    send such a re-INVITE."""
    alice_peer, bob_peer = Peer(), Peer()
    async with a_call(flavour, 67, alice_peer, bob_peer) as (ours, theirs):
        dialog, far = (ours, bob_peer) if who == "caller" else (theirs, alice_peer)
        with anyio.fail_after(10):
            response = await dialog.reinvite()
            assert response.status_code == 200 and response.body == SDP  # the offer
            assert not far.reinvites[0].body
            await dialog.ack(body=ANSWER)
            while not far.acks:
                await anyio.sleep(0.02)
        assert dialog.state is sipsans.DialogState.CONFIRMED
    assert far.acks[0].body == ANSWER
    assert far.acks[0].headers.get("Content-Type") == "application/sdp"


@by_flavour()
async def test_an_offer_left_unanswered_ends_the_call_after_answer_timeout(
    flavour: Flavour,
) -> None:
    """The application never calls ack(): after UAConfig.answer_timeout the UA ACKs
    without an answer and ends the call (BYE, Reason cause=488): bounded."""
    alice_peer, bob_peer = Peer(), Peer()
    async with a_call(flavour, 69, alice_peer, bob_peer, answer_timeout=0.3) as (ours, _):
        with anyio.fail_after(10):
            response = await ours.reinvite()
            assert response.status_code == 200 and response.body == SDP
            reason = await ours.closed()
    assert reason is sipsans.TerminatedReason.UAC_OTHER
    assert bob_peer.acks == []  # the ACK without a body is no news to Bob's app
    assert bob_peer.calls[0].terminated_reason is sipsans.TerminatedReason.UAC_BYE


def test_an_offerless_reinvite_with_the_blocking_facade() -> None:
    udp = [Listen("udp", "127.0.0.1", 0)]
    alice_session: BlockingSession[sipsans.UserAgent] = BlockingSession(
        ua_factory("alice", 71), listen=udp
    )
    bob_session: BlockingSession[sipsans.UserAgent] = BlockingSession(
        ua_factory("bob", 72), backend="trio", listen=udp
    )
    acks: list[sipsans.Request] = []
    with alice_session as alice, bob_session as bob:
        stop = threading.Event()

        def bob_answers() -> None:
            while not stop.is_set():
                try:
                    event = bob.next_event(timeout=0.05)
                except TimeoutError:
                    continue
                if isinstance(event, sipsans.IncomingCall):
                    bob.wrap(event.dialog).accept(body=SDP)
                elif isinstance(event, sipsans.InDialogRequest):
                    if event.request.method == "ACK":
                        acks.append(event.request)
                    elif event.txn is not None:
                        bob.respond(event.txn, 200, body=SDP)

        worker = threading.Thread(target=bob_answers)
        worker.start()
        try:
            dialog = alice.invite(uri_of(bob), body=SDP, timeout=5)
            response = dialog.reinvite()
            assert response.status_code == 200 and response.body == SDP
            dialog.ack(body=ANSWER)
            for _ in range(250):
                if acks:
                    break
                threading.Event().wait(0.02)
        finally:
            stop.set()
            worker.join()
    assert [a.body for a in acks] == [ANSWER]
