"""REGISTER client (RFC 3261 §10.2): unit tests of the machine and flows over a virtual network."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

import pytest

from sipsans import (
    Endpoint,
    EndpointConfig,
    LocalProtocolError,
    Request,
    RequestReceived,
    Response,
    Target,
    make_response,
)
from sipsans.auth import Credentials, DigestServer
from sipsans.services.registrar import Registrar
from sipsans.services.registration import (
    Registration,
    RegistrationDriver,
    RegistrationState,
    RegistrationStateChanged,
    refresh_delay,
)
from sipsans.testing import Net, Node

AOR = "sip:alice@example.com"
S = RegistrationState
SECRET = b"0123456789abcdef0123456789abcdef"


def state_of(reg: Registration) -> RegistrationState:
    # A call, so mypy does not narrow the state across commands.
    return reg.state


def reg_for(**kw: Any) -> Registration:
    kw.setdefault("contacts", ["sip:alice@192.0.2.1:5060"])
    return Registration(AOR, rng=random.Random(1), **kw)


def ok(request: Request, *headers: tuple[str, str]) -> Response:
    return make_response(request, 200, to_tag="r", headers=headers)


# -- the machine alone -----------------------------------------------------------------


def test_requests_share_call_id_and_tag_and_count_cseq() -> None:
    reg = reg_for(expires=1800, headers=[("User-Agent", "sipsans-test")])
    first = reg.start(0.0)
    assert first.method == "REGISTER"
    assert str(first.uri) == "sip:example.com"  # §10.2: the domain, no user part
    assert str(first.to.uri) == AOR and first.to.tag is None
    assert first.from_.tag == reg.from_tag and str(first.from_.uri) == AOR
    assert first.headers.get("Expires") == "1800"
    assert [c.param("expires") for c in first.contacts] == ["1800"]
    assert first.headers.get("User-Agent") == "sipsans-test"
    assert reg.on_response(ok(first, ("Expires", "1800")), 0.1) is None
    assert state_of(reg) is S.REGISTERED
    refresh = reg.on_timer(refresh_delay(1800, 300))
    assert refresh is not None
    assert refresh.call_id == first.call_id
    assert refresh.from_.tag == first.from_.tag
    assert refresh.cseq.seq == first.cseq.seq + 1


def test_refresh_rule() -> None:
    assert refresh_delay(3600, 300) == 3300  # five minutes early for long bindings
    assert refresh_delay(600, 300) == 300
    assert refresh_delay(120, 300) == 60  # half-way for short ones


def test_grant_from_our_contact_param_then_header_then_request() -> None:
    reg = reg_for(expires=3600)
    req = reg.start(10.0)
    other = ("Contact", "<sip:alice@198.51.100.7>;expires=50")
    mine = ("Contact", "<sip:alice@192.0.2.1:5060>;expires=1200")
    reg.on_response(ok(req, other, mine, ("Expires", "900")), 10.5)
    assert reg.granted == 1200
    assert reg.expires_at == 10.0 + 1200  # counted from sending: errs early
    assert reg.next_deadline() == 10.0 + refresh_delay(1200, 300)
    assert len(reg.bindings) == 2
    # Only the header: use it.
    second = reg.on_timer(1000.0)
    assert second is not None
    reg.on_response(ok(second, ("Expires", "900")), 1000.2)
    assert reg.granted == 900
    # Neither: what we asked for.
    third = reg.on_timer(2000.0)
    assert third is not None
    reg.on_response(ok(third), 2000.2)
    assert reg.granted == 3600


def test_events_and_ignored_responses() -> None:
    reg = reg_for()
    req = reg.start(0.0)
    trying = make_response(req, 100)
    assert reg.on_response(trying, 0.1) is None
    stale = make_response(req, 200, to_tag="x")
    stale.headers.set("CSeq", "99 REGISTER")
    assert reg.on_response(stale, 0.2) is None
    assert state_of(reg) is S.REGISTERING
    reg.on_response(ok(req), 0.3)
    events = reg.take_events()
    assert [(e.previous, e.state) for e in events] == [
        (S.UNREGISTERED, S.REGISTERING),
        (S.REGISTERING, S.REGISTERED),
    ]
    assert events[1] == RegistrationStateChanged(
        aor=AOR,
        state=S.REGISTERED,
        previous=S.REGISTERING,
        status=200,
        reason="registered",
        expires=3600,
    )
    assert reg.take_events() == []


def test_misuse_raises() -> None:
    reg = reg_for()
    reg.start(5.0)
    with pytest.raises(LocalProtocolError):
        reg.start(6.0)
    with pytest.raises(LocalProtocolError):
        reg.on_timer(1.0)  # time went backwards
    with pytest.raises(LocalProtocolError):
        Registration("tel:+15551234", contacts=["sip:a@h"])
    with pytest.raises(LocalProtocolError):
        Registration(AOR).start(0.0)  # no contacts


def test_423_retries_with_min_expires() -> None:
    reg = reg_for(expires=30)
    req = reg.start(0.0)
    too_brief = make_response(req, 423, headers=[("Min-Expires", "120")])
    retry = reg.on_response(too_brief, 0.1)
    assert retry is not None and retry.headers.get("Expires") == "120"
    assert retry.cseq.seq == req.cseq.seq + 1
    assert reg.on_response(make_response(retry, 423), 0.2) is None  # no usable Min-Expires
    assert state_of(reg) is S.FAILED
    assert "423" in reg.take_events()[-1].reason


def test_fatal_status_fails_at_once_and_start_again() -> None:
    reg = reg_for()
    req = reg.start(0.0)
    reg.on_response(make_response(req, 403), 0.1)
    assert state_of(reg) is S.FAILED
    last = reg.take_events()[-1]
    assert last.status == 403 and last.reason == "403 Forbidden"
    assert reg.next_deadline() is None
    again = reg.start(1.0)
    assert state_of(reg) is S.REGISTERING and again.call_id == req.call_id


def test_challenge_without_credentials_fails() -> None:
    reg = reg_for()
    req = reg.start(0.0)
    server = DigestServer(SECRET, "example.com", rng=random.Random(3))
    assert reg.on_response(server.challenge_response(req, now=0.1), 0.1) is None
    assert state_of(reg) is S.FAILED
    assert "no credentials" in reg.take_events()[-1].reason


def test_stop_while_pending_is_queued() -> None:
    reg = reg_for()
    req = reg.start(0.0)
    assert reg.stop(0.5) is None  # §10.2: never two REGISTERs in flight
    unreg = reg.on_response(ok(req), 1.0)
    assert unreg is not None and unreg.headers.get("Expires") == "0"
    assert [c.param("expires") for c in unreg.contacts] == ["0"]
    assert state_of(reg) is S.UNREGISTERING
    reg.on_response(ok(unreg), 1.1)
    assert state_of(reg) is S.UNREGISTERED and reg.expires_at is None


def test_wildcard_unregister_and_failed_unregister() -> None:
    reg = reg_for()
    unreg = reg.stop(0.0, wildcard=True)
    assert unreg is not None and unreg.contact_is_wildcard
    assert unreg.headers.get("Expires") == "0"
    reg.on_response(make_response(unreg, 500), 0.1)
    assert state_of(reg) is S.UNREGISTERED
    assert "left to expire" in reg.take_events()[-1].reason


def test_refresh_errors_then_binding_expires() -> None:
    reg = reg_for(expires=600, retry_interval=200.0, max_failures=5)
    req = reg.start(0.0)
    reg.on_response(ok(req), 0.1)
    refresh = reg.on_timer(300.0)
    assert refresh is not None and state_of(reg) is S.REFRESHING
    assert reg.on_response(make_response(refresh, 503), 300.1) is None
    assert reg.next_deadline() == 500.1
    retry = reg.on_timer(500.1)
    assert retry is not None
    assert reg.on_timeout(532.1) is None
    assert state_of(reg) is S.REFRESHING
    assert reg.next_deadline() == 600.0  # the binding's end comes before the retry
    assert reg.on_timer(600.0) is None
    assert state_of(reg) is S.REGISTERING
    assert reg.take_events()[-1].reason == "binding expired while retrying"


# -- over a network ---------------------------------------------------------------------


class World:
    """A registrar Endpoint and a client Endpoint driven by a RegistrationDriver."""

    def __init__(
        self,
        *,
        seed: int = 1,
        loss: float = 0.0,
        auth: bool = False,
        password: str = "secret",
        answer: Callable[[Request, float], Response | None] | None = None,
        host: str = "192.0.2.10",
        **reg_kw: Any,
    ) -> None:
        self.net = Net(seed=seed, loss=loss)
        self.digest = DigestServer(SECRET, "example.com", rng=random.Random(seed)) if auth else None
        self.registrar = Registrar(
            domains=["example.com"],
            authenticator=self.digest,
            password_lookup=(lambda user, realm: "secret" if user == "alice" else None),
            rng=random.Random(seed + 1),
        )
        self.answer = answer
        self.server = self.net.add("registrar", "192.0.2.10", handler=self._handle)
        endpoint = Endpoint(
            EndpointConfig(advertised_host="192.0.2.1", advertised_port=5060),
            rng=random.Random(seed + 2),
        )
        if auth:
            reg_kw["credentials"] = Credentials("alice", password)
        reg_kw.setdefault("contacts", ["sip:alice@192.0.2.1:5060"])
        self.reg = Registration(AOR, rng=random.Random(seed + 3), **reg_kw)
        self.driver = RegistrationDriver(endpoint, self.reg, Target("UDP", host, 5060))
        self.client: Node[RegistrationDriver] = self.net.add("alice", "192.0.2.1", core=self.driver)

    def _handle(self, node: Node[Any], event: object) -> None:
        if not isinstance(event, RequestReceived) or event.txn is None:
            return
        now = self.net.now
        response = self.answer(event.request, now) if self.answer else None
        if response is None:
            response = self.registrar.handle_register(event.request, now=now, source=event.source)
        node.core.send_response(event.txn, response, now=now)

    def start(self) -> None:
        self.net.call(self.client, lambda now: self.driver.send(self.reg.start(now), now=now))

    def stop(self, *, wildcard: bool = False) -> None:
        self.net.call(
            self.client,
            lambda now: self.driver.send(self.reg.stop(now, wildcard=wildcard), now=now),
        )

    def states(self) -> list[RegistrationState]:
        return [e.state for e in self.client.of_type(RegistrationStateChanged)]

    def bound(self) -> bool:
        return bool(self.registrar.location.lookup(AOR, self.net.now))


@pytest.mark.parametrize("loss", [0.0, 0.2])
def test_registration_refreshes_for_ten_hours(loss: float) -> None:
    world = World(seed=7, loss=loss, expires=3600)
    world.start()
    lapses = 0
    for _ in range(60):  # sample every ten minutes for ten hours
        world.net.drive_for(600)
        lapses += not world.bound()
    states = world.states()
    assert states[:2] == [S.REGISTERING, S.REGISTERED]
    assert states.count(S.REFRESHING) >= 10
    assert S.FAILED not in states
    assert lapses == 0  # refreshes always landed before expiry
    assert state_of(world.reg) is S.REGISTERED
    registers = [line for src, line in world.net.first_lines(delivered_only=True) if src == "alice"]
    assert len(set(registers)) == 1 and registers[0].startswith("REGISTER")
    world.stop()
    world.net.drive_for(64)
    assert state_of(world.reg) is S.UNREGISTERED
    assert not world.bound()


@pytest.mark.parametrize("loss", [0.0, 0.2])
def test_digest_registration_with_stale_nonces(loss: float) -> None:
    world = World(seed=11, loss=loss, auth=True, expires=600)
    world.start()
    world.net.drive_for(3 * 3600)
    assert state_of(world.reg) is S.REGISTERED
    assert world.bound()
    states = world.states()
    assert S.FAILED not in states
    assert states.count(S.REFRESHING) >= 30
    statuses = [
        line
        for src, line in world.net.first_lines(delivered_only=True)
        if src == "registrar" and "401" in line
    ]
    # The first REGISTER is challenged; refreshes carry credentials, and the
    # 300-second nonces are stale by each refresh, so each costs one stale 401.
    assert statuses
    assert world.digest is not None


def test_wrong_password_fails_with_401() -> None:
    world = World(seed=3, auth=True, password="wrong")
    world.start()
    world.net.drive_for(60)
    assert state_of(world.reg) is S.FAILED
    last = world.client.of_type(RegistrationStateChanged)[-1]
    assert last.status == 401 and "rejected" in last.reason
    assert not world.bound()


def test_423_flow_over_the_network() -> None:
    world = World(seed=5, expires=20)
    world.start()
    world.net.drive_for(10)
    lines = [line.split(" ", 2)[:2] for _, line in world.net.first_lines()]
    assert [tuple(x) for x in lines] == [
        ("REGISTER", "sip:example.com"),
        ("SIP/2.0", "423"),
        ("REGISTER", "sip:example.com"),
        ("SIP/2.0", "200"),
    ]
    assert state_of(world.reg) is S.REGISTERED and world.reg.granted == 60
    assert world.reg.expires == 60


def test_multiple_contacts_and_q() -> None:
    world = World(
        seed=9,
        contacts=["<sip:alice@192.0.2.1:5060>;q=0.4", "<sip:alice@192.0.2.1:5062>;q=0.9"],
    )
    world.start()
    world.net.drive_for(10)
    assert state_of(world.reg) is S.REGISTERED
    found = world.registrar.location.lookup(AOR, world.net.now)
    assert [str(b.uri) for b in found] == ["sip:alice@192.0.2.1:5062", "sip:alice@192.0.2.1:5060"]
    assert len(world.reg.bindings) == 2
    world.stop()
    world.net.drive_for(10)
    assert not world.bound()


def test_wildcard_stop_removes_other_devices_too() -> None:
    world = World(seed=2)
    world.registrar.handle_register(
        Registration(AOR, contacts=["sip:alice@198.51.100.5"], rng=random.Random(99)).start(0.0),
        now=0.0,
    )
    world.start()
    world.net.drive_for(5)
    assert len(world.registrar.location.lookup(AOR, world.net.now)) == 2
    world.stop(wildcard=True)
    world.net.drive_for(5)
    assert state_of(world.reg) is S.UNREGISTERED and not world.bound()


def test_repeated_503_fails_after_three_honouring_retry_after() -> None:
    def unavailable(request: Request, now: float) -> Response:
        return make_response(request, 503, to_tag="x", headers=[("Retry-After", "45")])

    world = World(seed=4, answer=unavailable)
    world.start()
    world.net.drive_for(300)
    times = [w.time for w in world.net.wire if w.src == "alice"]
    assert len(times) == 3
    assert times[1] - times[0] == pytest.approx(45, abs=0.2)
    assert times[2] - times[1] == pytest.approx(45, abs=0.2)
    assert state_of(world.reg) is S.FAILED
    last = world.client.of_type(RegistrationStateChanged)[-1]
    assert last.status == 503
    assert last.reason == "503 Service Unavailable (3 consecutive failures)"


def test_timeouts_fail_after_three() -> None:
    world = World(seed=6, host="192.0.2.99", retry_interval=10.0)  # nobody there
    world.start()
    world.net.drive_for(400)
    assert state_of(world.reg) is S.FAILED
    last = world.client.of_type(RegistrationStateChanged)[-1]
    assert "timed out" in last.reason and "3 consecutive" in last.reason
    first_tx = [w.time for w in world.net.wire if w.src == "alice" and w.data.startswith(b"REG")]
    # Each attempt is a transaction: Timer F = 64*T1 = 32 s, then 10 s then 20 s waits.
    starts = [first_tx[0]] + [b for a, b in itertools.pairwise(first_tx) if b - a > 5]
    assert starts == pytest.approx([0.0, 42.0, 94.0])


def test_recovers_after_one_transient_failure() -> None:
    seen: list[float] = []

    def flaky(request: Request, now: float) -> Response | None:
        seen.append(now)
        if len(seen) == 1:
            return make_response(request, 500, to_tag="x")
        return None

    world = World(seed=8, answer=flaky, retry_interval=5.0)
    world.start()
    world.net.drive_for(30)
    assert state_of(world.reg) is S.REGISTERED and world.reg.failures == 0
    assert world.states() == [S.REGISTERING, S.REGISTERED]
