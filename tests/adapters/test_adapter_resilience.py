"""One bad event never stops the clock (DESIGN.md §6): an exception raised while a
session handles one event, in the application's handler or in the core, is logged with
the event and the session goes on; its timers keep firing and its sockets keep reading."""

from __future__ import annotations

import logging
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
    call_from,
    endpoint_factory,
    is_final,
    options,
    raw_peer,
    ua_factory,
)

import sipsans
from sipsans_anyio import Listen
from sipsans_anyio.blocking import BlockingSession
from sipsans_session.driver import ERROR_BACKOFF, Driver

pytestmark = pytest.mark.anyio

#: T1 of the callee: Timer G retransmits its 2xx every 20, 40, 80 ... ms and Timer H
#: gives up on the ACK after 64*T1 = 1.28 s (RFC 3261 §13.3.1.4, §17.2.1).
FAST_T1 = 0.02


class Boom(Exception):
    """What the application's handler raises."""


class RaisingCallee:
    """An ``on_event`` handler that answers a call through the core's view, then raises
    at that event and at every one after it."""

    def __init__(self) -> None:
        self.session: Any = None
        self.seen: list[object] = []

    def __call__(self, event: object) -> None:
        self.seen.append(event)
        if isinstance(event, sipsans.IncomingCall):
            self.session.command(event.dialog.accept, body=SDP)
        raise Boom(f"handler failed on {type(event).__name__}")

    def ended(self) -> sipsans.DialogTerminated | None:
        for event in self.seen:
            if isinstance(event, sipsans.DialogTerminated):
                return event
        return None


@by_flavour()
async def test_timer_h_still_fires_after_the_handler_raised(
    flavour: Flavour, caplog: pytest.LogCaptureFixture
) -> None:
    """The handler raises at the IncomingCall (after sending the 200) and at everything
    after: the 200 is still retransmitted (Timer G) and the missing ACK still ends the
    call with 408 (Timer H), which the handler is told about."""
    app = RaisingCallee()
    bob = app.session = flavour(ua_factory("bob", 41, t1=FAST_T1), on_event=app)
    with caplog.at_level(logging.ERROR, logger="sipsans.adapter"):
        async with bob, raw_peer() as peer:
            with anyio.fail_after(10):
                await call_from(peer, bob.addresses["UDP"], "raising@127.0.0.1")
                for _ in range(3):  # the first 200 and two retransmissions: no ACK
                    await peer.receive(is_final("INVITE", 200))
                while app.ended() is None:
                    await anyio.sleep(0.02)
    ended = app.ended()
    assert ended is not None and ended.status == 408
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is Boom]
    assert logged, "the exception is logged"
    assert "IncomingCall" in logged[0].getMessage()  # with the event it happened at


def test_timer_h_still_fires_after_the_handler_raised_blocking() -> None:
    """The same with the blocking facade: the handler runs in the portal's loop thread."""
    app = RaisingCallee()
    session: BlockingSession[sipsans.UserAgent] = BlockingSession(
        ua_factory("bob", 43, t1=FAST_T1),
        listen=[Listen("udp", "127.0.0.1", 0)],
        on_event=app,
    )
    with session as bob:
        app.session = bob.session
        to = bob.addresses["UDP"]

        async def peer_side() -> int:
            async with raw_peer() as peer:
                with anyio.fail_after(10):
                    await call_from(peer, to, "raising-blocking@127.0.0.1")
                    for _ in range(3):
                        await peer.receive(is_final("INVITE", 200))
                    return 3

        assert anyio.run(peer_side) == 3
        done = threading.Event()
        for _ in range(250):
            if app.ended() is not None:
                done.set()
                break
            threading.Event().wait(0.02)
        assert done.is_set()
    ended = app.ended()
    assert ended is not None and ended.status == 408


class PoisonedEndpoint:
    """An Endpoint with a bug: a datagram holding ``POISON`` makes it raise. (A wrapper,
    not a subclass: the opt-in compiled build's Endpoint cannot be subclassed.)"""

    def __init__(self, endpoint: sipsans.Endpoint) -> None:
        self._endpoint = endpoint

    def __getattr__(self, name: str) -> Any:
        return getattr(self._endpoint, name)

    def receive_datagram(self, data: bytes, **kwargs: Any) -> None:
        if b"POISON" in data:
            raise RuntimeError("a bug in the core")
        self._endpoint.receive_datagram(data, **kwargs)


@by_flavour()
async def test_a_core_bug_on_one_datagram_does_not_stop_the_reader(
    flavour: Flavour, caplog: pytest.LogCaptureFixture
) -> None:
    app = Answerer()

    def make(addr: tuple[str, int]) -> PoisonedEndpoint:
        cfg = sipsans.EndpointConfig(advertised_host=addr[0], advertised_port=addr[1])
        return PoisonedEndpoint(sipsans.Endpoint(cfg, rng=random.Random(5)))

    uas = app.session = flavour(make, on_event=app)
    with caplog.at_level(logging.ERROR, logger="sipsans.adapter"):
        async with uas, flavour(endpoint_factory(6)) as uac:
            to = uas.addresses["UDP"]
            async with await anyio.create_udp_socket(local_host="127.0.0.1") as sock:
                await sock.sendto(b"POISON", *to)
            with anyio.fail_after(10):
                response = await uac.request(options(to), target=sipsans.Target("UDP", *to))
    assert response.status_code == 200
    assert any("a bug in the core" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


# -- the driver alone -------------------------------------------------------------------------


class TimerBug:
    """A core whose timer is always due and whose first ``handle_timer`` raises."""

    def __init__(self) -> None:
        self.fired: list[float] = []

    def handle_timer(self, *, now: float) -> None:
        self.fired.append(now)
        if len(self.fired) == 1:
            raise RuntimeError("a bug in the core's timers")

    def get_next_timer(self) -> float | None:
        return 0.0 if len(self.fired) < 2 else None

    def events(self) -> list[object]:
        return []

    def transmits(self) -> list[sipsans.Transmit]:
        return []


def test_the_wake_up_is_re_armed_after_the_core_raised_on_its_timers() -> None:
    """The core raised while firing its timers: the driver logs it, re-arms, but not at
    once (a timer that raises at every firing must not spin the loop)."""
    clock = [10.0]
    armed: list[float] = []
    driver: Driver[Any] = Driver(
        deliver=lambda e: None, clock=lambda: clock[0], wake_at=armed.append
    )
    core = driver.core = TimerBug()
    driver.pump()
    assert armed == [0.0]
    driver.fire()  # raises inside: logged
    assert core.fired == [10.0]
    assert driver.deadline is not None and driver.deadline >= 10.0 + ERROR_BACKOFF
    clock[0] = driver.deadline
    driver.fire()
    assert len(core.fired) == 2
    assert driver.deadline is None  # nothing left to wake up for


def test_an_exception_in_one_handler_leaves_the_next_events_delivered() -> None:
    class TwoEvents(TimerBug):
        def __init__(self) -> None:
            super().__init__()
            self.queue: list[object] = ["first", "second"]

        def events(self) -> list[object]:
            out, self.queue = self.queue, []
            return out

        def get_next_timer(self) -> float | None:
            return None

    got: list[object] = []

    def deliver(event: object) -> None:
        got.append(event)
        if event == "first":
            raise Boom("first")

    driver: Driver[Any] = Driver(deliver=deliver, clock=lambda: 0.0, wake_at=lambda d: None)
    driver.core = TwoEvents()
    driver.pump()
    assert got == ["first", "second"]
