"""A UserAgent at 192.0.2.10 driven by hand against a scripted peer at 192.0.2.1:
what it sent (parsed) and what it reported, with virtual time."""

from __future__ import annotations

import random

from sipsans import (
    ClientTxn,
    Endpoint,
    EndpointConfig,
    Event,
    Request,
    Response,
    UAConfig,
    UserAgent,
    parse_message,
)

PEER = ("192.0.2.1", 5060)
SDP = (
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0\r\n"
)


class Harness:
    """The UA, what it sent and what it reported."""

    def __init__(self, seeds: tuple[int, int] = (7, 8), config: UAConfig | None = None) -> None:
        ep = Endpoint(EndpointConfig(advertised_host="192.0.2.10"), rng=random.Random(seeds[0]))
        self.ua = UserAgent(
            ep, identity="sip:alice@192.0.2.10", config=config, rng=random.Random(seeds[1])
        )
        self.now = 0.0
        self.sent: list[Request | Response] = []
        self.events: list[Event] = []

    def pump(self) -> None:
        self.sent += [parse_message(t.data) for t in self.ua.transmits()]
        self.events += self.ua.events()

    def receive(self, data: bytes) -> None:
        self.ua.receive_datagram(data, remote=PEER, now=self.now)
        self.pump()

    def advance(self, now: float) -> None:
        self.now = now
        self.ua.handle_timer(now=now)
        self.pump()

    def last(self, start: str) -> Request | Response:
        """The last message sent whose first line starts with ``start``."""
        return next(m for m in reversed(self.sent) if bytes(m).decode().startswith(start))

    def requests(self, method: str) -> list[Request]:
        return [m for m in self.sent if isinstance(m, Request) and m.method == method]

    def outcome(self, handle: ClientTxn) -> list[Event]:
        """The events that carry ``handle``."""
        return [e for e in self.events if getattr(e, "txn", None) == handle]

    def settle(self, max_steps: int = 1000) -> dict[str, int]:
        """Run the clock until no timer is left (at most ``max_steps`` wake-ups); the
        non-zero entries of ua.stats()."""
        for _ in range(max_steps):
            deadline = self.ua.get_next_timer()
            if deadline is None:
                break
            self.advance(max(self.now, deadline))
        return {name: n for name, n in self.ua.stats().items() if n}
