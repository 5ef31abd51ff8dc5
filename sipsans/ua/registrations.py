"""Registrations hosted by the UserAgent (RFC 3261 §10.2).

The REGISTER logic is :class:`~sipsans.services.registration.Registration`, a pure machine
that returns the requests to send. Here the UA plays its driver: it sends those
requests through its Endpoint, feeds back the final responses and transaction
failures, keeps the machine's ``next_deadline()`` in its own timer heap and emits
the machine's :class:`~sipsans.ua.events.RegistrationStateChanged` as UA events. The
responses and transaction ends of REGISTERs are consumed (the application sees the
state changes instead).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..message.fields import NameAddr
from ..message.model import Request, Response
from ..services.events import RegistrationState
from ..services.registration import Registration
from ..transaction.events import TransactionTimedOut, TransportFailed
from ..transaction.transport import ClientTxn, Target

if TYPE_CHECKING:
    from .agent import UserAgent

__all__ = ["RegistrationHandle"]

_IDLE = (RegistrationState.UNREGISTERED, RegistrationState.FAILED)


class RegistrationHandle:
    """A registration the UserAgent keeps up; returned by ``ua.register(...)``.

    The UA refreshes it before expiry, answers 401/407 and 423, retries transient
    failures and reports every change as ``RegistrationStateChanged``. ``machine``
    is the underlying :class:`~sipsans.services.registration.Registration` (read-only use:
    commands go through this handle so the UA sends what they return).
    """

    __slots__ = ("_armed", "_ua", "key", "machine", "target", "txn")

    def __init__(self, ua: UserAgent, machine: Registration, target: Target, key: int) -> None:
        self._ua = ua
        self.machine = machine
        #: Where REGISTERs go (from the registrar URI unless given).
        self.target = target
        self.key = key
        #: The client transaction of the REGISTER in flight, if any.
        self.txn: ClientTxn | None = None
        self._armed: float | None = None

    def __repr__(self) -> str:
        return f"<RegistrationHandle {self.machine.aor} {self.state.name}>"

    @property
    def state(self) -> RegistrationState:
        return self.machine.state

    @property
    def aor(self) -> str:
        return str(self.machine.aor)

    @property
    def expires_at(self) -> float | None:
        """When the binding runs out on the caller's clock (None unless registered)."""
        return self.machine.expires_at

    @property
    def granted(self) -> int | None:
        """The expiry the registrar granted last (seconds)."""
        return self.machine.granted

    @property
    def bindings(self) -> list[NameAddr]:
        """Every binding of the AOR the last 2xx listed (other devices' too)."""
        return self.machine.bindings

    def start(self, *, now: float) -> None:
        """Register again after FAILED or UNREGISTERED (``ua.register`` starts it)."""
        ua = self._ua
        ua._advance(now)
        request = self.machine.start(now)
        ua._registrations[self.key] = self
        _after(ua, self, request)
        ua._drain()

    def stop(self, *, wildcard: bool = False, now: float) -> None:
        """Remove our bindings (``expires=0``; ``Contact: *`` with ``wildcard``, which
        removes every binding of the AOR, §10.2.2). Sent once a REGISTER in flight is
        answered (§10.2); UNREGISTERED follows the answer."""
        ua = self._ua
        ua._advance(now)
        if self.state in _IDLE:
            return
        _after(ua, self, self.machine.stop(now, wildcard=wildcard))
        ua._drain()


def _after(ua: UserAgent, handle: RegistrationHandle, request: Request | None) -> None:
    """Send what the machine asked for, emit its events, re-arm its timer."""
    machine = handle.machine
    if request is not None:
        handle.txn = ua.endpoint.send_request(request, target=handle.target, now=ua._now)
        ua._reg_txns[handle.txn.id] = handle
    for event in machine.take_events():
        ua._emit(event)
    deadline = machine.next_deadline()
    if deadline is not None and deadline != handle._armed:
        handle._armed = deadline
        ua._at(deadline, "register", handle.key)
    if machine.state in _IDLE and machine.pending is None:
        ua._registrations.pop(handle.key, None)


def fire(ua: UserAgent, key: int, at: float) -> None:
    """The UA timer for registration ``key`` is due (a stale one does nothing)."""
    handle = ua._registrations.get(key)
    if handle is None or handle._armed != at:
        return
    handle._armed = None
    _after(handle._ua, handle, handle.machine.on_timer(ua._now))


def on_response(ua: UserAgent, handle: RegistrationHandle, txn: ClientTxn, resp: Response) -> None:
    if txn != handle.txn or resp.status_code < 200:
        return  # provisional, or an older REGISTER's late answer
    handle.txn = None
    _after(ua, handle, handle.machine.on_response(resp, ua._now))


def on_failure(
    ua: UserAgent, handle: RegistrationHandle, event: TransactionTimedOut | TransportFailed
) -> None:
    if event.txn != handle.txn:
        return
    handle.txn = None
    why = event.reason if isinstance(event, TransportFailed) else "transaction timed out"
    _after(ua, handle, handle.machine.on_timeout(ua._now, why))
