"""A core handed to a session ready-made advertises what the session really bound, or
what ``advertise=`` says (DESIGN.md §6): its Via and Contact lead back to the session,
so the peer's requests within the dialog (its BYE) reach it."""

from __future__ import annotations

import io
import json
import random
import threading
from typing import Any

import anyio
import pytest
from loopback import (
    SDP,
    Answerer,
    Flavour,
    by_flavour,
    endpoint_factory,
    options,
    ua_factory,
    uri_of,
)

import sipsans
from sipsans.tools.trace import replay_transcript
from sipsans_anyio import Listen
from sipsans_anyio.blocking import BlockingSession

pytestmark = pytest.mark.anyio


def ready_made(name: str, seed: int) -> sipsans.UserAgent:
    """A UserAgent made before any socket: its config advertises 127.0.0.1:5060."""
    rng = random.Random(seed)
    return sipsans.UserAgent(sipsans.Endpoint(rng=rng), identity=f"sip:{name}@127.0.0.1", rng=rng)


async def answer_then_hang_up(bob: Any) -> None:
    """Bob answers the first call and hangs up (his BYE goes to Alice's Contact)."""
    async for event in bob:
        if isinstance(event, sipsans.IncomingCall):
            call = bob.wrap(event.dialog)
            await call.accept(body=SDP)
            await call.bye()
            return


@by_flavour()
async def test_the_peers_bye_reaches_a_ready_made_user_agent(flavour: Flavour) -> None:
    async with (
        flavour(ready_made("alice", 51)) as alice,
        flavour(ua_factory("bob", 52)) as bob,
        anyio.create_task_group() as tg,
    ):
        host, port = alice.addresses["UDP"]
        assert alice.core.contact == f"<sip:alice@{host}:{port}>"
        tg.start_soon(answer_then_hang_up, bob)
        with anyio.fail_after(10):
            dialog = await alice.invite(uri_of(bob), body=SDP)
            reason = await dialog.closed()
    assert reason is sipsans.TerminatedReason.UAS_BYE


def test_the_peers_bye_reaches_a_ready_made_user_agent_blocking() -> None:
    udp = [Listen("udp", "127.0.0.1", 0)]
    alice_session: BlockingSession[sipsans.UserAgent] = BlockingSession(
        ready_made("alice", 53), listen=udp
    )
    bob_session: BlockingSession[sipsans.UserAgent] = BlockingSession(
        ready_made("bob", 54), backend="trio", listen=udp
    )
    with alice_session as alice, bob_session as bob:

        def bob_answers() -> None:
            event = bob.next_event(timeout=5)
            while not isinstance(event, sipsans.IncomingCall):
                event = bob.next_event(timeout=5)
            call = bob.wrap(event.dialog)
            call.accept(body=SDP)
            call.bye()

        worker = threading.Thread(target=bob_answers)
        worker.start()
        try:
            dialog = alice.invite(uri_of(bob), body=SDP, timeout=5)
            assert dialog.closed(timeout=5) is sipsans.TerminatedReason.UAS_BYE
        finally:
            worker.join()


@by_flavour()
async def test_advertise_is_what_a_ready_made_core_advertises(flavour: Flavour) -> None:
    async with flavour(ready_made("alice", 55), advertise=("alice.example", 5099)) as alice:
        assert alice.advertised == ("alice.example", 5099)
        assert alice.core.contact == "<sip:alice@alice.example:5099>"
        assert alice.core.endpoint.config.advertised_host == "alice.example"
        assert alice.core.endpoint.config.advertised_port == 5099


@by_flavour()
async def test_a_ready_made_endpoint_advertises_the_bound_port_and_its_trace_replays(
    flavour: Flavour,
) -> None:
    """An Endpoint core: its Via sent-by is the bound address, and the transcript
    header (written once it was told) replays byte for byte."""
    out = io.StringIO()
    app = Answerer()
    uas = app.session = flavour(endpoint_factory(57), on_event=app)
    client = flavour(sipsans.Endpoint(rng=random.Random(56)), trace=out, trace_seed=56)
    async with uas, client:
        to = uas.addresses["UDP"]
        with anyio.fail_after(10):
            response = await client.request(options(to), target=sipsans.Target("UDP", *to))
        host, port = client.addresses["UDP"]
    assert response.status_code == 200
    assert (response.vias[0].host, response.vias[0].port) == (host, port)
    header = json.loads(out.getvalue().splitlines()[0])
    assert header["config"]["advertised_port"] == port
    result = replay_transcript(out.getvalue())
    assert result.ok, result.describe()
