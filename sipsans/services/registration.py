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
from ..transaction.transport import Address, ClientTxn, ConnHandle, Target, Transmit
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
        self._now = float("-inf")

    def send(self, request: Request | None, *, now: float) -> None:
        """Send *request* (a command's result; None does nothing) on a new transaction."""
        self._now = max(self._now, now)
        if request is not None:
            self.txn = self.endpoint.send_request(request, target=self.target, now=now)

    def events(self) -> list[Any]:
        out: list[Any] = []
        machine = self.machine
        for event in self.endpoint.events():
            if (
                isinstance(event, ResponseReceived)
                and self.txn is not None
                and event.txn == self.txn
            ):
                if event.response.status_code >= 200:
                    self.txn = None
                self.send(machine.on_response(event.response, self._now), now=self._now)
            elif (
                isinstance(event, TransactionTimedOut | TransportFailed)
                and self.txn is not None
                and event.txn == self.txn
            ):
                self.txn = None
                why = event.reason if isinstance(event, TransportFailed) else "timed out"
                self.send(machine.on_timeout(self._now, why), now=self._now)
            else:
                out.append(event)
        out += machine.take_events()
        return out

    def handle_timer(self, *, now: float) -> None:
        self._now = max(self._now, now)
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

    # -- pass-through inputs ----------------------------------------------------------

    def receive_datagram(
        self,
        data: bytes,
        *,
        remote: Address,
        local: Address | None = None,
        transport: str = "UDP",
        now: float,
    ) -> None:
        self._now = max(self._now, now)
        self.endpoint.receive_datagram(
            data, remote=remote, local=local, transport=transport, now=now
        )

    def connection_made(
        self, *, transport: str, remote: Address, local: Address | None = None, now: float
    ) -> ConnHandle:
        self._now = max(self._now, now)
        return self.endpoint.connection_made(
            transport=transport, remote=remote, local=local, now=now
        )

    def receive_stream(self, conn: ConnHandle, data: bytes, *, now: float) -> None:
        self._now = max(self._now, now)
        self.endpoint.receive_stream(conn, data, now=now)

    def connection_lost(self, conn: ConnHandle, *, now: float) -> None:
        self._now = max(self._now, now)
        self.endpoint.connection_lost(conn, now=now)

    def transport_error(self, token: int, *, now: float, reason: str | None = None) -> None:
        self._now = max(self._now, now)
        self.endpoint.transport_error(token, now=now, reason=reason)
