"""Registrations hosted by the UserAgent (RFC 3261 §10.2).

The REGISTER logic is :class:`~sipsans.ua.register_client.Registration`, a pure
machine that returns the requests to send. :class:`Registrations` plays its driver:
it sends those requests through the Endpoint, feeds back the final responses and
transaction failures, keeps an alarm at the machine's ``next_deadline()`` and emits
the machine's :class:`~sipsans.ua.register_client.RegistrationStateChanged` as UA
events. The responses and transaction ends of REGISTERs are consumed (the
application sees the state changes instead).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, NoReturn, Self, TypeVar, overload

from ..auth import Credentials
from ..dialog.model import target_for
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.fields import NameAddr
from ..message.model import Request, Response
from ..message.uri import URI, SipURI, parse_uri
from ..transaction.events import (
    ConnectionClosed,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from ..transaction.transport import ClientTxn, ConnHandle, Target
from .context import UAContext
from .events import FlowFailed
from .failover import begin_walk, failure_of, leave_target, retry_after
from .refreshing import header_int
from .register_client import Registration, RegistrationState, as_name_addr

if TYPE_CHECKING:
    from ..locate.failover import Failover

__all__ = ["RegistrationHandle", "Registrations"]

_IDLE = (RegistrationState.UNREGISTERED, RegistrationState.FAILED)


_T = TypeVar("_T")


class _FromMachine(Generic[_T]):
    """A read-only attribute of a :class:`RegistrationHandle` that is its machine's
    attribute of the same name: the handle shows the machine's state, it keeps none."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, handle: None, owner: type) -> Self: ...

    @overload
    def __get__(self, handle: RegistrationHandle, owner: type | None = None) -> _T: ...

    def __get__(self, handle: RegistrationHandle | None, owner: type | None = None) -> _T | Self:
        if handle is None:
            return self  # on the class: the descriptor itself (for help() and the docs)
        value: _T = getattr(handle.machine, self._name)
        return value

    def __set__(self, handle: RegistrationHandle, value: object) -> NoReturn:
        raise AttributeError(f"{self._name} is read-only: it is the machine's")


@dataclass(slots=True, eq=False, repr=False)
class RegistrationHandle:
    """A registration the UserAgent keeps up; returned by ``ua.register(...)``.

    The UA refreshes it before expiry, answers 401/407 and 423, retries transient
    failures and reports every change as ``RegistrationStateChanged``. ``machine``
    is the underlying :class:`~sipsans.ua.register_client.Registration` (read-only
    use: commands go through this handle so the UA sends what they return).
    """

    _owner: Registrations
    machine: Registration
    #: Where REGISTERs go (from the registrar URI unless given).
    target: Target
    key: int
    #: The client transaction of the REGISTER in flight, if any.
    txn: ClientTxn | None = field(default=None, init=False)
    #: The deadline the UA has an alarm armed for (a stale alarm does nothing).
    alarm_at: float | None = field(default=None, init=False)
    #: The walk down the registrar's targets when given several (RFC 3263 §4.3).
    walk: Failover | None = field(default=None, init=False)
    #: The stream connection the binding is kept over (RFC 5626 §3.1: the flow),
    #: learnt from the 2xx; None over UDP.
    flow: ConnHandle | None = field(default=None, init=False)
    #: Registered with SIP outbound (RFC 5626).
    outbound: bool = field(default=False, init=False)

    def __repr__(self) -> str:
        return f"<RegistrationHandle {self.machine.aor} {self.state.name}>"

    state = _FromMachine[RegistrationState]("Where the registration is (the machine's state).")
    expires_at = _FromMachine[float | None](
        "When the binding runs out on the caller's clock (None unless registered)."
    )
    granted = _FromMachine[int | None]("The expiry the registrar granted last (seconds).")
    bindings = _FromMachine[list[NameAddr]](
        "Every binding of the AOR the last 2xx listed (other devices' too)."
    )

    @property
    def aor(self) -> str:
        return str(self.machine.aor)

    def start(self, *, now: float) -> None:
        """Register again after FAILED or UNREGISTERED (``ua.register`` starts it)."""
        self._owner.start(self, now)

    def stop(self, *, wildcard: bool = False, now: float) -> None:
        """Remove our bindings (``expires=0``; ``Contact: *`` with ``wildcard``, which
        removes every binding of the AOR, §10.2.2). Sent once a REGISTER in flight is
        answered (§10.2); UNREGISTERED follows the answer."""
        self._owner.stop(self, wildcard, now)


class Registrations:
    """The registrations a UA keeps up, and their REGISTER transactions."""

    __slots__ = ("_by_key", "_ctx", "_instance", "_keys", "_txns")

    def __init__(self, ctx: UAContext) -> None:
        self._ctx = ctx
        #: Registrations kept up, by handle key; idle ones are dropped.
        self._by_key: dict[int, RegistrationHandle] = {}
        #: REGISTER client transactions -> their registration.
        self._txns: dict[int, RegistrationHandle] = {}
        self._keys = 0
        self._instance = ctx.config.instance_id  # drawn when first needed

    def stats(self) -> dict[str, int]:
        return {"registrations": len(self._by_key), "register_txns": len(self._txns)}

    def all(self) -> list[RegistrationHandle]:
        """The registrations the UA is keeping up or removing right now."""
        return list(self._by_key.values())

    # -- commands --------------------------------------------------------------------------

    def register(
        self,
        registrar: str | URI | None = None,
        *,
        aor: str | SipURI | None = None,
        contacts: Iterable[str | NameAddr | URI] | None = None,
        expires: int = 3600,
        credentials: Credentials | Iterable[Credentials] | None = None,
        headers: Iterable[tuple[str, str]] = (),
        target: Target | None = None,
        targets: Sequence[Target] | None = None,
        refresh_margin: float = 300.0,
        max_failures: int = 3,
        retry_interval: float = 30.0,
        max_retry_interval: float = 600.0,
        outbound: bool | None = None,
        now: float,
    ) -> RegistrationHandle:
        """Register ``aor`` (default: our identity) at ``registrar`` and keep it
        registered (RFC 3261 §10.2) until ``handle.stop()`` or ``ua.unregister()``.

        ``registrar`` is the Request-URI (default: the AOR's domain); REGISTERs go to
        ``target`` or else to its host, port and ``transport=``. ``targets`` (instead of
        ``target``) are the places RFC 3263 found for the registrar, in order: a
        REGISTER fails over to the next on 503, time-out or transport error
        (``TargetFailed``), and refreshes stay where the last one succeeded. ``contacts`` default
        to our Contact. ``credentials`` answer 401/407 (default: the UA's). The UA
        refreshes before expiry, retries with Min-Expires after 423, retries
        transient failures and ends in FAILED after ``max_failures`` of them in a row.
        The other options are those of :class:`~sipsans.ua.register_client.Registration`.
        ``outbound`` (default ``UAConfig.outbound``) registers with SIP outbound (RFC
        5626 §4.2): our Contact with ``;ob``, ``reg-id=1`` and ``+sip.instance``,
        ``Supported: outbound``; over a stream the flow is kept alive (§4.4.1) and, when
        it fails (``FlowFailed``), the AOR is registered again over a new one.
        Progress arrives as ``RegistrationStateChanged`` events.
        """
        ctx = self._ctx
        ctx.advance(now)
        outbound = ctx.config.outbound if outbound is None else outbound
        if outbound:
            headers = (*headers, ("Supported", "outbound"))
        aor_uri = aor if aor is not None else ctx.identity.uri
        if not isinstance(aor_uri, SipURI | str):
            raise LocalProtocolError(
                f"cannot register the identity {aor_uri}: an address-of-record is a sip: "
                "or sips: URI; pass aor="
            )
        try:
            registrar_uri = parse_uri(registrar) if isinstance(registrar, str) else registrar
            machine = Registration(
                aor_uri,
                registrar_uri,
                expires=expires,
                rng=ctx.rng,
                credentials=ctx.digest if credentials is None else credentials,
                headers=(*ctx.common, *headers),
                display_name=ctx.identity.display_name if aor is None else None,
                refresh_margin=refresh_margin,
                max_failures=max_failures,
                retry_interval=retry_interval,
                max_retry_interval=max_retry_interval,
            )
        except RemoteProtocolError as exc:  # a URI we were given does not parse
            raise LocalProtocolError(f"register(): {exc}") from None
        walk = None
        if targets is not None:
            target, walk = begin_walk(ctx, targets, target)
        if target is None:
            target = target_for(machine.registrar_uri)
        if contacts is None:
            contacts = (ctx.local_contact(target.transport),)
        machine.contacts = [as_name_addr(c) for c in contacts]
        if outbound:
            machine.contacts = [self._outbound_contact(c) for c in machine.contacts]
        self._keys += 1
        handle = RegistrationHandle(self, machine, target, self._keys)
        handle.walk = walk
        handle.outbound = outbound
        self.start(handle, now)
        return handle

    def _outbound_contact(self, contact: NameAddr) -> NameAddr:
        """RFC 5626 §4.2: ``;ob`` in the URI (as PJSIP, so that the registrar and edge
        proxy know the flow is to be used), ``reg-id`` and ``+sip.instance``."""
        if self._instance is None:
            bits = self._ctx.rng.getrandbits(128)
            # A version 4 UUID (RFC 4122 §4.4) from the UA's rng.
            bits = (bits & ~(0xF << 76) | (4 << 76)) & ~(0x3 << 62) | (0x2 << 62)
            text = f"{bits:032x}"
            self._instance = (
                f"urn:uuid:{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
            )
        uri = contact.uri
        if isinstance(uri, SipURI) and not uri.has_param("ob"):
            contact = contact.replace(uri=uri.with_param("ob"))
        params = [p for p in contact.params if p[0].lower() not in ("reg-id", "+sip.instance")]
        params += [("reg-id", "1"), ("+sip.instance", f'"<{self._instance}>"')]
        return contact.replace(params=tuple(params))

    def unregister(
        self, handle: RegistrationHandle | None = None, *, wildcard: bool = False, now: float
    ) -> None:
        """Remove the bindings of ``handle``, or of every registration when None (for a
        clean shutdown: drive the UA until ``RegistrationStateChanged`` says UNREGISTERED)."""
        self._ctx.advance(now)
        for h in [handle] if handle is not None else list(self._by_key.values()):
            self.stop(h, wildcard, now)

    def start(self, handle: RegistrationHandle, now: float) -> None:
        ctx = self._ctx
        ctx.advance(now)
        request = handle.machine.start(now)
        self._by_key[handle.key] = handle
        self._after(handle, request)
        ctx.drain()

    def stop(self, handle: RegistrationHandle, wildcard: bool, now: float) -> None:
        ctx = self._ctx
        ctx.advance(now)
        if handle.state in _IDLE:
            return
        self._after(handle, handle.machine.stop(now, wildcard=wildcard))
        ctx.drain()

    # -- driving the machines -----------------------------------------------------------------

    def _after(self, handle: RegistrationHandle, request: Request | None) -> None:
        """Send what the machine asked for, emit its events, re-arm its alarm."""
        ctx = self._ctx
        machine = handle.machine
        if request is not None:
            walk = handle.walk
            if walk is not None:
                # A new REGISTER: where the last one succeeded, unless that target
                # failed since (then the healthiest first).
                if ctx.backoffs.backing_off(handle.target, ctx.now):
                    walk.restart()
                    handle.target = walk.next_target(now=ctx.now)
                else:
                    walk.restart(handle.target)
            handle.txn = ctx.endpoint.send_request(request, target=handle.target, now=ctx.now)
            self._track(handle.txn, handle)
        for event in machine.take_events():
            ctx.events.append(event)
        deadline = machine.next_deadline()
        if deadline is not None and deadline != handle.alarm_at:
            handle.alarm_at = deadline
            ctx.alarms.at(deadline, self._fire, handle)
        if machine.state in _IDLE and machine.pending is None:
            self._by_key.pop(handle.key, None)

    def _track(self, txn: ClientTxn, handle: RegistrationHandle) -> None:
        """``handle``'s REGISTER was just sent in ``txn``: its events come back here."""
        self._txns[txn.id] = handle
        self._ctx.client_txns[txn.id] = self

    def _fire(self, handle: RegistrationHandle, at: float) -> None:
        """The alarm of ``handle`` is due (a stale one does nothing)."""
        if self._by_key.get(handle.key) is not handle or handle.alarm_at != at:
            return
        handle.alarm_at = None
        self._after(handle, handle.machine.on_timer(self._ctx.now))

    def on_response(self, event: ResponseReceived) -> None:
        """A response to a REGISTER of ours."""
        txn = event.txn
        assert txn is not None
        handle = self._txns[txn.id]
        resp = event.response
        code = resp.status_code
        if txn != handle.txn or code < 200:
            return  # provisional, or an older REGISTER's late answer
        walk = handle.walk
        if walk is not None:
            if code == 503:
                if self._fail_over(handle, txn, f"{code} {resp.reason}", resp):
                    return
            else:
                walk.succeeded(handle.target)
        if 200 <= code < 300 and event.source.conn is not None:
            self._keep_flow(handle, event.source.conn, resp)
        handle.txn = None
        self._after(handle, handle.machine.on_response(resp, self._ctx.now))

    def on_failure(self, event: TransactionTimedOut | TransportFailed) -> None:
        """The REGISTER in flight timed out or could not be sent: the next target, else
        the machine takes the failure (an older REGISTER's is ignored)."""
        handle = self._txns[event.txn.id]
        if event.txn != handle.txn:
            return
        if handle.walk is not None and self._fail_over(handle, event.txn, failure_of(event), None):
            return
        handle.txn = None
        why = event.reason if isinstance(event, TransportFailed) else "transaction timed out"
        self._after(handle, handle.machine.on_timeout(self._ctx.now, why))

    def _fail_over(
        self,
        handle: RegistrationHandle,
        txn: ClientTxn,
        reason: str,
        resp: Response | None,
    ) -> bool:
        """RFC 3263 §4.3: the REGISTER in flight failed at its target (``resp``: a 503;
        None: a time-out or transport error): the same request again, in a new
        transaction, to the next target. False when none is left (the machine then takes
        the failure: its retries start over from the first)."""
        request = handle.machine.pending
        walk = handle.walk
        if request is None or walk is None:
            return False
        ctx = self._ctx
        following = leave_target(
            ctx,
            walk,
            handle.target,
            # (a 503's Retry-After is its back-off)
            (reason, None, None) if resp is None else (reason, resp.status_code, retry_after(resp)),
            txn=txn,
            request=request,
        )
        if following is None:
            return False
        handle.target = following
        handle.txn = ctx.endpoint.send_request(request, target=following, now=ctx.now)
        self._track(handle.txn, handle)
        return True

    # -- flows (RFC 5626) -------------------------------------------------------------------

    def _keep_flow(self, handle: RegistrationHandle, conn: ConnHandle, resp: Response) -> None:
        """A 2xx came over the stream connection ``conn``: the binding's flow. Keep it
        alive (§4.4.1) every ``Flow-Timer`` seconds when the registrar says, else every
        ``UAConfig.keepalive_interval``, else (outbound) 120."""
        handle.flow = conn
        config = self._ctx.config
        timer = header_int(resp, "Flow-Timer")
        interval = float(timer) if timer else config.keepalive_interval
        if interval is None and handle.outbound:
            interval = 120.0
        if interval is not None:
            self._ctx.endpoint.keep_alive(conn, interval=interval, now=self._ctx.now)

    def on_connection_closed(self, event: ConnectionClosed) -> None:
        """A stream connection closed: for each registration kept over it, the flow
        failed (``FlowFailed``): register again at once, over a new connection."""
        ctx = self._ctx
        for handle in list(self._by_key.values()):
            if handle.flow != event.conn:
                continue
            handle.flow = None
            ctx.events.append(FlowFailed(aor=handle.aor, conn=event.conn, reason=event.reason))
            if handle.txn is None:
                request = handle.machine.refresh(ctx.now, f"flow failed: {event.reason}")
                self._after(handle, request)

    def on_terminated(self, event: TransactionTerminated) -> None:
        """A REGISTER's transaction ended (the application sees the state changes)."""
        del self._txns[event.txn.id]
