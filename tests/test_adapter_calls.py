"""Full calls UA <-> UA over loopback UDP with the awaitable dialog API, in every flavour:
sipsans_asyncio, sipsans_anyio on asyncio and trio, and the blocking facade."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from typing import Any

import anyio
import pytest

import sipsans
import sipsans_anyio
import sipsans_asyncio
from sipsans_anyio.blocking import BlockingSession
from sipsans_asyncio import AsyncDialog, CallFailed

Address = tuple[str, int]

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0\r\n"
)


def ua_factory(name: str, seed: int) -> Callable[[Address], sipsans.UserAgent]:
    def make(addr: Address) -> sipsans.UserAgent:
        cfg = sipsans.EndpointConfig(advertised_host=addr[0], advertised_port=addr[1])
        rng = random.Random(seed)
        return sipsans.UserAgent(
            sipsans.Endpoint(cfg, rng=rng), identity=f"sip:{name}@127.0.0.1", rng=rng
        )

    return make


def uri_of(session: Any) -> str:
    host, port = session.addresses["UDP"]
    return f"sip:bob@{host}:{port}"


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
    assert response is not None
    seen.append(f"reinvite {response.status_code}")
    response = await dialog.info(body=b"signal=1", content_type="application/dtmf-relay")
    assert response is not None
    seen.append(f"info {response.status_code}")
    response = await dialog.bye(reason='Q.850;cause=16;text="normal"')
    assert response is not None
    seen.append(f"bye {response.status_code}")
    seen.append(str(await dialog.closed()))
    return seen


EXPECTED = ["CONFIRMED", "reinvite 200", "info 200", "bye 200", "TerminatedReason.UAC_BYE"]


# -- asyncio ------------------------------------------------------------------------------


async def _asyncio_call() -> tuple[list[str], list[str]]:
    log: list[str] = []
    udp = [sipsans_asyncio.Listen("udp", "127.0.0.1", 0)]
    async with (
        sipsans_asyncio.Session(ua_factory("alice", 1), listen=udp) as alice,
        sipsans_asyncio.Session(ua_factory("bob", 2), listen=udp) as bob,
    ):
        task = asyncio.create_task(callee(bob, log=log))
        seen = await asyncio.wait_for(caller(alice, uri_of(bob)), 10)
        await asyncio.sleep(0.05)
        task.cancel()
    return seen, log


def test_asyncio_full_call() -> None:
    seen, log = asyncio.run(_asyncio_call())
    assert seen == EXPECTED
    assert log == [
        "accepted CONFIRMED",
        "in-dialog INVITE",
        "in-dialog INFO",
        "terminated UAC_BYE",
    ]


async def _asyncio_cancel() -> tuple[CallFailed | None, Any, list[str]]:
    log: list[str] = []
    udp = [sipsans_asyncio.Listen("udp", "127.0.0.1", 0)]
    async with (
        sipsans_asyncio.Session(ua_factory("alice", 3), listen=udp) as alice,
        sipsans_asyncio.Session(ua_factory("bob", 4), listen=udp) as bob,
    ):
        task = asyncio.create_task(callee(bob, answer=False, log=log))
        call = asyncio.create_task(alice.invite(uri_of(bob), body=SDP))
        await asyncio.sleep(0.3)  # ringing
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        # the CANCEL went out: the call ends with 487 on both sides
        for _ in range(100):
            if "terminated UAC_CANCEL" in log:
                break
            await asyncio.sleep(0.02)
        dialogs = alice.dialogs()
        task.cancel()
    return None, dialogs, log


def test_asyncio_cancellation_sends_cancel() -> None:
    _, dialogs, log = asyncio.run(_asyncio_cancel())
    assert "terminated UAC_CANCEL" in log
    assert dialogs == []


async def _asyncio_explicit_cancel() -> tuple[int, Any, list[str]]:
    log: list[str] = []
    udp = [sipsans_asyncio.Listen("udp", "127.0.0.1", 0)]
    async with (
        sipsans_asyncio.Session(ua_factory("alice", 9), listen=udp) as alice,
        sipsans_asyncio.Session(ua_factory("bob", 10), listen=udp) as bob,
    ):
        task = asyncio.create_task(callee(bob, answer=False, log=log))
        dialog = await alice.invite(uri_of(bob), body=SDP, wait=False)
        assert dialog.state in (sipsans.DialogState.CALLING, sipsans.DialogState.TRYING)
        await asyncio.sleep(0.2)  # ringing
        response = await dialog.cancel(reason="SIP;cause=487")
        assert response is not None
        reason = await dialog.closed(timeout=5)
        with pytest.raises(CallFailed):
            await dialog.established()
        task.cancel()
    return response.status_code, reason, log


def test_asyncio_explicit_cancel_returns_the_cancel_response() -> None:
    status, reason, log = asyncio.run(_asyncio_explicit_cancel())
    assert status == 200
    assert reason is sipsans.TerminatedReason.UAC_CANCEL
    assert "terminated UAC_CANCEL" in log


async def _asyncio_rejected() -> CallFailed:
    udp = [sipsans_asyncio.Listen("udp", "127.0.0.1", 0)]
    async with (
        sipsans_asyncio.Session(ua_factory("alice", 5), listen=udp) as alice,
        sipsans_asyncio.Session(ua_factory("bob", 6), listen=udp) as bob,
    ):

        async def reject() -> None:
            async for event in bob:
                if isinstance(event, sipsans.IncomingCall):
                    await bob.wrap(event.dialog).reject(486)

        task = asyncio.create_task(reject())
        try:
            await alice.invite(uri_of(bob))
        except CallFailed as exc:
            return exc
        finally:
            task.cancel()
    raise AssertionError("the call was not rejected")


def test_asyncio_rejected_call_raises_call_failed() -> None:
    exc = asyncio.run(_asyncio_rejected())
    assert exc.status == 486
    assert exc.reason is sipsans.TerminatedReason.UAS_BUSY
    assert exc.dialog.is_terminated


async def _asyncio_close_ends_dialogs() -> list[str]:
    log: list[str] = []
    udp = [sipsans_asyncio.Listen("udp", "127.0.0.1", 0)]
    async with sipsans_asyncio.Session(ua_factory("bob", 8), listen=udp) as bob:
        task = asyncio.create_task(callee(bob, log=log))
        async with sipsans_asyncio.Session(ua_factory("alice", 7), listen=udp) as alice:
            dialog = await alice.invite(uri_of(bob), body=SDP)
            async with dialog:
                assert dialog.state is sipsans.DialogState.CONFIRMED
            assert dialog.is_terminated
            await alice.invite(uri_of(bob), body=SDP)  # left open: closing the session BYEs it
        for _ in range(100):
            if log.count("terminated UAC_BYE") == 2:
                break
            await asyncio.sleep(0.02)
        task.cancel()
    return log


def test_asyncio_dialog_context_and_session_close_hang_up() -> None:
    log = asyncio.run(_asyncio_close_ends_dialogs())
    assert log.count("terminated UAC_BYE") == 2


# -- anyio on asyncio and trio -------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_full_call(backend: str) -> None:
    async def main() -> tuple[list[str], list[str]]:
        log: list[str] = []
        udp = [sipsans_anyio.Listen("udp", "127.0.0.1", 0)]
        async with (
            sipsans_anyio.Session(ua_factory("alice", 11), listen=udp) as alice,
            sipsans_anyio.Session(ua_factory("bob", 12), listen=udp) as bob,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(lambda: callee(bob, log=log))
            with anyio.fail_after(10):
                seen = await caller(alice, uri_of(bob))
            await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
        return seen, log

    seen, log = anyio.run(main, backend=backend)
    assert seen == EXPECTED
    assert "in-dialog INVITE" in log and "terminated UAC_BYE" in log


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_cancellation_sends_cancel(backend: str) -> None:
    async def main() -> tuple[list[str], list[Any]]:
        log: list[str] = []
        udp = [sipsans_anyio.Listen("udp", "127.0.0.1", 0)]
        async with (
            sipsans_anyio.Session(ua_factory("alice", 13), listen=udp) as alice,
            sipsans_anyio.Session(ua_factory("bob", 14), listen=udp) as bob,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(lambda: callee(bob, answer=False, log=log))
            with anyio.move_on_after(0.3) as scope:
                await alice.invite(uri_of(bob), body=SDP)
            assert scope.cancelled_caught
            with anyio.fail_after(5):
                while "terminated UAC_CANCEL" not in log:
                    await anyio.sleep(0.02)
            dialogs = alice.dialogs()
            tg.cancel_scope.cancel()
        return log, dialogs

    log, dialogs = anyio.run(main, backend=backend)
    assert "terminated UAC_CANCEL" in log
    assert dialogs == []


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
            host, port = bob.addresses["UDP"]
            with alice.invite(f"sip:bob@{host}:{port}", body=SDP) as dialog:
                assert dialog.state is sipsans.DialogState.CONFIRMED
                response = dialog.reinvite(body=SDP)
                assert response is not None and response.status_code == 200
                response = dialog.bye(reason="SIP;cause=200")
                assert response is not None and response.status_code == 200
            assert dialog.closed(timeout=5) is sipsans.TerminatedReason.UAC_BYE
            with pytest.raises(TimeoutError):
                alice.invite(f"sip:late@{host}:{port}", body=SDP, timeout=0.4)
            for _ in range(100):
                if "UAC_CANCEL" in log:
                    break
                threading.Event().wait(0.02)
            assert alice.dialogs() == []
        finally:
            stop.set()
            worker.join()
    assert log[0] == "UAC_BYE" and "UAC_CANCEL" in log


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_session_cancelled_from_outside_still_hangs_up(backend: str) -> None:
    """A cancel scope around the whole session: closing it BYEs the call (shielded)."""

    async def main() -> list[str]:
        log: list[str] = []
        udp = [sipsans_anyio.Listen("udp", "127.0.0.1", 0)]
        async with (
            sipsans_anyio.Session(ua_factory("bob", 16), listen=udp) as bob,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(lambda: callee(bob, log=log))
            with anyio.move_on_after(1.0):
                async with sipsans_anyio.Session(ua_factory("alice", 15), listen=udp) as alice:
                    await alice.invite(uri_of(bob), body=SDP)
                    await anyio.sleep(30)
            with anyio.fail_after(5):
                while "terminated UAC_BYE" not in log:
                    await anyio.sleep(0.02)
            tg.cancel_scope.cancel()
        return log

    assert "terminated UAC_BYE" in anyio.run(main, backend=backend)
