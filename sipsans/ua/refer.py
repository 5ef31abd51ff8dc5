"""REFER within dialogs (RFC 3515, RFC 4488) in the UserAgent.

Referrer: ``dialog.refer(...)`` sends REFER with Refer-To (and Referred-By, RFC
3892). Unless ``refer_sub=False`` (``Refer-Sub: false``, RFC 4488) the REFER
creates the implicit subscription ``Event: refer;id=<CSeq>`` at once, in
NOTIFY_WAIT, so that a NOTIFY overtaking the 202 still matches.

Recipient: a REFER becomes ``ReferReceived``; the application accepts it with
``ua.respond(txn, 202)``, after which the UA starts the notifier side and sends
``SIP/2.0 100 Trying`` (RFC 3515 §2.4.4); ``dialog.notify_refer(status)`` reports
progress, a final status terminating the subscription with ``reason=noresource``
(§2.4.7).

Replaces (RFC 3891): the referrer embeds it in the Refer-To URI; the recipient's
INVITE carries it; the server side matches it when that INVITE arrives.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from ..dialog.model import Dialog, DialogId
from ..dialog.replaces import Replaces, parse_replaces, replaces_for, sipfrag
from ..dialog.state import DialogState
from ..dialog.subscription import (
    EventHeader,
    Subscription,
    SubscriptionState,
    parse_subscription_state,
)
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.fields import NameAddr, parse_name_addr
from ..message.model import REASON_PHRASES, Request
from ..message.uri import URI, SipURI
from ..transaction.transport import ClientTxn, ServerTxn
from .client import ClientSide, name_addr_arg
from .context import UAContext
from .dialogs import DialogTable
from .events import ReferReceived
from .handles import NotifyArgs
from .inbox import Inbox
from .notifier import Notifier
from .records import Hdrs, Outgoing
from .subscriber import Subscriber
from .subscriptions import Subscriptions, state_arg

__all__ = ["SIPFRAG", "Transfers", "accept_headers"]

#: The Content-Type of a REFER's NOTIFY bodies (RFC 3515 §2.4.5, RFC 3420).
SIPFRAG = "message/sipfrag;version=2.0"


@dataclass(slots=True, eq=False, repr=False)
class Transfers:
    """REFERs sent and received within dialogs, and their implicit subscriptions
    (which :class:`~sipsans.ua.subscriptions.Subscriptions` keeps)."""

    _ctx: UAContext
    _dialogs: DialogTable
    _client: ClientSide
    _inbox: Inbox
    _subs: Subscriptions
    _subscriber: Subscriber
    _notifier: Notifier

    # -- referrer ------------------------------------------------------------------------

    def refer(
        self,
        d: Dialog,
        refer_to: str | NameAddr | URI,
        *,
        referred_by: str | NameAddr | None = None,
        refer_sub: bool = True,
        replaces: DialogId | Replaces | None = None,
        headers: Hdrs = (),
        now: float,
    ) -> ClientTxn:
        ctx = self._ctx
        ctx.advance(now)
        if d.state is not DialogState.CONFIRMED:
            raise LocalProtocolError(f"REFER needs a confirmed dialog; {d.id} is {d.state.value}")
        to = name_addr_arg(refer_to, "Refer-To")
        if replaces is not None:
            uri = to.uri
            if not isinstance(uri, SipURI):
                raise LocalProtocolError("Replaces can only ride in a sip: or sips: Refer-To URI")
            if isinstance(replaces, DialogId):
                if self._dialogs.get(replaces) is None:
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
        txn, origin = self._client.send(d, "REFER", headers=(*extra, *headers))
        if refer_sub:
            out = self._client.outgoing(txn)
            event = EventHeader("refer", str(out.request.cseq.seq))
            rec = self._subs.new_record("subscriber", event, ctx.config.refer_expires)
            rec.implicit, rec.request = True, out.request
            self._subs.attach(d, rec)
            out.sub, out.on_final, out.on_retry = rec, self._subscriber.on_final, self._rekey
        ctx.drain()
        return origin

    def _rekey(self, out: Outgoing) -> None:
        """A REFER retried with credentials has a new CSeq, hence a new ``id`` (RFC 3515
        §2.4.6): move its implicit subscription to the new key."""
        rec, d = out.sub, out.dialog
        if rec is None or d is None or rec.state is SubscriptionState.TERMINATED:
            return  # (a final NOTIFY came first: the subscription is gone, nothing to move)
        self._subs.detach(rec)
        rec.event = EventHeader("refer", str(out.request.cseq.seq))
        rec.request = out.request
        self._subs.attach(d, rec)

    # -- recipient -------------------------------------------------------------------------

    def on_refer(self, d: Dialog, request: Request, txn: ServerTxn) -> None:
        """A REFER within ``d``: checked (RFC 3515 §2.4.1), then ``ReferReceived``."""
        ctx = self._ctx
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
            ctx.reply(txn, request, 400, to_tag=d.local_tag)
            return
        referred_by = None
        raw_by = request.headers.get("referred-by")
        # Leniency: an unreadable Referred-By is dropped, not refused; it is only
        # information for the application (RFC 3892 §3).
        with contextlib.suppress(RemoteProtocolError):
            referred_by = parse_name_addr(raw_by, header="Referred-By") if raw_by else None
        refer_sub = (request.headers.get("refer-sub") or "").strip().lower() != "false"
        self._inbox.hand_over(txn, request, d, after=ctx.config.answer_timeout)
        ctx.events.append(
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

    def accepted(self, d: Dialog, request: Request) -> None:
        """We answered a REFER 2xx: the implicit subscription starts with ``100 Trying``."""
        if accept_headers(request):
            return
        subs = self._subs
        event = EventHeader("refer", str(request.cseq.seq))  # §2.4.6: id is the REFER's CSeq
        rec = subs.new_record("notifier", event, self._ctx.config.refer_expires)
        rec.implicit, rec.request = True, request
        subs.attach(d, rec)
        subs.set_expiry(rec, rec.expires, self._ctx.now)
        self._notifier.send_notify(
            rec,
            body=sipfrag(100, "Trying"),
            content_type=SIPFRAG,
            state=SubscriptionState.ACTIVE,
            quiet=True,
        )

    def _live_refer(self, d: Dialog) -> Subscription | None:
        """The newest live notifier subscription of a REFER we accepted in ``d``."""
        found = [
            r for r in self._subs.usages(d) if r.role == "notifier" and r.event.package == "refer"
        ]
        return max(found, key=lambda r: r.key) if found else None

    def notify_refer(
        self,
        d: Dialog,
        status: int,
        *,
        sub_state: SubscriptionState | str | None = None,
        reason: str | None = None,
        now: float,
    ) -> ClientTxn:
        """Report the progress of the REFER we accepted (RFC 3515 §2.4.4)."""
        if not 100 <= status <= 699:
            raise LocalProtocolError(f"notify_refer() reports a SIP status 100-699, not {status}")
        if isinstance(sub_state, str) and ";" in sub_state:
            # A whole Subscription-State value (RFC 6665 §8.2.3): "terminated;reason=...".
            try:
                parsed = parse_subscription_state(sub_state)
            except RemoteProtocolError as exc:
                raise LocalProtocolError(f"notify_refer(): {exc}") from None
            sub_state, reason = parsed.state, reason if reason is not None else parsed.reason
        state = sub_state if sub_state is not None else (
            SubscriptionState.ACTIVE if status < 200 else SubscriptionState.TERMINATED
        )  # fmt: skip
        if state_arg(state) is SubscriptionState.TERMINATED and reason is None:
            reason = "noresource"  # RFC 3515 §2.4.7
        rec = self._live_refer(d)
        if rec is None:
            raise LocalProtocolError(
                f"dialog {d.id} has no accepted REFER with an implicit subscription to notify "
                "(accept one with ua.respond(txn, 202); Refer-Sub: false has none)"
            )
        body = sipfrag(status, REASON_PHRASES.get(status, "Unknown"))
        args = NotifyArgs(body=body, content_type=SIPFRAG, state=state, reason=reason)
        return self._notifier.notify(rec, args, now)


def accept_headers(request: Request) -> Hdrs:
    """Extra header fields for our 2xx to ``request`` (a REFER): RFC 4488 §4 echoes
    ``Refer-Sub: false`` when the referrer asked for no subscription."""
    if (request.headers.get("refer-sub") or "").strip().lower() == "false":
        return (("Refer-Sub", "false"),)
    return ()
