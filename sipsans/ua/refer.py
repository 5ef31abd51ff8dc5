"""REFER on dialogs (RFC 3515, RFC 4488) and Replaces (RFC 3891) in the UserAgent.

Referrer: ``dialog.refer(...)`` sends REFER with Refer-To (and Referred-By, RFC
3892). Unless ``refer_sub=False`` (``Refer-Sub: false``, RFC 4488) the REFER
creates the implicit subscription ``Event: refer;id=<CSeq>`` at once, in
NOTIFY_WAIT, so that a NOTIFY overtaking the 202 still matches.

Recipient: a REFER becomes ``ReferReceived``; the application accepts it with
``ua.respond(txn, 202)``, after which the UA starts the notifier side and sends
``SIP/2.0 100 Trying`` (RFC 3515 §2.4.4); ``dialog.notify_refer(status)`` reports
progress, a final status terminating the subscription with ``reason=noresource``
(§2.4.7).

Replaces: the referrer embeds it in the Refer-To URI; the recipient's INVITE
carries it; the UA receiving that INVITE matches it (RFC 3891 §3) and, once the
new call is confirmed, ends the replaced dialog.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ..dialog.model import Dialog, DialogId
from ..dialog.replaces import Replaces, parse_replaces, replaces_for, sipfrag
from ..dialog.state import DialogState, TerminatedReason
from ..dialog.subscription import EventHeader, Subscription, SubscriptionState
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.fields import NameAddr, parse_name_addr
from ..message.model import REASON_PHRASES, Request, make_response
from ..message.uri import URI, SipURI
from ..transaction.transport import ClientTxn, ServerTxn
from . import server as ua_server
from . import subscriptions as subs
from .events import ReferReceived
from .handles import ClientSubscription, ServerSubscription
from .records import Hdrs, _Call, _In

if TYPE_CHECKING:
    from .agent import UserAgent

__all__ = [
    "SIPFRAG",
    "accept_headers",
    "accepted",
    "as_subscription",
    "notify_refer",
    "on_refer",
    "refer",
    "rekey",
    "replaced",
]

#: The Content-Type of a REFER's NOTIFY bodies (RFC 3515 §2.4.5, RFC 3420).
SIPFRAG = "message/sipfrag;version=2.0"


def refer(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
    ua: UserAgent,
    d: Dialog,
    refer_to: str | NameAddr | URI,
    referred_by: str | NameAddr | None,
    refer_sub: bool,
    replaces: DialogId | Replaces | None,
    headers: Hdrs,
    now: float,
) -> ClientTxn:
    if d.state is not DialogState.CONFIRMED:
        raise LocalProtocolError(f"REFER needs a confirmed dialog; {d.id} is {d.state.value}")
    to = subs.name_addr(refer_to, "Refer-To")
    if replaces is not None:
        uri = to.uri
        if not isinstance(uri, SipURI):
            raise LocalProtocolError("Replaces can only ride in a sip: or sips: Refer-To URI")
        if isinstance(replaces, DialogId):
            if replaces not in ua._dialogs:
                raise LocalProtocolError(f"no dialog {replaces} to be replaced")
            replaces = replaces_for(replaces)
        # RFC 3891 §4 / RFC 3261 §19.1.5: the header rides escaped in the URI.
        to = to.replace(uri=uri.replace(headers=(*uri.headers, ("Replaces", str(replaces)))))
    extra: list[tuple[str, str]] = [("Refer-To", str(to))]
    if referred_by is not None:
        extra.append(("Referred-By", str(referred_by)))
    if not refer_sub:
        extra.append(("Refer-Sub", "false"))  # RFC 4488 §4
    extra.append(("Supported", "norefersub"))
    txn, origin = ua._send_in_dialog(d, "REFER", None, None, (*extra, *headers), now)
    if refer_sub:
        out = ua._out[txn.id]
        event = EventHeader("refer", str(out.request.cseq.seq))
        rec = subs.new_record(ua, "subscriber", event, ua.config.refer_expires)
        rec.implicit, rec.request = True, out.request
        subs.attach(d, rec)
        out.sub = rec
    return origin


def rekey(d: Dialog, rec: Subscription, request: Request) -> None:
    """A REFER retried with credentials has a new CSeq, hence a new ``id`` (RFC 3515
    §2.4.6): move its implicit subscription to the new key."""
    if d.subs.get(rec.usage_key) is rec:
        del d.subs[rec.usage_key]
    rec.event = EventHeader("refer", str(request.cseq.seq))
    rec.request = request
    subs.attach(d, rec)


def on_refer(ua: UserAgent, d: Dialog, request: Request, txn: ServerTxn) -> None:
    """A REFER within ``d``: checked (RFC 3515 §2.4.1), then ``ReferReceived``."""
    values = request.headers.get_all("refer-to")
    try:
        if len(values) != 1:
            raise RemoteProtocolError("a REFER needs exactly one Refer-To", status_hint=400)
        refer_to = parse_name_addr(values[0], header="Refer-To")
        uri = refer_to.uri
        embedded = (
            [v for n, v in uri.headers if n.lower() == "replaces"]
            if isinstance(uri, SipURI)
            else []
        )
        replaces = parse_replaces(embedded[0]) if len(embedded) == 1 else None
    except RemoteProtocolError:
        ua.endpoint.send_response(txn, make_response(request, 400, to_tag=d.local_tag), now=ua._now)
        return
    referred_by = None
    raw_by = request.headers.get("referred-by")
    # Leniency: an unreadable Referred-By is dropped, not refused; it is only
    # information for the application (RFC 3892 §3).
    with contextlib.suppress(RemoteProtocolError):
        referred_by = parse_name_addr(raw_by, header="Referred-By") if raw_by else None
    refer_sub = (request.headers.get("refer-sub") or "").strip().lower() != "false"
    pending = ua._pending[txn.id] = _In(request, d)
    ua._app_txns.add(txn.id)
    pending.timer = ua._at(ua._now + ua.config.answer_timeout, "answer", txn.id)
    ua._emit(
        ReferReceived(
            dialog_id=d.id,
            request=request,
            txn=txn,
            refer_to=refer_to,
            referred_by=referred_by,
            refer_sub=refer_sub,
            replaces=replaces,
        )
    )


def accept_headers(request: Request) -> Hdrs:
    """Extra header fields for our 2xx to ``request`` (a REFER): RFC 4488 §4 echoes
    ``Refer-Sub: false`` when the referrer asked for no subscription."""
    if (request.headers.get("refer-sub") or "").strip().lower() == "false":
        return (("Refer-Sub", "false"),)
    return ()


def accepted(ua: UserAgent, d: Dialog, request: Request, now: float) -> None:
    """We answered a REFER 2xx: the implicit subscription starts with ``100 Trying``."""
    if accept_headers(request):
        return
    event = EventHeader("refer", str(request.cseq.seq))  # §2.4.6: id is the REFER's CSeq
    rec = subs.new_record(ua, "notifier", event, ua.config.refer_expires)
    rec.implicit, rec.request = True, request
    subs.attach(d, rec)
    subs.set_expiry(ua, rec, rec.expires, now)
    subs.notify(
        ua, rec, sipfrag(100, "Trying"), SIPFRAG, SubscriptionState.ACTIVE, None, None, (), now,
        quiet=True,
    )  # fmt: skip


def _live_refer(d: Dialog) -> Subscription | None:
    """The newest live notifier subscription of a REFER we accepted in ``d``."""
    found = [r for r in d.subs.values() if r.role == "notifier" and r.event.package == "refer"]
    return max(found, key=lambda r: r.key) if found else None


def notify_refer(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
    ua: UserAgent,
    d: Dialog,
    status: int,
    sub_state: SubscriptionState | str | None,
    reason: str | None,
    now: float,
) -> ClientTxn:
    rec = _live_refer(d)
    if rec is None:
        raise LocalProtocolError(
            f"dialog {d.id} has no accepted REFER with an implicit subscription to notify "
            "(accept one with ua.respond(txn, 202); Refer-Sub: false has none)"
        )
    if not 100 <= status <= 699:
        raise LocalProtocolError(f"notify_refer() reports a SIP status 100-699, not {status}")
    state = sub_state if sub_state is not None else (
        SubscriptionState.ACTIVE if status < 200 else SubscriptionState.TERMINATED
    )  # fmt: skip
    if reason is None and subs.state_arg(state) is SubscriptionState.TERMINATED:
        reason = "noresource"  # RFC 3515 §2.4.7
    body = sipfrag(status, REASON_PHRASES.get(status, "Unknown"))
    return subs.send_notify(ua, rec, body, SIPFRAG, state, reason, None, (), now)


def as_subscription(ua: UserAgent, d: Dialog) -> ClientSubscription | ServerSubscription:
    rec = d.last_sub
    if rec is None:
        raise LocalProtocolError(f"dialog {d.id} has no subscription (send or accept a REFER)")
    return subs.view(ua, rec)


def replaced(ua: UserAgent, d: Dialog) -> None:
    """RFC 3891 §3: the replacing call ``d`` is confirmed; end the dialog it replaces
    (BYE when confirmed, CANCEL when it is our early call)."""
    key = d.replaces
    d.replaces = None
    old = ua._dialogs.get(key) if key is not None else None
    if old is None or old.state is DialogState.TERMINATED:
        return
    if old.state in (DialogState.CONFIRMED, DialogState.WAIT_ACK):
        why = ua._role_reason(
            old, local=True, uac=TerminatedReason.UAC_BYE, uas=TerminatedReason.UAS_BYE
        )
        if old.state is DialogState.WAIT_ACK:
            ua_server.defer_bye(ua, old, (), None)  # §15: after its ACK
        else:
            ua._send_bye(old, (), None, ua._now, why)
        return
    call = old.call
    if isinstance(call, _Call) and old.is_early and not call.cancelling:
        call.cancelling = True
        ua.endpoint.cancel(ClientTxn(call.txn), now=ua._now)
