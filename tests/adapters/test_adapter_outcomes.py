"""The same outcome on every adapter, as a user drives it (DESIGN.md §3, §6): requests
outside dialogs on a UserAgent session, answers that go out whether awaited or not,
``accept()`` after the caller's CANCEL, core views used inside ``async for``, and
``snapshot()`` on the dialog handle."""

from __future__ import annotations

import threading
import warnings
from typing import Any

import anyio
import pytest
from loopback import (
    SDP,
    Answerer,
    Flavour,
    by_flavour,
    call_from,
    endpoint_factory,
    is_final,
    options,
    raw_peer,
    ua_factory,
    uri_of,
)

import sipsans
from sipsans_anyio import Listen
from sipsans_anyio.blocking import BlockingSession
from sipsans_asyncio import CallFailed

pytestmark = pytest.mark.anyio


async def answer_requests(session: Any) -> None:
    """A UA application answering requests outside dialogs: OPTIONS 200, MESSAGE 202."""
    async for event in session:
        if isinstance(event, sipsans.MessageReceived) and event.txn is not None:
            session.respond(event.txn, 202)
        elif isinstance(event, sipsans.RequestReceived) and event.txn is not None:
            session.respond(event.txn, 200)


# -- requests outside dialogs on a UserAgent session ----------------------------------------


@by_flavour()
async def test_requests_outside_dialogs_on_a_user_agent_session(flavour: Flavour) -> None:
    async with (
        flavour(ua_factory("alice", 81)) as alice,
        flavour(ua_factory("bob", 82)) as bob,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(answer_requests, bob)
        to = uri_of(bob)
        with anyio.fail_after(10):
            pinged = await alice.options(to)
            told = await alice.message(to, body=b"hello")
            generic = await alice.request("OPTIONS", to, headers=[("X-Test", "1")])
        tg.cancel_scope.cancel()
    assert (pinged.status_code, told.status_code, generic.status_code) == (200, 202, 200)
    assert told.cseq.method == "MESSAGE"
    assert pinged.call_id != generic.call_id  # each a request of its own


@by_flavour()
async def test_request_says_which_form_each_core_takes(flavour: Flavour) -> None:
    async with flavour(ua_factory("alice", 83)) as alice, flavour(endpoint_factory(84)) as ep:
        prebuilt = options(ep.addresses["UDP"])
        with pytest.raises(TypeError, match=r"session\.request\(method, to"):
            await alice.request(prebuilt, target=sipsans.Target("UDP", *ep.addresses["UDP"]))
        with pytest.raises(TypeError, match="an Endpoint sends requests the application built"):
            await ep.request("OPTIONS", uri_of(alice))
        with pytest.raises(TypeError, match=r"needs a sipsans\.UserAgent core"):
            await ep.options(uri_of(alice))


def test_requests_outside_dialogs_blocking() -> None:
    udp = [Listen("udp", "127.0.0.1", 0)]
    app = Answerer()
    uas: BlockingSession[sipsans.Endpoint] = BlockingSession(
        endpoint_factory(85), backend="trio", listen=udp, on_event=app
    )
    ua: BlockingSession[sipsans.UserAgent] = BlockingSession(ua_factory("alice", 86), listen=udp)
    with ua as alice, uas as server:
        app.session = server.session
        to = uri_of(server)
        assert alice.options(to, timeout=5).status_code == 200
        assert alice.message(to, body=b"hello", timeout=5).status_code == 200
        assert alice.request("PUBLISH", to, timeout=5).status_code == 200
        # The Endpoint session's form is unchanged (Alice's UA answers after its
        # answer_timeout, as nobody reads her events: not waited for here).
        with pytest.raises(TypeError, match="an Endpoint sends requests"):
            server.request("OPTIONS", uri_of(alice), timeout=5)
    assert [e.request.method for e in app.requests] == ["OPTIONS", "MESSAGE", "PUBLISH"]


# -- answers go out whether awaited or not ---------------------------------------------------


async def _incoming(session: Any) -> Any:
    event = await session.next_event()
    while not isinstance(event, sipsans.IncomingCall):
        event = await session.next_event()
    return session.wrap(event.dialog)


@by_flavour()
@pytest.mark.parametrize("awaited", [True, False], ids=["awaited", "not-awaited"])
async def test_ringing_and_reject_are_sent_awaited_or_not(flavour: Flavour, awaited: bool) -> None:
    """``ringing()`` and ``reject()`` send when called, on every adapter; awaiting them
    is optional and a forgotten await warns of nothing."""
    async with flavour(ua_factory("bob", 87)) as bob, raw_peer() as peer:
        with anyio.fail_after(10), warnings.catch_warnings():
            warnings.simplefilter("error")  # no "coroutine was never awaited"
            await call_from(peer, bob.addresses["UDP"], f"answers-{awaited}@127.0.0.1")
            call = await _incoming(bob)
            if awaited:
                await call.ringing()
                await call.reject(486)
            else:
                call.ringing()
                call.reject(486)
            await peer.receive(is_final("INVITE", 180))
            busy = await peer.receive(is_final("INVITE", 486))
    assert busy.status_code == 486
    assert call.terminated_reason is sipsans.TerminatedReason.UAS_BUSY


@by_flavour()
async def test_accept_sends_at_once_and_awaiting_it_waits_for_the_ack(flavour: Flavour) -> None:
    async with flavour(ua_factory("bob", 89)) as bob, raw_peer() as peer:
        bob.close_timeout = 0.1  # (the raw peer does not answer the BYE of the close)
        with anyio.fail_after(10):
            await call_from(peer, bob.addresses["UDP"], "accept-now@127.0.0.1")
            call = await _incoming(bob)
            acked = call.accept(body=SDP)  # the 200 is out: the peer gets it unawaited
            ok = await peer.receive(is_final("INVITE", 200))
            assert call.state is sipsans.DialogState.WAIT_ACK
            await peer.send(
                bob.addresses["UDP"],
                f"ACK {ok.contacts[0].uri} SIP/2.0",
                f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bK-accept-now-ack",
                "Max-Forwards: 70",
                "From: <sip:raw@127.0.0.1>;tag=raw1",
                f"To: <sip:bob@127.0.0.1>;tag={ok.to.tag}",
                "Call-ID: accept-now@127.0.0.1",
                "CSeq: 1 ACK",
            )
            assert await acked is None
    assert call.state is not sipsans.DialogState.WAIT_ACK


@by_flavour()
async def test_accept_after_the_callers_cancel_raises_call_failed(flavour: Flavour) -> None:
    async with flavour(ua_factory("bob", 91)) as bob, raw_peer() as peer:
        to = bob.addresses["UDP"]
        with anyio.fail_after(10):
            await call_from(peer, to, "cancelled@127.0.0.1")
            call = await _incoming(bob)
            await peer.send(
                to,
                f"CANCEL sip:bob@{to[0]}:{to[1]} SIP/2.0",
                f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bK-cancelled@127.0.0.1-1",
                "Max-Forwards: 70",
                "From: <sip:raw@127.0.0.1>;tag=raw1",
                "To: <sip:bob@127.0.0.1>",
                "Call-ID: cancelled@127.0.0.1",
                "CSeq: 1 CANCEL",
            )
            await peer.receive(is_final("INVITE", 487))
            with pytest.raises(CallFailed) as failed:
                await call.accept(body=SDP)
            with pytest.raises(CallFailed):
                call.ringing()
            assert call.reject(486) is not None  # the call is over already: nothing to do
    assert failed.value.reason is sipsans.TerminatedReason.UAC_CANCEL
    assert failed.value.status == 487


def test_accept_after_the_callers_cancel_raises_call_failed_blocking() -> None:
    session: BlockingSession[sipsans.UserAgent] = BlockingSession(
        ua_factory("bob", 93), listen=[Listen("udp", "127.0.0.1", 0)]
    )
    with session as bob:
        to = bob.addresses["UDP"]

        async def peer_calls_then_cancels(ready: threading.Event) -> None:
            async with raw_peer() as peer:
                with anyio.fail_after(10):
                    await call_from(peer, to, "cancelled-blocking@127.0.0.1")
                    await anyio.to_thread.run_sync(ready.wait)
                    await peer.send(
                        to,
                        f"CANCEL sip:bob@{to[0]}:{to[1]} SIP/2.0",
                        f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port}"
                        ";branch=z9hG4bK-cancelled-blocking@127.0.0.1-1",
                        "Max-Forwards: 70",
                        "From: <sip:raw@127.0.0.1>;tag=raw1",
                        "To: <sip:bob@127.0.0.1>",
                        "Call-ID: cancelled-blocking@127.0.0.1",
                        "CSeq: 1 CANCEL",
                    )
                    await peer.receive(is_final("INVITE", 487))

        ready = threading.Event()
        peer = threading.Thread(target=anyio.run, args=(peer_calls_then_cancels, ready))
        peer.start()
        try:
            event = bob.next_event(timeout=5)
            while not isinstance(event, sipsans.IncomingCall):
                event = bob.next_event(timeout=5)
            call = bob.wrap(event.dialog)
            ready.set()
            while not isinstance(event, sipsans.DialogTerminated):
                event = bob.next_event(timeout=5)
            with pytest.raises(CallFailed) as failed:
                call.accept(body=SDP)
        finally:
            ready.set()
            peer.join()
    assert failed.value.reason is sipsans.TerminatedReason.UAC_CANCEL


# -- a core view used inside `async for` --------------------------------------------------------


def _no_trying(name: str, seed: int) -> Any:
    """A UA that sends no 100 Trying of its own (so no timer of its wakes the session
    before the application's answer)."""
    return ua_factory(name, seed, trying_delay=None)


@by_flavour()
async def test_a_core_view_used_inside_async_for_goes_out_at_once(flavour: Flavour) -> None:
    """The application answers through the core's own view (``event.dialog``, which
    takes ``now=``): the 180 goes out when the application next awaits anything, not
    at the session's next input or timer."""
    async with flavour(_no_trying("bob", 95)) as bob, raw_peer() as peer:
        with anyio.fail_after(10):
            await call_from(peer, bob.addresses["UDP"], "core-view@127.0.0.1")
            async for event in bob:
                if isinstance(event, sipsans.IncomingCall):
                    event.dialog.ringing(now=bob.now())
                    with anyio.fail_after(2):  # (the next timer of the UA is minutes away)
                        await peer.receive(is_final("INVITE", 180))
                    break
            # Later, outside the handling of an event, the handle (or session.command)
            # is the way: it pumps.
            bob.wrap(event.dialog).reject(486)
            await peer.receive(is_final("INVITE", 486))


# -- snapshot() on the handle ------------------------------------------------------------------


@by_flavour()
async def test_snapshot_from_the_dialog_handle(flavour: Flavour) -> None:
    async with (
        flavour(ua_factory("alice", 97)) as alice,
        flavour(ua_factory("bob", 98)) as bob,
        anyio.create_task_group() as tg,
    ):

        async def answer() -> None:
            call = await _incoming(bob)
            await call.accept(body=SDP)

        tg.start_soon(answer)
        with anyio.fail_after(10):
            dialog = await alice.invite(uri_of(bob), body=SDP)
        snap = dialog.snapshot()
        assert snap == alice.core.snapshot(dialog.id)
        assert snap["call_id"] == dialog.id.call_id
        tg.cancel_scope.cancel()


def test_snapshot_from_the_blocking_dialog_handle() -> None:
    udp = [Listen("udp", "127.0.0.1", 0)]
    sessions: list[BlockingSession[sipsans.UserAgent]] = [
        BlockingSession(ua_factory("alice", 99), listen=udp),
        BlockingSession(ua_factory("bob", 100), backend="trio", listen=udp),
    ]
    with sessions[0] as alice, sessions[1] as bob:

        def bob_answers() -> None:
            event = bob.next_event(timeout=5)
            while not isinstance(event, sipsans.IncomingCall):
                event = bob.next_event(timeout=5)
            bob.wrap(event.dialog).accept(body=SDP)

        worker = threading.Thread(target=bob_answers)
        worker.start()
        try:
            dialog = alice.invite(uri_of(bob), body=SDP, timeout=5)
        finally:
            worker.join()
        assert dialog.snapshot()["call_id"] == dialog.id.call_id
