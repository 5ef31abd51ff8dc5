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

from collections.abc import Collection, Iterable

from ..dialog.model import Dialog, DialogId, contact_target, route_set_from, sips_contact
from ..dialog.replaces import match_replaces, parse_replaces
from ..dialog.state import DialogInput, DialogState, TerminatedReason, reason_for_rejection
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.model import Request, Response, make_response
from ..transaction.events import (
    CancelReceived,
    RequestReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from ..transaction.transport import ClientTxn, ServerTxn, Source
from .checks import EXTENSION_HEADERS, PROBED, check_request
from .context import UAContext
from .events import IncomingCall, InDialogRequest, MessageReceived
from .handles import ServerInviteDialog
from .offers import Pending, refusal
from .parts import Parts
from .records import KNOWN_METHODS, Hdrs, Incoming, Reply, ServerInvite, body_type
from .refer import accept_headers
from .reliable import NOT_SUPPORTED
from .session_timers import Negotiated

__all__ = ["ServerSide", "check_request"]

# The enum members a call's requests and answers read, bound once: on CPython 3.11 a
# member read off its class goes through EnumType.__getattr__ (see sipsans._speed,
# "Enum members as module constants"; A/B on this module: ua-call +1.2 % without them).
_TRYING, _WAIT_ACK = DialogState.TRYING, DialogState.WAIT_ACK
_CONFIRMED, _TERMINATED = DialogState.CONFIRMED, DialogState.TERMINATED
_SENT_1XX, _SENT_2XX = DialogInput.SENT_1XX, DialogInput.SENT_2XX
_RECV_ACK, _BYE_RECEIVED = DialogInput.RECV_ACK, DialogInput.BYE_RECEIVED
#: Why a dialog ended by BYE, by our role: a BYE from the peer, and one of ours (the UAC
#: is whoever sent the initial INVITE, the same on both ends).
_PEER_BYE = {"uac": TerminatedReason.UAS_BYE, "uas": TerminatedReason.UAC_BYE}
_OUR_BYE = {"uac": TerminatedReason.UAC_BYE, "uas": TerminatedReason.UAS_BYE}

#: Methods that only make sense inside a dialog: out of one they get 481.
_DIALOG_ONLY = frozenset({"BYE", "UPDATE", "INFO", "NOTIFY", "PRACK"})
_ANSWERABLE = frozenset({_TRYING, DialogState.EARLY})  # an INVITE to answer
#: The plain 200 the UA gives by itself (a Reply is never changed once made).
_OK = Reply(200)


class ServerSide:
    """Requests the UA receives and its answers (see the module docstring)."""

    __slots__ = (
        "_ctx",
        "_deferred_bye",
        "_dialogs",
        "_extensions",
        "_inbox",
        "_invites",
        "_offers",
        "_parts",
        "_reliable",
        "_timers",
    )

    def __init__(self, ctx: UAContext, parts: Parts) -> None:
        self._ctx = ctx
        #: The parts requests are passed on to (read on the paths they take).
        self._parts = parts
        # Read on every request and answer of a call: held directly.
        self._dialogs = dialogs = parts.dialogs
        self._inbox = inbox = parts.inbox
        self._reliable = reliable = parts.reliable
        self._timers = parts.timers
        self._invites: dict[Dialog, ServerInvite] = {}
        #: BYEs asked for before our 2xx was ACKed (§15), per dialog: their headers,
        #: Reason and the handle ``bye()`` returned (see defer_bye).
        self._deferred_bye: dict[Dialog, tuple[Hdrs, str | None, ClientTxn]] = {}
        parts.restores.replay = self._replay
        #: An UPDATE or PRACK with an offer handed to the application, per dialog, until
        #: answered: its server transaction id (RFC 3311 §5.2).
        self._offers: dict[Dialog, int] = {}
        #: Whether every INVITE must be looked at for 100rel and timers (we require
        #: 100rel, or always impose a timer), not only those that mention them.
        config = ctx.config
        self._extensions = config.rel100 == "required" or config.session_timer == "always"
        inbox.unanswered = self._default_answer
        reliable.idle = self._release_2xx
        reliable.gave_up = self._unacknowledged
        dialogs.on_end(self._dialog_ended)

    def stats(self) -> dict[str, int]:
        return {
            "server_invites": len(self._invites),
            "deferred_byes": len(self._deferred_bye),
            "offers_to_answer": len(self._offers),
        }

    def offer_state(self, d: Dialog) -> Pending | None:
        """The offer/answer exchange requests we received opened on ``d`` (docs in
        offers.py): an INVITE's or re-INVITE's offer we have not answered (in a 2xx or
        a reliable 1xx), our offer in a 2xx to an INVITE without one until its ACK, an
        UPDATE's or PRACK's offer the application has not answered."""
        if d in self._offers:
            return "theirs"
        invite = self._invites.get(d)
        if invite is None:
            return None
        if invite.response is None:
            if invite.offer and not self._reliable.answered_early(d):
                return "theirs"
        elif not invite.offer and invite.response.body:
            return "ours"
        return None

    # -- requests ---------------------------------------------------------------------

    def on_request(self, event: RequestReceived) -> None:
        """A request from the Endpoint (an ACK for a 2xx has no transaction)."""
        txn = event.txn
        if txn is None:
            self._on_ack(event.request)
            return
        request = event.request
        ctx = self._ctx
        # The header fields the checks below ask about by presence, among the request's:
        # one pass over its header names (in C), then each question is a set look-up,
        # much cheaper than scanning the names (or asking request.headers) each time.
        present = PROBED.intersection(request.headers.keys())
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
            unsupported = [t for t in required if t.lower() not in ctx.supported]
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
        d = self._dialogs.get((request.call_id, to_tag, request.from_.tag or ""))
        if d is None and method == "NOTIFY":
            self._parts.subscriber.on_notify(request, txn, None)  # may create the dialog (RFC 6665)
            return
        # RFC 5057: a dialog whose INVITE usage ended lives on for its subscriptions.
        usages = (
            d is not None
            and method in ("NOTIFY", "SUBSCRIBE")
            and self._parts.subscriptions.has_usages(d)
        )
        if d is None or (d.state is _TERMINATED and method != "BYE" and not usages):
            if d is None and ctx.config.restore_wait is not None:
                # Another process may have held it: wait for the application to restore it.
                dialog_id = DialogId(request.call_id, to_tag, request.from_.tag or "")
                if self._parts.restores.hold(request, txn, dialog_id):
                    return
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
            self._parts.subscriber.on_notify(request, txn, d)
            return
        if method == "SUBSCRIBE":
            self._parts.notifier.on_subscribe(request, txn, d)
            return
        if method == "REFER":
            self._parts.transfers.on_refer(d, request, txn)
            return
        if method == "BYE":
            self._on_bye(d, request, txn)
            return
        if method == "PRACK":
            if self._reliable.on_prack(d, request, txn):
                self._hand_over_offer(d, request, txn)  # a new offer in the PRACK (§5)
            return
        if method == "INVITE":
            if self._parts.client.reinvite_pending(d):
                ctx.reply(txn, request, 491, to_tag=to_tag)  # §14.2: glare
                return
            if d.state is not _CONFIRMED or d in self._invites:
                ctx.reply(txn, request, 500, ctx.retry_after(), to_tag=to_tag)  # §14.2
                return
        if method in ("INVITE", "UPDATE") and not self._session_request(d, request, txn):
            return
        if method == "INVITE":
            self._invites[d] = ServerInvite(txn.id, seq, bool(request.body))
        elif method == "UPDATE" and request.body:
            self._hand_over_offer(d, request, txn)
            return
        self._inbox.hand_over(txn, request, d, after=ctx.config.answer_timeout)
        ctx.events.append(InDialogRequest(dialog_id=d.id, request=request, txn=txn))

    def _replay(self, request: Request, txn: ServerTxn) -> None:
        """A request that waited for its dialog to be restored (:mod:`.restores`): its
        checks up to the dialog's were passed on arrival."""
        self._in_dialog(request, txn, request.to.tag or "")

    def _session_request(self, d: Dialog, request: Request, txn: ServerTxn) -> bool:
        """A re-INVITE or UPDATE: False when answered here. An offer crossing an open
        exchange gets 491 or 500 (RFC 3311 §5.2, §14.2 for re-INVITE); a Session-Expires
        below our Min-SE gets 422 (RFC 4028 §9); an UPDATE without an offer that
        refreshes the session timer is answered at once (§10)."""
        ctx = self._ctx
        if request.body:
            refused = refusal(ctx, self._parts.negotiations.pending(d))
            if refused is not None:
                ctx.reply(txn, request, refused[0], refused[1], to_tag=d.local_tag)
                return False
        if "session-expires" in request.headers:
            min_se = self._timers.refusal(request)
            if min_se is not None:
                ctx.reply(txn, request, 422, min_se, to_tag=d.local_tag)
                return False
        if request.method == "UPDATE" and not request.body and self._timers.active(d):
            self._respond_now(d, request, txn)
            return False
        return True

    def _hand_over_offer(self, d: Dialog, request: Request, txn: ServerTxn) -> None:
        """An UPDATE or PRACK with an offer: the application answers it (488 by default)."""
        self._offers[d] = txn.id
        self._inbox.hand_over(txn, request, d, after=self._ctx.config.answer_timeout)
        self._ctx.events.append(InDialogRequest(dialog_id=d.id, request=request, txn=txn))

    def _respond_now(self, d: Dialog, request: Request, txn: ServerTxn) -> None:
        """200 to a session refresh without an offer (RFC 4028 §10), Session-Expires
        renewed; a target refresh too (§12.2.2)."""
        self._answer(d, request, txn, _OK)

    def _on_bye(self, d: Dialog, request: Request, txn: ServerTxn) -> None:
        ctx = self._ctx
        ctx.reply(txn, request, 200, to_tag=d.local_tag)  # §15.1.2
        if d.state is _TERMINATED:
            return  # BYEs crossed
        if d.role == "uas" and d.is_early:
            invite = self._invites.pop(d, None)
            if invite is not None:
                # §15.1.2: a BYE ends the pending INVITE with 487.
                pending = self._inbox.take(invite.txn)
                if pending is not None:
                    ctx.reply(ServerTxn(invite.txn), pending.request, 487, to_tag=d.local_tag)
        reason = _PEER_BYE[d.role]
        # §15: a callee MUST NOT BYE an early dialog. When one does and no other fork is
        # left, the client side CANCELs our INVITE (§9.1), as it does a pending re-INVITE.
        self._dialogs.end(d, _BYE_RECEIVED, reason, None, request)

    def _out_of_dialog(
        self, request: Request, txn: ServerTxn, source: Source, present: Collection[str]
    ) -> None:
        ctx = self._ctx
        method = request.method
        if method == "INVITE":
            self._new_call(request, txn, source.transport, present)
        elif method == "MESSAGE":
            self._inbox.hand_over(txn, request, None, after=ctx.config.answer_timeout)
            ctx.events.append(MessageReceived(request=request, txn=txn))
        elif method == "SUBSCRIBE":
            self._parts.notifier.on_subscribe(request, txn, None)
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
        self, request: Request, txn: ServerTxn, transport: str, present: Collection[str]
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
        rel100, timer = NOT_SUPPORTED, False
        if self._extensions or not EXTENSION_HEADERS.isdisjoint(present):
            found = self._invite_extensions(request, txn, present)
            if found is None:
                return  # refused
            rel100, timer = found
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
            ctx.local_contact(transport, secure=sips_contact(request, routes, contact, transport)),
            contact,  # remote_target
            route_set_from(routes, reverse=False) if routes else (),
            local_cseq,
            seq,  # remote_cseq
            _TRYING,
        )
        invite = self._invites[d] = ServerInvite(txn.id, seq, bool(request.body))
        invite.rel100, invite.timer = rel100, timer
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

    def _invite_extensions(
        self, request: Request, txn: ServerTxn, present: Collection[str]
    ) -> tuple[int, bool] | None:
        """What a new INVITE says of 100rel and session timers: (its 100rel support,
        whether our 2xx negotiates a timer); None when it was refused: 421 when we
        require 100rel and it does not support it (RFC 3262 §3), 422 when it asks for a
        session interval below our Min-SE (RFC 4028 §9)."""
        ctx = self._ctx
        rel100 = self._reliable.peer_support(request, present)
        if rel100 == NOT_SUPPORTED and self._reliable.required:
            ctx.reply(txn, request, 421, (("Require", "100rel"),))
            return None
        if "session-expires" in present:
            min_se = self._timers.refusal(request)
            if min_se is not None:
                ctx.reply(txn, request, 422, min_se)
                return None
        return rel100, self._timers.wanted(request, present)

    def _on_ack(self, ack: Request) -> None:
        """§13.3.1.4: the ACK for our 2xx stops its retransmission and confirms the dialog."""
        try:
            key = (ack.call_id, ack.to.tag or "", ack.from_.tag or "")
            seq = ack.cseq.seq
        except RemoteProtocolError:
            return
        d = self._dialogs.get(key)
        invite = self._invites.get(d) if d is not None else None
        if d is None or invite is None or invite.response is None or seq != invite.cseq:
            return  # a retransmitted or stray ACK: absorbed (§17.2.1)
        del self._invites[d]
        self._ctx.alarms.cancel(invite.alarm)
        if d.state is _WAIT_ACK:
            self._dialogs.change(d, _RECV_ACK, ack)
            if invite.replaces is not None:
                self._replaced(invite.replaces)  # RFC 3891 §3
        elif ack.body:
            self._ctx.events.append(InDialogRequest(dialog_id=d.id, request=ack, txn=None))
        if d.state is _CONFIRMED:
            held = self._deferred_bye.pop(d, None)
            if held is not None:
                why = _OUR_BYE[d.role]
                headers, reason, handle = held
                self._parts.client.send_bye(d, why, headers=headers, reason=reason, origin=handle)

    def on_cancel(self, event: CancelReceived) -> None:
        pending = self._inbox.get(event.txn.id)
        d = pending.dialog if pending is not None else None
        invite = self._invites.get(d) if d is not None else None
        if d is None or pending is None or invite is None or invite.txn != event.txn.id:
            if pending is not None and event.answered:
                # The endpoint answered it 487 (a re-INVITE of a dialog that ended
                # meanwhile, say): no answer of the application's, or default, can follow.
                self._inbox.take(event.txn.id)
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
        if old is None or old.state is _TERMINATED:
            return
        if old.state is _WAIT_ACK:
            self._defer_bye(old)  # §15: after its ACK
        elif old.state is _CONFIRMED:
            why = _OUR_BYE[old.role]
            self._parts.client.send_bye(old, why)
        elif old.is_early:
            self._parts.caller.send_cancel(old)

    # -- answering ---------------------------------------------------------------------

    def answer(self, d: Dialog, reply: Reply, *, reliable: bool | None = None, now: float) -> None:
        """The callee's answer to the initial INVITE (§13.3.1): ringing, progress,
        accept, reject. ``reliable`` for a 1xx: see ReliableProvisionals.choose."""
        ctx = self._ctx
        if now < ctx.now:
            ctx.advance(now)  # raises: the clock went backwards
        ctx.now = now
        self._answer_invite(d, reply, reliable)
        ctx.drain()

    def _answer_invite(self, d: Dialog, reply: Reply, reliable: bool | None = None) -> None:
        """:meth:`answer` without the clock and the drain (also for ``ua.respond`` and
        the answers the UA gives by itself)."""
        ctx = self._ctx
        status = reply.status
        invite = self._invites.get(d)
        if d.role != "uas" or invite is None or d.state not in _ANSWERABLE:
            raise LocalProtocolError(f"dialog {d.id} has no INVITE waiting for an answer")
        pending = self._inbox.get(invite.txn)
        if pending is None:
            raise LocalProtocolError(f"the INVITE of {d.id} was already answered or ended")
        if invite.held is not None:
            if status < 300:
                raise LocalProtocolError(
                    f"the INVITE of {d.id} was accepted: its 2xx waits for the PRACK of a "
                    "reliable provisional response (RFC 3262 §3)"
                )
            invite.held = None  # a rejection instead of the 2xx not sent yet
        request = pending.request
        body = reply.body
        content_type: str | None = reply.content_type
        if body and content_type is None:
            content_type = body_type("INVITE", body, content_type)
        # The route set is the INVITE's Record-Route list (§12.1.1): when it is empty
        # there is none to copy.
        extra = self._dialog_headers(d, request, status, record_route=bool(d.route_set))
        extra += ctx.common
        extra += reply.headers
        sent_reliably = False
        negotiated: Negotiated | None = None
        if status < 200:
            if invite.rel100 or reliable:
                sent_reliably = self._reliable.choose(invite.rel100, status, reliable)
            if sent_reliably:
                extra += self._reliable.next_headers(d, invite.txn, invite.cseq)
        elif invite.rel100 and not self._reliable.final(d, status):
            # RFC 3262 §3: the 2xx waits until our reliable 1xx are PRACKed.
            invite.held = reply
            return
        elif status < 300 and invite.timer:
            negotiated = self._timers.grant(d, request)  # RFC 4028 §9
            if negotiated is not None:
                extra += negotiated.headers
        response = make_response(
            request,
            status,
            reply.reason,
            to_tag=d.local_tag,
            headers=extra,
            body=body,
            content_type=content_type if body else None,
        )
        if sent_reliably:
            self._reliable.send(d, response, invite_offer=invite.offer)
        else:
            ctx.endpoint.send_response(ServerTxn(invite.txn), response, now=ctx.now)
        if status < 200:
            self._dialogs.change(d, _SENT_1XX, response)
            return
        self._inbox.take(invite.txn)
        if status < 300:
            self._dialogs.change(d, _SENT_2XX, response)
            self._start_retransmit(d, invite, response)
            if negotiated is not None:
                self._timers.granted(d, negotiated, response, body)
        else:
            del self._invites[d]
            why = reason_for_rejection(status)
            self._dialogs.end(d, DialogInput.SENT_FAILURE, why, status, response)

    def _release_2xx(self, d: Dialog) -> None:
        """The last reliable 1xx was PRACKed: the 2xx held for it goes (RFC 3262 §3)."""
        invite = self._invites.get(d)
        if invite is None or invite.held is None:
            return
        reply = invite.held
        invite.held = None
        self._answer_invite(d, reply)

    def _unacknowledged(self, d: Dialog) -> None:
        """A reliable 1xx went unacknowledged for 64*T1: RFC 3262 §3 has the UAS "reject
        the original request with a 5xx response" (500, as a 2xx held for it is void)."""
        invite = self._invites.get(d)
        if invite is not None and invite.response is None and d.is_early:
            invite.held = None
            self._answer_invite(d, Reply(500))

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
        if 200 <= status < 300:  # §13.3.1.4: Allow, and Supported in a 2xx to an INVITE
            out.append(("Allow", self._ctx.allow_value))
            if request.method == "INVITE":  # (the same as in our answer to OPTIONS, §11.2)
                out.append(("Supported", self._ctx.supported_value))
        return out

    def _start_retransmit(self, d: Dialog, invite: ServerInvite, response: Response) -> None:
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
            self._parts.client.send_bye(
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
        self._respond(txn, Reply(status, reason, tuple(headers), body, content_type))
        ctx.drain()

    def _respond(self, txn: ServerTxn, reply: Reply) -> None:
        """:meth:`respond` without the clock and the drain."""
        pending = self._inbox.get(txn.id)
        if pending is None:
            raise LocalProtocolError(f"{txn!r} is not a request waiting for an answer")
        d = pending.dialog
        request = pending.request
        method = request.method
        if d is not None and d.role == "uas" and method == "INVITE" and d.is_early:
            self._answer_invite(d, reply)
            return
        sub = pending.sub
        if sub is not None:  # a SUBSCRIBE: accept() or reject() it
            if 200 <= reply.status < 300:
                self._parts.notifier.answer_accept(sub, reply)
            elif reply.status >= 300:
                self._parts.notifier.answer_reject(sub, reply)
            else:
                raise LocalProtocolError("a SUBSCRIBE is answered with a final status (RFC 6665)")
            return
        self._answer(d, request, txn, reply)

    def _answer(
        self,
        d: Dialog | None,
        request: Request,
        txn: ServerTxn,
        reply: Reply,
    ) -> None:
        """Answer ``request`` (not an initial INVITE, not a SUBSCRIBE) on ``txn`` with
        ``reply``, and apply what a final answer does to its dialog."""
        ctx = self._ctx
        method = request.method
        status = reply.status
        body = reply.body
        content_type: str | None = reply.content_type
        extra: list[tuple[str, str]] = []
        negotiated: Negotiated | None = None
        if d is not None and method in ("INVITE", "UPDATE"):
            # A target refresh keeps the route set: no Record-Route copied.
            extra = self._dialog_headers(d, request, status, record_route=False)
            if 200 <= status < 300:
                negotiated = self._timers.grant(d, request)  # a session refresh (RFC 4028)
                if negotiated is not None:
                    extra += negotiated.headers
        elif method == "REFER" and 200 <= status < 300:
            extra = list(accept_headers(request))
        elif status == 405 or (method == "OPTIONS" and 200 <= status < 300):
            extra = [("Allow", ctx.allow_value)]
            if method == "OPTIONS":
                extra += [("Accept", "application/sdp"), ("Supported", ctx.supported_value)]
        if body and content_type is None:
            content_type = body_type(method, body, content_type)
        tag = d.local_tag if d is not None else (None if request.to.tag else ctx.new_tag())
        response = make_response(
            request,
            status,
            reply.reason,
            to_tag=tag,
            headers=[*extra, *ctx.common, *reply.headers],
            body=body,
            content_type=content_type if body else None,
        )
        ctx.endpoint.send_response(txn, response, now=ctx.now)
        if status < 200:
            return
        self._inbox.take(txn.id)
        if d is None:
            return
        if self._offers.get(d) == txn.id:
            del self._offers[d]  # the offer is answered, or refused
        if method == "INVITE":
            invite = self._invites.get(d)
            if invite is None or invite.txn != txn.id:
                return
            if status < 300:
                self._dialogs.refresh_target(d, request)  # §12.2.2: target refresh
                self._start_retransmit(d, invite, response)
            else:
                del self._invites[d]
        elif method == "UPDATE" and status < 300:
            self._dialogs.refresh_target(d, request)
        elif method == "REFER" and status < 300:
            self._parts.transfers.accepted(d, request)
        if negotiated is not None:
            self._timers.granted(d, negotiated, response, body)

    def _default_answer(self, txn_id: int, at: float) -> None:
        """The documented answer to a request the application left unanswered."""
        pending = self._inbox.get(txn_id)
        if pending is None:
            return
        request = pending.request
        method = request.method
        # We cannot invent an answer to a session offer (RFC 3264 §6): 488. Nobody
        # agreed to a transfer (603) or a subscription (480) either.
        if method == "INVITE" or (method in ("UPDATE", "PRACK") and request.body):
            status = 488
        else:
            status = {"REFER": 603, "SUBSCRIBE": 480}.get(method, 200)
        self._respond(ServerTxn(txn_id), Reply(status))

    def _ring_timeout(self, txn_id: int, at: float) -> None:
        pending = self._inbox.get(txn_id)
        d = pending.dialog if pending is not None else None
        invite = self._invites.get(d) if d is not None else None
        if d is not None and invite is not None and invite.txn == txn_id and d.is_early:
            self._answer_invite(d, Reply(480))

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
        if self._offers:
            self._offers.pop(d, None)

    def on_failure(self, event: TransactionTimedOut | TransportFailed) -> None:
        """A server transaction failed: the application hears of it if it was handed
        its request."""
        if self._inbox.is_app_txn(event.txn.id):
            self._ctx.events.append(event)

    def unanswered_ended(self, event: TransactionTerminated, pending: Incoming) -> None:
        """The server transaction of ``pending``, a request the application had not
        answered, ended (a transport failure): it can no longer be answered."""
        txn_id = event.txn.id
        if pending.sub is not None:
            self._parts.notifier.abandon(pending.sub)  # the SUBSCRIBE can no longer be answered
        d = pending.dialog
        if d is not None and self._offers.get(d) == txn_id:
            del self._offers[d]
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
