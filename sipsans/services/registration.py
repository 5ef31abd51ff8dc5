"""Running a REGISTER or PUBLISH client over an Endpoint, without a UserAgent.

:class:`RegistrationDriver` runs a :class:`~sipsans.Registration` (the REGISTER machine
of RFC 3261 §10.2, :mod:`sipsans.ua.register_client`, which a UserAgent hosts too) or a
:class:`~sipsans.Publication` over an :class:`~sipsans.Endpoint`: it sends what the
machine asks, feeds back final responses and transaction failures, and wakes it at its
deadlines. The machine and its events are named here too, where they always were.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ..message.model import Request, Response
from ..transaction.endpoint import Endpoint
from ..transaction.events import ResponseReceived, TransactionTimedOut, TransportFailed
from ..transaction.transport import ClientTxn, Target, Transmit
from ..ua.refreshing import digest_client, header_int, new_token, refresh_delay
from ..ua.register_client import (
    Registration,
    RegistrationState,
    RegistrationStateChanged,
    as_name_addr,
)

__all__ = [
    "Registration",
    "RegistrationDriver",
    "RegistrationState",
    "RegistrationStateChanged",
    "as_name_addr",
    "digest_client",
    "header_int",
    "new_token",
    "refresh_delay",
]


# -- driving over an Endpoint --------------------------------------------------------------


class ClientMachine(Protocol):
    """What :class:`RegistrationDriver` drives: Registration and Publication."""

    def on_response(self, response: Response, now: float) -> Request | None: ...

    def on_timeout(self, now: float, reason: str = "transaction timed out") -> Request | None: ...

    def on_timer(self, now: float) -> Request | None: ...

    def next_deadline(self) -> float | None: ...

    def take_events(self) -> Sequence[object]: ...


class RegistrationDriver:
    """Runs a :class:`Registration` (or a Publication) over an :class:`~sipsans.Endpoint`.

    It has the Endpoint's pull surface, so an adapter (or :class:`sipsans.testing.Net`)
    drives it in the Endpoint's place: inputs pass through, :meth:`events` returns the
    Endpoint's events minus the responses it consumed, plus the machine's state
    changes; :meth:`get_next_timer` covers both. Send the first request with
    ``driver.send(reg.start(now), now=now)``.
    """

    def __init__(self, endpoint: Endpoint, machine: ClientMachine, target: Target) -> None:
        self.endpoint = endpoint
        self.machine = machine
        self.target = target
        self.txn: ClientTxn | None = None
        # The inputs pass straight through: the machine needs nothing from them but the
        # time, which events() reads from the Endpoint's clock (Endpoint.now).
        self.receive_datagram = endpoint.receive_datagram
        self.connection_made = endpoint.connection_made
        self.receive_stream = endpoint.receive_stream
        self.connection_lost = endpoint.connection_lost
        self.transport_error = endpoint.transport_error

    def send(self, request: Request | None, *, now: float) -> None:
        """Send *request* (a command's result; None does nothing) on a new transaction."""
        if request is not None:
            self.txn = self.endpoint.send_request(request, target=self.target, now=now)

    def events(self) -> list[Any]:
        out: list[Any] = []
        machine = self.machine
        now = self.endpoint.now  # (the events came from inputs up to now)
        for event in self.endpoint.events():
            if (
                isinstance(event, ResponseReceived)
                and self.txn is not None
                and event.txn == self.txn
            ):
                if event.response.status_code >= 200:
                    self.txn = None
                self.send(machine.on_response(event.response, now), now=now)
            elif (
                isinstance(event, TransactionTimedOut | TransportFailed)
                and self.txn is not None
                and event.txn == self.txn
            ):
                self.txn = None
                why = event.reason if isinstance(event, TransportFailed) else "timed out"
                self.send(machine.on_timeout(now, why), now=now)
            else:
                out.append(event)
        out += machine.take_events()
        return out

    def handle_timer(self, *, now: float) -> None:
        self.endpoint.handle_timer(now=now)
        deadline = self.machine.next_deadline()
        if deadline is not None and deadline <= now:
            self.send(self.machine.on_timer(now), now=now)

    def get_next_timer(self) -> float | None:
        times = [
            t
            for t in (self.endpoint.get_next_timer(), self.machine.next_deadline())
            if t is not None
        ]
        return min(times) if times else None

    def transmits(self) -> list[Transmit]:
        return self.endpoint.transmits()
