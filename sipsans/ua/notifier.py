"""The notifier side of RFC 6665 in the UserAgent.

:class:`Notifier` turns a SUBSCRIBE for a package in ``UAConfig.event_packages`` into
``IncomingSubscription`` (others get 489 with Allow-Events, §4.2.1.1); accepting sends the
200 and at once the first NOTIFY (§4.2.1.2); refreshes are answered by the UA with a
NOTIFY of the current state; at expiry, or when un-subscribed, it sends
``terminated;reason=timeout`` (§4.2.2). The implicit subscription of a REFER we accepted
(RFC 3515) is a notifier's too. What the UA sends on its own (the first NOTIFY, refresh
answers) is quiet: those transactions' responses are consumed; the application's
``notify()`` and ``terminate()`` pass theirs on as usual. The records and their states
are kept by :class:`~sipsans.ua.subscriptions.Subscriptions`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..dialog.model import Dialog, contact_target, route_set_from
from ..dialog.state import DialogState
from ..dialog.subscription import (
    Subscription,
    SubscriptionState,
    format_subscription_state,
    parse_event,
)
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.model import Request, Response, make_response
from ..transaction.transport import ClientTxn, ServerTxn
from .events import IncomingSubscription
from .handles import NotifyArgs, ServerSubscription
from .inbox import Inbox
from .records import Hdrs, Outgoing, Reply
from .refreshing import header_int, seconds_left
from .subscriptions import NOTIFY_INPUT, Subscriptions, state_arg

__all__ = ["Notifier"]

_S = SubscriptionState


@dataclass(slots=True, eq=False, repr=False)
class Notifier:
    """Others' subscriptions to our state (see the module docstring)."""

    _inbox: Inbox
    _subs: Subscriptions

    def on_subscribe(self, request: Request, txn: ServerTxn, d: Dialog | None) -> None:
        """A SUBSCRIBE: a refresh or un-subscribe of one of ours, or a new subscription."""
        ctx = self._subs.ctx
        tag = d.local_tag if d is not None else None
        try:
            ev = parse_event(request.headers.get("event") or "")
        except RemoteProtocolError:
            ctx.reply(txn, request, 400, to_tag=tag)  # §8.2.1: Event is mandatory
            return
        requested = header_int(request, "Expires")
        if d is not None:
            rec = self._subs.usage(d, "notifier", ev)
            if rec is not None:
                self._refreshed(rec, request, txn, requested)
                return
        packages = ctx.config.event_packages
        if ev.package not in packages:
            allow = ", ".join(packages)
            # §4.2.1.1: 489 Bad Event, listing what we do accept.
            hdrs = (("Allow-Events", allow),) if allow else ()
            ctx.reply(txn, request, 489, hdrs, to_tag=tag)
            return
        if d is None and contact_target(request) is None:
            ctx.reply(txn, request, 400)  # §4.1.2.1: the SUBSCRIBE creates a dialog
            return
        cap = ctx.config.subscription_expires
        rec = self._subs.new_record(
            "notifier", ev, cap if requested is None else min(requested, cap)
        )
        rec.request, rec.txn, rec.dialog = request, txn.id, d
        self._inbox.hand_over(txn, request, d, after=ctx.config.answer_timeout, sub=rec)
        ctx.events.append(
            IncomingSubscription(
                subscription=ServerSubscription(ctx.views, rec), request=request, txn=txn
            )
        )

    def _refreshed(
        self, rec: Subscription, request: Request, txn: ServerTxn, requested: int | None
    ) -> None:
        """§4.2.1.2: answer a refresh and send the current state at once; Expires: 0
        ends the subscription with ``terminated;reason=timeout`` (§4.2.1.4)."""
        ctx = self._subs.ctx
        d = rec.dialog
        assert d is not None
        if rec.state is _S.TERMINATED or rec.txn:
            ctx.reply(txn, request, 481 if rec.txn == 0 else 500, to_tag=d.local_tag)
            return
        granted = (
            rec.expires if requested is None else min(requested, ctx.config.subscription_expires)
        )
        self._subs.dialogs.refresh_target(d, request)
        hdrs = (("Contact", d.local_contact), ("Expires", str(granted)), *ctx.common)
        ctx.reply(txn, request, 200, hdrs, to_tag=d.local_tag)
        if granted == 0:
            self.send_notify(rec, state=_S.TERMINATED, reason="timeout", quiet=True)
            return
        rec.expires = granted
        self._subs.set_expiry(rec, granted, ctx.now)
        self.send_notify(rec, quiet=True)

    def accept(
        self,
        rec: Subscription,
        reply: Reply,
        *,
        state: SubscriptionState | str = SubscriptionState.ACTIVE,
        expires: int | None = None,
        now: float,
    ) -> None:
        """200 to the SUBSCRIBE, then the first NOTIFY (§4.2.1.2)."""
        ctx = self._subs.ctx
        ctx.advance(now)
        self._accept(rec, reply, state, expires)
        ctx.drain()

    def answer_accept(self, rec: Subscription, reply: Reply) -> None:
        """:meth:`accept` with its defaults, without the clock and the drain (for
        ``ua.respond``)."""
        self._accept(rec, reply, _S.ACTIVE, None)

    def _accept(
        self, rec: Subscription, reply: Reply, state: SubscriptionState | str, expires: int | None
    ) -> None:
        """The 200 carries ``reply``'s header fields, the first NOTIFY its body."""
        ctx = self._subs.ctx
        pending = self._inbox.get(rec.txn) if rec.txn else None
        if pending is None or rec.role != "notifier":
            raise LocalProtocolError(
                f"{ctx.views.subscription(rec)!r} has no SUBSCRIBE waiting for an answer"
            )
        first = state_arg(state)
        if first is _S.TERMINATED:
            raise LocalProtocolError(
                "accept() with state active or pending; use reject() to refuse"
            )
        if reply.body and reply.content_type is None:
            raise LocalProtocolError("a NOTIFY body needs content_type= (the package's type)")
        self._inbox.take(rec.txn)
        request = pending.request
        granted = rec.expires if expires is None else max(0, min(expires, rec.expires))
        d = rec.dialog
        new = d is None
        if d is None:
            d = self._notifier_dialog(request)
        self._subs.attach(d, rec)
        hdrs: list[tuple[str, str]] = []
        if new:
            # §12.1.1: a dialog-creating 2xx copies the Record-Route.
            hdrs += [("Record-Route", v) for v in request.headers.get_all("record-route")]
        hdrs += [("Contact", d.local_contact), ("Expires", str(granted)), *ctx.common]
        response = make_response(request, 200, to_tag=d.local_tag, headers=[*hdrs, *reply.headers])
        ctx.endpoint.send_response(ServerTxn(rec.txn), response, now=ctx.now)
        rec.txn = 0
        rec.expires = granted
        rec.body, rec.content_type = reply.body, reply.content_type
        self._subs.set_expiry(rec, granted, ctx.now)
        if granted == 0:  # a fetch (§4.2.1.2): one NOTIFY with the state, then the end
            self.send_notify(rec, state=_S.TERMINATED, reason="timeout", quiet=True)
        else:
            self.send_notify(rec, state=first, quiet=True)

    def _notifier_dialog(self, request: Request) -> Dialog:
        """§12.1.1 for the dialog our 2xx to an out-of-dialog SUBSCRIBE creates."""
        ctx = self._subs.ctx
        contact = contact_target(request)
        assert contact is not None  # checked on receipt
        to = request.to
        local = to.replace(params=tuple(p for p in to.params if p[0].lower() != "tag"))
        remote = request.from_
        remote = remote.replace(params=tuple(p for p in remote.params if p[0].lower() != "tag"))
        try:
            route_set = route_set_from(request.record_routes, reverse=False)
        except RemoteProtocolError:
            route_set = ()  # leniency: a broken Record-Route leaves the route set empty
        transport = request.top_via.transport if request.vias else "UDP"
        d = Dialog(
            role="uas",
            call_id=request.call_id,
            local_tag=ctx.new_tag(),
            remote_tag=request.from_.tag or "",
            local_uri=str(local),
            remote_uri=str(remote),
            local_contact=ctx.local_contact(transport),
            remote_target=contact,
            route_set=route_set,
            local_cseq=ctx.rng.randrange(1, 2**15),
            remote_cseq=request.cseq.seq,
            state=DialogState.CONFIRMED,
        )
        d.invite_usage = False
        self._subs.dialogs.add(d)
        return d

    def reject(self, rec: Subscription, reply: Reply, *, now: float) -> None:
        """A final 3xx-6xx to the SUBSCRIBE."""
        ctx = self._subs.ctx
        ctx.advance(now)
        self.answer_reject(rec, reply)
        ctx.drain()

    def answer_reject(self, rec: Subscription, reply: Reply) -> None:
        """:meth:`reject` without the clock and the drain (for ``ua.respond``)."""
        ctx = self._subs.ctx
        pending = self._inbox.take(rec.txn) if rec.txn else None
        if pending is None:
            raise LocalProtocolError(
                f"{ctx.views.subscription(rec)!r} has no SUBSCRIBE waiting for an answer"
            )
        d = rec.dialog
        status = reply.status
        response = make_response(
            pending.request,
            status,
            reply.reason,
            to_tag=d.local_tag if d is not None else ctx.new_tag(),
            headers=[*ctx.common, *reply.headers],
        )
        ctx.endpoint.send_response(ServerTxn(rec.txn), response, now=ctx.now)
        self._subs.refuse(rec, "rejected", response)

    def abandon(self, rec: Subscription) -> None:
        """The SUBSCRIBE awaiting the application's answer lost its transaction."""
        self._subs.refuse(rec, "timeout")

    def notify(self, rec: Subscription, args: NotifyArgs, now: float) -> ClientTxn:
        """The application's NOTIFY (``notify()``, ``terminate()``, ``notify_refer()``)."""
        ctx = self._subs.ctx
        ctx.advance(now)
        if rec.role != "notifier":
            raise LocalProtocolError("only the notifier sends NOTIFY; a subscriber refresh()es")
        if rec.state is _S.TERMINATED:
            raise LocalProtocolError(
                f"{ctx.views.subscription(rec)!r} is terminated: no more NOTIFYs (§4.2.2)"
            )
        if rec.txn or rec.dialog is None:
            raise LocalProtocolError("accept() the SUBSCRIBE before sending NOTIFYs")
        if args.body and args.content_type is None and rec.content_type is None:
            raise LocalProtocolError("a NOTIFY body needs content_type= (the package's type)")
        _keep_body(rec, args.body, args.content_type)
        new = state_arg(args.state) if args.state is not None else None
        txn = self._send_notify(rec, new, args.reason, args.retry_after, args.headers, quiet=False)
        ctx.drain()
        return txn

    def send_notify(
        self,
        rec: Subscription,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        state: SubscriptionState | None = None,
        reason: str | None = None,
        quiet: bool,
    ) -> ClientTxn:
        """A NOTIFY the UA sends on its own (``quiet``: its response is consumed), with
        ``body`` as the subscription's state from now on when given."""
        _keep_body(rec, body, content_type)
        return self._send_notify(rec, state, reason, None, (), quiet=quiet)

    def _send_notify(
        self,
        rec: Subscription,
        state: SubscriptionState | None,
        reason: str | None,
        retry_after: int | None,
        headers: Hdrs,
        *,
        quiet: bool,
    ) -> ClientTxn:
        """Send a NOTIFY carrying ``state`` (default: the current one) and the last body
        given (§4.2.2)."""
        d = rec.dialog
        assert d is not None
        new = state if state is not None else rec.state
        if new is _S.NOTIFY_WAIT:
            new = _S.PENDING
        now = self._subs.ctx.now
        remaining = seconds_left(rec.expires_at, now) if rec.expires_at is not None else None
        value = format_subscription_state(
            new, expires=remaining, reason=reason, retry_after=retry_after
        )
        hdrs = (("Event", str(rec.event)), ("Subscription-State", value), *headers)
        txn, origin = self._subs.client.send(
            d,
            "NOTIFY",
            body=rec.body or None,
            content_type=rec.content_type if rec.body else None,
            headers=hdrs,
        )
        out = self._subs.client.outgoing(txn)
        out.sub, out.on_final, out.quiet = rec, self.on_final, quiet
        self._subs.move(
            rec,
            NOTIFY_INPUT[new.value],
            reason,
            None,
            out.request,
            retry_after,
            appeared=rec.implicit and rec.state is _S.NOTIFY_WAIT,
        )
        return origin

    def on_final(self, out: Outgoing, code: int, resp: Response | None) -> None:
        """The final outcome of a NOTIFY of subscription ``out.sub`` (``resp`` is None for
        a timeout, 408, or a transport failure, 503): §4.2.2, a failed NOTIFY ends the
        subscription (481 above all, and Timer F), but not a 5xx or 491: those are
        transient, e.g. the 500 a NOTIFY gets when a later one overtook it and the CSeq
        went backwards (RFC 3261 §12.2.2)."""
        rec = out.sub
        assert rec is not None
        if rec.state is _S.TERMINATED or 200 <= code < 300:
            return
        if resp is None or not (code >= 500 or code == 491):
            self._subs.notify_failed(rec, code, resp)

    def fire(self, rec: Subscription) -> None:
        """A notifier's alarm is due: at expiry, the last NOTIFY says
        ``terminated;reason=timeout`` (RFC 6665 §4.2.2)."""
        if rec.expires_at is not None and self._subs.ctx.now >= rec.expires_at:
            self.send_notify(rec, state=_S.TERMINATED, reason="timeout", quiet=True)
        else:
            self._subs.arm(rec)


def _keep_body(rec: Subscription, body: bytes | None, content_type: str | None) -> None:
    """A NOTIFY's new body (and its type, when given) is the one later NOTIFYs carry
    until the next: those the UA sends on its own too (a refresh's answer, §4.2.1.2)."""
    if body is not None:
        rec.body = body
        if content_type is not None:
            rec.content_type = content_type
