"""Full calls UA <-> UA over loopback with the awaitable dialog API, in every flavour:
sipsans_asyncio, sipsans_anyio on asyncio and trio (over UDP and WebSocket), plain
asyncio tasks, and the blocking facade."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from loopback import (
    ANYIO_FLAVOURS,
    SDP,
    Flavour,
    by_flavour,
    call_from,
    is_final,
    is_request,
    raw_peer,
    ua_factory,
    uri_of,
)

import sipsans
import sipsans_anyio
import sipsans_asyncio
from sipsans_anyio.blocking import BlockingSession
from sipsans_asyncio import AsyncDialog, CallFailed

pytestmark = pytest.mark.anyio


async def callee(
    bob: Any, *, ring: bool = True, answer: bool = True, log: list[str] | None = None
) -> None:
    """Bob's side, the same code for every async flavour: answer, echo in-dialog requests."""
    async for event in bob:
        if isinstance(event, sipsans.IncomingCall):
            call = bob.wrap(event.dialog)
            if ring:
                await call.ringing()
            if not answer:
                continue
            await call.accept(body=SDP)
            if log is not None:
                log.append(f"accepted {call.state.name}")
        elif isinstance(event, sipsans.InDialogRequest) and event.txn is not None:
            if log is not None:
                log.append(f"in-dialog {event.request.method}")
            body = SDP if event.request.method == "INVITE" else b""
            await bob.respond(event.txn, 200, body=body)
        elif isinstance(event, sipsans.DialogTerminated) and log is not None:
            log.append(f"terminated {event.reason.name}")


async def caller(alice: Any, to: str) -> list[str]:
    """Alice's side: call, re-INVITE, INFO, BYE with a Reason; the same code everywhere."""
    seen: list[str] = []
    dialog = await alice.invite(to, body=SDP)
    assert isinstance(dialog, AsyncDialog)
    seen.append(dialog.state.name)
    assert dialog.response is not None and dialog.response.body == SDP
    response = await dialog.reinvite(body=SDP)
    seen.append(f"reinvite {response.status_code}")
    response = await dialog.info(body=b"signal=1", content_type="application/dtmf-relay")
    seen.append(f"info {response.status_code}")
    bye = await dialog.bye(reason='Q.850;cause=16;text="normal"')
    assert bye is not None  # sent at once: our dialog is confirmed
    seen.append(f"bye {bye.status_code}")
    seen.append(str(await dialog.closed()))
    return seen


EXPECTED = ["CONFIRMED", "reinvite 200", "info 200", "bye 200", "TerminatedReason.UAC_BYE"]


@asynccontextmanager
async def alice_calls_bob(
    flavour: Flavour, seed: int, transport: str = "UDP", **callee_options: Any
) -> AsyncIterator[tuple[Any, Any, list[str]]]:
    """Two sessions, Alice's and Bob's, with :func:`callee` running for Bob: yields
    ``(alice, bob, log of Bob's side)``."""
    log: list[str] = []
    async with (
        flavour(ua_factory("alice", seed), transport) as alice,
        flavour(ua_factory("bob", seed + 1), transport) as bob,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(lambda: callee(bob, log=log, **callee_options))
        yield alice, bob, log
        tg.cancel_scope.cancel()


async def _until(done: Any) -> None:
    """Poll ``done()`` for up to 5 s (for the far end's view of a call's end)."""
    with anyio.fail_after(5):
        while not done():
            await anyio.sleep(0.02)


@by_flavour()
@pytest.mark.parametrize("transport", ["UDP", "WS"])
async def test_full_call(flavour: Flavour, transport: str) -> None:
    async with alice_calls_bob(flavour, 1, transport) as (alice, bob, log):
        with anyio.fail_after(10):
            seen = await caller(alice, uri_of(bob, transport))
        await _until(lambda: "terminated UAC_BYE" in log)
    assert seen == EXPECTED
    assert log == [
        "accepted CONFIRMED",
        "in-dialog INVITE",
        "in-dialog INFO",
        "terminated UAC_BYE",
    ]


@by_flavour()
async def test_cancelled_invite_sends_cancel(flavour: Flavour) -> None:
    async with alice_calls_bob(flavour, 3, answer=False) as (alice, bob, log):
        with anyio.move_on_after(0.3) as scope:  # it rings meanwhile
            await alice.invite(uri_of(bob), body=SDP)
        assert scope.cancelled_caught
        # The CANCEL went out: the call ends with 487 at both ends.
        await _until(lambda: "terminated UAC_CANCEL" in log)
        assert alice.dialogs() == []


def test_asyncio_task_cancel_sends_cancel() -> None:
    """The same with plain asyncio: ``task.cancel()`` on a pending ``invite()``."""

    async def main() -> list[str]:
        log: list[str] = []
        udp = [sipsans_asyncio.Listen("udp", "127.0.0.1", 0)]
        async with (
            sipsans_asyncio.Session(ua_factory("alice", 5), listen=udp) as alice,
            sipsans_asyncio.Session(ua_factory("bob", 6), listen=udp) as bob,
        ):
            answering = asyncio.create_task(callee(bob, answer=False, log=log))
            call = asyncio.create_task(alice.invite(uri_of(bob), body=SDP))
            await asyncio.sleep(0.3)  # ringing
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            async with asyncio.timeout(5):
                while "terminated UAC_CANCEL" not in log:
                    await asyncio.sleep(0.02)
            answering.cancel()
        return log

    assert "terminated UAC_CANCEL" in asyncio.run(main())


@by_flavour()
async def test_explicit_cancel_returns_the_cancel_response(flavour: Flavour) -> None:
    async with alice_calls_bob(flavour, 9, answer=False) as (alice, bob, log):
        dialog = await alice.invite(uri_of(bob), body=SDP, wait=False)
        assert dialog.state in (sipsans.DialogState.CALLING, sipsans.DialogState.TRYING)
        await anyio.sleep(0.2)  # ringing
        with anyio.fail_after(10):
            response = await dialog.cancel(reason="SIP;cause=487")
            reason = await dialog.closed()
        with pytest.raises(CallFailed) as failed:
            await dialog.established()
        await _until(lambda: "terminated UAC_CANCEL" in log)
    assert response is not None and response.status_code == 200  # the CANCEL's own answer
    assert reason is sipsans.TerminatedReason.UAC_CANCEL
    # The INVITE itself ended with 487 (§9.1), and the exception carries that response.
    assert failed.value.response is not None
    assert failed.value.response.status_code == failed.value.status == 487
    assert failed.value.response.cseq.method == "INVITE"


@by_flavour()
async def test_rejected_call_raises_call_failed_with_the_response(flavour: Flavour) -> None:
    async with (
        flavour(ua_factory("alice", 5)) as alice,
        flavour(ua_factory("bob", 6)) as bob,
        anyio.create_task_group() as tg,
    ):

        async def reject() -> None:
            async for event in bob:
                if isinstance(event, sipsans.IncomingCall):
                    await bob.wrap(event.dialog).reject(
                        486, reason="Gone Fishing", headers=[("Retry-After", "120")]
                    )

        tg.start_soon(reject)
        with pytest.raises(CallFailed) as failed, anyio.fail_after(10):
            await alice.invite(uri_of(bob))
        tg.cancel_scope.cancel()
    exc = failed.value
    assert exc.status == 486
    assert exc.reason is sipsans.TerminatedReason.UAS_BUSY
    assert exc.dialog.is_terminated
    # The application can read what the callee said, not only the code.
    assert exc.response is not None
    assert (exc.response.status_code, exc.response.reason) == (486, "Gone Fishing")
    assert exc.response.headers.get("Retry-After") == "120"
    assert exc.dialog.response is exc.response


@by_flavour()
async def test_dialog_context_and_session_close_hang_up(flavour: Flavour) -> None:
    log: list[str] = []
    async with flavour(ua_factory("bob", 8)) as bob, anyio.create_task_group() as tg:
        tg.start_soon(lambda: callee(bob, log=log))
        async with flavour(ua_factory("alice", 7)) as alice:
            with anyio.fail_after(10):
                dialog = await alice.invite(uri_of(bob), body=SDP)
                async with dialog:
                    assert dialog.state is sipsans.DialogState.CONFIRMED
                assert dialog.is_terminated
                await alice.invite(uri_of(bob), body=SDP)  # left open: closing BYEs it
        await _until(lambda: log.count("terminated UAC_BYE") == 2)
        tg.cancel_scope.cancel()


@by_flavour(ANYIO_FLAVOURS)
async def test_session_cancelled_from_outside_still_hangs_up(flavour: Flavour) -> None:
    """A cancel scope around the whole anyio session: closing it BYEs the call (shielded)."""
    log: list[str] = []
    async with flavour(ua_factory("bob", 16)) as bob, anyio.create_task_group() as tg:
        tg.start_soon(lambda: callee(bob, log=log))
        with anyio.move_on_after(1.0):
            async with flavour(ua_factory("alice", 15)) as alice:
                await alice.invite(uri_of(bob), body=SDP)
                await anyio.sleep(30)
        await _until(lambda: "terminated UAC_BYE" in log)
        tg.cancel_scope.cancel()


# -- blocking ------------------------------------------------------------------------------


def test_blocking_full_call_and_cancel() -> None:
    udp = [sipsans_anyio.Listen("udp", "127.0.0.1", 0)]
    log: list[str] = []
    alice_session: BlockingSession[sipsans.UserAgent] = BlockingSession(
        ua_factory("alice", 21), listen=udp
    )
    bob_session: BlockingSession[sipsans.UserAgent] = BlockingSession(
        ua_factory("bob", 22), backend="trio", listen=udp
    )
    with alice_session as alice, bob_session as bob:
        stop = threading.Event()

        def bob_thread() -> None:  # the callee, in plain blocking code
            while not stop.is_set():
                try:
                    event = bob.next_event(timeout=0.1)
                except TimeoutError:
                    continue
                if isinstance(event, sipsans.IncomingCall):
                    call = bob.wrap(event.dialog)
                    call.ringing()
                    if "sip:late@" in str(event.request.uri):
                        continue  # never answered: alice gives up
                    call.accept(body=SDP)
                elif isinstance(event, sipsans.InDialogRequest) and event.txn is not None:
                    bob.respond(event.txn, 200, body=SDP)
                elif isinstance(event, sipsans.DialogTerminated):
                    log.append(event.reason.name)

        worker = threading.Thread(target=bob_thread)
        worker.start()
        try:
            with alice.invite(uri_of(bob), body=SDP) as dialog:
                assert dialog.state is sipsans.DialogState.CONFIRMED
                assert dialog.response is not None and dialog.response.status_code == 200
                assert dialog.reinvite(body=SDP).status_code == 200
                assert dialog.options().status_code == 200
                response = dialog.bye(reason="SIP;cause=200")
                assert response is not None and response.status_code == 200
            assert dialog.closed(timeout=5) is sipsans.TerminatedReason.UAC_BYE
            with pytest.raises(TimeoutError):
                alice.invite(uri_of(bob, user="late"), body=SDP, timeout=0.4)
            for _ in range(100):
                if "UAC_CANCEL" in log:
                    break
                threading.Event().wait(0.02)
            assert alice.dialogs() == []
        finally:
            stop.set()
            worker.join()
    assert log[0] == "UAC_BYE" and "UAC_CANCEL" in log


# -- a bare peer: requests dropped unsent, waits ended by the close ------------------------


@by_flavour()
async def test_bye_held_for_the_ack_returns_none_when_the_callers_bye_wins(
    flavour: Flavour,
) -> None:
    """§15: the callee's BYE waits for the ACK of its 2xx. The caller hangs up before it
    ever ACKs: the held BYE is dropped unsent, which is no failure: ``bye()`` returns
    None (the call ended as asked) and the dialog ends with the caller's BYE."""
    async with flavour(ua_factory("bob", 31)) as bob, raw_peer() as peer:
        to = bob.addresses["UDP"]
        byes_answered: list[sipsans.Response] = []

        async def caller_without_ack() -> None:
            ok = await peer.receive(is_final("INVITE", 200))
            await peer.send(
                to,
                f"BYE {ok.contacts[0].uri} SIP/2.0",
                f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bK-held-bye-2",
                "Max-Forwards: 70",
                "From: <sip:raw@127.0.0.1>;tag=raw1",
                f"To: <sip:bob@127.0.0.1>;tag={ok.to.tag}",
                "Call-ID: held-bye@127.0.0.1",
                "CSeq: 2 BYE",
            )
            byes_answered.append(await peer.receive(is_final("BYE", 200)))

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(caller_without_ack)
                await call_from(peer, to, "held-bye@127.0.0.1")
                event = await bob.next_event()
                while not isinstance(event, sipsans.IncomingCall):
                    event = await bob.next_event()
                call = bob.wrap(event.dialog)
                await call.accept(body=SDP, wait=False)
                assert call.state is sipsans.DialogState.WAIT_ACK
                result = await call.bye(reason="SIP;cause=200")  # held: no ACK yet
            reason = await call.closed()
        await anyio.sleep(0.2)  # anything Bob would still send arrives meanwhile
    assert result is None
    assert len(byes_answered) == 1
    assert reason is sipsans.TerminatedReason.UAC_BYE  # the caller's BYE ended it
    assert not any(isinstance(m, sipsans.Request) for m in peer.seen)  # no BYE from Bob


@by_flavour()
async def test_cancel_dropped_after_the_final_response_returns_none(flavour: Flavour) -> None:
    """§9.1: the CANCEL waits for a provisional response; a final one (486) came first,
    so the CANCEL is dropped unsent and ``cancel()`` returns None; the call ended
    with that 486, which the UA ACKed."""
    async with flavour(ua_factory("alice", 35)) as alice, raw_peer() as peer:
        with anyio.fail_after(10):
            dialog = await alice.invite(peer.uri, body=SDP, wait=False)
            invite = await peer.receive(is_request("INVITE"))
            async with anyio.create_task_group() as tg:
                results: list[sipsans.Response | None] = []

                async def cancel() -> None:
                    results.append(await dialog.cancel())

                tg.start_soon(cancel)
                await anyio.sleep(0.1)  # the CANCEL is held: nothing answered yet
                busy = sipsans.make_response(invite, 486, to_tag="raw2")
                await peer.sock.sendto(bytes(busy), "127.0.0.1", alice.addresses["UDP"][1])
                await peer.receive(is_request("ACK"))
            assert await dialog.closed() is not None
        await anyio.sleep(0.2)
    assert results == [None]
    assert dialog.status == 486
    assert not any(isinstance(m, sipsans.Request) and m.method == "CANCEL" for m in peer.seen)


@by_flavour()
async def test_dialog_and_subscription_waits_end_when_the_session_closes(
    flavour: Flavour,
) -> None:
    """Tasks waiting for a state (``closed()``, ``established()``, a subscription's first
    NOTIFY) without a timeout while another task closes the session all finish: the
    waits the close fulfilled return (or raise CallFailed), the others raise
    TransportError("session closed") as no event can come any more."""
    outcomes: dict[str, object] = {}

    async def record(name: str, wait: Any) -> None:
        try:
            outcomes[name] = await wait()
        except Exception as exc:  # the outcome under test
            outcomes[name] = exc

    with anyio.fail_after(10):
        # Leaving this block closes the session (in this task), then waits for the tasks.
        async with (
            raw_peer() as peer,
            anyio.create_task_group() as tg,
            flavour(ua_factory("alice", 37)) as alice,
        ):
            alice.close_timeout = 0.3  # the peer never answers the CANCEL
            # An outgoing call the silent peer lets ring, and a subscription.
            ours = await alice.invite(peer.uri, body=SDP, wait=False)
            invite = await peer.receive(is_request("INVITE"))
            ringing = sipsans.make_response(invite, 180, to_tag="raw3")
            await peer.sock.sendto(bytes(ringing), *alice.addresses["UDP"])
            sub = await alice.subscribe(peer.uri, "presence", wait=False)
            # An incoming call nobody answers (closing declines it: 603).
            await call_from(peer, alice.addresses["UDP"], "unanswered@127.0.0.1")
            event = await alice.next_event()
            while not isinstance(event, sipsans.IncomingCall):
                event = await alice.next_event()
            theirs = alice.wrap(event.dialog)
            for name, wait in [
                ("ours closed", ours.closed),
                ("ours established", ours.established),
                ("theirs closed", theirs.closed),
                ("theirs established", theirs.established),
                ("subscribed", sub.established),
            ]:
                tg.start_soon(record, name, wait)
            await anyio.sleep(0.1)  # every task waits
            assert outcomes == {}
        assert len(outcomes) == 5
        # A wait begun after the close ends at once.
        with pytest.raises(sipsans_asyncio.TransportError, match="session closed"):
            await ours.closed()
    # The incoming call was declined by the close: its waits saw the end.
    assert outcomes["theirs closed"] is theirs.terminated_reason is not None
    assert isinstance(outcomes["theirs established"], CallFailed)
    # Our CANCEL got no answer: the call never ended, the session did.
    assert not ours.is_terminated
    for name in ("ours closed", "ours established", "subscribed"):
        failure = outcomes[name]
        assert isinstance(failure, sipsans_asyncio.TransportError), name
        assert str(failure) == "session closed"
    assert alice._waits.idle  # nothing left behind
