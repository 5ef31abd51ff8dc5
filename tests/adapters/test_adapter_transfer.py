"""REFER, subscriptions and registration through the adapters, over real loopback UDP,
in every flavour (sipsans_asyncio, sipsans_anyio on asyncio and on trio) and through the
blocking facade: a blind transfer among three sessions (RFC 3515), SUBSCRIBE/NOTIFY
between two (RFC 6665), REGISTER with digest against a registrar session (RFC 3261
§10.2), and what closing a session ends."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from loopback import SDP, Flavour, by_flavour, endpoint_factory, uri_of

import sipsans
from sipsans.auth import DigestServer
from sipsans.dialog.replaces import parse_sipfrag
from sipsans_anyio import Listen
from sipsans_anyio.blocking import BlockingSession
from sipsans_asyncio import (
    AsyncSubscription,
    CallFailed,
    RegistrationFailed,
    SubscriptionFailed,
)

pytestmark = pytest.mark.anyio

Address = tuple[str, int]
PIDF = "application/pidf+xml"
ACTIVE = sipsans.SubscriptionState.ACTIVE
TERMINATED = sipsans.SubscriptionState.TERMINATED


def agent(
    name: str,
    seed: int,
    *,
    credentials: sipsans.Credentials | None = None,
    **config: Any,
) -> Callable[[Address], sipsans.UserAgent]:
    """A UserAgent ``sip:name@127.0.0.1`` with ``UAConfig(**config)``, made once bound."""

    def make(addr: Address) -> sipsans.UserAgent:
        rng = random.Random(seed)
        endpoint = sipsans.Endpoint(
            sipsans.EndpointConfig(advertised_host=addr[0], advertised_port=addr[1]), rng=rng
        )
        return sipsans.UserAgent(
            endpoint,
            identity=f"sip:{name}@127.0.0.1",
            credentials=credentials,
            config=sipsans.UAConfig(**config),
            rng=rng,
        )

    return make


async def _until(done: Callable[[], bool]) -> None:
    """Poll ``done()`` for up to 5 s (for what the far end logs after we return)."""
    with anyio.fail_after(5):
        while not done():
            await anyio.sleep(0.02)


# -- blind transfer: the same user code for every async flavour ------------------------------


async def answer_and_log(ua: Any, log: list[str]) -> None:
    """Bob and Carol: answer every call; log NOTIFYs (sipfrag status) and call ends."""
    async for event in ua:
        if isinstance(event, sipsans.IncomingCall):
            await ua.wrap(event.dialog).accept(body=SDP)
            log.append("answered")
        elif isinstance(event, sipsans.NotifyReceived):
            frag = parse_sipfrag(event.request.body)
            log.append(f"notify {frag[0] if frag else None} {event.state.value}")
        elif isinstance(event, sipsans.DialogTerminated):
            log.append(f"ended {event.reason.name}")


async def transferee(alice: Any, log: list[str], calls: list[Any]) -> None:
    """Alice: accept a REFER, call its target, report the outcome to the referrer."""
    async for event in alice:
        if isinstance(event, sipsans.ReferReceived):
            await alice.respond(event.txn, 202)
            log.append(f"referred to {event.refer_to.uri}")
            referrer = alice.wrap(event.dialog_id)
            try:
                call = await alice.invite(event.refer_to, body=SDP, timeout=5)
            except CallFailed as exc:
                await referrer.notify_refer(exc.status or 500)
                continue
            calls.append(call)
            response = await referrer.notify_refer(200)
            log.append(f"notify answered {response.status_code}")
        elif isinstance(event, sipsans.DialogTerminated):
            log.append(f"ended {event.reason.name}")


@by_flavour()
async def test_blind_transfer(flavour: Flavour) -> None:
    logs: dict[str, list[str]] = {"alice": [], "bob": [], "carol": []}
    calls: list[Any] = []
    async with (
        flavour(agent("alice", 1)) as alice,
        flavour(agent("bob", 2)) as bob,
        flavour(agent("carol", 3)) as carol,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(transferee, alice, logs["alice"], calls)
        tg.start_soon(answer_and_log, bob, logs["bob"])
        tg.start_soon(answer_and_log, carol, logs["carol"])
        with anyio.fail_after(10):
            a_b = await alice.invite(uri_of(bob), body=SDP)
            [b_a] = bob.dialogs()
            await b_a.established()  # Bob's side is confirmed by Alice's ACK
            # Bob transfers Alice to Carol and follows the progress (RFC 3515 §2.4.4).
            carol_uri = uri_of(carol, user="carol")
            accepted = await b_a.refer(carol_uri)
            progress = b_a.as_subscription()
            assert isinstance(progress, AsyncSubscription)
            assert progress.event == "refer" and progress.event_id == str(accepted.cseq.seq)
            assert await progress.closed() == "noresource"  # a final status ends it, §2.4.7
            assert progress.last_notify is not None
            assert parse_sipfrag(progress.last_notify.body) == (200, "OK")
            bye = await b_a.bye()  # the transfer worked: Bob leaves
            assert await a_b.closed() is sipsans.TerminatedReason.UAS_BYE
            [a_c] = calls
            assert a_c.state is sipsans.DialogState.CONFIRMED  # Alice talks to Carol
            assert a_c.response.body == SDP
            await a_c.bye()
        await _until(lambda: len(logs["alice"]) == 4 and len(logs["carol"]) == 2)
        tg.cancel_scope.cancel()
        left = [ua.dialogs() + ua.subscriptions() for ua in (alice, bob, carol)]
    assert accepted.status_code == 202
    assert bye is not None and bye.status_code == 200
    assert logs["bob"] == [
        "answered",
        "notify 100 active",
        "notify 200 terminated",
        "ended UAS_BYE",
    ]
    assert logs["alice"] == [
        f"referred to {carol_uri}",
        "notify answered 200",
        "ended UAS_BYE",
        "ended UAC_BYE",
    ]
    assert logs["carol"] == ["answered", "ended UAC_BYE"]
    assert left == [[], [], []]


@by_flavour()
async def test_refer_without_subscription(flavour: Flavour) -> None:
    """``refer_sub=False`` (RFC 4488): the REFER is accepted, no NOTIFY follows."""
    async with (
        flavour(agent("alice", 4)) as alice,
        flavour(agent("bob", 5)) as bob,
        anyio.create_task_group() as tg,
    ):
        referred: list[sipsans.ReferReceived] = []

        async def accept_refers() -> None:
            async for event in alice:
                if isinstance(event, sipsans.ReferReceived):
                    referred.append(event)
                    await alice.respond(event.txn, 202)

        tg.start_soon(accept_refers)
        tg.start_soon(answer_and_log, bob, [])
        with anyio.fail_after(10):
            a_b = await alice.invite(uri_of(bob), body=SDP)
            [b_a] = bob.dialogs()
            await b_a.established()
            response = await b_a.refer("sip:carol@127.0.0.1:9", refer_sub=False)
            assert response.headers.get("Refer-Sub") == "false"  # echoed, RFC 4488 §4
            with pytest.raises(sipsans.LocalProtocolError):  # nothing to notify
                await alice.wrap(a_b.id).notify_refer(200)
            await a_b.bye()
        tg.cancel_scope.cancel()
    [event] = referred
    assert event.refer_sub is False
    assert str(event.refer_to.uri) == "sip:carol@127.0.0.1:9"


# -- SUBSCRIBE / NOTIFY ---------------------------------------------------------------------


async def presence_server(ua: Any, served: list[AsyncSubscription]) -> None:
    """Bob: accept every presence subscription with an "open" document."""
    async for event in ua:
        if isinstance(event, sipsans.IncomingSubscription):
            sub = ua.wrap(event.subscription)
            await sub.accept(body=b"<open/>", content_type=PIDF)
            served.append(sub)


async def notify_bodies(ua: Any, count: int) -> list[bytes]:
    """The bodies of the next ``count`` NOTIFYs ``ua`` received."""
    bodies: list[bytes] = []
    async for event in ua:
        if isinstance(event, sipsans.NotifyReceived):
            bodies.append(event.request.body)
            if len(bodies) == count:
                break
    return bodies


@by_flavour()
async def test_subscribe_notify_refresh_unsubscribe(flavour: Flavour) -> None:
    served: list[AsyncSubscription] = []
    async with (
        flavour(agent("alice", 11)) as alice,
        flavour(agent("bob", 12, event_packages=("presence",))) as bob,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(presence_server, bob, served)
        with anyio.fail_after(10):
            watch = await alice.subscribe(uri_of(bob), "presence", expires=600)
            # Returned at the first NOTIFY (RFC 6665 §4.1.2.4), its state already read.
            assert watch.state is ACTIVE
            assert watch.last_notify is not None and watch.last_notify.body == b"<open/>"
            [sub] = served
            assert sub.state is ACTIVE and sub.request is not None
            assert sub.request.method == "SUBSCRIBE"
            assert sub == bob.wrap(sub.view) and sub.dialog_id is not None

            response = await sub.notify(b"<closed/>")
            assert response.status_code == 200
            assert watch.last_notify.body == b"<closed/>"

            await watch.refresh(expires=300)  # answered with a NOTIFY of the state (§4.2.1.2)
            assert await notify_bodies(alice, 3) == [b"<open/>", b"<closed/>", b"<closed/>"]
            assert watch.expires_at is not None
            assert watch.expires_at - alice.now() <= 300

            assert await watch.unsubscribe() == "timeout"  # the notifier's final NOTIFY, §4.2.2
            assert await sub.closed() == "timeout"
        tg.cancel_scope.cancel()
        left = alice.subscriptions() + bob.subscriptions()
    assert watch.state is TERMINATED and sub.state is TERMINATED
    assert left == []


@by_flavour()
async def test_notifier_terminates(flavour: Flavour) -> None:
    served: list[AsyncSubscription] = []
    async with (
        flavour(agent("alice", 13)) as alice,
        flavour(agent("bob", 14, event_packages=("presence",))) as bob,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(presence_server, bob, served)
        with anyio.fail_after(10):
            watch = await alice.subscribe(uri_of(bob), "presence")
            response = await served[0].terminate(reason="deactivated")
            assert response.status_code == 200
            assert await watch.closed() == "deactivated"  # re-subscribing is up to us, §4.1.3
        tg.cancel_scope.cancel()
    with pytest.raises(TypeError, match="notifier"):
        await watch.notify(b"x")
    with pytest.raises(TypeError, match="subscriber"):
        await served[0].unsubscribe()


@by_flavour()
async def test_subscription_to_an_unknown_package_fails(flavour: Flavour) -> None:
    async with (
        flavour(agent("alice", 15)) as alice,
        flavour(agent("bob", 16, event_packages=("dialog",))) as bob,
    ):
        with pytest.raises(SubscriptionFailed) as failed, anyio.fail_after(10):
            await alice.subscribe(uri_of(bob), "presence")
        with pytest.raises(SubscriptionFailed) as not_allowed, anyio.fail_after(10):
            await bob.subscribe(uri_of(alice, user="alice"), "presence")
    # Bob notifies for "dialog" only: 489 Bad Event (RFC 6665 §4.2.1.1). Alice is no
    # notifier at all: SUBSCRIBE is not in her Allow, 405 (RFC 3261 §8.2.1).
    assert not_allowed.value.status == 405
    assert failed.value.status == 489
    assert failed.value.reason == "rejected"
    assert failed.value.subscription.is_terminated


# -- REGISTER ------------------------------------------------------------------------------


class RegistrarApp:
    """An ``on_event`` registrar over Endpoint events, with digest for alice/wonderland."""

    def __init__(self) -> None:
        self.session: Any = None
        self.registrar = sipsans.Registrar(
            domains=["127.0.0.1"],
            authenticator=DigestServer(b"a secret of 16+ bytes", "127.0.0.1", rng=random.Random(1)),
            password_lookup=lambda user, realm: {"alice": "wonderland"}.get(user),
            rng=random.Random(2),
        )

    def bindings(self) -> list[str]:
        found = self.registrar.location.lookup("sip:alice@127.0.0.1", now=self.session.now())
        return [str(b.uri) for b in found]

    def __call__(self, event: object) -> None:
        if isinstance(event, sipsans.RequestReceived) and event.txn is not None:
            session = self.session
            response = self.registrar.handle_register(
                event.request, now=session.now(), source=event.source
            )
            session.command(session.core.send_response, event.txn, response)


@by_flavour()
async def test_register_and_unregister(flavour: Flavour) -> None:
    app = RegistrarApp()
    app.session = flavour(endpoint_factory(21), on_event=app)
    right = sipsans.Credentials("alice", "wonderland")
    async with app.session as server, flavour(agent("alice", 22, credentials=right)) as alice:
        target = sipsans.Target("UDP", *server.addresses["UDP"])
        with anyio.fail_after(10):
            handle = await alice.register(target=target, expires=600)
            assert handle.state is sipsans.RegistrationState.REGISTERED
            assert handle.granted == 600
            host, port = alice.addresses["UDP"]
            assert app.bindings() == [f"sip:alice@{host}:{port}"]  # our Contact
            await alice.unregister()
            assert handle.state.name == "UNREGISTERED"
            assert app.bindings() == []
        states = []
        with anyio.move_on_after(0.1):
            async for event in alice:
                if isinstance(event, sipsans.RegistrationStateChanged):
                    states.append(event.state.name)  # noqa: PERF401 (cut by the timeout)
    assert states == ["REGISTERING", "REGISTERED", "UNREGISTERING", "UNREGISTERED"]


@by_flavour()
async def test_register_with_a_wrong_password_fails(flavour: Flavour) -> None:
    app = RegistrarApp()
    app.session = flavour(endpoint_factory(23), on_event=app)
    wrong = sipsans.Credentials("alice", "looking-glass")
    async with app.session as server, flavour(agent("alice", 24, credentials=wrong)) as alice:
        target = sipsans.Target("UDP", *server.addresses["UDP"])
        with pytest.raises(RegistrationFailed) as failed, anyio.fail_after(10):
            await alice.register(target=target)
    assert failed.value.status == 401
    assert failed.value.handle.state is sipsans.RegistrationState.FAILED
    assert app.bindings() == []


# -- closing a session ends what it started -------------------------------------------------


@by_flavour()
async def test_closing_ends_subscriptions_and_registrations(flavour: Flavour) -> None:
    app = RegistrarApp()
    app.session = flavour(endpoint_factory(31), on_event=app)
    served: list[AsyncSubscription] = []
    right = sipsans.Credentials("alice", "wonderland")
    async with (
        app.session as server,
        flavour(agent("bob", 32, event_packages=("presence",))) as bob,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(presence_server, bob, served)
        with anyio.fail_after(10):
            async with flavour(agent("alice", 33, credentials=right)) as alice:
                target = sipsans.Target("UDP", *server.addresses["UDP"])
                await alice.register(target=target)
                watch = await alice.subscribe(uri_of(bob), "presence")
                assert app.bindings() and served[0].state is ACTIVE
            # Closing un-SUBSCRIBEd (the notifier's final NOTIFY came) and unregistered.
            assert watch.state is TERMINATED and watch.reason == "timeout"
            assert served[0].state is TERMINATED
            assert app.bindings() == []
        tg.cancel_scope.cancel()


@by_flavour()
async def test_closing_mid_transfer_ends_the_refer_subscription(flavour: Flavour) -> None:
    """Alice accepts a REFER and closes before reporting: the implicit subscription, a
    usage of its own that outlives the call's BYE (RFC 5057 §5), is terminated too."""
    async with flavour(agent("bob", 34)) as bob, anyio.create_task_group() as tg:
        tg.start_soon(answer_and_log, bob, [])
        with anyio.fail_after(10):
            async with flavour(agent("alice", 35)) as alice, anyio.create_task_group() as own:

                async def accept_refer() -> None:
                    async for event in alice:
                        if isinstance(event, sipsans.ReferReceived):
                            await alice.respond(event.txn, 202)  # ... and nothing more
                            return

                own.start_soon(accept_refer)
                await alice.invite(uri_of(bob), body=SDP)
                [b_a] = bob.dialogs()
                await b_a.established()
                refer = await b_a.refer("sip:carol@127.0.0.1:9")
                assert refer.status_code == 202
                progress = b_a.as_subscription()
                while progress.last_notify is None:  # "100 Trying": the usage is live
                    await anyio.sleep(0.01)
            assert await progress.closed() == "noresource"
            assert b_a.terminated_reason is sipsans.TerminatedReason.UAC_BYE
        tg.cancel_scope.cancel()


# -- blocking ------------------------------------------------------------------------------


class EventThread:
    """Run ``handle(event)`` for every event of a BlockingSession in a plain thread."""

    def __init__(self, session: BlockingSession[Any], handle: Callable[[object], None]) -> None:
        self.session, self.handle = session, handle
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                event = self.session.next_event(timeout=0.1)
            except TimeoutError:
                continue
            try:
                self.handle(event)
            except BaseException as exc:  # reported by __exit__ in the test's thread
                self.errors.append(exc)

    def __enter__(self) -> EventThread:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join()
        assert not self.errors, self.errors


def _wait_for(done: Callable[[], bool]) -> None:
    for _ in range(250):
        if done():
            return
        threading.Event().wait(0.02)
    raise AssertionError("timed out")


def test_blocking_blind_transfer() -> None:
    listen = [Listen("udp", "127.0.0.1", 0)]
    logs: dict[str, list[str]] = {"alice": [], "bob": [], "carol": []}
    calls: list[Any] = []
    with (
        BlockingSession[sipsans.UserAgent](agent("alice", 41), listen=listen) as alice,
        BlockingSession[sipsans.UserAgent](agent("bob", 42), backend="trio", listen=listen) as bob,
        BlockingSession[sipsans.UserAgent](agent("carol", 43), listen=listen) as carol,
    ):

        def transferee(event: object) -> None:  # Alice, in plain blocking code
            if isinstance(event, sipsans.ReferReceived):
                alice.respond(event.txn, 202)
                calls.append(alice.invite(event.refer_to, body=SDP, timeout=5))
                response = alice.wrap(event.dialog_id).notify_refer(200)
                logs["alice"].append(f"notify answered {response.status_code}")

        def answerer(name: str, session: BlockingSession[Any]) -> Callable[[object], None]:
            def handle(event: object) -> None:
                if isinstance(event, sipsans.IncomingCall):
                    session.wrap(event.dialog).accept(body=SDP)
                elif isinstance(event, sipsans.NotifyReceived):
                    frag = parse_sipfrag(event.request.body)
                    logs[name].append(f"notify {frag[0] if frag else None}")
                elif isinstance(event, sipsans.DialogTerminated):
                    logs[name].append(f"ended {event.reason.name}")

            return handle

        with (
            EventThread(alice, transferee),
            EventThread(bob, answerer("bob", bob)),
            EventThread(carol, answerer("carol", carol)),
        ):
            a_b = alice.invite(uri_of(bob), body=SDP, timeout=5)
            [b_a] = bob.dialogs()
            b_a.established(timeout=5)
            assert b_a.refer(uri_of(carol, user="carol")).status_code == 202
            progress = b_a.as_subscription()
            assert progress.closed(timeout=5) == "noresource"
            b_a.bye()
            assert a_b.closed(timeout=5) is sipsans.TerminatedReason.UAS_BYE
            [a_c] = calls
            assert a_c.state is sipsans.DialogState.CONFIRMED
            a_c.bye()
            _wait_for(lambda: len(logs["carol"]) == 1 and len(logs["bob"]) == 3)
    assert logs["bob"] == ["notify 100", "notify 200", "ended UAS_BYE"]
    assert logs["alice"] == ["notify answered 200"]
    assert logs["carol"] == ["ended UAC_BYE"]


def test_blocking_subscribe_and_notify() -> None:
    listen = [Listen("udp", "127.0.0.1", 0)]
    served: list[Any] = []
    with (
        BlockingSession[sipsans.UserAgent](agent("alice", 44), listen=listen) as alice,
        BlockingSession[sipsans.UserAgent](
            agent("bob", 45, event_packages=("presence",)), backend="trio", listen=listen
        ) as bob,
    ):

        def presence(event: object) -> None:
            if isinstance(event, sipsans.IncomingSubscription):
                sub = bob.wrap(event.subscription)
                # Recorded before accepting: Alice's subscribe() may return as soon as
                # the first NOTIFY arrives, before this thread runs again.
                served.append(sub)
                sub.accept(body=b"<open/>", content_type=PIDF)

        with EventThread(bob, presence):
            watch = alice.subscribe(uri_of(bob), "presence", expires=600, timeout=5)
            assert watch.state is ACTIVE
            assert watch.last_notify is not None and watch.last_notify.body == b"<open/>"
            [sub] = served
            assert sub.notify(b"<closed/>").status_code == 200
            assert watch.last_notify.body == b"<closed/>"
            assert watch.unsubscribe(timeout=5) == "timeout"
            assert sub.closed(timeout=5) == "timeout"
        with pytest.raises(SubscriptionFailed):  # Alice is no notifier: 405
            bob.subscribe(uri_of(alice, user="alice"), "presence", timeout=5)
