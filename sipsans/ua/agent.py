"""The UserAgent: dialogs on top of the Endpoint (RFC 3261 §8, §10.2, §12-§15, §22;
RFC 6665, RFC 3515, RFC 3891, RFC 3262, RFC 3311, RFC 4028).

Layered on :class:`~sipsans.Endpoint` like HTTP/3 on QUIC: the UA consumes the
endpoint's transaction events and emits its own (``IncomingCall``,
``DialogStateChanged``, ``InDialogRequest``, ``DialogTerminated``,
``AuthenticationFailed``, ``MessageReceived``, ``RegistrationStateChanged``,
``SubscriptionStateChanged``, ``NotifyReceived``, ``IncomingSubscription``,
``ReferReceived``, ``ProvisionalOffer``, ``SessionRefreshed``; for dialogs shared
between processes, DESIGN.md §10: ``UnknownDialogRequest``, ``RestoreRefused``,
``DialogChanged``), passing through the transaction events it does not consume.
Same pull surface as the Endpoint::

    ua.receive_datagram(data, remote=addr, now=now)
    for event in ua.events(): ...          # app commands: ua.invite(...), dialog.accept(...)
    for t in ua.transmits(): ...           # send them
    deadline = ua.get_next_timer()         # wake up then: ua.handle_timer(now=...)

The UserAgent is composed of parts that own their state (docs/architecture.md):

* :class:`~sipsans.ua.dialogs.DialogTable`: the dialogs and their state changes;
* :class:`~sipsans.ua.calls.Caller`: the calls we place (the UAC side of the INVITE);
* :class:`~sipsans.ua.client.ClientSide`: other requests we send, their responses;
* :class:`~sipsans.ua.protection.Protection`: the credentials asked of requests we
  receive, before anything else (``ua.protect``, RFC 3261 §8.2, §22.2);
* :class:`~sipsans.ua.server.ServerSide`: requests we receive and our answers;
* :class:`~sipsans.ua.inbox.Inbox`: requests waiting for the application's answer;
* :class:`~sipsans.ua.restores.Restores`: requests within dialogs the UA does not hold,
  waiting for the application to restore them (``ua.resume``);
* :class:`~sipsans.ua.reliable.ReliableProvisionals` (RFC 3262: reliable 1xx and PRACK),
  :class:`~sipsans.ua.session_timers.SessionTimers` (RFC 4028), and
  :class:`~sipsans.ua.offers.Negotiations` (where each dialog's offer/answer exchange
  stands, RFC 3264, RFC 3311);
* :class:`~sipsans.ua.subscriptions.Subscriptions` (their records, RFC 6665) and the
  two roles, :class:`~sipsans.ua.subscriber.Subscriber` and
  :class:`~sipsans.ua.notifier.Notifier`,
  :class:`~sipsans.ua.refer.Transfers` (RFC 3515),
  :class:`~sipsans.ua.registrations.Registrations` (RFC 3261 §10.2);
* :class:`~sipsans.ua.handles.Views`: the dialog and subscription handles.

This module routes the endpoint's events to them and offers their commands. What the
UA consumes and what passes through is tabulated in docs/dialogs.md.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from ..auth import Credentials, DigestClient
from ..dialog.events import DialogChange
from ..dialog.model import DialogId, DialogSnapshot, restore, snapshot
from ..errors import LocalProtocolError
from ..message.fields import NameAddr, parse_name_addr
from ..transaction.endpoint import Endpoint
from ..transaction.events import (
    CancelReceived,
    ConnectionClosed,
    RequestReceived,
    ResponseReceived,
    TransactionEvent,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from ..transaction.surface import EndpointLike
from ..transaction.transport import Address, ConnHandle, ServerTxn, Transmit
from .calls import Caller
from .client import ClientSide
from .config import UAConfig
from .context import UAContext
from .dialogs import DialogTable
from .events import Event, RestoreRefusal
from .handles import (
    ClientInviteDialog,
    ClientSubscription,
    ServerInviteDialog,
    ServerSubscription,
    Views,
)
from .inbox import Inbox
from .notifier import Notifier
from .offers import Negotiations
from .parts import Parts
from .protection import Protection
from .refer import Transfers
from .registrations import RegistrationHandle, Registrations
from .reliable import ReliableProvisionals
from .restores import Restores
from .server import ServerSide
from .session_timers import SessionTimers
from .subscriber import Subscriber
from .subscriptions import Subscriptions

__all__ = ["UAConfig", "UserAgent"]


class UserAgent:
    """A SIP user agent: calls, dialogs, in-dialog requests, digest authentication,
    registrations and subscriptions.

    ``identity`` is our address of record (the From of our requests, unless
    ``from_=`` is given); ``credentials`` answer 401/407 challenges; ``rng`` makes
    tags, Call-IDs, CSeqs, cnonces and §14.1 back-offs (default
    ``random.SystemRandom()``).

    The commands ``invite``, ``request``, ``options``, ``message``, ``register``,
    ``unregister``, ``subscribe`` and ``respond`` are those of the parts that carry them
    out (see the module docstring); the dialog commands are on the handles.

    A digest-protected callee: ``ua.protect(DigestGuard(DigestServer(secret, realm),
    users={...}))`` (:class:`~sipsans.auth.DigestGuard`) makes INVITE and BYE (or the
    guard's ``methods``) need credentials; the UA answers 401 with a fresh nonce and
    reports ``IncomingCall`` only for an authenticated INVITE (docs/auth.md).
    """

    def __init__(
        self,
        endpoint: EndpointLike | None = None,
        identity: str | NameAddr = "sip:anonymous@anonymous.invalid",
        credentials: Credentials | Iterable[Credentials] | None = None,
        *,
        config: UAConfig | None = None,
        rng: random.Random | None = None,
        contact: str | None = None,
    ) -> None:
        self.endpoint = endpoint if endpoint is not None else Endpoint(rng=rng)
        self.config = config if config is not None else UAConfig()
        rng = rng if rng is not None else random.SystemRandom()
        if not isinstance(identity, NameAddr):
            identity = parse_name_addr(identity, header="From")
        #: Answers 401/407 challenges (§22.2) with ``credentials``.
        self.digest = DigestClient(credentials or (), rng=rng)
        ctx = self._ctx = UAContext(
            self.endpoint,
            config=self.config,
            rng=rng,
            identity=identity,
            contact=contact,
            digest=self.digest,
        )
        # Consuming the endpoint's events: it hands each to _route, in order, also
        # those that the parts' commands make meanwhile.
        self._drain = ctx.drain = partial(self.endpoint.drain_events, self._route)
        self._dialogs = dialogs = DialogTable(ctx)
        self._inbox = inbox = Inbox(ctx)
        negotiations = Negotiations()
        self._client = client = ClientSide(ctx, dialogs, negotiations)
        # 100rel and session timers send their requests through the client side.
        self._reliable = reliable = ReliableProvisionals(ctx, dialogs, client)
        self._timers = timers = SessionTimers(ctx, dialogs, client)
        client.bind(reliable=reliable, timers=timers)
        self._caller = caller = Caller(ctx, dialogs, client, reliable, timers)
        reliable.cancel_call = caller.send_cancel
        self._subscriptions = subs = Subscriptions(ctx, dialogs, client)
        self._subscriber = subscriber = Subscriber(subs)
        self._notifier = notifier = Notifier(inbox, subs)
        subs.serve(subscriber=subscriber.fire, notifier=notifier.fire)
        self._transfers = transfers = Transfers(
            ctx, dialogs, client, inbox, subs, subscriber, notifier
        )
        self._restores = restores = Restores(ctx, dialogs)
        #: Requests wait for a dialog's restoration only with ``restore_wait`` set: without
        #: it, the end of each server transaction skips asking the restores.
        self._holds_requests = self.config.restore_wait is not None
        self._protection = protection = Protection(ctx, dialogs)
        parts = Parts(
            dialogs=dialogs,
            inbox=inbox,
            negotiations=negotiations,
            client=client,
            reliable=reliable,
            timers=timers,
            caller=caller,
            subscriptions=subs,
            subscriber=subscriber,
            notifier=notifier,
            transfers=transfers,
            restores=restores,
        )
        self._server = server = ServerSide(ctx, parts)
        negotiations.bind(
            client.offer_state, caller.offer_state, server.offer_state, reliable.offer_state
        )
        # A re-INVITE refresh waits while another re-INVITE or an offer is under way.
        timers.busy = lambda d: client.reinvite_pending(d) or negotiations.pending(d) is not None
        self._registrations = Registrations(ctx)
        ctx.views = Views(
            caller=caller,
            client=client,
            server=server,
            transfers=transfers,
            subscriptions=subs,
            subscriber=subscriber,
            notifier=notifier,
            reliable=reliable,
        )
        # The parts' commands, offered as the UA's own.
        self.invite = self._caller.invite
        self.request = self._client.send_request
        self.options = self._client.options
        self.message = self._client.message
        self.register = self._registrations.register
        self.unregister = self._registrations.unregister
        self.subscribe = self._subscriber.subscribe
        self.respond = self._server.respond
        self.protect = protection.protect

    @property
    def identity(self) -> NameAddr:
        """Our address of record: the From of our requests unless ``from_=`` is given."""
        return self._ctx.identity

    @identity.setter
    def identity(self, value: NameAddr) -> None:
        self._ctx.identity = value

    @property
    def allow(self) -> tuple[str, ...]:
        """The methods we accept (our Allow header): ``UAConfig.allow`` plus SUBSCRIBE
        when we are a notifier and REFER unless refused."""
        return self._ctx.allow

    @property
    def contact(self) -> str:
        """Our Contact (§8.1.1.8) for UDP; other transports add ``transport=``."""
        return self._ctx.contact

    def advertise(self, host: str, port: int, *, contact: str | None = None) -> None:
        """Advertise ``host:port`` from now on: the Via sent-by of our requests (the
        Endpoint's) and our Contact, built from it unless ``contact`` is given. An
        adapter calls it with the address it bound (or was told) for a core made before
        its sockets were; dialogs that exist keep the Contact they gave."""
        self.endpoint.advertise(host, port)
        if contact is not None:
            self._ctx.given_contact(contact)
        self._ctx.readvertise()

    @property
    def registrations(self) -> list[RegistrationHandle]:
        """The registrations the UA is keeping up or removing right now."""
        return self._registrations.all()

    @property
    def subscriptions(self) -> list[ClientSubscription | ServerSubscription]:
        """Every live subscription, both roles (for a clean shutdown)."""
        return self._subscriptions.all()

    # -- pull surface ---------------------------------------------------------------

    def next_event(self) -> Event | None:
        events = self._ctx.events
        return events.popleft() if events else None

    def events(self) -> list[Event]:
        events = self._ctx.events
        if not events:
            return []  # the usual answer: an adapter asks after every input until empty
        out = list(events)
        events.clear()
        return out

    def transmits(self) -> list[Transmit]:
        return self.endpoint.transmits()

    def get_next_timer(self) -> float | None:
        ours = self._ctx.alarms.deadline
        theirs = self.endpoint.get_next_timer()
        if ours is None:
            return theirs
        return ours if theirs is None else min(ours, theirs)

    def stats(self) -> dict[str, int]:
        """Sizes of the UA's tables (all zero when idle) and the endpoint's."""
        return {
            "dialogs": len(self._dialogs),
            "dialog_watchers": self._dialogs.watched(),
            "client_txns": len(self._ctx.client_txns),
            **self._caller.stats(),
            **self._client.stats(),
            **self._server.stats(),
            **self._inbox.stats(),
            **self._restores.stats(),
            **self._reliable.stats(),
            **self._timers.stats(),
            "ua_timers": len(self._ctx.alarms),
            **self._registrations.stats(),
            **self._subscriptions.stats(),
            **self.endpoint.stats(),
        }

    # -- inputs (pass-through) -------------------------------------------------------

    def receive_datagram(
        self,
        data: bytes,
        *,
        remote: Address,
        local: Address | None = None,
        transport: str = "UDP",
        now: float,
    ) -> None:
        ctx = self._ctx
        if now < ctx.now:
            ctx.advance(now)  # raises: the clock went backwards
        ctx.now = now
        self.endpoint.receive_datagram(
            data, remote=remote, local=local, transport=transport, now=now
        )
        self._drain()

    def connection_made(
        self, *, transport: str, remote: Address, local: Address | None = None, now: float
    ) -> ConnHandle:
        self._ctx.advance(now)
        return self.endpoint.connection_made(
            transport=transport, remote=remote, local=local, now=now
        )

    def receive_stream(self, conn: ConnHandle, data: bytes, *, now: float) -> None:
        self._ctx.advance(now)
        self.endpoint.receive_stream(conn, data, now=now)
        self._drain()

    def connection_lost(self, conn: ConnHandle, *, now: float) -> None:
        self._ctx.advance(now)
        self.endpoint.connection_lost(conn, now=now)
        self._drain()

    def transport_error(self, token: int, *, now: float, reason: str | None = None) -> None:
        self._ctx.advance(now)
        self.endpoint.transport_error(token, now=now, reason=reason)
        self._drain()

    def handle_timer(self, *, now: float) -> None:
        """Fire the endpoint's and the UA's overdue timers, in deadline order.

        Each UA alarm acts at its own deadline (so retransmission intervals stay on
        schedule after a late wake-up); commands to the endpoint use the latest
        clock value seen, which never goes backwards.
        """
        ctx = self._ctx
        if now < ctx.now:
            ctx.advance(now)  # raises: the clock went backwards
        ep = self.endpoint
        alarms = ctx.alarms
        while True:
            mine = alarms.deadline
            if mine is not None and mine > now:
                mine = None
            theirs = ep.get_next_timer()
            if theirs is not None and theirs > now:
                theirs = None
            if theirs is not None and (mine is None or theirs <= mine):
                ctx.now = max(ctx.now, theirs)
                ep.handle_timer(now=ctx.now)
            elif mine is not None:
                due = alarms.pop_due(now)
                assert due is not None
                deadline, action, arg = due
                ctx.now = max(ctx.now, deadline)
                action(arg, deadline)
            else:
                break
            self._drain()
        ctx.now = now

    # -- routing ----------------------------------------------------------------------

    def _route(self, event: TransactionEvent) -> None:
        """One endpoint event to the part it belongs to; the rest passes through. An
        event of a client transaction goes to the part that sent it (``client_txns``).
        (The most frequent kinds are tested first: a UAS call brings three requests and
        the end of two server transactions.)"""
        if isinstance(event, RequestReceived):
            # §8.2: authentication first (ua.protect), then the server side's checks.
            protection = self._protection
            if not (protection.methods and protection.answered(event)):
                self._server.on_request(event)
        elif isinstance(event, TransactionTerminated):
            if isinstance(event.txn, ServerTxn):
                pending = self._inbox.txn_ended(event)
                if pending is not None:
                    self._server.unanswered_ended(event, pending)
                elif self._holds_requests and self._restores.held:
                    self._restores.txn_ended(event.txn.id)
            else:
                owner = self._ctx.client_txns.pop(event.txn.id, None)
                if owner is None:
                    self._ctx.events.append(event)
                else:
                    owner.on_terminated(event)
        elif isinstance(event, ResponseReceived):
            txn = event.txn
            owner = self._ctx.client_txns.get(txn.id) if txn is not None else None
            if owner is not None:
                owner.on_response(event)
            elif txn is not None or not self._caller.on_stray_response(event):
                self._ctx.events.append(event)  # a CANCEL's response, or the app's own request
        elif isinstance(event, CancelReceived):
            self._server.on_cancel(event)
        elif isinstance(event, TransactionTimedOut | TransportFailed):
            if isinstance(event.txn, ServerTxn):
                self._server.on_failure(event)
            else:
                owner = self._ctx.client_txns.get(event.txn.id)
                if owner is None:
                    self._ctx.events.append(event)
                else:
                    owner.on_failure(event)
        else:
            self._ctx.events.append(event)  # MalformedMessage, ConnectionClosed
            if isinstance(event, ConnectionClosed):
                self._registrations.on_connection_closed(event)  # a flow failed?

    # -- dialogs ---------------------------------------------------------------------------

    def dialog(self, dialog_id: DialogId) -> ClientInviteDialog | ServerInviteDialog:
        """A view of a known dialog (for ids from events)."""
        return self._ctx.views.dialog(self._dialogs.require(dialog_id))

    def snapshot(self, dialog_id: DialogId) -> DialogSnapshot:
        """The JSON-able state of a confirmed dialog (format: docs/dialogs.md)."""
        return snapshot(self._dialogs.require(dialog_id))

    def restore(
        self, data: DialogSnapshot, *, now: float
    ) -> ClientInviteDialog | ServerInviteDialog:
        """Resume a confirmed dialog from :meth:`snapshot` (in this or another process)."""
        ctx = self._ctx
        ctx.advance(now)
        d = restore(data)
        if self._dialogs.get(d.id) is not None:
            raise LocalProtocolError(f"dialog {d.id} already exists")
        self._dialogs.add(d)
        self._dialogs.changed(d, DialogChange.RESTORED)
        self._restores.restored(d)  # what waited for it (UnknownDialogRequest) goes on
        ctx.drain()
        return ctx.views.dialog(d)

    def resume(
        self,
        dialog_id: DialogId,
        data: Mapping[str, Any] | None,
        *,
        now: float,
        contact: str | None = None,
    ) -> ClientInviteDialog | ServerInviteDialog | None:
        """Answer an ``UnknownDialogRequest``: restore ``dialog_id`` from ``data``, its
        snapshot as :meth:`snapshot` made it (read back from JSON), or None when there is
        none; then the requests that waited for it are processed as usual.

        Refused whole, never half-restored, when there is no snapshot, its version is
        unknown, it is corrupt or another dialog's, or the dialog already ended here:
        ``RestoreRefused`` is reported and the waiting requests get 481 (§12.2.2).
        ``contact`` becomes our Contact in the dialog (the restoring process's own, so
        that the peer's next target refresh brings its requests here). Returns the
        dialog's view, or None when refused or when nothing waited any more (the wait
        timed out: that refusal was reported then)."""
        ctx = self._ctx
        ctx.advance(now)
        d = self._restores.resume(dialog_id, data, contact=contact)
        ctx.drain()
        return ctx.views.dialog(d) if d is not None else None

    def refuse_restore(
        self,
        dialog_id: DialogId,
        reason: RestoreRefusal = RestoreRefusal.NOT_FOUND,
        *,
        detail: str = "",
        now: float,
    ) -> None:
        """Answer an ``UnknownDialogRequest`` with no: the dialog will not be restored
        here (``reason``: e.g. OWNED when another process holds it, UNAVAILABLE when the
        store cannot be read). ``RestoreRefused`` is reported and the waiting requests
        get 481."""
        self._ctx.advance(now)
        self._restores.refuse(dialog_id, reason, detail)
        self._ctx.drain()
