"""Subscriptions hosted by the UserAgent (RFC 6665), subscriber and notifier.

:class:`Subscriptions` owns every live subscription (by key), the initial SUBSCRIBEs
whose NOTIFYs may still create dialogs, and the subscription usages of each dialog
(RFC 5057). A subscription's state moves only through
:data:`~sipsans.dialog.subscription.SUBSCRIPTION_TABLE` (``Subscription.advance``).

Subscriber: ``ua.subscribe`` sends the SUBSCRIBE out of any dialog. The first
NOTIFY creates the dialog (RFC 6665 §4.4.1), so a forked SUBSCRIBE answered by
several notifiers makes one subscription (and dialog) per NOTIFY From tag; a 2xx
with no NOTIFY within Timer N (64*T1) ends it. It refreshes at
``max(g/2, g - 60 s)`` of a grant ``g`` (the 2xx's Expires, then each NOTIFY's
``expires``), un-subscribes with Expires: 0, answers every NOTIFY itself (481 when
it matches no subscription, §4.1.3) and reports ``NotifyReceived``.

Notifier: a SUBSCRIBE for a package in ``UAConfig.event_packages`` becomes
``IncomingSubscription`` (others get 489 with Allow-Events, §4.2.1.1); accepting
sends the 200 and at once the first NOTIFY (§4.2.1.2); refreshes are answered by
the UA with a NOTIFY of the current state; at expiry, or when un-subscribed, it
sends ``terminated;reason=timeout`` (§4.2.2).

What the UA sends on its own (refreshes, automatic NOTIFYs) is quiet: those
transactions' responses are consumed. Commands that return a ``ClientTxn``
(``notify``, ``terminate``, REFER) pass their responses on as usual.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from ..dialog.model import Dialog, contact_target, route_set_from, target_for
from ..dialog.state import DialogInput, DialogState
from ..dialog.subscription import (
    REFRESH_FAILURES,
    EventHeader,
    Subscription,
    SubscriptionInput,
    SubscriptionState,
    SubState,
    format_subscription_state,
    parse_event,
    parse_subscription_state,
)
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.fields import NameAddr, parse_name_addr
from ..message.model import Request, Response, make_request, make_response
from ..message.uri import URI, SipURI
from ..services.registrar import seconds_left
from ..services.registration import header_int, refresh_delay
from ..transaction.transport import ClientTxn, ServerTxn, Target
from .client import ClientSide, name_addr_arg
from .context import UAContext
from .dialogs import DialogTable
from .events import IncomingSubscription, NotifyReceived, SubscriptionStateChanged
from .handles import ClientSubscription, ServerSubscription
from .inbox import Inbox
from .records import Hdrs, Outgoing

__all__ = ["Subscriptions", "state_arg"]

_S = SubscriptionState
_I = SubscriptionInput
Role = Literal["subscriber", "notifier"]
UsageKey = tuple[Role, EventHeader]

#: A subscriber refreshes this many seconds before expiry (never before half-way).
REFRESH_MARGIN = 60.0

_BY_STATE = {
    "active": _I.NOTIFY_ACTIVE,
    "pending": _I.NOTIFY_PENDING,
    "terminated": _I.NOTIFY_TERMINATED,
}


class Subscriptions:
    """Every subscription of the UA, both roles (see the module docstring)."""

    __slots__ = (
        "_by_key",
        "_client",
        "_ctx",
        "_dialogs",
        "_forkable",
        "_inbox",
        "_keys",
        "_newest",
        "_usages",
    )

    def __init__(
        self, ctx: UAContext, dialogs: DialogTable, client: ClientSide, inbox: Inbox
    ) -> None:
        self._ctx = ctx
        self._dialogs = dialogs
        self._client = client
        self._inbox = inbox
        self._by_key: dict[int, Subscription] = {}
        self._keys = 0
        #: Our initial SUBSCRIBEs by (Call-ID, From tag): where NOTIFYs that create a
        #: dialog (forks included) find their subscription (RFC 6665 §4.1.4).
        self._forkable: dict[tuple[str, str], Subscription] = {}
        #: The subscription usages of each dialog (RFC 5057), by our role and Event.
        self._usages: dict[Dialog, dict[UsageKey, Subscription]] = {}
        #: The newest usage of each dialog, kept after it ended (``as_subscription()``).
        self._newest: dict[Dialog, Subscription] = {}
        dialogs.on_end(self._dialog_ended)

    def stats(self) -> dict[str, int]:
        return {"subscriptions": len(self._by_key), "subscribe_calls": len(self._forkable)}

    def all(self) -> list[ClientSubscription | ServerSubscription]:
        """Every live subscription, both roles (for a clean shutdown)."""
        views = self._ctx.views
        return [views.subscription(rec) for rec in self._by_key.values()]

    def newest(self, d: Dialog) -> Subscription | None:
        """The newest subscription usage of ``d``, live or ended."""
        return self._newest.get(d)

    def usage(self, d: Dialog, role: Role, event: EventHeader) -> Subscription | None:
        """The live usage of ``d`` for ``role`` and ``event``."""
        usages = self._usages.get(d)
        return usages.get((role, event)) if usages is not None else None

    def usages(self, d: Dialog) -> list[Subscription]:
        """The live subscription usages of ``d``."""
        usages = self._usages.get(d)
        return list(usages.values()) if usages is not None else []

    def has_usages(self, d: Dialog) -> bool:
        return d in self._usages

    # -- bookkeeping ------------------------------------------------------------------------

    def new_record(self, role: Role, event: EventHeader, expires: int) -> Subscription:
        self._keys += 1
        rec = Subscription(self._keys, role, event, expires=expires)
        self._by_key[rec.key] = rec
        return rec

    def move(  # noqa: PLR0917 - a table input and what to report with it
        self,
        rec: Subscription,
        inp: SubscriptionInput,
        reason: str | None = None,
        status: int | None = None,
        message: Request | Response | None = None,
        retry_after: int | None = None,
        *,
        appeared: bool = False,
    ) -> None:
        """Feed ``inp`` to the table; emit SubscriptionStateChanged when the state moved
        (or the subscription just ``appeared``); forget it once terminated."""
        previous = rec.state
        nxt = rec.advance(inp)
        if nxt is None:
            return
        if nxt is _S.TERMINATED:
            rec.reason, rec.status, rec.retry_after = reason, status, retry_after
        if nxt is not previous or appeared:
            self._ctx.events.append(
                SubscriptionStateChanged(
                    subscription=self._ctx.views.subscription(rec),
                    previous=None if appeared else previous,
                    state=nxt,
                    reason=reason,
                    retry_after=retry_after,
                    status=status,
                    message=message,
                )
            )
        if nxt is _S.TERMINATED:
            self._forget(rec)
        else:
            self.arm(rec)

    def attach(self, d: Dialog, rec: Subscription) -> None:
        """Make ``rec`` a usage of dialog ``d`` (RFC 5057)."""
        rec.dialog = d
        usages = self._usages.setdefault(d, {})
        if rec.usage_key not in usages:
            self._dialogs.hold(d)
        usages[rec.usage_key] = rec
        self._newest[d] = rec

    def detach(self, rec: Subscription) -> None:
        """``rec`` is no longer a usage of its dialog (a REFER retried under a new id)."""
        d = rec.dialog
        usages = self._usages.get(d) if d is not None else None
        if d is None or usages is None or usages.get(rec.usage_key) is not rec:
            return
        del usages[rec.usage_key]
        if not usages:
            del self._usages[d]
        self._dialogs.release(d)

    def _forget(self, rec: Subscription) -> None:
        self._by_key.pop(rec.key, None)
        rec.timer_n_at = rec.refresh_at = None
        self._close_fork_window(rec)
        d = rec.dialog
        if d is None:
            return
        self.detach(rec)
        if d not in self._usages:
            if not d.invite_usage:
                # A subscription-only dialog ends with its last usage (RFC 5057 §5).
                self._dialogs.change(d, DialogInput.USAGES_ENDED)
            if d.state is DialogState.TERMINATED:
                self._newest.pop(d, None)
            self._dialogs.release(d, 0)

    def _dialog_ended(self, d: Dialog, was_early: bool) -> None:
        if d not in self._usages:
            self._newest.pop(d, None)

    def _close_fork_window(self, rec: Subscription) -> None:
        request = rec.request
        if rec.role == "subscriber" and rec.origin is None and request is not None:
            key = (request.call_id, request.from_.tag or "")
            if self._forkable.get(key) is rec:
                del self._forkable[key]

    def arm(self, rec: Subscription) -> None:
        """Keep one alarm at the record's next deadline (stale ones do nothing)."""
        deadline = rec.next_deadline()
        if deadline is not None and deadline != rec.alarm_at:
            rec.alarm_at = deadline
            self._ctx.alarms.at(deadline, self._fire, rec)

    def set_expiry(self, rec: Subscription, seconds: int, now: float) -> None:
        rec.expires_at = now + seconds
        if rec.role == "subscriber" and not rec.implicit and not rec.unsubscribing:
            rec.refresh_at = now + refresh_delay(seconds, REFRESH_MARGIN)
        else:
            rec.refresh_at = None

    def _timer_n(self) -> float:
        return 64 * self._ctx.endpoint.config.t1

    def _fire(self, rec: Subscription, at: float) -> None:
        """The alarm of ``rec`` is due: Timer N, expiry or refresh."""
        if self._by_key.get(rec.key) is not rec or rec.alarm_at != at:
            return
        rec.alarm_at = None
        now = self._ctx.now
        if rec.timer_n_at is not None and now >= rec.timer_n_at:
            rec.timer_n_at = None
            self._close_fork_window(rec)
            if rec.unsubscribing:
                self.move(rec, _I.UNSUBSCRIBED, "unsubscribed")
                return
            self.move(rec, _I.TIMER_N, "timeout")
            if rec.state is _S.TERMINATED:
                return
        if rec.expires_at is not None and now >= rec.expires_at:
            if rec.role == "notifier":
                self.send_notify(rec, state=_S.TERMINATED, reason="timeout", quiet=True)
            else:
                self.move(rec, _I.EXPIRED, "timeout")
            return
        if rec.refresh_at is not None and now >= rec.refresh_at:
            rec.refresh_at = None
            if rec.dialog is not None and not rec.refreshing:
                self._send_subscribe(rec, rec.expires)
        self.arm(rec)

    # -- subscriber ---------------------------------------------------------------------------

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
        now: float,
    ) -> ClientSubscription:
        """Subscribe to ``event`` (``"presence"``, ``"dialog;id=7"``, ...) of ``to``
        (RFC 6665 §4.1.2). The request goes to ``target``, else to the first Route in
        ``headers``, else to the To URI's host, port and ``transport=``.

        The UA refreshes before expiry and reports ``SubscriptionStateChanged`` and
        ``NotifyReceived``; every NOTIFY From tag of a forked SUBSCRIBE becomes its
        own subscription. ``expires=0`` fetches the state once."""
        ctx = self._ctx
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
        if target is None:
            hop = parse_name_addr(routes[0], header="Route").uri if routes else ruri
            target = target_for(hop)
        extra: list[tuple[str, str]] = [("Event", str(ev)), ("Expires", str(expires))]
        if accept is not None:
            extra.append(("Accept", accept))
        extra += [("Allow", ctx.allow_value), *ctx.common, *hdrs]
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
        rec = self.new_record("subscriber", ev, expires)
        rec.request, rec.target = request, fixed
        rec.local_uri, rec.remote_uri = str(local), str(remote)
        rec.accept, rec.headers = accept, hdrs
        rec.unsubscribing = expires == 0  # a fetch: one NOTIFY, then terminated
        self._forkable[(request.call_id, request.from_.tag or "")] = rec
        out = Outgoing(None, request, target, ClientTxn(0), body, content_type, hdrs)
        out.sub = rec
        out.on_final, out.on_retry, out.quiet = self._on_final, self._on_retry, True
        self._client.send_out_of_dialog(request, target, out)
        rec.refreshing = True
        ctx.drain()
        return ClientSubscription(ctx.views, rec)

    def subscribe_in(
        self,
        d: Dialog,
        event: str,
        *,
        expires: int = 3600,
        accept: str | None = None,
        headers: Hdrs = (),
        body: bytes = b"",
        content_type: str | None = None,
        now: float,
    ) -> ClientSubscription:
        """Send an initial SUBSCRIBE within the existing dialog ``d`` (RFC 6665 §4.1.2.1,
        dialog reuse §4.5.2, RFC 5057): the subscription is a usage of ``d`` at once, so its
        NOTIFYs match it (§4.1.3) even when one overtakes the 2xx."""
        ctx = self._ctx
        ctx.advance(now)
        ev = _subscribe_args(event, expires, body, content_type)
        if d.state is not DialogState.CONFIRMED:
            raise LocalProtocolError(
                f"a SUBSCRIBE within a dialog needs a confirmed one; {d.id} is {d.state.value}"
            )
        if self.usage(d, "subscriber", ev) is not None:
            # §4.1.2.1 / §8.2.1: Event package and id name the subscription within the dialog.
            raise LocalProtocolError(
                f"dialog {d.id} already has a subscription to {ev}; give it another id= "
                "(e.g. 'presence;id=2') or refresh() the existing one"
            )
        rec = self.new_record("subscriber", ev, expires)
        rec.accept = accept
        rec.headers = tuple(h for h in headers if h[0].lower() != "route")  # the dialog routes
        rec.unsubscribing = expires == 0  # a fetch: one NOTIFY, then terminated
        self.attach(d, rec)
        extra: list[tuple[str, str]] = [("Event", str(ev)), ("Expires", str(expires))]
        if accept is not None:
            extra.append(("Accept", accept))
        extra += rec.headers
        txn, _ = self._client.send(
            d,
            "SUBSCRIBE",
            body=body or None,
            content_type=content_type if body else None,
            headers=tuple(extra),
        )
        out = self._client.outgoing(txn)
        out.sub, out.on_final, out.quiet = rec, self._on_final, True
        rec.request = out.request
        rec.refreshing = True
        ctx.drain()
        return ClientSubscription(ctx.views, rec)

    def _send_subscribe(self, rec: Subscription, expires: int) -> None:
        """A SUBSCRIBE within the subscription's dialog: refresh, or Expires: 0 (§4.1.2.2-3)."""
        d = rec.dialog
        assert d is not None
        extra: list[tuple[str, str]] = [("Event", str(rec.event)), ("Expires", str(expires))]
        if rec.accept is not None:
            extra.append(("Accept", rec.accept))
        extra += [h for h in rec.headers if h[0].lower() != "route"]
        txn, _ = self._client.send(d, "SUBSCRIBE", headers=tuple(extra))
        out = self._client.outgoing(txn)
        out.sub, out.on_final, out.quiet = rec, self._on_final, True
        rec.refreshing = True

    def refresh(self, rec: Subscription, expires: int | None, now: float) -> None:
        ctx = self._ctx
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
        ctx = self._ctx
        ctx.advance(now)
        if rec.role != "subscriber":
            raise LocalProtocolError("unsubscribe() is for subscribers; a notifier terminate()s")
        if rec.state is _S.TERMINATED or rec.unsubscribing:
            return
        rec.unsubscribing = True
        rec.refresh_at = None
        if rec.implicit:
            self.move(rec, _I.UNSUBSCRIBED, "unsubscribed")  # nothing to send for a REFER's
        else:
            if _unsubscribe_due(rec):
                self._send_unsubscribe(rec)
            self.arm(rec)
        ctx.drain()

    def _send_unsubscribe(self, rec: Subscription) -> None:
        rec.expires = 0
        self._send_subscribe(rec, 0)

    def _on_retry(self, out: Outgoing) -> None:
        """The initial SUBSCRIBE was sent again with credentials: its CSeq grew."""
        if out.sub is not None and out.dialog is None:
            out.sub.request = out.request

    def _on_final(self, out: Outgoing, code: int, resp: Response | None) -> None:
        """The final outcome of a SUBSCRIBE, REFER or NOTIFY of subscription ``out.sub``
        (``resp`` is None for a timeout, 408, or a transport failure, 503)."""
        rec = out.sub
        assert rec is not None
        if rec.state is _S.TERMINATED:
            return
        method = out.request.method
        now = self._ctx.now
        ok = 200 <= code < 300
        if method == "NOTIFY":
            # §4.2.2: a failed NOTIFY ends the subscription (481 above all, and Timer F),
            # but not a 5xx or 491: those are transient, e.g. the 500 a NOTIFY gets when a
            # later one overtook it and the CSeq went backwards (RFC 3261 §12.2.2).
            transient = resp is not None and (code >= 500 or code == 491)
            if not ok and not transient:
                self.move(rec, _I.NOTIFY_FAILED, "notify failed", code, resp)
            return
        retry = header_int(resp, "Retry-After") if resp is not None else None
        if method == "REFER":
            if not ok:
                self.move(rec, _I.REJECTED, "rejected", code, resp, retry)
            elif (
                resp is not None
                and (resp.headers.get("refer-sub") or "").strip().lower() == "false"
            ):
                # RFC 4488 §4: the recipient accepted without an implicit subscription.
                self.move(rec, _I.REJECTED, "norefersub", code, resp)
            elif rec.state is _S.NOTIFY_WAIT:
                rec.timer_n_at = now + self._timer_n()
                self.move(rec, _I.ACCEPTED, None, code, resp)
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
                rec.timer_n_at = now + self._timer_n()  # the final NOTIFY should follow
            else:
                self.set_expiry(rec, granted, now)
                if initial:
                    rec.timer_n_at = now + self._timer_n()  # Timer N, and the window for forks
                self.move(rec, _I.ACCEPTED, None, code, resp)
            if _unsubscribe_due(rec):
                self._send_unsubscribe(rec)  # unsubscribe() came while this was pending
            self.arm(rec)
            return
        if rec.unsubscribing and (not initial or rec.state is not _S.NOTIFY_WAIT):
            # The un-SUBSCRIBE failed, or the SUBSCRIBE it waited for did: we wanted out
            # anyway, and the notifier forgets us at expiry (§4.2.2).
            self.move(rec, _I.UNSUBSCRIBED, "unsubscribed", code, resp)
        elif initial:
            if rec.state is _S.NOTIFY_WAIT:
                self.move(rec, _I.REJECTED, "rejected", code, resp, retry)
            self._close_fork_window(rec)
        elif code in REFRESH_FAILURES:
            self.move(rec, _I.REFRESH_REJECTED, "rejected", code, resp, retry)
        # Any other failure of a refresh: the subscription lasts until it expires (§4.1.2.2).

    def _find_for_notify(
        self, request: Request, d: Dialog | None, ev: EventHeader
    ) -> Subscription | None:
        if d is not None:
            rec = self.usage(d, "subscriber", ev)
            if rec is None and ev.package == "refer" and ev.id is None:
                # Leniency: RFC 3515 §2.4.6 peers that omit the id when only one REFER
                # is outstanding in the dialog.
                refers = [
                    r
                    for r in self.usages(d)
                    if r.role == "subscriber" and r.event.package == "refer"
                ]
                rec = refers[0] if len(refers) == 1 else None
            return rec
        origin = self._forkable.get((request.call_id, request.to.tag or ""))
        if origin is None or origin.event != ev:
            return None
        if origin.dialog is None:
            return origin
        asked = header_int(origin.request, "Expires") if origin.request is not None else None
        fork = self.new_record(
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
            local_contact=initial.headers.get("contact") or self._ctx.contact,
            remote_target=contact,
            route_set=route_set,
            local_cseq=initial.cseq.seq,
            remote_cseq=notify.cseq.seq,
            state=DialogState.CONFIRMED,
            target=rec.target,
            secure=isinstance(initial.uri, SipURI) and initial.uri.secure,
        )
        d.invite_usage = False
        self._dialogs.add(d)
        return d

    def on_notify(self, request: Request, txn: ServerTxn, d: Dialog | None) -> None:
        """A NOTIFY with a To tag: in dialog ``d``, or creating one (§4.4.1, §4.1.4 forks,
        §4.1.3)."""
        ctx = self._ctx
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
                    self._by_key.pop(rec.key, None)
                ctx.reply(txn, request, 400)  # no usable Contact (§8.1.1.8)
                return
            d = created
            self.attach(d, rec)
        else:
            d = rec.dialog
            d.refresh_target(request)  # NOTIFY is a target refresh (§4.1.3)
        ctx.reply(txn, request, 200, to_tag=d.local_tag)
        rec.last_notify = request
        now = ctx.now
        inp = _BY_STATE.get(ss.state)
        if inp is _I.NOTIFY_TERMINATED:
            self.move(rec, inp, ss.reason, None, request, ss.retry_after, appeared=appeared)
        else:
            if ss.expires is not None:
                self.set_expiry(rec, ss.expires, now)
            elif rec.expires_at is None:
                # Leniency: §4.1.3 wants ``expires`` on active and pending; without it (and
                # before any 2xx) assume the duration asked for, so the subscription still ends.
                self.set_expiry(rec, rec.expires, now)
            if inp is not None:
                self.move(rec, inp, None, None, request, appeared=appeared)
            if _unsubscribe_due(rec):
                self._send_unsubscribe(rec)  # unsubscribe() came before any dialog
            self.arm(rec)
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

    # -- notifier ---------------------------------------------------------------------------

    def on_subscribe(self, request: Request, txn: ServerTxn, d: Dialog | None) -> None:
        """A SUBSCRIBE: a refresh or un-subscribe of one of ours, or a new subscription."""
        ctx = self._ctx
        tag = d.local_tag if d is not None else None
        try:
            ev = parse_event(request.headers.get("event") or "")
        except RemoteProtocolError:
            ctx.reply(txn, request, 400, to_tag=tag)  # §8.2.1: Event is mandatory
            return
        requested = header_int(request, "Expires")
        if d is not None:
            rec = self.usage(d, "notifier", ev)
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
        rec = self.new_record("notifier", ev, cap if requested is None else min(requested, cap))
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
        ctx = self._ctx
        d = rec.dialog
        assert d is not None
        if rec.state is _S.TERMINATED or rec.txn:
            ctx.reply(txn, request, 481 if rec.txn == 0 else 500, to_tag=d.local_tag)
            return
        granted = (
            rec.expires if requested is None else min(requested, ctx.config.subscription_expires)
        )
        d.refresh_target(request)
        hdrs = (("Contact", d.local_contact), ("Expires", str(granted)), *ctx.common)
        ctx.reply(txn, request, 200, hdrs, to_tag=d.local_tag)
        if granted == 0:
            self.send_notify(rec, state=_S.TERMINATED, reason="timeout", quiet=True)
            return
        rec.expires = granted
        self.set_expiry(rec, granted, ctx.now)
        self.send_notify(rec, quiet=True)

    def accept(
        self,
        rec: Subscription,
        *,
        state: SubscriptionState | str = SubscriptionState.ACTIVE,
        body: bytes = b"",
        content_type: str | None = None,
        expires: int | None = None,
        headers: Hdrs = (),
        now: float,
    ) -> None:
        """200 to the SUBSCRIBE, then the first NOTIFY (§4.2.1.2)."""
        ctx = self._ctx
        ctx.advance(now)
        self.answer_accept(
            rec, state=state, body=body, content_type=content_type, expires=expires, headers=headers
        )
        ctx.drain()

    def answer_accept(
        self,
        rec: Subscription,
        *,
        state: SubscriptionState | str = SubscriptionState.ACTIVE,
        body: bytes = b"",
        content_type: str | None = None,
        expires: int | None = None,
        headers: Hdrs = (),
    ) -> None:
        """:meth:`accept` without the clock and the drain (for ``ua.respond``)."""
        ctx = self._ctx
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
        if body and content_type is None:
            raise LocalProtocolError("a NOTIFY body needs content_type= (the package's type)")
        self._inbox.take(rec.txn)
        request = pending.request
        granted = rec.expires if expires is None else max(0, min(expires, rec.expires))
        d = rec.dialog
        new = d is None
        if d is None:
            d = self._notifier_dialog(request)
        self.attach(d, rec)
        hdrs: list[tuple[str, str]] = []
        if new:
            # §12.1.1: a dialog-creating 2xx copies the Record-Route.
            hdrs += [("Record-Route", v) for v in request.headers.get_all("record-route")]
        hdrs += [("Contact", d.local_contact), ("Expires", str(granted)), *ctx.common]
        response = make_response(request, 200, to_tag=d.local_tag, headers=[*hdrs, *headers])
        ctx.endpoint.send_response(ServerTxn(rec.txn), response, now=ctx.now)
        rec.txn = 0
        rec.expires = granted
        rec.body, rec.content_type = body, content_type
        self.set_expiry(rec, granted, ctx.now)
        if granted == 0:  # a fetch (§4.2.1.2): one NOTIFY with the state, then the end
            self.send_notify(rec, state=_S.TERMINATED, reason="timeout", quiet=True)
        else:
            self.send_notify(rec, state=first, quiet=True)

    def _notifier_dialog(self, request: Request) -> Dialog:
        """§12.1.1 for the dialog our 2xx to an out-of-dialog SUBSCRIBE creates."""
        ctx = self._ctx
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
        self._dialogs.add(d)
        return d

    def reject(
        self,
        rec: Subscription,
        status: int,
        *,
        reason: str | None = None,
        headers: Hdrs = (),
        now: float,
    ) -> None:
        """A final 3xx-6xx to the SUBSCRIBE."""
        ctx = self._ctx
        ctx.advance(now)
        self.answer_reject(rec, status, reason=reason, headers=headers)
        ctx.drain()

    def answer_reject(
        self, rec: Subscription, status: int, *, reason: str | None = None, headers: Hdrs = ()
    ) -> None:
        """:meth:`reject` without the clock and the drain (for ``ua.respond``)."""
        ctx = self._ctx
        pending = self._inbox.take(rec.txn) if rec.txn else None
        if pending is None:
            raise LocalProtocolError(
                f"{ctx.views.subscription(rec)!r} has no SUBSCRIBE waiting for an answer"
            )
        d = rec.dialog
        response = make_response(
            pending.request,
            status,
            reason,
            to_tag=d.local_tag if d is not None else ctx.new_tag(),
            headers=[*ctx.common, *headers],
        )
        ctx.endpoint.send_response(ServerTxn(rec.txn), response, now=ctx.now)
        rec.txn = 0
        rec.dialog = None  # an in-dialog SUBSCRIBE refused leaves the dialog's usages alone
        self.move(rec, _I.REJECTED, "rejected", status, response)

    def abandon(self, rec: Subscription) -> None:
        """The SUBSCRIBE awaiting the application's answer lost its transaction."""
        rec.txn = 0
        rec.dialog = None
        self.move(rec, _I.REJECTED, "timeout")

    def notify(
        self,
        rec: Subscription,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        state: SubscriptionState | str | None = None,
        reason: str | None = None,
        retry_after: int | None = None,
        headers: Hdrs = (),
        now: float,
    ) -> ClientTxn:
        """The application's NOTIFY (``notify()``, ``terminate()``, ``notify_refer()``)."""
        ctx = self._ctx
        ctx.advance(now)
        if rec.role != "notifier":
            raise LocalProtocolError("only the notifier sends NOTIFY; a subscriber refresh()es")
        if rec.state is _S.TERMINATED:
            raise LocalProtocolError(
                f"{ctx.views.subscription(rec)!r} is terminated: no more NOTIFYs (§4.2.2)"
            )
        if rec.txn or rec.dialog is None:
            raise LocalProtocolError("accept() the SUBSCRIBE before sending NOTIFYs")
        if body and content_type is None and rec.content_type is None:
            raise LocalProtocolError("a NOTIFY body needs content_type= (the package's type)")
        new = state_arg(state) if state is not None else None
        txn = self.send_notify(
            rec,
            body=body,
            content_type=content_type,
            state=new,
            reason=reason,
            retry_after=retry_after,
            headers=headers,
            quiet=False,
        )
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
        retry_after: int | None = None,
        headers: Hdrs = (),
        quiet: bool,
    ) -> ClientTxn:
        """Send a NOTIFY carrying ``state`` (default: the current one) and the last body
        given (§4.2.2); ``quiet`` for those the UA sends on its own."""
        d = rec.dialog
        assert d is not None
        if body is not None:
            rec.body = body
            if content_type is not None:
                rec.content_type = content_type
        new = state if state is not None else rec.state
        if new is _S.NOTIFY_WAIT:
            new = _S.PENDING
        now = self._ctx.now
        remaining = seconds_left(rec.expires_at, now) if rec.expires_at is not None else None
        value = format_subscription_state(
            new, expires=remaining, reason=reason, retry_after=retry_after
        )
        hdrs = (("Event", str(rec.event)), ("Subscription-State", value), *headers)
        txn, origin = self._client.send(
            d,
            "NOTIFY",
            body=rec.body or None,
            content_type=rec.content_type if rec.body else None,
            headers=hdrs,
        )
        out = self._client.outgoing(txn)
        out.sub, out.on_final, out.quiet = rec, self._on_final, quiet
        self.move(
            rec,
            _BY_STATE[new.value],
            reason,
            None,
            out.request,
            retry_after,
            appeared=rec.implicit and rec.state is _S.NOTIFY_WAIT,
        )
        return origin

    def on_final(self, out: Outgoing, code: int, resp: Response | None) -> None:
        """The final outcome of a request sent for a subscription (for the REFER part)."""
        self._on_final(out, code, resp)


# -- helpers -----------------------------------------------------------------------------


def _unsubscribe_due(rec: Subscription) -> bool:
    """unsubscribe() was asked, the Expires: 0 not sent yet, and it can go now."""
    return (
        rec.unsubscribing
        and rec.expires != 0
        and rec.dialog is not None
        and not rec.refreshing
        and rec.state is not _S.TERMINATED
    )


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


def state_arg(state: SubscriptionState | str) -> SubscriptionState:
    """A subscription state the caller passed: active, pending or terminated."""
    try:
        value = state if isinstance(state, SubscriptionState) else SubscriptionState(state)
    except ValueError:
        value = None
    if value is None or value is _S.NOTIFY_WAIT:
        raise LocalProtocolError(f"state must be active, pending or terminated, not {state!r}")
    return value
