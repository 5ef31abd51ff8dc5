"""Incoming calls answered through the core's own view, as ``sipsans uas`` answers them:
the session makes their AsyncDialog only when ``wrap()`` asks for it, and that dialog is
the one tracking the call from its IncomingCall would have given (its INVITE, whether it
was answered, the same object while the call lives); closing the session still hangs up
the calls nobody wrapped (docs/adapters.md)."""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import pytest
from loopback import SDP, Flavour, by_flavour, ua_factory, uri_of

import sipsans
from sipsans_asyncio import AsyncDialog

pytestmark = pytest.mark.anyio


class CoreCallee:
    """Bob's events: every call accepted with the core's ``dialog.accept`` (no
    AsyncDialog), every in-dialog request answered 200. The call is wrapped at an INFO,
    or (``wrap_when_ended``) at the DialogStateChanged that ends it."""

    def __init__(self, *, wrap_when_ended: bool = False) -> None:
        self.session: Any = None
        self.wrap_when_ended = wrap_when_ended
        self.calls: list[sipsans.IncomingCall] = []
        self.wrapped: list[AsyncDialog] = []

    def __call__(self, event: object) -> None:
        session = self.session
        if isinstance(event, sipsans.IncomingCall):
            self.calls.append(event)
            session.command(event.dialog.accept, body=SDP, content_type="application/sdp")
        elif isinstance(event, sipsans.InDialogRequest) and event.txn is not None:
            if event.request.method == "INFO":
                self.wrapped.append(session.wrap(event.dialog_id))
            with contextlib.suppress(sipsans.LocalProtocolError):  # (a BYE the UA answers)
                session.command(session.core.respond, event.txn, 200)
        elif (
            isinstance(event, sipsans.DialogStateChanged)
            and event.state is sipsans.DialogState.TERMINATED
            and self.wrap_when_ended
        ):
            self.wrapped.append(session.wrap(self.calls[-1].dialog))


async def _until(done: Any) -> None:
    with anyio.fail_after(5):
        while not done():
            await anyio.sleep(0.02)


@by_flavour()
@pytest.mark.parametrize("delivery", ["on_event", "async for"])
async def test_a_call_wrapped_after_it_was_answered(flavour: Flavour, delivery: str) -> None:
    bob_app = CoreCallee()
    options = {"on_event": bob_app} if delivery == "on_event" else {}
    async with (
        flavour(ua_factory("alice", 51)) as alice,
        flavour(ua_factory("bob", 52), **options) as bob,
        anyio.create_task_group() as tg,
    ):
        bob_app.session = bob
        if delivery == "async for":

            async def read() -> None:
                async for event in bob:
                    bob_app(event)

            tg.start_soon(read)
        with anyio.fail_after(10):
            dialog = await alice.invite(uri_of(bob), body=SDP)
            await dialog.info(body=b"signal=1", content_type="application/dtmf-relay")
        (incoming,) = bob_app.calls
        (wrapped,) = bob_app.wrapped
        assert wrapped.initial_request is incoming.request
        assert wrapped.view is incoming.dialog
        assert wrapped.state is sipsans.DialogState.CONFIRMED
        assert wrapped.response is None  # (an incoming call's)
        assert bob.wrap(incoming.dialog) is wrapped  # the same object while it lives
        assert bob.wrap(incoming.dialog.id) is wrapped
        assert bob.dialogs() == [wrapped]
        with anyio.fail_after(10):
            assert await wrapped.established() is wrapped
            await dialog.bye()
            assert await wrapped.closed() is sipsans.TerminatedReason.UAC_BYE
        assert bob.dialogs() == []
        tg.cancel_scope.cancel()


@by_flavour()
async def test_a_call_wrapped_as_it_ends_is_known_to_have_been_answered(
    flavour: Flavour,
) -> None:
    bob_app = CoreCallee(wrap_when_ended=True)
    async with (
        flavour(ua_factory("alice", 53)) as alice,
        flavour(ua_factory("bob", 54), on_event=bob_app) as bob,
    ):
        bob_app.session = bob
        with anyio.fail_after(10):
            dialog = await alice.invite(uri_of(bob), body=SDP)
            await dialog.bye()
        await _until(lambda: bob_app.wrapped)
        (wrapped,) = bob_app.wrapped
        assert wrapped.is_terminated
        assert wrapped.initial_request is bob_app.calls[0].request
        # Confirmed before it ended, though nobody wrapped it then: no CallFailed.
        assert await wrapped.established() is wrapped
        assert bob.dialogs() == []


@by_flavour()
async def test_closing_the_session_hangs_up_calls_nobody_wrapped(flavour: Flavour) -> None:
    bob_app = CoreCallee()
    async with flavour(ua_factory("alice", 55)) as alice:
        async with flavour(ua_factory("bob", 56), on_event=bob_app) as bob:
            bob_app.session = bob
            with anyio.fail_after(10):
                dialog = await alice.invite(uri_of(bob), body=SDP)
        assert bob_app.wrapped == []
        # Bob's close sent a BYE for the call its handler answered.
        with anyio.fail_after(5):
            assert await dialog.closed() is sipsans.TerminatedReason.UAS_BYE
