"""Hold and resume with baresip 1.0, every session description made by ``sipsans.sdp``.

baresip calls a sipsans session (in this process) that answers each offer with
``make_answer``: baresip's hold (a re-INVITE with ``a=sendonly``) is answered
``recvonly`` and its resume (``sendrecv``) ``sendrecv``. Then sipsans holds baresip with
``hold()`` and resumes with ``resume()``, and baresip's answers say ``recvonly`` and
``sendrecv``. baresip is driven through ctrl_tcp (see test_baresip.py), bounded by its
own ``-t`` and by the timeouts here.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

import sipsans
from sipsans.sdp import (
    Capabilities,
    Direction,
    SessionDescription,
    hold,
    make_answer,
    parse_sdp,
    resume,
)
from sipsans_asyncio import AsyncDialog, Listen, Session

from .conftest import require_peer
from .test_baresip import Baresip

pytestmark = pytest.mark.interop

Address = tuple[str, int]


@pytest.fixture
def baresip_peer(tmp_path: Path) -> Iterator[Baresip]:
    program = require_peer("baresip", "baresip")
    peer = Baresip(program, tmp_path / "baresip", "<sip:alice@127.0.0.1>;regint=0", 20)
    yield peer
    peer.stop()


def user_agent(address: Address) -> sipsans.UserAgent:
    config = sipsans.EndpointConfig(advertised_host=address[0], advertised_port=address[1])
    return sipsans.UserAgent(
        sipsans.Endpoint(config, rng=random.Random(5)),
        identity=f"sip:service@{address[0]}",
        rng=random.Random(6),
    )


class Answerer:
    """The sipsans side: answers every offer with sipsans.sdp and keeps what it saw."""

    def __init__(self, session: Session[sipsans.UserAgent]) -> None:
        self.session = session
        self.caps = Capabilities.audio(
            host="127.0.0.1", port=40000, codecs=("PCMU", "PCMA", "telephone-event")
        )
        self.rng = random.Random(7)
        #: Our last session description (answer or offer).
        self.local: SessionDescription | None = None
        #: (offered direction, answered direction) of each offer received.
        self.exchanges: list[tuple[Direction, Direction]] = []
        self.dialog: AsyncDialog | None = None
        self.confirmed = asyncio.Event()
        self.updated = asyncio.Event()

    def answer(self, body: bytes) -> bytes:
        offer = parse_sdp(body)
        self.local = make_answer(offer, self.caps, previous=self.local, rng=self.rng)
        local = self.local
        self.exchanges.append(
            (offer.direction_of(offer.media[0]), local.direction_of(local.media[0]))
        )
        self.updated.set()
        return bytes(self.local)

    async def run(self) -> None:
        async for event in self.session:
            if isinstance(event, sipsans.IncomingCall):
                self.dialog = self.session.wrap(event.dialog)
                await self.dialog.accept(body=self.answer(event.request.body), wait=False)
            elif isinstance(event, sipsans.DialogStateChanged):
                if event.state is sipsans.DialogState.CONFIRMED:
                    self.confirmed.set()
            elif isinstance(event, sipsans.InDialogRequest) and event.txn is not None:
                body = self.answer(event.request.body) if event.request.body else b""
                await self.session.respond(event.txn, 200, body=body)


async def next_offer(side: Answerer, count: int) -> None:
    while len(side.exchanges) < count:
        side.updated.clear()
        await side.updated.wait()


async def scenario(peer: Baresip) -> tuple[list[tuple[Direction, Direction]], list[Direction]]:
    async with Session(user_agent, listen=[Listen("udp", "127.0.0.1", 0)]) as session:
        side = Answerer(session)
        task = asyncio.create_task(side.run())
        try:
            host, port = session.addresses["UDP"]
            async with asyncio.timeout(15):
                peer.command("dial", f"sip:service@{host}:{port}")
                await side.confirmed.wait()
                peer.wait_for("Call established")
                peer.command("hold")  # baresip's re-INVITE: a=sendonly
                await next_offer(side, 2)
                peer.wait_for("call: hold")
                peer.command("resume")  # a=sendrecv again
                await next_offer(side, 3)
                # Now sipsans holds baresip, and takes it off hold.
                assert side.dialog is not None and side.local is not None
                theirs: list[Direction] = []
                before = side.local
                for offer in (hold(before), resume(hold(before), original=before)):
                    response = await side.dialog.reinvite(body=bytes(offer))
                    assert response.status_code == 200, response
                    answer = parse_sdp(response.body)
                    theirs.append(answer.direction_of(answer.media[0]))
                    side.local = offer
                await side.dialog.bye()
        finally:
            task.cancel()
    return side.exchanges, theirs


def test_hold_and_resume_both_ways_through_sipsans_sdp(baresip_peer: Baresip) -> None:
    exchanges, theirs = asyncio.run(scenario(baresip_peer))
    assert exchanges == [
        (Direction.SENDRECV, Direction.SENDRECV),  # the call
        (Direction.SENDONLY, Direction.RECVONLY),  # baresip holds: we only receive
        (Direction.SENDRECV, Direction.SENDRECV),  # baresip resumes
    ]
    assert theirs == [Direction.RECVONLY, Direction.SENDRECV]  # we hold, we resume
    baresip_peer.wait_for("session closed")  # (how baresip reports the BYE it got)
