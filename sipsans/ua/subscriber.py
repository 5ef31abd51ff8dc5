"""The subscriber side of RFC 6665 in the UserAgent.

:class:`Subscriber` sends ``ua.subscribe``'s SUBSCRIBE out of any dialog (or, with
``dialog.subscribe``, within one: dialog reuse, RFC 6665 §4.5.2). The first NOTIFY
creates the dialog (§4.4.1), so a forked SUBSCRIBE answered by several notifiers makes
one subscription (and dialog) per NOTIFY From tag; a 2xx with no NOTIFY within Timer N
(64*T1) ends it. It refreshes at ``max(g/2, g - 60 s)`` of a grant ``g`` (the 2xx's
Expires, then each NOTIFY's ``expires``), un-subscribes with Expires: 0, answers every
NOTIFY itself (481 when it matches no subscription, §4.1.3) and reports
``NotifyReceived``. It also hears the outcome of a REFER we sent (RFC 3515: its implicit
subscription is a subscriber's). The records and their states are kept by
:class:`~sipsans.ua.subscriptions.Subscriptions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..dialog.model import Dialog, contact_target, route_set_from, target_for
from ..dialog.state import DialogState
from ..dialog.subscription import (
    REFRESH_FAILURES,
    EventHeader,
    Subscription,
    SubscriptionInput,
    SubscriptionState,
    SubState,
    parse_event,
    parse_subscription_state,
)
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.fields import NameAddr, parse_name_addr
from ..message.model import Request, Response, make_request
from ..message.uri import URI, SipURI
from ..transaction.transport import ClientTxn, ServerTxn, Target
from .client import name_addr_arg
from .events import NotifyReceived
from .failover import begin_walk
from .handles import ClientSubscription, SubscribeArgs
from .records import Outgoing
from .refreshing import header_int
from .subscriptions import NOTIFY_INPUT, Subscriptions

__all__ = ["Subscriber"]

_S = SubscriptionState
_I = SubscriptionInput


@dataclass(slots=True, eq=False, repr=False)
class Subscriber:
    """Our subscriptions to others' state (see the module docstring)."""

    _subs: Subscriptions

    def subscribe(
        self,
        to: str | NameAddr | URI,
        event: str,
        *,
        expires: int = 3600,
        accept: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        from_: str | NameAddr | None = None,
        target: Target | None = None,
        targets: Sequence[Target] | None = None,
        now: float,
    ) -> ClientSubscription:
        """Subscribe to ``event`` (``"presence"``, ``"dialog;id=7"``, ...) of ``to``
        (RFC 6665 §4.1.2). The request goes to ``target``, else to the first Route in
        ``headers``, else to the To URI's host, port and ``transport=``; ``targets``
        (instead of ``target``) are the places RFC 3263 found for it, in order, failed
        over on 503, time-out or transport error until the subscription has a dialog.

        The UA refreshes before expiry and reports ``SubscriptionStateChanged`` and
        ``NotifyReceived``; every NOTIFY From tag of a forked SUBSCRIBE becomes its
        own subscription. ``expires=0`` fetches the state once."""
        ctx = self._subs.ctx
        ctx.advance(now)
        hdrs = tuple(headers)
        ev = _subscribe_args(event, expires, body, content_type)
        to_addr = name_addr_arg(to, "To")
        ruri = to_addr.uri
        if isinstance(ruri, SipURI):
            ruri = ruri.without_headers()
        local = ctx.identity if from_ is None else name_addr_arg(from_, "From")
        local = local.replace(params=tuple(p for p in local.params if p[0].lower() != "tag"))
        remote = to_addr.replace(params=tuple(p for p in to_addr.params if p[0].lower() != "tag"))
        routes = [v for k, v in hdrs if k.lower() == "route"]
        fixed = target
        walk = None
        if targets is not None:
            target, walk = begin_walk(ctx, targets, target)
        if target is None:
            hop = parse_name_addr(routes[0], header="Route").uri if routes else ruri
            target = target_for(hop)
        extra = [*_subscribe_headers(ev, expires, accept), ("Allow", ctx.allow_value)]
        extra += [*ctx.common, *hdrs]
        request = make_request(
            "SUBSCRIBE",
            ruri,
            from_=str(local.with_tag(ctx.new_tag())),
            to=str(remote),
            call_id=ctx.new_call_id(),
            cseq=ctx.rng.randrange(1, 2**15),
            contact=ctx.local_contact(target.transport),
            headers=extra,
            body=body,
            content_type=content_type if body else None,
        )
        rec = self._subs.new_record("subscriber", ev, expires)
        rec.request, rec.target = request, fixed
        rec.local_uri, rec.remote_uri = str(local), str(remote)
        rec.accept, rec.headers = accept, hdrs
        rec.unsubscribing = expires == 0  # a fetch: one NOTIFY, then terminated
        self._subs.expect_notifies(rec)
        out = Outgoing(None, request, target, ClientTxn(0), body, content_type, hdrs)
        out.sub = rec
        out.on_final, out.on_retry, out.quiet = self.on_final, self._on_retry, True
        out.walk = walk
        self._subs.client.send_out_of_dialog(request, target, out)
        rec.refreshing = True
        ctx.drain()
        return ClientSubscription(ctx.views, rec)

    def subscribe_in(self, d: Dialog, args: SubscribeArgs, now: float) -> ClientSubscription:
        """Send an initial SUBSCRIBE within the existing dialog ``d`` (RFC 6665 §4.1.2.1,
        dialog reuse §4.5.2, RFC 5057): the subscription is a usage of ``d`` at once, so its
        NOTIFYs match it (§4.1.3) even when one overtakes the 2xx. ``args`` are those of
        ``dialog.subscribe``, the one caller."""
        ctx = self._subs.ctx
        ctx.advance(now)
        expires, body = args.expires, args.body
        ev = _subscribe_args(args.event, expires, body, args.content_type)
        if d.state is not DialogState.CONFIRMED:
            raise LocalProtocolError(
                f"a SUBSCRIBE within a dialog needs a confirmed one; {d.id} is {d.state.value}"
            )
        if self._subs.usage(d, "subscriber", ev) is not None:
            # §4.1.2.1 / §8.2.1: Event package and id name the subscription within the dialog.
            raise LocalProtocolError(
                f"dialog {d.id} already has a subscription to {ev}; give it another id= "
                "(e.g. 'presence;id=2') or refresh() the existing one"
            )
        rec = self._subs.new_record("subscriber", ev, expires)
        rec.accept = args.accept
        rec.headers = tuple(h for h in args.headers if h[0].lower() != "route")  # the dialog routes
        rec.unsubscribing = expires == 0  # a fetch: one NOTIFY, then terminated
        self._subs.attach(d, rec)
        txn, _ = self._subs.client.send(
            d,
            "SUBSCRIBE",
            body=body or None,
            content_type=args.content_type if body else None,
            headers=(*_subscribe_headers(ev, expires, args.accept), *rec.headers),
        )
        out = self._subs.client.outgoing(txn)
        out.sub, out.on_final, out.quiet = rec, self.on_final, True
        rec.request = out.request
        rec.refreshing = True
        ctx.drain()
        return ClientSubscription(ctx.views, rec)

    def _send_subscribe(self, rec: Subscription, expires: int) -> None:
        """A SUBSCRIBE within the subscription's dialog: refresh, or Expires: 0 (§4.1.2.2-3)."""
        d = rec.dialog
        assert d is not None
        extra = _subscribe_headers(rec.event, expires, rec.accept)
        extra += [h for h in rec.headers if h[0].lower() != "route"]
        txn, _ = self._subs.client.send(d, "SUBSCRIBE", headers=tuple(extra))
        out = self._subs.client.outgoing(txn)
        out.sub, out.on_final, out.quiet = rec, self.on_final, True
        rec.refreshing = True

    def refresh(self, rec: Subscription, expires: int | None, now: float) -> None:
        ctx = self._subs.ctx
        ctx.advance(now)
        if rec.role != "subscriber" or rec.state is _S.TERMINATED or rec.unsubscribing:
            raise LocalProtocolError(f"{ctx.views.subscription(rec)!r} cannot be refreshed")
        if rec.implicit:
            raise LocalProtocolError("a REFER's implicit subscription is not refreshed (RFC 3515)")
        if rec.dialog is None:
            raise LocalProtocolError("no NOTIFY yet: the subscription has no dialog to refresh in")
        if rec.refreshing:
            raise LocalProtocolError("a SUBSCRIBE of this subscription is already in progress")
        if expires is not None:
            rec.expires = expires
        self._send_subscribe(rec, rec.expires)
        ctx.drain()

    def unsubscribe(self, rec: Subscription, now: float) -> None:
        """Expires: 0 (§4.1.2.3); the final NOTIFY (or Timer N after the 2xx) ends it.
        Before any NOTIFY there is no dialog yet: the un-SUBSCRIBE goes once one exists."""
        ctx = self._subs.ctx
        ctx.advance(now)
        if rec.role != "subscriber":
            raise LocalProtocolError("unsubscribe() is for subscribers; a notifier terminate()s")
        if rec.state is _S.TERMINATED or rec.unsubscribing:
            return
        rec.unsubscribing = True
        rec.refresh_at = None
        if rec.implicit:
            self._subs.move(rec, _I.UNSUBSCRIBED, "unsubscribed")  # nothing to send for a REFER's
        else:
            if _unsubscribe_due(rec):
                self._send_unsubscribe(rec)
            self._subs.arm(rec)
        ctx.drain()

    def _send_unsubscribe(self, rec: Subscription) -> None:
        rec.expires = 0
        self._send_subscribe(rec, 0)

    def _on_retry(self, out: Outgoing) -> None:
        """The initial SUBSCRIBE was sent again with credentials: its CSeq grew."""
        if out.sub is not None and out.dialog is None:
            out.sub.request = out.request

    def on_final(self, out: Outgoing, code: int, resp: Response | None) -> None:
        """The final outcome of a SUBSCRIBE or REFER of subscription ``out.sub``
        (``resp`` is None for a timeout, 408, or a transport failure, 503)."""
        rec = out.sub
        assert rec is not None
        if rec.state is _S.TERMINATED:
            return
        method = out.request.method
        now = self._subs.ctx.now
        ok = 200 <= code < 300
        retry = header_int(resp, "Retry-After") if resp is not None else None
        if method == "REFER":
            if not ok:
                self._subs.move(rec, _I.REJECTED, "rejected", code, resp, retry)
            elif (
                resp is not None
                and (resp.headers.get("refer-sub") or "").strip().lower() == "false"
            ):
                # RFC 4488 §4: the recipient accepted without an implicit subscription.
                self._subs.move(rec, _I.REJECTED, "norefersub", code, resp)
            elif rec.state is _S.NOTIFY_WAIT:
                rec.timer_n_at = now + self._subs.timer_n()
                self._subs.move(rec, _I.ACCEPTED, None, code, resp)
            return
        # SUBSCRIBE
        rec.refreshing = False
        # The initial SUBSCRIBE: sent out of any dialog, or (dialog reuse) within one while
        # no NOTIFY has given the subscription a state yet.
        initial = out.dialog is None or rec.state is _S.NOTIFY_WAIT
        if initial:
            rec.request = out.request  # as last sent (a digest retry has a higher CSeq)
        asked = header_int(out.request, "Expires")
        if ok:
            granted = header_int(resp, "Expires") if resp is not None else None
            granted = (
                granted if granted is not None else asked if asked is not None else rec.expires
            )
            if asked == 0:
                rec.timer_n_at = now + self._subs.timer_n()  # the final NOTIFY should follow
            else:
                self._subs.set_expiry(rec, granted, now)
                if initial:
                    rec.timer_n_at = now + self._subs.timer_n()  # Timer N, and the window for forks
                self._subs.move(rec, _I.ACCEPTED, None, code, resp)
            if _unsubscribe_due(rec):
                self._send_unsubscribe(rec)  # unsubscribe() came while this was pending
            self._subs.arm(rec)
            return
        if rec.unsubscribing and (not initial or rec.state is not _S.NOTIFY_WAIT):
            # The un-SUBSCRIBE failed, or the SUBSCRIBE it waited for did: we wanted out
            # anyway, and the notifier forgets us at expiry (§4.2.2).
            self._subs.move(rec, _I.UNSUBSCRIBED, "unsubscribed", code, resp)
        elif initial:
            if rec.state is _S.NOTIFY_WAIT:
                self._subs.move(rec, _I.REJECTED, "rejected", code, resp, retry)
            self._subs.close_fork_window(rec)
        elif code in REFRESH_FAILURES:
            self._subs.move(rec, _I.REFRESH_REJECTED, "rejected", code, resp, retry)
        # Any other failure of a refresh: the subscription lasts until it expires (§4.1.2.2).

    def _find_for_notify(
        self, request: Request, d: Dialog | None, ev: EventHeader
    ) -> Subscription | None:
        if d is not None:
            rec = self._subs.usage(d, "subscriber", ev)
            if rec is None and ev.package == "refer" and ev.id is None:
                # Leniency: RFC 3515 §2.4.6 peers that omit the id when only one REFER
                # is outstanding in the dialog.
                refers = [
                    r
                    for r in self._subs.usages(d)
                    if r.role == "subscriber" and r.event.package == "refer"
                ]
                rec = refers[0] if len(refers) == 1 else None
            return rec
        origin = self._subs.fork_origin(request.call_id, request.to.tag or "")
        if origin is None or origin.event != ev:
            return None
        if origin.dialog is None:
            return origin
        asked = header_int(origin.request, "Expires") if origin.request is not None else None
        fork = self._subs.new_record(
            "subscriber", origin.event, origin.expires if asked is None else asked
        )
        fork.request, fork.target, fork.accept, fork.headers = (
            origin.request,
            origin.target,
            origin.accept,
            origin.headers,
        )
        fork.local_uri, fork.remote_uri = origin.local_uri, origin.remote_uri
        fork.unsubscribing = origin.unsubscribing
        fork.origin = origin
        return fork

    def _subscriber_dialog(self, rec: Subscription, notify: Request) -> Dialog | None:
        """RFC 6665 §4.4.1: the dialog a NOTIFY creates (route set as a UAS sees it)."""
        initial = rec.request
        assert initial is not None
        contact = contact_target(notify)
        if contact is None:
            return None
        try:
            route_set = route_set_from(notify.record_routes, reverse=False)
        except RemoteProtocolError:
            return None
        d = Dialog(
            role="uac",
            call_id=initial.call_id,
            local_tag=initial.from_.tag or "",
            remote_tag=notify.from_.tag or "",
            local_uri=rec.local_uri,
            remote_uri=rec.remote_uri,
            local_contact=initial.headers.get("contact") or self._subs.ctx.contact,
            remote_target=contact,
            route_set=route_set,
            local_cseq=initial.cseq.seq,
            remote_cseq=notify.cseq.seq,
            state=DialogState.CONFIRMED,
            target=rec.target,
            secure=isinstance(initial.uri, SipURI) and initial.uri.secure,
        )
        d.invite_usage = False
        self._subs.dialogs.add(d)
        return d

    def on_notify(self, request: Request, txn: ServerTxn, d: Dialog | None) -> None:
        """A NOTIFY with a To tag: in dialog ``d``, or creating one (§4.4.1, §4.1.4 forks,
        §4.1.3)."""
        ctx = self._subs.ctx
        try:
            ev = parse_event(request.headers.get("event") or "")
            raw_state = request.headers.get("subscription-state")
            if raw_state is None:
                raise RemoteProtocolError("NOTIFY without Subscription-State", status_hint=400)
            ss = parse_subscription_state(raw_state)
        except RemoteProtocolError:
            ctx.reply(txn, request, 400, to_tag=d.local_tag if d is not None else None)
            return
        rec = self._find_for_notify(request, d, ev)
        if rec is None or rec.state is _S.TERMINATED:
            # §4.1.3: no such subscription
            ctx.reply(txn, request, 481, to_tag=d.local_tag if d is not None else None)
            return
        appeared = rec.origin is not None and rec.dialog is None
        if rec.dialog is None:
            created = self._subscriber_dialog(rec, request)
            if created is None:
                if appeared:
                    self._subs.drop(rec)
                ctx.reply(txn, request, 400)  # no usable Contact (§8.1.1.8)
                return
            d = created
            self._subs.attach(d, rec)
        else:
            d = rec.dialog
            self._subs.dialogs.refresh_target(d, request)  # NOTIFY is a target refresh (§4.1.3)
        ctx.reply(txn, request, 200, to_tag=d.local_tag)
        rec.last_notify = request
        now = ctx.now
        inp = NOTIFY_INPUT.get(ss.state)
        if inp is _I.NOTIFY_TERMINATED:
            self._subs.move(rec, inp, ss.reason, None, request, ss.retry_after, appeared=appeared)
        else:
            if ss.expires is not None:
                self._subs.set_expiry(rec, ss.expires, now)
            elif rec.expires_at is None:
                # Leniency: §4.1.3 wants ``expires`` on active and pending; without it (and
                # before any 2xx) assume the duration asked for, so the subscription still ends.
                self._subs.set_expiry(rec, rec.expires, now)
            if inp is not None:
                self._subs.move(rec, inp, None, None, request, appeared=appeared)
            if _unsubscribe_due(rec):
                self._send_unsubscribe(rec)  # unsubscribe() came before any dialog
            self._subs.arm(rec)
        ctx.events.append(
            NotifyReceived(
                subscription=ClientSubscription(ctx.views, rec),
                request=request,
                state=_notify_state(ss, rec),
                reason=ss.reason,
                expires=ss.expires,
                retry_after=ss.retry_after,
            )
        )

    def fire(self, rec: Subscription) -> None:
        """A subscriber's alarm is due: Timer N (no NOTIFY after the 2xx), the expiry, or
        the refresh."""
        subs, now = self._subs, self._subs.ctx.now
        if rec.timer_n_at is not None and now >= rec.timer_n_at:
            rec.timer_n_at = None
            subs.close_fork_window(rec)
            if rec.unsubscribing:
                subs.move(rec, _I.UNSUBSCRIBED, "unsubscribed")
                return
            subs.move(rec, _I.TIMER_N, "timeout")
            if rec.state is _S.TERMINATED:
                return
        if rec.expires_at is not None and now >= rec.expires_at:
            subs.move(rec, _I.EXPIRED, "timeout")
            return
        if rec.refresh_at is not None and now >= rec.refresh_at:
            rec.refresh_at = None
            if rec.dialog is not None and not rec.refreshing:
                self._send_subscribe(rec, rec.expires)
        subs.arm(rec)


def _unsubscribe_due(rec: Subscription) -> bool:
    """unsubscribe() was asked, the Expires: 0 not sent yet, and it can go now."""
    return (
        rec.unsubscribing
        and rec.expires != 0
        and rec.dialog is not None
        and not rec.refreshing
        and rec.state is not _S.TERMINATED
    )


def _subscribe_headers(
    event: EventHeader, expires: int, accept: str | None
) -> list[tuple[str, str]]:
    """What every SUBSCRIBE of a subscription carries first: its Event (RFC 6665
    §8.2.1), the duration asked for (§4.1.2.1; 0 to un-subscribe, §4.1.2.3) and the
    Accept given to ``subscribe()``."""
    extra = [("Event", str(event)), ("Expires", str(expires))]
    if accept is not None:
        extra.append(("Accept", accept))
    return extra


def _notify_state(ss: SubState, rec: Subscription) -> SubscriptionState:
    try:
        return SubscriptionState(ss.state)
    except ValueError:
        return rec.state  # an extension value (§8.2.3): the state did not change


def _subscribe_args(event: str, expires: int, body: bytes, content_type: str | None) -> EventHeader:
    """The Event of a new subscription; bad arguments are misuse (DESIGN.md §4)."""
    if expires < 0:
        raise LocalProtocolError(f"expires must be >= 0, not {expires}")
    try:
        ev = parse_event(event)
    except RemoteProtocolError as exc:
        raise LocalProtocolError(f"bad event {event!r}: {exc}") from None
    if body and content_type is None:
        raise LocalProtocolError("a SUBSCRIBE body needs content_type= (the package's type)")
    return ev
