"""The UserAgent's server side: the requests it receives and its answers (RFC 3261 §8.2,
§12.2.2, §13.3, §14.2, §15.1.2; RFC 3891 §3).

Checks run in the order of §8.2: the message itself (400 with the parser's hint),
the method (501 unknown, 405 with Allow), Require (420 with Unsupported), then the
dialog (481 for an unknown one, 500 with Retry-After for a CSeq out of order,
491/500 for overlapping INVITEs). What survives goes to the application as an event,
or to the part that owns it (NOTIFY and SUBSCRIBE to the subscriptions, REFER to
the transfers).

What it tracks: per dialog, the INVITE (initial or re-INVITE) it received and has
not finished with (unanswered, or answered 2xx and retransmitted until the ACK,
§13.3.1.4), and a BYE the application asked for before that ACK (§15).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..dialog.model import Dialog, DialogId, contact_target, route_set_from
from ..dialog.replaces import match_replaces, parse_replaces
from ..dialog.state import DialogInput, DialogState, TerminatedReason
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.fields import NameAddr
from ..message.model import Request, Response, make_response
from ..message.uri import SipURI
from ..transaction.events import (
    CancelReceived,
    RequestReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from ..transaction.transport import ClientTxn, ServerTxn, Source
from .alarms import Alarm
from .calls import Caller
from .client import ClientSide
from .context import UAContext
from .dialogs import DialogTable, by_role
from .events import IncomingCall, InDialogRequest, MessageReceived
from .handles import ServerInviteDialog
from .inbox import Inbox
from .notifier import Notifier
from .records import KNOWN_METHODS, Hdrs, body_type
from .refer import Transfers, accept_headers
from .subscriber import Subscriber
from .subscriptions import Subscriptions

__all__ = ["ServerSide", "check_request"]

#: Methods that only make sense inside a dialog: out of one they get 481.
_DIALOG_ONLY = frozenset({"BYE", "UPDATE", "INFO", "NOTIFY", "PRACK"})
_ANSWERABLE = frozenset({DialogState.TRYING, DialogState.EARLY})  # an INVITE to answer


class _Invite:
    """An INVITE received within a dialog (the initial one, or a re-INVITE) that the
    server side has not finished with: unanswered, or answered 2xx and awaiting the
    ACK, its 2xx retransmitted meanwhile (§13.3.1.4)."""

    __slots__ = ("alarm", "cseq", "interval", "replaces", "response", "started", "txn")

    def __init__(self, txn: int, cseq: int) -> None:
        self.txn = txn
        #: The INVITE's CSeq number, which its ACK carries.
        self.cseq = cseq
        #: The 2xx sent, once sent; its retransmission interval, start and alarm.
        self.response: Response | None = None
        self.interval = 0.0
        self.started = 0.0
        self.alarm: Alarm | None = None
        #: The dialog the initial INVITE's Replaces names (RFC 3891).
        self.replaces: DialogId | None = None


class ServerSide:
    """Requests the UA receives and its answers (see the module docstring)."""

    __slots__ = (
        "_caller",
        "_client",
        "_ctx",
        "_deferred_bye",
        "_dialogs",
        "_inbox",
        "_invites",
        "_notifier",
        "_subs",
        "_subscriber",
        "_transfers",
    )

    def __init__(
        self,
        ctx: UAContext,
        *,
        dialogs: DialogTable,
        inbox: Inbox,
        caller: Caller,
        client: ClientSide,
        subscriptions: Subscriptions,
        subscriber: Subscriber,
        notifier: Notifier,
        transfers: Transfers,
    ) -> None:
        self._ctx = ctx
        self._dialogs = dialogs
        self._inbox = inbox
        self._caller = caller
        self._client = client
        self._subs = subscriptions
        self._subscriber = subscriber
        self._notifier = notifier
        self._transfers = transfers
        self._invites: dict[Dialog, _Invite] = {}
        #: BYEs asked for before our 2xx was ACKed (§15), per dialog: their headers,
        #: Reason and the handle ``bye()`` returned (see defer_bye).
        self._deferred_bye: dict[Dialog, tuple[Hdrs, str | None, ClientTxn]] = {}
        inbox.unanswered = self._default_answer
        dialogs.on_end(self._dialog_ended)

    def stats(self) -> dict[str, int]:
        return {"server_invites": len(self._invites), "deferred_byes": len(self._deferred_bye)}

    # -- requests ---------------------------------------------------------------------

    def on_request(self, event: RequestReceived) -> None:
        """A request from the Endpoint (an ACK for a 2xx has no transaction)."""
        txn = event.txn
        if txn is None:
            self._on_ack(event.request)
            return
        request = event.request
        ctx = self._ctx
        # The canonical names of the header lines, read once: the checks below ask for
        # half a dozen headers by presence, and a scan of this short list (in C) is much
        # cheaper than as many ``name in request.headers`` calls.
        present = request.headers.keys()
        try:
            check_request(request, present)
        except RemoteProtocolError as exc:
            ctx.reply(txn, request, exc.status_hint if 400 <= exc.status_hint <= 699 else 400)
            return
        method = request.method
        allow = ctx.allow
        if method not in KNOWN_METHODS and method not in allow:
            ctx.reply(txn, request, 501)  # §8.2.1: an extension the application did not allow
            return
        if method not in allow:
            ctx.reply(txn, request, 405, (("Allow", ctx.allow_value),))  # §8.2.1
            return
        if "require" in present:
            required = [t.strip() for t in request.headers.get_all("require") if t.strip()]
            unsupported = [t for t in required if t not in ctx.config.supported]
            if unsupported:
                # §8.2.2.3
                ctx.reply(txn, request, 420, (("Unsupported", ", ".join(unsupported)),))
                return
        to_tag = request.to.tag
        if to_tag:
            self._in_dialog(request, txn, to_tag)
        else:
            self._out_of_dialog(request, txn, event.source, present)

    def _in_dialog(self, request: Request, txn: ServerTxn, to_tag: str) -> None:
        ctx = self._ctx
        method = request.method
        d = self._dialogs.get(DialogId(request.call_id, to_tag, request.from_.tag or ""))
        if d is None and method == "NOTIFY":
            self._subscriber.on_notify(request, txn, None)  # may create the dialog (RFC 6665)
            return
        # RFC 5057: a dialog whose INVITE usage ended lives on for its subscriptions.
        usages = d is not None and method in ("NOTIFY", "SUBSCRIBE") and self._subs.has_usages(d)
        if d is None or (d.state is DialogState.TERMINATED and method != "BYE" and not usages):
            ctx.reply(txn, request, 481)  # §12.2.2
            return
        if not d.invite_usage and method in ("BYE", "INVITE"):
            # RFC 5057: no INVITE usage to end or modify in a subscription's dialog.
            ctx.reply(txn, request, 481, to_tag=to_tag)
            return
        seq = request.cseq.seq
        if d.remote_cseq is not None and seq < d.remote_cseq:
            ctx.reply(txn, request, 500, ctx.retry_after())  # §12.2.2: out of order
            return
        d.remote_cseq = seq
        if method == "NOTIFY":
            self._subscriber.on_notify(request, txn, d)
            return
        if method == "SUBSCRIBE":
            self._notifier.on_subscribe(request, txn, d)
            return
        if method == "REFER":
            self._transfers.on_refer(d, request, txn)
            return
        if method == "BYE":
            self._on_bye(d, request, txn)
            return
        if method == "INVITE":
            if self._client.reinvite_pending(d):
                ctx.reply(txn, request, 491, to_tag=to_tag)  # §14.2: glare
                return
            if d.state is not DialogState.CONFIRMED or d in self._invites:
                ctx.reply(txn, request, 500, ctx.retry_after(), to_tag=to_tag)  # §14.2
                return
            self._invites[d] = _Invite(txn.id, seq)
        self._inbox.hand_over(txn, request, d, after=ctx.config.answer_timeout)
        ctx.events.append(InDialogRequest(dialog_id=d.id, request=request, txn=txn))

    def _on_bye(self, d: Dialog, request: Request, txn: ServerTxn) -> None:
        ctx = self._ctx
        ctx.reply(txn, request, 200, to_tag=d.local_tag)  # §15.1.2
        if d.state is DialogState.TERMINATED:
            return  # BYEs crossed
        if d.role == "uas" and d.is_early:
            invite = self._invites.pop(d, None)
            if invite is not None:
                # §15.1.2: a BYE ends the pending INVITE with 487.
                pending = self._inbox.take(invite.txn)
                if pending is not None:
                    ctx.reply(ServerTxn(invite.txn), pending.request, 487, to_tag=d.local_tag)
        reason = by_role(d, local=False, uac=TerminatedReason.UAC_BYE, uas=TerminatedReason.UAS_BYE)
        # §15: a callee MUST NOT BYE an early dialog. When one does and no other fork is
        # left, the client side CANCELs our INVITE (§9.1), as it does a pending re-INVITE.
        self._dialogs.end(d, DialogInput.BYE_RECEIVED, reason, None, request)

    def _out_of_dialog(
        self, request: Request, txn: ServerTxn, source: Source, present: list[str]
    ) -> None:
        ctx = self._ctx
        method = request.method
        if method == "INVITE":
            self._new_call(request, txn, source.transport, present)
        elif method == "MESSAGE":
            self._inbox.hand_over(txn, request, None, after=ctx.config.answer_timeout)
            ctx.events.append(MessageReceived(request=request, txn=txn))
        elif method == "SUBSCRIBE":
            self._notifier.on_subscribe(request, txn, None)
        elif method in _DIALOG_ONLY:
            ctx.reply(txn, request, 481)  # §15.1.2, RFC 3311 §5.2, RFC 6086 §4.2
        else:
            # OPTIONS and any method the application allowed: passed through, with a
            # default answer for OPTIONS (§11.2) and for a REFER outside a dialog (603:
            # the UA keeps no implicit subscription for a REFER outside a dialog).
            after = ctx.config.answer_timeout if method in ("OPTIONS", "REFER") else None
            self._inbox.hand_over(txn, request, None, after=after)
            ctx.events.append(RequestReceived(request=request, txn=txn, source=source))

    def _new_call(
        self, request: Request, txn: ServerTxn, transport: str, present: list[str]
    ) -> None:
        """§12.1.1: a UAS dialog from an INVITE without a To tag (``present``: the canonical
        names of its header lines)."""
        ctx = self._ctx
        if len(self._dialogs) >= ctx.config.max_dialogs:
            ctx.reply(txn, request, 503, ctx.retry_after())
            return
        contact = contact_target(request)
        if contact is None:
            ctx.reply(txn, request, 400)  # §8.1.1.8: an INVITE MUST carry a Contact
            return
        replaced = None
        values = request.headers.get_all("replaces") if "replaces" in present else None
        if values:
            # RFC 3891 §3: exactly one; it must name a dialog we may replace.
            try:
                if len(values) != 1:
                    raise RemoteProtocolError("more than one Replaces", status_hint=400)
                named = parse_replaces(values[0])
                replaced, status = match_replaces(self._dialogs.get(named.dialog_id), named)
            except RemoteProtocolError:
                replaced, status = None, 400
            if replaced is None:
                ctx.reply(txn, request, status)
                return
        routes = request.record_routes if "record-route" in present else []
        local_tag, local_cseq = ctx.new_local()
        remote = request.from_  # (each view property is a cache look-up: read them once)
        seq = request.cseq.seq
        d = Dialog(  # positional: one per call (see Dialog.__init__)
            "uas",  # role
            request.call_id,
            local_tag,
            remote.tag or "",
            request.to,  # local_uri: rendered without its tag when first needed, as is
            remote,  # remote_uri
            ctx.local_contact(
                transport, secure=transport != "UDP" and _secure(request, routes, contact)
            ),
            contact,  # remote_target
            route_set_from(routes, reverse=False) if routes else (),
            local_cseq,
            seq,  # remote_cseq
            DialogState.TRYING,
        )
        invite = self._invites[d] = _Invite(txn.id, seq)
        if replaced is not None:
            invite.replaces = replaced.id
        self._dialogs.add(d)
        self._inbox.hand_over(
            txn, request, d, after=ctx.config.ring_timeout, action=self._ring_timeout
        )
        views = ctx.views
        ctx.events.append(
            IncomingCall(
                dialog=ServerInviteDialog(views, d),
                request=request,
                txn=txn,
                replaces=views.dialog(replaced) if replaced is not None else None,
            )
        )

    def _on_ack(self, ack: Request) -> None:
        """§13.3.1.4: the ACK for our 2xx stops its retransmission and confirms the dialog."""
        try:
            key = DialogId(ack.call_id, ack.to.tag or "", ack.from_.tag or "")
            seq = ack.cseq.seq
        except RemoteProtocolError:
            return
        d = self._dialogs.get(key)
        invite = self._invites.get(d) if d is not None else None
        if d is None or invite is None or invite.response is None or seq != invite.cseq:
            return  # a retransmitted or stray ACK: absorbed (§17.2.1)
        del self._invites[d]
        self._ctx.alarms.cancel(invite.alarm)
        if d.state is DialogState.WAIT_ACK:
            self._dialogs.change(d, DialogInput.RECV_ACK, ack)
            if invite.replaces is not None:
                self._replaced(invite.replaces)  # RFC 3891 §3
        elif ack.body:
            self._ctx.events.append(InDialogRequest(dialog_id=d.id, request=ack, txn=None))
        if d.state is DialogState.CONFIRMED:
            held = self._deferred_bye.pop(d, None)
            if held is not None:
                why = by_role(
                    d, local=True, uac=TerminatedReason.UAC_BYE, uas=TerminatedReason.UAS_BYE
                )
                headers, reason, handle = held
                self._client.send_bye(d, why, headers=headers, reason=reason, origin=handle)

    def on_cancel(self, event: CancelReceived) -> None:
        pending = self._inbox.get(event.txn.id)
        d = pending.dialog if pending is not None else None
        invite = self._invites.get(d) if d is not None else None
        if d is None or pending is None or invite is None or invite.txn != event.txn.id:
            self._ctx.events.append(event)
            return
        self._inbox.take(event.txn.id)
        if not event.answered:
            self._ctx.reply(event.txn, pending.request, 487, to_tag=d.local_tag)
        del self._invites[d]
        if not d.is_early:
            # §9.2 for a re-INVITE: the 487 ends that request only; the dialog and its session
            # stay as they were. The application hears of it (and must not answer any more).
            self._ctx.events.append(event)
            return
        self._dialogs.end(
            d, DialogInput.CANCEL_RECEIVED, TerminatedReason.UAC_CANCEL, 487, event.request
        )

    def _replaced(self, key: DialogId) -> None:
        """RFC 3891 §3: the replacing call is confirmed; end the dialog it replaces
        (BYE when confirmed, after its ACK when not ACKed yet; CANCEL when it is our
        early call)."""
        old = self._dialogs.get(key)
        if old is None or old.state is DialogState.TERMINATED:
            return
        if old.state is DialogState.WAIT_ACK:
            self._defer_bye(old)  # §15: after its ACK
        elif old.state is DialogState.CONFIRMED:
            why = by_role(
                old, local=True, uac=TerminatedReason.UAC_BYE, uas=TerminatedReason.UAS_BYE
            )
            self._client.send_bye(old, why)
        elif old.is_early:
            self._caller.send_cancel(old)

    # -- answering ---------------------------------------------------------------------

    def answer(
        self,
        d: Dialog,
        status: int,
        *,
        reason: str | None = None,
        headers: Hdrs = (),
        body: bytes = b"",
        content_type: str | None = None,
        now: float,
    ) -> None:
        """The callee's answer to the initial INVITE (§13.3.1): ringing, progress,
        accept, reject."""
        ctx = self._ctx
        ctx.advance(now)
        self._answer_invite(
            d, status, reason=reason, headers=headers, body=body, content_type=content_type
        )
        ctx.drain()

    def _answer_invite(
        self,
        d: Dialog,
        status: int,
        *,
        reason: str | None = None,
        headers: Hdrs = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> None:
        ctx = self._ctx
        invite = self._invites.get(d)
        if d.role != "uas" or invite is None or d.state not in _ANSWERABLE:
            raise LocalProtocolError(f"dialog {d.id} has no INVITE waiting for an answer")
        pending = self._inbox.get(invite.txn)
        if pending is None:
            raise LocalProtocolError(f"the INVITE of {d.id} was already answered or ended")
        request = pending.request
        content_type = body_type("INVITE", body, content_type)
        # The route set is the INVITE's Record-Route list (§12.1.1): when it is empty
        # there is none to copy.
        extra = self._dialog_headers(d, request, status, record_route=bool(d.route_set))
        extra += ctx.common
        extra += headers
        response = make_response(
            request,
            status,
            reason,
            to_tag=d.local_tag,
            headers=extra,
            body=body,
            content_type=content_type if body else None,
        )
        ctx.endpoint.send_response(ServerTxn(invite.txn), response, now=ctx.now)
        if status < 200:
            self._dialogs.change(d, DialogInput.SENT_1XX, response)
            return
        self._inbox.take(invite.txn)
        if status < 300:
            self._dialogs.change(d, DialogInput.SENT_2XX, response)
            self._start_retransmit(d, invite, response)
        else:
            del self._invites[d]
            self._dialogs.end(d, DialogInput.SENT_FAILURE, _uas_reason(status), status, response)

    def _dialog_headers(
        self, d: Dialog, request: Request, status: int, *, record_route: bool
    ) -> list[tuple[str, str]]:
        """Contact, Allow and (``record_route``: for a dialog-creating answer) Record-Route
        for a dialog-creating or target refresh answer."""
        out: list[tuple[str, str]] = []
        if 101 <= status < 300:
            # §12.1.1: copy every Record-Route, in order, and give our Contact.
            if record_route:
                out += [("Record-Route", v) for v in request.headers.get_all("record-route")]
            out.append(("Contact", d.local_contact))
        if 200 <= status < 300:
            out.append(("Allow", self._ctx.allow_value))
        return out

    def _start_retransmit(self, d: Dialog, invite: _Invite, response: Response) -> None:
        ctx = self._ctx
        t1 = ctx.endpoint.config.t1
        invite.response, invite.interval, invite.started = response, t1, ctx.now
        invite.alarm = ctx.alarms.at(ctx.now + t1, self._retransmit_2xx, d)

    def _retransmit_2xx(self, d: Dialog, at: float) -> None:
        """§13.3.1.4: resend the 2xx at T1, 2*T1, ... capped at T2 until the ACK; after
        64*T1 without one the dialog is confirmed and at once ended with BYE."""
        ctx = self._ctx
        invite = self._invites.get(d)
        if invite is None or invite.response is None:
            return
        cfg = ctx.endpoint.config
        if at - invite.started >= 64 * cfg.t1 - 1e-9:
            del self._invites[d]
            # The BYE the application asked for meanwhile, if any, goes now (with its handle).
            headers, reason, handle = self._deferred_bye.pop(d, ((), None, None))
            self._dialogs.change(d, DialogInput.ACK_TIMEOUT)  # "the dialog is confirmed, but"
            self._client.send_bye(
                d,
                TerminatedReason.TIMEOUT,
                headers=headers,
                reason=reason,
                status=408,
                origin=handle,
            )
            return
        try:
            ctx.endpoint.send_response(ServerTxn(invite.txn), invite.response, now=ctx.now)
        except LocalProtocolError:
            # The transaction ended (Timer L): the 2xx goes out statelessly.
            ctx.endpoint.send_stateless(invite.response, now=ctx.now)
        invite.interval = min(2 * invite.interval, cfg.t2)
        # The next resend, or the 64*T1 give-up instant if that comes first.
        deadline = min(at + invite.interval, invite.started + 64 * cfg.t1)
        invite.alarm = ctx.alarms.at(deadline, self._retransmit_2xx, d)

    def respond(
        self,
        txn: ServerTxn,
        status: int,
        *,
        reason: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        now: float,
    ) -> None:
        """Answer a request delivered as InDialogRequest, MessageReceived or
        RequestReceived. Provisional answers may be followed by a final one."""
        ctx = self._ctx
        ctx.advance(now)
        self._respond(
            txn, status, reason=reason, headers=tuple(headers), body=body, content_type=content_type
        )
        ctx.drain()

    def _respond(
        self,
        txn: ServerTxn,
        status: int,
        *,
        reason: str | None = None,
        headers: Hdrs = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> None:
        ctx = self._ctx
        pending = self._inbox.get(txn.id)
        if pending is None:
            raise LocalProtocolError(f"{txn!r} is not a request waiting for an answer")
        d = pending.dialog
        request = pending.request
        method = request.method
        if d is not None and d.role == "uas" and method == "INVITE" and d.is_early:
            self._answer_invite(
                d, status, reason=reason, headers=headers, body=body, content_type=content_type
            )
            return
        sub = pending.sub
        if sub is not None:  # a SUBSCRIBE: accept() or reject() it
            if 200 <= status < 300:
                self._notifier.answer_accept(
                    sub, body=body, content_type=content_type, headers=headers
                )
            elif status >= 300:
                self._notifier.answer_reject(sub, status, reason=reason, headers=headers)
            else:
                raise LocalProtocolError("a SUBSCRIBE is answered with a final status (RFC 6665)")
            return
        extra: list[tuple[str, str]] = []
        if d is not None and method in ("INVITE", "UPDATE"):
            # A target refresh keeps the route set: no Record-Route copied.
            extra = self._dialog_headers(d, request, status, record_route=False)
        elif method == "REFER" and 200 <= status < 300:
            extra = list(accept_headers(request))
        elif status == 405 or (method == "OPTIONS" and 200 <= status < 300):
            extra = [("Allow", ctx.allow_value)]
            if method == "OPTIONS":
                extra.append(("Accept", "application/sdp"))
        content_type = body_type(method, body, content_type)
        tag = d.local_tag if d is not None else (None if request.to.tag else ctx.new_tag())
        response = make_response(
            request,
            status,
            reason,
            to_tag=tag,
            headers=[*extra, *ctx.common, *headers],
            body=body,
            content_type=content_type if body else None,
        )
        ctx.endpoint.send_response(txn, response, now=ctx.now)
        if status < 200:
            return
        self._inbox.take(txn.id)
        if d is None:
            return
        if method == "INVITE":
            invite = self._invites.get(d)
            if invite is None or invite.txn != txn.id:
                return
            if status < 300:
                d.refresh_target(request)  # §12.2.2: target refresh
                self._start_retransmit(d, invite, response)
            else:
                del self._invites[d]
        elif method == "UPDATE" and status < 300:
            d.refresh_target(request)
        elif method == "REFER" and status < 300:
            self._transfers.accepted(d, request)

    def _default_answer(self, txn_id: int, at: float) -> None:
        """The documented answer to a request the application left unanswered."""
        pending = self._inbox.get(txn_id)
        if pending is None:
            return
        request = pending.request
        method = request.method
        # We cannot invent an answer to a session offer (RFC 3264 §6): 488. Nobody
        # agreed to a transfer (603) or a subscription (480) either.
        if method == "INVITE" or (method == "UPDATE" and request.body):
            status = 488
        else:
            status = {"REFER": 603, "SUBSCRIBE": 480}.get(method, 200)
        self._respond(ServerTxn(txn_id), status)

    def _ring_timeout(self, txn_id: int, at: float) -> None:
        pending = self._inbox.get(txn_id)
        d = pending.dialog if pending is not None else None
        invite = self._invites.get(d) if d is not None else None
        if d is not None and invite is not None and invite.txn == txn_id and d.is_early:
            self._answer_invite(d, 480)

    def defer_bye(
        self, d: Dialog, *, headers: Hdrs = (), reason: str | None = None, now: float
    ) -> ClientTxn:
        """§15: the callee may not BYE before its 2xx is ACKed: the BYE waits for the ACK,
        or for the ACK's timeout (64*T1, §13.3.1.4), and is sent then.

        The handle is returned now; the BYE's responses, timeout and end carry it later
        (as a re-INVITE's do after a glare retry). Asked again before the ACK, the first
        BYE stands and its handle is returned again."""
        self._ctx.advance(now)
        handle = self._defer_bye(d, headers, reason)
        self._ctx.drain()
        return handle

    def _defer_bye(self, d: Dialog, headers: Hdrs = (), reason: str | None = None) -> ClientTxn:
        held = self._deferred_bye.get(d)
        if held is not None:
            return held[2]
        handle = self._ctx.endpoint.reserve_handle()
        self._deferred_bye[d] = (headers, reason, handle)
        return handle

    # -- the end of dialogs and transactions -----------------------------------------------

    def _dialog_ended(self, d: Dialog, was_early: bool) -> None:
        """Stop the 2xx retransmission; answer an INVITE still unanswered (§13.3.1.3: the
        early dialog failed, e.g. our request in it timed out, §12.2.1.2, and the INVITE
        still needs a final response, or its transaction never ends); drop a BYE held for
        an ACK that will not come (its handle ends with TransactionTerminated and no
        response, as a CANCEL the endpoint drops unsent does)."""
        ctx = self._ctx
        invite = self._invites.pop(d, None)
        if invite is not None:
            ctx.alarms.cancel(invite.alarm)
            if was_early and d.role == "uas":
                pending = self._inbox.take(invite.txn)
                if pending is not None:
                    status = d.status
                    code = status if status is not None and 300 <= status <= 699 else 500
                    ctx.reply(ServerTxn(invite.txn), pending.request, code, to_tag=d.local_tag)
        held = self._deferred_bye.pop(d, None)
        if held is not None:
            ctx.events.append(TransactionTerminated(txn=held[2]))

    def on_failure(self, event: TransactionTimedOut | TransportFailed) -> None:
        """A server transaction failed: the application hears of it if it was handed
        its request."""
        if self._inbox.is_app_txn(event.txn.id):
            self._ctx.events.append(event)

    def on_terminated(self, event: TransactionTerminated) -> None:
        """A server transaction ended; an unanswered request's can no longer be answered
        (a transport failure): forget it."""
        pending = self._inbox.txn_ended(event)
        if pending is None:
            return
        txn_id = event.txn.id
        if pending.sub is not None:
            self._notifier.abandon(pending.sub)  # the SUBSCRIBE can no longer be answered
        d = pending.dialog
        invite = self._invites.get(d) if d is not None else None
        if (
            d is not None
            and invite is not None
            and invite.txn == txn_id
            and invite.response is None
        ):
            del self._invites[d]
            if d.is_early:
                self._dialogs.end(d, DialogInput.FAILED, TerminatedReason.TIMEOUT)


def _secure(request: Request, record_routes: list[NameAddr], remote_target: str) -> bool:
    """§12.1.1: our Contact in a dialog-creating answer is a SIPS URI when the request's
    Request-URI is one, or its top Record-Route, or (without Record-Route) its Contact,
    the remote target (already rendered: no Contact view built for this). Asked only
    for requests over a stream: SIPS means TLS on every hop, the last one included
    (RFC 5630 §3.1.3), so a request over UDP is answered with a SIP Contact (and the
    check costs a UDP call nothing)."""
    uri = request.uri
    if isinstance(uri, SipURI) and uri.secure:
        return True
    if record_routes:
        first = record_routes[0].uri
        return isinstance(first, SipURI) and first.secure
    return remote_target[:5].lower() == "sips:"


def _uas_reason(status: int) -> TerminatedReason:
    if status in (486, 600):
        return TerminatedReason.UAS_BUSY
    if status in (603, 607):
        return TerminatedReason.UAS_DECLINE
    return TerminatedReason.UAS_OTHER


def check_request(request: Request, present: list[str] | None = None) -> None:
    """Validate, once, what sipsans interprets in a request beyond the fields
    ``parse_message`` already checked (§8.2: a UAS answers 400 rather than act on a
    malformed request). Raises RemoteProtocolError.

    The same verdict as :meth:`Request.validate` (tests/test_ua_efficiency.py holds them
    equal), without reading the parser's fields again or building the empty views of
    headers the request does not carry: the Request-URI, every Via, the From and To
    URIs, then Max-Forwards, Contact, Route and Record-Route when present.
    ``present`` is ``request.headers.keys()`` when the caller already has it.
    """
    request.uri  # noqa: B018
    request.vias._parse_all()  # each Via parses on first access; the top one already did
    request.from_.uri  # noqa: B018
    request.to.uri  # noqa: B018
    if present is None:
        present = request.headers.keys()
    # Max-Forwards and Contact are checked without building the views nobody may read
    # (the same verdict: see Message._check_max_forwards).
    if "max-forwards" in present:
        request._check_max_forwards()
    if "contact" in present:
        request._check_contacts()
    if "route" in present:
        for value in request.routes:
            value.uri  # noqa: B018
    if "record-route" in present:
        for value in request.record_routes:
            value.uri  # noqa: B018
