"""PUBLISH client (RFC 3903) against a small Event State Compositor, in virtual time."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from sipsans import (
    Endpoint,
    EndpointConfig,
    LocalProtocolError,
    Request,
    RequestReceived,
    Response,
    make_response,
)
from sipsans.auth import Credentials, DigestServer
from sipsans.services.publication import (
    Publication,
    PublicationDriver,
    PublicationState,
    PublicationStateChanged,
)
from sipsans.testing import Net, Node

P = PublicationState
ENTITY = "sip:alice@example.com"
PIDF = b"<presence>open</presence>"
SECRET = b"0123456789abcdef0123456789abcdef"


def state_of(pub: Publication) -> PublicationState:
    return pub.state


class Compositor:
    """A minimal ESC (RFC 3903 §6): entity-tags, Min-Expires, Bad Event, optional digest."""

    def __init__(self, *, min_expires: int = 60, auth: bool = False) -> None:
        self.min_expires = min_expires
        self.state: dict[str, tuple[bytes, float]] = {}  # etag -> (body, expires at)
        self.tags = (f"e{n}" for n in itertools.count(1))
        self.received: list[Request] = []
        self.digest = DigestServer(SECRET, "example.com", rng=random.Random(4)) if auth else None

    def handle(self, request: Request, now: float) -> Response:
        self.received.append(request)
        if self.digest is not None:
            verdict = self.digest.verify(request, now=now, password=lambda u, r: "pw")
            if not verdict.ok:
                return self.digest.challenge_response(request, now=now, stale=verdict.stale)
        if request.headers.get("Event") != "presence":
            return make_response(request, 489, to_tag="esc")
        expires = int(request.headers.get("Expires") or "3600")
        if 0 < expires < self.min_expires:
            return make_response(
                request, 423, to_tag="esc", headers=[("Min-Expires", str(self.min_expires))]
            )
        match = request.headers.get("SIP-If-Match")
        body = request.body
        if match is not None:
            known = self.state.pop(match, None)
            if known is None or known[1] <= now:
                return make_response(request, 412, to_tag="esc")
            body = body or known[0]
        elif not body:
            return make_response(request, 400, to_tag="esc")
        if expires == 0:
            return make_response(request, 200, to_tag="esc", headers=[("Expires", "0")])
        tag = next(self.tags)
        self.state[tag] = (body, now + expires)
        return make_response(
            request, 200, to_tag="esc", headers=[("SIP-ETag", tag), ("Expires", str(expires))]
        )


class World:
    def __init__(self, *, seed: int = 1, loss: float = 0.0, event: str = "presence", **kw: Any):
        self.net = Net(seed=seed, loss=loss)
        self.esc = Compositor(min_expires=kw.pop("min_expires", 60), auth=kw.pop("auth", False))
        self.server = self.net.add("esc", "192.0.2.20", handler=self._handle)
        endpoint = Endpoint(
            EndpointConfig(advertised_host="192.0.2.1", advertised_port=5060),
            rng=random.Random(seed + 1),
        )
        self.pub = Publication(
            ENTITY, event, PIDF, "application/pidf+xml", rng=random.Random(seed + 2), **kw
        )
        self.driver = PublicationDriver(endpoint, self.pub, self.server.target())
        self.client = self.net.add("alice", "192.0.2.1", core=self.driver)

    def _handle(self, node: Node[Any], event: object) -> None:
        if isinstance(event, RequestReceived) and event.txn is not None:
            response = self.esc.handle(event.request, self.net.now)
            node.core.send_response(event.txn, response, now=self.net.now)

    def run(self, command: Any) -> None:
        self.net.call(self.client, lambda now: self.driver.send(command(now), now=now))

    def states(self) -> list[PublicationState]:
        return [e.state for e in self.client.of_type(PublicationStateChanged)]


@pytest.mark.parametrize("loss", [0.0, 0.2])
def test_publish_refresh_modify_remove(loss: float) -> None:
    world = World(seed=3, loss=loss, expires=600)
    world.run(world.pub.publish)
    world.net.drive_for(30)
    assert state_of(world.pub) is P.PUBLISHED
    first = world.esc.received[0]
    assert first.body == PIDF and first.headers.get("SIP-If-Match") is None
    assert first.headers.get("Content-Type") == "application/pidf+xml"
    etag = world.pub.etag
    assert etag is not None
    # Refreshes: SIP-If-Match, no body, every 300 s; the state never lapses at the ESC.
    world.net.drive_for(3000)
    refreshes = [r for r in world.esc.received if r.headers.get("SIP-If-Match")]
    assert len({r.cseq.seq for r in refreshes}) >= 9
    assert all(r.body == b"" and "Content-Type" not in r.headers for r in refreshes)
    assert len(world.esc.state) == 1
    assert world.pub.etag != etag  # each 2xx brings a new entity-tag (§6 step 8)
    # Modify: SIP-If-Match with the new body.
    world.run(lambda now: world.pub.modify(b"<presence>busy</presence>", now))
    world.net.drive_for(30)
    modify = world.esc.received[-1]
    assert modify.body == b"<presence>busy</presence>" and modify.headers.get("SIP-If-Match")
    assert next(iter(world.esc.state.values()))[0] == b"<presence>busy</presence>"
    assert state_of(world.pub) is P.PUBLISHED
    # Remove.
    world.run(world.pub.remove)
    world.net.drive_for(40)
    assert state_of(world.pub) is P.UNPUBLISHED and world.pub.etag is None
    assert world.esc.received[-1].headers.get("Expires") == "0"
    assert world.esc.state == {}
    assert P.FAILED not in world.states()


def test_412_publishes_afresh() -> None:
    world = World(seed=5, expires=600)
    world.run(world.pub.publish)
    world.net.drive_for(10)
    world.esc.state.clear()  # the compositor rebooted and forgot us
    world.net.drive_for(400)  # the refresh meets 412, then an initial PUBLISH follows
    statuses = [line for src, line in world.net.first_lines() if src == "esc"]
    assert "SIP/2.0 412 Conditional Request Failed" in statuses
    assert state_of(world.pub) is P.PUBLISHED
    assert world.esc.received[-1].body == PIDF
    assert world.esc.received[-1].headers.get("SIP-If-Match") is None
    assert len(world.esc.state) == 1


def test_423_then_min_expires() -> None:
    world = World(seed=6, expires=30, min_expires=120)
    world.run(world.pub.publish)
    world.net.drive_for(10)
    assert state_of(world.pub) is P.PUBLISHED and world.pub.granted == 120
    assert [r.headers.get("Expires") for r in world.esc.received] == ["30", "120"]


def test_bad_event_fails() -> None:
    world = World(seed=7, event="dialog")
    world.run(world.pub.publish)
    world.net.drive_for(10)
    assert state_of(world.pub) is P.FAILED
    last = world.client.of_type(PublicationStateChanged)[-1]
    assert last.status == 489 and last.reason == "489 Bad Event"


def test_digest_publication() -> None:
    world = World(seed=8, auth=True, credentials=Credentials("alice", "pw"), expires=600)
    world.run(world.pub.publish)
    world.net.drive_for(1000)
    assert state_of(world.pub) is P.PUBLISHED
    assert P.FAILED not in world.states()


def test_modify_while_pending_is_queued_and_remove_without_etag() -> None:
    pub = Publication(ENTITY, "presence", PIDF, "application/pidf+xml", rng=random.Random(1))
    first = pub.publish(0.0)
    assert pub.modify(b"new", 0.5) is None  # one PUBLISH at a time (§4.1)
    ok = make_response(first, 200, to_tag="t", headers=[("SIP-ETag", "x1"), ("Expires", "60")])
    follow = pub.on_response(ok, 1.0)
    assert follow is not None and follow.body == b"new"
    assert follow.headers.get("SIP-If-Match") == "x1"
    assert pub.on_response(make_response(follow, 503), 1.5) is None
    retry = pub.on_timer(31.5)
    assert retry is not None and retry.body == b"new"  # a retried modify keeps its body
    done = make_response(retry, 200, to_tag="t", headers=[("SIP-ETag", "x2")])
    assert pub.on_response(done, 32.0) is None
    assert pub.granted == 3600 and pub.etag == "x2"
    refresh = pub.on_timer(32.0 + 3300)
    assert refresh is not None and refresh.body == b""
    missing = make_response(refresh, 200, to_tag="t")
    pub.on_response(missing, 3333.0)
    assert state_of(pub) is P.FAILED  # a 2xx without SIP-ETag is unusable
    assert pub.remove(3334.0) is None and state_of(pub) is P.UNPUBLISHED
    with pytest.raises(LocalProtocolError):
        pub.modify(b"x", 3335.0)
    with pytest.raises(LocalProtocolError):
        Publication(ENTITY, "presence", PIDF, "text/plain", expires=0)


def test_repeated_timeouts_fail() -> None:
    pub = Publication(
        ENTITY, "presence", PIDF, "application/pidf+xml", rng=random.Random(1), max_failures=2
    )
    pub.publish(0.0)
    assert pub.on_timeout(32.0) is None
    again = pub.on_timer(62.0)
    assert again is not None and again.body == PIDF
    pub.on_timeout(94.0)
    assert state_of(pub) is P.FAILED
    assert "2 consecutive failures" in pub.take_events()[-1].reason
