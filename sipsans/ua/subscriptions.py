"""Subscriptions hosted by the UserAgent (RFC 6665), subscriber and notifier.

Functions over a :class:`~sipsans.ua.UserAgent`; the state lives there
(``ua._subs``, the dialogs' ``subs``) and in :class:`Subscription` records, whose
states move only through :data:`~sipsans.dialog.subscription.SUBSCRIPTION_TABLE`.

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

import math
from typing import TYPE_CHECKING, Literal

from ..dialog.model import Dialog, route_set_from, target_for
from ..dialog.state import DialogState
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
    transition,
)
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.fields import NameAddr, parse_name_addr
from ..message.model import Request, Response, make_request, make_response
from ..message.uri import URI, SipURI
from ..services.registration import header_int, refresh_delay
from ..transaction.transport import ClientTxn, ServerTxn, Target
from . import client as ua_client
from .events import IncomingSubscription, NotifyReceived, SubscriptionStateChanged
from .handles import ClientSubscription, ServerSubscription
from .records import Hdrs, _In, _Out

if TYPE_CHECKING:
    from .agent import UserAgent

__all__ = [
    "abandon",
    "accept",
    "arm",
    "attach",
    "fire",
    "move",
    "name_addr",
    "new_record",
    "notify",
    "on_final",
    "on_notify",
    "on_subscribe",
    "refresh",
    "reject",
    "send_notify",
    "send_subscribe",
    "set_expiry",
    "state_arg",
    "subscribe",
    "subscribe_in",
    "unsubscribe",
    "view",
]

_S = SubscriptionState
_I = SubscriptionInput
Role = Literal["subscriber", "notifier"]

#: A subscriber refreshes this many seconds before expiry (never before half-way).
REFRESH_MARGIN = 60.0

_BY_STATE = {
    "active": _I.NOTIFY_ACTIVE,
    "pending": _I.NOTIFY_PENDING,
    "terminated": _I.NOTIFY_TERMINATED,
}


# -- bookkeeping ------------------------------------------------------------------------


def view(ua: UserAgent, rec: Subscription) -> ClientSubscription | ServerSubscription:
    return ClientSubscription(ua, rec) if rec.role == "subscriber" else ServerSubscription(ua, rec)


def new_record(ua: UserAgent, role: Role, event: EventHeader, expires: int) -> Subscription:
    rec = Subscription(next(ua._sub_keys), role, event, expires=expires)
    ua._subs[rec.key] = rec
    return rec


def move(  # noqa: PLR0917 - internal command plumbing
    ua: UserAgent,
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
    nxt = transition(rec.state, inp)
    if nxt is None:
        return
    previous = rec.state
    rec.state = nxt
    if nxt is _S.TERMINATED:
        rec.reason, rec.status, rec.retry_after = reason, status, retry_after
    if nxt is not previous or appeared:
        ua._emit(
            SubscriptionStateChanged(
                subscription=view(ua, rec),
                previous=None if appeared else previous,
                state=nxt,
                reason=reason,
                retry_after=retry_after,
                status=status,
                message=message,
            )
        )
    if nxt is _S.TERMINATED:
        _forget(ua, rec)
    else:
        arm(ua, rec)


def attach(d: Dialog, rec: Subscription) -> None:
    """Make ``rec`` a usage of dialog ``d`` (RFC 5057)."""
    rec.dialog = d
    d.subs[rec.usage_key] = rec
    d.last_sub = rec


def _forget(ua: UserAgent, rec: Subscription) -> None:
    ua._subs.pop(rec.key, None)
    rec.timer_n_at = rec.refresh_at = None
    _close_fork_window(ua, rec)
    d = rec.dialog
    if d is not None and d.subs.get(rec.usage_key) is rec:
        del d.subs[rec.usage_key]
        if not d.subs and not d.invite_usage:
            d.state = DialogState.TERMINATED  # a subscription-only dialog ends with its last usage
        ua._maybe_free(d)


def _close_fork_window(ua: UserAgent, rec: Subscription) -> None:
    request = rec.request
    if rec.role == "subscriber" and rec.origin is None and request is not None:
        key = (request.call_id, request.from_.tag or "")
        if ua._sub_calls.get(key) is rec:
            del ua._sub_calls[key]


def arm(ua: UserAgent, rec: Subscription) -> None:
    """Keep one UA timer at the record's next deadline (stale ones do nothing)."""
    deadline = rec.next_deadline()
    if deadline is not None and deadline != rec._armed:
        rec._armed = deadline
        ua._at(deadline, "subscription", rec.key)


def set_expiry(ua: UserAgent, rec: Subscription, seconds: int, now: float) -> None:
    rec.expires_at = now + seconds
    if rec.role == "subscriber" and not rec.implicit and not rec.unsubscribing:
        rec.refresh_at = now + refresh_delay(seconds, REFRESH_MARGIN)
    else:
        rec.refresh_at = None


def _timer_n(ua: UserAgent) -> float:
    return 64 * ua.endpoint.config.t1


def fire(ua: UserAgent, key: int, at: float) -> None:
    """The UA timer of subscription ``key`` is due: Timer N, expiry or refresh."""
    rec = ua._subs.get(key)
    if rec is None or rec._armed != at:
        return
    rec._armed = None
    now = ua._now
    if rec.timer_n_at is not None and now >= rec.timer_n_at:
        rec.timer_n_at = None
        _close_fork_window(ua, rec)
        if rec.unsubscribing:
            move(ua, rec, _I.UNSUBSCRIBED, "unsubscribed")
            return
        move(ua, rec, _I.TIMER_N, "timeout")
        if rec.state is _S.TERMINATED:
            return
    if rec.expires_at is not None and now >= rec.expires_at:
        if rec.role == "notifier":
            notify(ua, rec, None, None, _S.TERMINATED, "timeout", None, (), now, quiet=True)
        else:
            move(ua, rec, _I.EXPIRED, "timeout")
        return
    if rec.refresh_at is not None and now >= rec.refresh_at:
        rec.refresh_at = None
        if rec.dialog is not None and not rec.refreshing:
            send_subscribe(ua, rec, rec.expires, now)
    arm(ua, rec)


# -- subscriber ---------------------------------------------------------------------------


def name_addr(value: str | NameAddr | URI, header: str) -> NameAddr:
    """A caller's address argument as a NameAddr (LocalProtocolError if unreadable)."""
    if isinstance(value, NameAddr):
        return value
    if isinstance(value, str):
        try:
            addr = parse_name_addr(value, header=header)
            addr.uri  # noqa: B018 - parsed lazily; a bad argument is misuse (DESIGN.md §4)
        except RemoteProtocolError as exc:
            raise LocalProtocolError(f"invalid {header} argument {value!r}: {exc}") from None
        return addr
    return NameAddr(value)


def subscribe(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
    ua: UserAgent,
    to: str | NameAddr | URI,
    event: str,
    expires: int,
    accept: str | None,
    headers: Hdrs,
    body: bytes,
    content_type: str | None,
    from_: str | NameAddr | None,
    target: Target | None,
    now: float,
) -> ClientSubscription:
    """Send an initial SUBSCRIBE out of any dialog (RFC 6665 §4.1.2.1)."""
    ev = _subscribe_args(event, expires, body, content_type)
    to_addr = name_addr(to, "To")
    ruri = to_addr.uri
    if isinstance(ruri, SipURI):
        ruri = ruri.without_headers()
    local = ua.identity if from_ is None else name_addr(from_, "From")
    local = local.replace(params=tuple(p for p in local.params if p[0].lower() != "tag"))
    remote = to_addr.replace(params=tuple(p for p in to_addr.params if p[0].lower() != "tag"))
    routes = [v for k, v in headers if k.lower() == "route"]
    fixed = target
    if target is None:
        hop = parse_name_addr(routes[0], header="Route").uri if routes else ruri
        target = target_for(hop)
    call_id = f"{ua._rng.getrandbits(96):024x}@{ua.endpoint.config.advertised_host}"
    extra: list[tuple[str, str]] = [("Event", str(ev)), ("Expires", str(expires))]
    if accept is not None:
        extra.append(("Accept", accept))
    extra += [("Allow", ua._allow_value), *ua._common, *headers]
    request = make_request(
        "SUBSCRIBE",
        ruri,
        from_=str(local.with_tag(ua._new_tag())),
        to=str(remote),
        call_id=call_id,
        cseq=ua._rng.randrange(1, 2**15),
        contact=ua._local_contact(target.transport),
        headers=extra,
        body=body,
        content_type=content_type if body else None,
    )
    rec = new_record(ua, "subscriber", ev, expires)
    rec.request, rec.target = request, fixed
    rec.local_uri, rec.remote_uri = str(local), str(remote)
    rec.accept, rec.headers = accept, headers
    rec.unsubscribing = expires == 0  # a fetch: one NOTIFY, then terminated
    ua._sub_calls[(call_id, request.from_.tag or "")] = rec
    txn = ua.endpoint.send_request(request, target=target, now=now)
    out = _Out(None, request, target, txn, body, content_type, headers)
    out.sub, out.quiet, out.live = rec, True, 1
    ua._out[txn.id] = out
    rec.refreshing = True
    return ClientSubscription(ua, rec)


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


def subscribe_in(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
    ua: UserAgent,
    d: Dialog,
    event: str,
    expires: int,
    accept: str | None,
    headers: Hdrs,
    body: bytes,
    content_type: str | None,
    now: float,
) -> ClientSubscription:
    """Send an initial SUBSCRIBE within the existing dialog ``d`` (RFC 6665 §4.1.2.1,
    dialog reuse §4.5.2, RFC 5057): the subscription is a usage of ``d`` at once, so its
    NOTIFYs match it (§4.1.3) even when one overtakes the 2xx."""
    ev = _subscribe_args(event, expires, body, content_type)
    if d.state is not DialogState.CONFIRMED:
        raise LocalProtocolError(
            f"a SUBSCRIBE within a dialog needs a confirmed one; {d.id} is {d.state.value}"
        )
    if ("subscriber", ev) in d.subs:
        # §4.1.2.1 / §8.2.1: Event package and id name the subscription within the dialog.
        raise LocalProtocolError(
            f"dialog {d.id} already has a subscription to {ev}; give it another id= "
            "(e.g. 'presence;id=2') or refresh() the existing one"
        )
    rec = new_record(ua, "subscriber", ev, expires)
    rec.accept = accept
    rec.headers = tuple(h for h in headers if h[0].lower() != "route")  # the dialog routes
    rec.unsubscribing = expires == 0  # a fetch: one NOTIFY, then terminated
    attach(d, rec)
    extra: list[tuple[str, str]] = [("Event", str(ev)), ("Expires", str(expires))]
    if accept is not None:
        extra.append(("Accept", accept))
    extra += rec.headers
    txn, _ = ua._send_in_dialog(
        d, "SUBSCRIBE", body or None, content_type if body else None, tuple(extra), now
    )
    out = ua._out[txn.id]
    out.sub, out.quiet = rec, True
    rec.request = out.request
    rec.refreshing = True
    return ClientSubscription(ua, rec)


def send_subscribe(ua: UserAgent, rec: Subscription, expires: int, now: float) -> None:
    """A SUBSCRIBE within the subscription's dialog: refresh, or Expires: 0 (§4.1.2.2-3)."""
    d = rec.dialog
    assert d is not None
    extra: list[tuple[str, str]] = [("Event", str(rec.event)), ("Expires", str(expires))]
    if rec.accept is not None:
        extra.append(("Accept", rec.accept))
    extra += [h for h in rec.headers if h[0].lower() != "route"]
    txn, _ = ua._send_in_dialog(d, "SUBSCRIBE", None, None, tuple(extra), now)
    out = ua._out[txn.id]
    out.sub, out.quiet = rec, True
    rec.refreshing = True


def refresh(ua: UserAgent, rec: Subscription, expires: int | None, now: float) -> None:
    if rec.role != "subscriber" or rec.state is _S.TERMINATED or rec.unsubscribing:
        raise LocalProtocolError(f"{view(ua, rec)!r} cannot be refreshed")
    if rec.implicit:
        raise LocalProtocolError("a REFER's implicit subscription is not refreshed (RFC 3515)")
    if rec.dialog is None:
        raise LocalProtocolError("no NOTIFY yet: the subscription has no dialog to refresh in")
    if rec.refreshing:
        raise LocalProtocolError("a SUBSCRIBE of this subscription is already in progress")
    if expires is not None:
        rec.expires = expires
    send_subscribe(ua, rec, rec.expires, now)


def unsubscribe(ua: UserAgent, rec: Subscription, now: float) -> None:
    """Expires: 0 (§4.1.2.3); the final NOTIFY (or Timer N after the 2xx) ends it.
    Before any NOTIFY there is no dialog yet: the un-SUBSCRIBE goes once one exists."""
    if rec.role != "subscriber":
        raise LocalProtocolError("unsubscribe() is for subscribers; a notifier terminate()s")
    if rec.state is _S.TERMINATED or rec.unsubscribing:
        return
    rec.unsubscribing = True
    rec.refresh_at = None
    if rec.implicit:
        move(ua, rec, _I.UNSUBSCRIBED, "unsubscribed")  # nothing to send for a REFER's
        return
    if _unsubscribe_due(rec):
        _send_unsubscribe(ua, rec, now)
    arm(ua, rec)


def _unsubscribe_due(rec: Subscription) -> bool:
    """unsubscribe() was asked, the Expires: 0 not sent yet, and it can go now."""
    return (
        rec.unsubscribing
        and rec.expires != 0
        and rec.dialog is not None
        and not rec.refreshing
        and rec.state is not _S.TERMINATED
    )


def _send_unsubscribe(ua: UserAgent, rec: Subscription, now: float) -> None:
    rec.expires = 0
    send_subscribe(ua, rec, 0, now)


def on_final(ua: UserAgent, out: _Out, code: int, resp: Response | None) -> None:
    """The final outcome of a SUBSCRIBE, REFER or NOTIFY of subscription ``out.sub``
    (``resp`` is None for a timeout, 408, or a transport failure, 503)."""
    rec = out.sub
    assert rec is not None
    if rec.state is _S.TERMINATED:
        return
    method = out.request.method
    now = ua._now
    ok = 200 <= code < 300
    if method == "NOTIFY":
        # §4.2.2: a failed NOTIFY ends the subscription (481 above all, and Timer F),
        # but not a 5xx or 491: those are transient, e.g. the 500 a NOTIFY gets when a
        # later one overtook it and the CSeq went backwards (RFC 3261 §12.2.2).
        transient = resp is not None and (code >= 500 or code == 491)
        if not ok and not transient:
            move(ua, rec, _I.NOTIFY_FAILED, "notify failed", code, resp)
        return
    retry = header_int(resp, "Retry-After") if resp is not None else None
    if method == "REFER":
        if not ok:
            move(ua, rec, _I.REJECTED, "rejected", code, resp, retry)
        elif resp is not None and (resp.headers.get("refer-sub") or "").strip().lower() == "false":
            # RFC 4488 §4: the recipient accepted without an implicit subscription.
            move(ua, rec, _I.REJECTED, "norefersub", code, resp)
        elif rec.state is _S.NOTIFY_WAIT:
            rec.timer_n_at = now + _timer_n(ua)
            move(ua, rec, _I.ACCEPTED, None, code, resp)
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
        granted = granted if granted is not None else asked if asked is not None else rec.expires
        if asked == 0:
            rec.timer_n_at = now + _timer_n(ua)  # the final NOTIFY should follow
        else:
            set_expiry(ua, rec, granted, now)
            if initial:
                rec.timer_n_at = now + _timer_n(ua)  # Timer N, and the window for forks
            move(ua, rec, _I.ACCEPTED, None, code, resp)
        if _unsubscribe_due(rec):
            _send_unsubscribe(ua, rec, now)  # unsubscribe() came while this was pending
        arm(ua, rec)
        return
    if rec.unsubscribing and (not initial or rec.state is not _S.NOTIFY_WAIT):
        # The un-SUBSCRIBE failed, or the SUBSCRIBE it waited for did: we wanted out
        # anyway, and the notifier forgets us at expiry (§4.2.2).
        move(ua, rec, _I.UNSUBSCRIBED, "unsubscribed", code, resp)
    elif initial:
        if rec.state is _S.NOTIFY_WAIT:
            move(ua, rec, _I.REJECTED, "rejected", code, resp, retry)
        _close_fork_window(ua, rec)
    elif code in REFRESH_FAILURES:
        move(ua, rec, _I.REFRESH_REJECTED, "rejected", code, resp, retry)
    # Any other failure of a refresh: the subscription lasts until it expires (§4.1.2.2).


def _find_for_notify(
    ua: UserAgent, request: Request, d: Dialog | None, ev: EventHeader
) -> Subscription | None:
    if d is not None:
        rec = d.subs.get(("subscriber", ev))
        if rec is None and ev.package == "refer" and ev.id is None:
            # Leniency: RFC 3515 §2.4.6 peers that omit the id when only one REFER
            # is outstanding in the dialog.
            refers = [
                r for r in d.subs.values() if r.role == "subscriber" and r.event.package == "refer"
            ]
            rec = refers[0] if len(refers) == 1 else None
        return rec
    origin = ua._sub_calls.get((request.call_id, request.to.tag or ""))
    if origin is None or origin.event != ev:
        return None
    if origin.dialog is None:
        return origin
    asked = header_int(origin.request, "Expires") if origin.request is not None else None
    fork = new_record(ua, "subscriber", origin.event, origin.expires if asked is None else asked)
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


def _subscriber_dialog(ua: UserAgent, rec: Subscription, notify: Request) -> Dialog | None:
    """RFC 6665 §4.4.1: the dialog a NOTIFY creates (route set as a UAS sees it)."""
    initial = rec.request
    assert initial is not None
    contact = ua_client._contact_uri(notify)
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
        local_contact=initial.headers.get("contact") or ua.contact,
        remote_target=contact,
        route_set=route_set,
        local_cseq=initial.cseq.seq,
        remote_cseq=notify.cseq.seq,
        state=DialogState.CONFIRMED,
        target=rec.target,
        secure=isinstance(initial.uri, SipURI) and initial.uri.secure,
    )
    d.invite_usage = False
    ua._dialogs[d.id] = d
    return d


def _reply(
    ua: UserAgent,
    txn: ServerTxn,
    request: Request,
    status: int,
    to_tag: str | None,
    *,
    hdrs: Hdrs = (),
) -> None:
    tag = to_tag if to_tag is not None else ua._new_tag()
    ua.endpoint.send_response(
        txn, make_response(request, status, to_tag=tag, headers=hdrs), now=ua._now
    )


def on_notify(ua: UserAgent, request: Request, txn: ServerTxn, d: Dialog | None) -> None:
    """A NOTIFY with a To tag: in dialog ``d``, or creating one (§4.4.1, §4.1.4 forks, §4.1.3)."""
    try:
        ev = parse_event(request.headers.get("event") or "")
        raw_state = request.headers.get("subscription-state")
        if raw_state is None:
            raise RemoteProtocolError("NOTIFY without Subscription-State", status_hint=400)
        ss = parse_subscription_state(raw_state)
    except RemoteProtocolError:
        _reply(ua, txn, request, 400, d.local_tag if d is not None else None)
        return
    rec = _find_for_notify(ua, request, d, ev)
    if rec is None or rec.state is _S.TERMINATED:
        _reply(ua, txn, request, 481, d.local_tag if d is not None else None)  # §4.1.3
        return
    appeared = rec.origin is not None and rec.dialog is None
    if rec.dialog is None:
        created = _subscriber_dialog(ua, rec, request)
        if created is None:
            if appeared:
                ua._subs.pop(rec.key, None)
            _reply(ua, txn, request, 400, None)  # no usable Contact (§8.1.1.8)
            return
        rec.dialog = d = created
        attach(d, rec)
    else:
        d = rec.dialog
        ua_client._refresh_target(d, request)  # NOTIFY is a target refresh (§4.1.3)
    _reply(ua, txn, request, 200, d.local_tag)
    rec.last_notify = request
    now = ua._now
    inp = _BY_STATE.get(ss.state)
    if inp is _I.NOTIFY_TERMINATED:
        move(ua, rec, inp, ss.reason, None, request, ss.retry_after, appeared=appeared)
    else:
        if ss.expires is not None:
            set_expiry(ua, rec, ss.expires, now)
        elif rec.expires_at is None:
            # Leniency: §4.1.3 wants ``expires`` on active and pending; without it (and
            # before any 2xx) assume the duration asked for, so the subscription still ends.
            set_expiry(ua, rec, rec.expires, now)
        if inp is not None:
            move(ua, rec, inp, None, None, request, appeared=appeared)
        if _unsubscribe_due(rec):
            _send_unsubscribe(ua, rec, now)  # unsubscribe() came before any dialog
        arm(ua, rec)
    ua._emit(
        NotifyReceived(
            subscription=ClientSubscription(ua, rec),
            request=request,
            state=_notify_state(ss, rec),
            reason=ss.reason,
            expires=ss.expires,
            retry_after=ss.retry_after,
        )
    )


def _notify_state(ss: SubState, rec: Subscription) -> SubscriptionState:
    try:
        return SubscriptionState(ss.state)
    except ValueError:
        return rec.state  # an extension value (§8.2.3): the state did not change


# -- notifier ---------------------------------------------------------------------------


def on_subscribe(ua: UserAgent, request: Request, txn: ServerTxn, d: Dialog | None) -> None:
    """A SUBSCRIBE: a refresh or un-subscribe of one of ours, or a new subscription."""
    tag = d.local_tag if d is not None else None
    try:
        ev = parse_event(request.headers.get("event") or "")
    except RemoteProtocolError:
        _reply(ua, txn, request, 400, tag)  # §8.2.1: Event is mandatory
        return
    requested = header_int(request, "Expires")
    if d is not None:
        rec = d.subs.get(("notifier", ev))
        if rec is not None:
            _refresh(ua, rec, request, txn, requested)
            return
    if ev.package not in ua.config.event_packages:
        allow = ", ".join(ua.config.event_packages)
        # §4.2.1.1: 489 Bad Event, listing what we do accept.
        _reply(ua, txn, request, 489, tag, hdrs=(("Allow-Events", allow),) if allow else ())
        return
    if d is None and ua_client._contact_uri(request) is None:
        _reply(ua, txn, request, 400, None)  # §4.1.2.1: the SUBSCRIBE creates a dialog
        return
    cap = ua.config.subscription_expires
    rec = new_record(ua, "notifier", ev, cap if requested is None else min(requested, cap))
    rec.request, rec.txn, rec.dialog = request, txn.id, d
    pending = ua._pending[txn.id] = _In(request, d, rec)
    ua._app_txns.add(txn.id)
    pending.timer = ua._at(ua._now + ua.config.answer_timeout, "answer", txn.id)
    ua._emit(
        IncomingSubscription(subscription=ServerSubscription(ua, rec), request=request, txn=txn)
    )


def _refresh(
    ua: UserAgent, rec: Subscription, request: Request, txn: ServerTxn, requested: int | None
) -> None:
    """§4.2.1.2: answer a refresh and send the current state at once; Expires: 0
    ends the subscription with ``terminated;reason=timeout`` (§4.2.1.4)."""
    d = rec.dialog
    assert d is not None
    if rec.state is _S.TERMINATED or rec.txn:
        _reply(ua, txn, request, 481 if rec.txn == 0 else 500, d.local_tag)
        return
    granted = rec.expires if requested is None else min(requested, ua.config.subscription_expires)
    ua_client._refresh_target(d, request)
    hdrs = (("Contact", d.local_contact), ("Expires", str(granted)), *ua._common)
    _reply(ua, txn, request, 200, d.local_tag, hdrs=hdrs)
    now = ua._now
    if granted == 0:
        notify(ua, rec, None, None, _S.TERMINATED, "timeout", None, (), now, quiet=True)
        return
    rec.expires = granted
    set_expiry(ua, rec, granted, now)
    notify(ua, rec, None, None, None, None, None, (), now, quiet=True)


def state_arg(state: SubscriptionState | str) -> SubscriptionState:
    try:
        value = state if isinstance(state, SubscriptionState) else SubscriptionState(state)
    except ValueError:
        value = None
    if value is None or value is _S.NOTIFY_WAIT:
        raise LocalProtocolError(f"state must be active, pending or terminated, not {state!r}")
    return value


def accept(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
    ua: UserAgent,
    rec: Subscription,
    state: SubscriptionState | str,
    body: bytes,
    content_type: str | None,
    expires: int | None,
    headers: Hdrs,
    now: float,
) -> None:
    """200 to the SUBSCRIBE, then the first NOTIFY (§4.2.1.2)."""
    pending = ua._pending.get(rec.txn) if rec.txn else None
    if pending is None or rec.role != "notifier":
        raise LocalProtocolError(f"{view(ua, rec)!r} has no SUBSCRIBE waiting for an answer")
    first = state_arg(state)
    if first is _S.TERMINATED:
        raise LocalProtocolError("accept() with state active or pending; use reject() to refuse")
    if body and content_type is None:
        raise LocalProtocolError("a NOTIFY body needs content_type= (the package's type)")
    ua._unpend(rec.txn)
    request = pending.request
    granted = rec.expires if expires is None else max(0, min(expires, rec.expires))
    d = rec.dialog
    new = d is None
    if d is None:
        d = _notifier_dialog(ua, request)
        rec.dialog = d
    attach(d, rec)
    hdrs: list[tuple[str, str]] = []
    if new:
        hdrs += [("Record-Route", v) for v in request.headers.get_all("record-route")]  # §12.1.1
    hdrs += [("Contact", d.local_contact), ("Expires", str(granted)), *ua._common]
    response = make_response(request, 200, to_tag=d.local_tag, headers=[*hdrs, *headers])
    ua.endpoint.send_response(ServerTxn(rec.txn), response, now=now)
    rec.txn = 0
    rec.expires = granted
    rec.body, rec.content_type = body, content_type
    set_expiry(ua, rec, granted, now)
    if granted == 0:  # a fetch (§4.2.1.2): one NOTIFY with the state, then the end
        notify(ua, rec, None, None, _S.TERMINATED, "timeout", None, (), now, quiet=True)
    else:
        notify(ua, rec, None, None, first, None, None, (), now, quiet=True)


def _notifier_dialog(ua: UserAgent, request: Request) -> Dialog:
    """§12.1.1 for the dialog our 2xx to an out-of-dialog SUBSCRIBE creates."""
    contact = ua_client._contact_uri(request)
    assert contact is not None  # checked on receipt
    local = request.to.replace(params=tuple(p for p in request.to.params if p[0].lower() != "tag"))
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
        local_tag=ua._new_tag(),
        remote_tag=request.from_.tag or "",
        local_uri=str(local),
        remote_uri=str(remote),
        local_contact=ua._local_contact(transport),
        remote_target=contact,
        route_set=route_set,
        local_cseq=ua._rng.randrange(1, 2**15),
        remote_cseq=request.cseq.seq,
        state=DialogState.CONFIRMED,
    )
    d.invite_usage = False
    ua._dialogs[d.id] = d
    return d


def reject(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
    ua: UserAgent, rec: Subscription, status: int, reason: str | None, headers: Hdrs, now: float
) -> None:
    pending = ua._unpend(rec.txn) if rec.txn else None
    if pending is None:
        raise LocalProtocolError(f"{view(ua, rec)!r} has no SUBSCRIBE waiting for an answer")
    request = pending.request
    d = rec.dialog
    response = make_response(
        request,
        status,
        reason,
        to_tag=d.local_tag if d is not None else ua._new_tag(),
        headers=[*ua._common, *headers],
    )
    ua.endpoint.send_response(ServerTxn(rec.txn), response, now=now)
    rec.txn = 0
    rec.dialog = None  # an in-dialog SUBSCRIBE refused leaves the dialog's usages alone
    move(ua, rec, _I.REJECTED, "rejected", status, response)


def abandon(ua: UserAgent, rec: Subscription) -> None:
    """The SUBSCRIBE awaiting the application's answer lost its transaction."""
    rec.txn = 0
    rec.dialog = None
    move(ua, rec, _I.REJECTED, "timeout")


def send_notify(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
    ua: UserAgent,
    rec: Subscription,
    body: bytes | None,
    content_type: str | None,
    state: SubscriptionState | str | None,
    reason: str | None,
    retry_after: int | None,
    headers: Hdrs,
    now: float,
) -> ClientTxn:
    """The application's NOTIFY (``notify()``/``terminate()``/``notify_refer()``)."""
    if rec.role != "notifier":
        raise LocalProtocolError("only the notifier sends NOTIFY; a subscriber refresh()es")
    if rec.state is _S.TERMINATED:
        raise LocalProtocolError(f"{view(ua, rec)!r} is terminated: no more NOTIFYs (§4.2.2)")
    if rec.txn or rec.dialog is None:
        raise LocalProtocolError("accept() the SUBSCRIBE before sending NOTIFYs")
    if body and content_type is None and rec.content_type is None:
        raise LocalProtocolError("a NOTIFY body needs content_type= (the package's type)")
    new = state_arg(state) if state is not None else None
    return notify(ua, rec, body, content_type, new, reason, retry_after, headers, now, quiet=False)


def notify(  # noqa: PLR0917 - internal command plumbing
    ua: UserAgent,
    rec: Subscription,
    body: bytes | None,
    content_type: str | None,
    state: SubscriptionState | None,
    reason: str | None,
    retry_after: int | None,
    headers: Hdrs,
    now: float,
    *,
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
    remaining = math.ceil(rec.expires_at - now) if rec.expires_at is not None else None
    value = format_subscription_state(
        new, expires=remaining, reason=reason, retry_after=retry_after
    )
    hdrs = (("Event", str(rec.event)), ("Subscription-State", value), *headers)
    txn, origin = ua._send_in_dialog(
        d, "NOTIFY", rec.body or None, rec.content_type if rec.body else None, hdrs, now
    )
    out = ua._out[txn.id]
    out.sub, out.quiet = rec, quiet
    inp = _BY_STATE[new.value]
    move(
        ua,
        rec,
        inp,
        reason,
        None,
        out.request,
        retry_after,
        appeared=rec.implicit and rec.state is _S.NOTIFY_WAIT,
    )
    return origin
