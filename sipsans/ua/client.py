"""The UserAgent's client side: the requests it sends (other than the calls it places,
:mod:`sipsans.ua.calls`) and what comes back (RFC 3261 §8.1, §12.2.1, §13.2.2.4,
§14.1, §15.1.1, §22.2).

:class:`ClientSide` sends requests within dialogs (BYE, re-INVITE, UPDATE, INFO, ...)
and outside them (OPTIONS, MESSAGE, ...), ACKs every 2xx to an INVITE (§13.2.2.4),
answers 401/407 with credentials once per challenge, and backs off and retries a
re-INVITE that met 491 (§14.1). Every response is passed on to the application as
``ResponseReceived`` with the handle the command returned, except the 401/407s it
answers itself, the 491s it retries and the 2xx retransmissions it re-ACKs.

What it tracks: every request it sent (by transaction), and per dialog the re-INVITE
of ours still running, a §14.1 retry waiting for its moment and a 2xx offer waiting
for the ACK's answer (RFC 3264 §5).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypedDict, Unpack

from ..dialog.model import Dialog, build_request, target_for
from ..dialog.state import DialogInput, DialogState, TerminatedReason
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.fields import NameAddr, parse_name_addr
from ..message.model import Request, Response, make_request
from ..message.uri import URI, SipURI
from ..transaction.events import (
    ResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from ..transaction.transport import ClientTxn, Target
from .alarms import Alarm
from .context import UAContext
from .dialogs import DialogTable, by_role
from .failover import begin_walk, failure_of, retry_after
from .offers import Negotiations, Pending
from .records import Content, Hdrs, Outgoing, body_type
from .resending import answer_challenge, next_target, retry_of

__all__ = [
    "ClientPart",
    "ClientSide",
    "answer_challenge",
    "name_addr_arg",
    "pass_on",
    "rewrite",
    "untagged",
]

_AUTH_HEADERS = ("authorization", "proxy-authorization")

#: Methods whose failure ends only their own usage of the dialog, not the dialog:
#: a BYE ends it anyway; a 481 or timeout to NOTIFY/SUBSCRIBE ends one subscription
#: (RFC 5057, RFC 6665 §4.1.2.2, §4.2.2).
_USAGE_ONLY = frozenset({"BYE", "NOTIFY", "SUBSCRIBE"})

#: Methods outside a dialog that have commands of their own (send_request refuses them).
_HAVE_COMMANDS = {
    "INVITE": "ua.invite()",
    "ACK": "it is sent for you (or dialog.ack() for a late offer)",
    "CANCEL": "dialog.cancel()",
    "BYE": "dialog.bye() (only within a dialog)",
    "REGISTER": "ua.register()",
    "SUBSCRIBE": "ua.subscribe()",
    "PRACK": "only within a dialog",
    "UPDATE": "dialog.update() (only within a dialog)",
    "INFO": "dialog.info() (only within a dialog, RFC 6086)",
    "NOTIFY": "a subscription's notify() (only within a dialog)",
    "REFER": "dialog.refer() (only within a dialog)",
}


#: Given the ACK of a late offer once sent, and where it went.
KeepAck = Callable[[Request, Target], None]


class Request_(TypedDict, total=False):
    """What a request outside a dialog may carry besides its method and target."""

    from_: str | NameAddr | None
    body: bytes
    content_type: str | None
    headers: Iterable[tuple[str, str]]
    target: Target | None
    targets: Sequence[Target] | None


#: Requests within a dialog that refresh the session (and the target, §12.2): they say
#: what we support and carry the session timer (RFC 4028 §7.4).
SESSION_REFRESHES = frozenset({"INVITE", "UPDATE"})

#: Dialog states in which requests may be sent within the dialog.
_USABLE = frozenset({DialogState.EARLY, DialogState.WAIT_ACK, DialogState.CONFIRMED})
_CONFIRMED = frozenset({DialogState.CONFIRMED})


# -- what the client side asks of the parts bound to it (they send through it) ---------


class _Reliable(Protocol):  # sipsans.ua.reliable.ReliableProvisionals (RFC 3262)
    def early_exchange_done(self, d: Dialog) -> bool: ...


class _Timers(Protocol):  # sipsans.ua.session_timers.SessionTimers (RFC 4028)
    def request_headers(self, d: Dialog) -> Hdrs: ...

    def on_2xx(self, d: Dialog, request: Request, response: Response) -> None: ...

    def after_422(self, request: Request, response: Response) -> Request | None: ...

    def described(self, d: Dialog, body: bytes, content_type: str | None) -> None: ...


class ClientSide:
    """Requests the UA sends and their outcomes (see the module docstring)."""

    __slots__ = (
        "_ctx",
        "_dialogs",
        "_glare",
        "_late",
        "_negotiations",
        "_out",
        "_reinvites",
        "_reliable",
        "_timers",
        "_updates",
    )

    _reliable: _Reliable
    _timers: _Timers

    def __init__(self, ctx: UAContext, dialogs: DialogTable, negotiations: Negotiations) -> None:
        self._ctx = ctx
        self._dialogs = dialogs
        self._negotiations = negotiations
        self._out: dict[int, Outgoing] = {}  # client transaction id -> request record
        #: Our re-INVITE still running, per dialog: its client transaction id.
        self._reinvites: dict[Dialog, int] = {}
        #: A re-INVITE answered 491 waiting for its §14.1 retry: its record and alarm.
        self._glare: dict[Dialog, tuple[Outgoing, Alarm]] = {}
        #: A 2xx carrying an offer for our offer-less INVITE or re-INVITE: the ACK waits
        #: for ack() (RFC 3264 §5). The INVITE it answers, who keeps the ACK for the
        #: 2xx's retransmissions, and the alarm of the default.
        self._late: dict[Dialog, tuple[Request, KeepAck | None, Alarm]] = {}
        #: Our UPDATE carrying an offer, per dialog, until its final response (RFC 3311
        #: §5.1: one offer at a time): its client transaction id.
        self._updates: dict[Dialog, int] = {}
        dialogs.on_end(self._dialog_ended)

    def bind(self, *, reliable: _Reliable, timers: _Timers) -> None:
        """The parts our requests within dialogs involve: 100rel (RFC 3262) and session
        timers (RFC 4028). (They send their requests through this side, so they are made
        after it; the UserAgent binds them.)"""
        self._reliable = reliable
        self._timers = timers

    def stats(self) -> dict[str, int]:
        return {
            "requests": len(self._out),
            "reinvites": len(self._reinvites),
            "glare_retries": len(self._glare),
            "late_offers": len(self._late),
            "update_offers": len(self._updates),
        }

    def awaits_answer(self, d: Dialog) -> bool:
        """Whether a 2xx's offer on ``d`` waits for the application's answer (RFC 3264 §5)."""
        return d in self._late

    def reinvite_pending(self, d: Dialog) -> bool:
        """Whether a re-INVITE of ours is in progress on ``d`` (§14.2 glare)."""
        return d in self._reinvites

    def offer_state(self, d: Dialog) -> Pending | None:
        """The offer/answer exchange our requests within ``d`` opened (see offers.py):
        our UPDATE or re-INVITE offer, or the offer of a 2xx awaiting our ACK. (An offer
        refused with 491 and waiting for its §14.1 retry is not open: the peer's may
        go first.)"""
        if d in self._late:
            return "theirs"
        if d in self._updates:
            return "ours"
        reinvite = self._reinvites.get(d)
        if reinvite is not None:
            out = self._out.get(reinvite)
            return "ours" if out is not None and out.request.body else None
        return None

    # -- commands: calls ------------------------------------------------------------------

    def send_request(
        self,
        method: str,
        to: str | NameAddr | SipURI,
        *,
        from_: str | NameAddr | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        target: Target | None = None,
        targets: Sequence[Target] | None = None,
        now: float,
    ) -> ClientTxn:
        """A request outside any dialog (OPTIONS §11, MESSAGE RFC 3428, or any method the
        peer understands that makes no dialog). Its responses arrive as
        ``ResponseReceived`` with the handle returned; 401/407 are answered with the UA's
        credentials. It goes to ``target``, else to the first Route in ``headers``, else
        to the To URI's host, port and ``transport=``. ``targets`` (instead of
        ``target``) are the places RFC 3263 found for it, in order: it fails over to the
        next on 503, time-out or transport error (``TargetFailed``)."""
        ctx = self._ctx
        ctx.advance(now)
        method = method.upper()
        if method in _HAVE_COMMANDS:
            raise LocalProtocolError(f"{method} has a command of its own: {_HAVE_COMMANDS[method]}")
        to_addr = name_addr_arg(to, "To")
        ruri = to_addr.uri
        if isinstance(ruri, SipURI):
            ruri = ruri.without_headers()
        local = untagged(ctx.identity if from_ is None else name_addr_arg(from_, "From"))
        extra = tuple(headers)
        walk = None
        if targets is not None:
            target, walk = begin_walk(ctx, targets, target)
        if target is None:
            routes = [v for k, v in extra if k.lower() == "route"]
            target = target_for(name_addr_arg(routes[0], "Route").uri if routes else ruri)
        content_type = body_type(method, body, content_type)
        request = make_request(
            method,
            ruri,
            from_=f"{local};tag={ctx.new_tag()}",
            to=str(untagged(to_addr)),
            call_id=ctx.new_call_id(),
            cseq=ctx.rng.randrange(1, 2**15),
            # §11.1: an OPTIONS may say where we are; other requests here make no dialog.
            contact=ctx.local_contact(
                target.transport, secure=isinstance(ruri, SipURI) and ruri.secure
            )
            if method == "OPTIONS"
            else None,
            headers=[*ctx.common, *extra],
            body=body,
            content_type=content_type,
        )
        out = Outgoing(None, request, target, ClientTxn(0), body, content_type, extra)
        out.walk = walk
        txn = self.send_out_of_dialog(request, target, out)
        ctx.drain()
        return txn

    def options(
        self, to: str | NameAddr | SipURI, *, now: float, **kw: Unpack[Request_]
    ) -> ClientTxn:
        """OPTIONS outside any dialog (§11): what the peer supports, or whether it is there."""
        return self.send_request("OPTIONS", to, now=now, **kw)

    def message(
        self, to: str | NameAddr | SipURI, *, now: float, **kw: Unpack[Request_]
    ) -> ClientTxn:
        """A MESSAGE outside any dialog (RFC 3428); ``content_type`` defaults to text/plain."""
        return self.send_request("MESSAGE", to, now=now, **kw)

    def ack(
        self, d: Dialog, *, body: bytes = b"", content_type: str | None = None, now: float
    ) -> None:
        """The ACK carrying the answer to the offer of a 2xx to our INVITE or re-INVITE
        sent without one (late offer, RFC 3264 §5)."""
        ctx = self._ctx
        ctx.advance(now)
        if d not in self._late:
            raise LocalProtocolError("no 2xx with an offer is waiting for an ACK on this dialog")
        self._late_ack(d, body, content_type)
        ctx.drain()

    def hold_ack(self, d: Dialog, invite: Request, keep: KeepAck | None) -> None:
        """The 2xx offers a session our INVITE did not: its ACK carries the answer, so it
        waits for ack() (RFC 3264 §5), at most UAConfig.answer_timeout. ``keep`` is given
        the ACK once sent (to resend it for the 2xx's retransmissions)."""
        ctx = self._ctx
        deadline = ctx.now + ctx.config.answer_timeout
        self._late[d] = (invite, keep, ctx.alarms.at(deadline, self._late_unanswered, d))

    def _late_ack(self, d: Dialog, body: bytes, content_type: str | None) -> None:
        invite, keep, alarm = self._late.pop(d)
        self._ctx.alarms.cancel(alarm)
        ack, target = self.send_ack(d, body, content_type, invite)
        if keep is not None:
            keep(ack, target)
        if body:
            self._timers.described(d, body, ack.content_type)  # re-offered by a refresh

    # -- commands: requests within a dialog ---------------------------------------------

    def request(
        self, d: Dialog, method: str, *, now: float, **content: Unpack[Content]
    ) -> ClientTxn:
        """Any request within ``d`` but those with commands of their own."""
        self._ctx.advance(now)
        method = method.upper()
        if method in ("ACK", "CANCEL", "BYE", "INVITE"):
            raise LocalProtocolError(
                f"use the dialog's {method.lower()}() / reinvite() / hangup() for {method}"
            )
        if method == "SUBSCRIBE":
            # A SUBSCRIBE the UA does not track would get its NOTIFYs answered 481 by
            # this very UA (RFC 6665 §4.1.3).
            raise LocalProtocolError("use the dialog's subscribe() to SUBSCRIBE within it")
        if method == "PRACK":
            raise LocalProtocolError("the UA sends PRACKs itself (dialog.prack() to answer)")
        if d.state not in _USABLE:
            raise LocalProtocolError(f"dialog {d.id} is {d.state.value}: no requests within it")
        offer = method == "UPDATE" and bool(content.get("body"))
        if offer:
            self._check_update_offer(d)
        txn, origin = self.send(d, method, **content)
        if offer:
            self._updates[d] = txn.id
        self._ctx.drain()
        return origin

    def _check_update_offer(self, d: Dialog) -> None:
        """RFC 3311 §5.1: an UPDATE may carry an offer only while no exchange is open,
        and in an early dialog only once the initial one completed (reliably)."""
        if d in self._glare:
            raise LocalProtocolError("an offer of ours is waiting for its §14.1 retry")
        pending = self._negotiations.pending(d)
        if pending is not None:
            whose = "our offer is" if pending == "ours" else "the peer's offer is"
            raise LocalProtocolError(
                f"{whose} waiting for its answer: no new offer in an UPDATE (RFC 3311 §5.1)"
            )
        if d.is_early and not self._reliable.early_exchange_done(d):
            raise LocalProtocolError(
                "an UPDATE offer in an early dialog needs the initial offer/answer completed "
                "in a reliable 1xx and its PRACK (RFC 3311 §5.1)"
            )

    def reinvite(self, d: Dialog, *, now: float, **content: Unpack[Content]) -> ClientTxn:
        """A re-INVITE (§14.1); a 491 is retried after the randomised back-off."""
        self._ctx.advance(now)
        if d.state is not DialogState.CONFIRMED:
            raise LocalProtocolError(
                f"re-INVITE needs a confirmed dialog; {d.id} is {d.state.value}"
            )
        if d in self._reinvites or d in self._glare:
            raise LocalProtocolError("a re-INVITE is already in progress on this dialog (§14.1)")
        if d in self._updates:
            raise LocalProtocolError(
                "our UPDATE's offer is waiting for its answer (RFC 3311 §5.1): no re-INVITE yet"
            )
        if d in self._late:
            # §14.1: the initial INVITE is not over until its ACK, and its offer is still
            # unanswered (RFC 3264 §4 allows no new offer before the answer).
            raise LocalProtocolError(
                "the 2xx's offer is waiting for its answer: call ack(body=...) before reinvite()"
            )
        txn, origin = self.send(d, "INVITE", **content)
        self._reinvites[d] = txn.id
        self._ctx.drain()
        return origin

    def bye(
        self, d: Dialog, *, headers: Hdrs = (), reason: str | None = None, now: float
    ) -> ClientTxn:
        """BYE on a confirmed dialog (§15.1.1); ``reason`` is an RFC 3326 Reason value."""
        self._ctx.advance(now)
        if d.state is not DialogState.CONFIRMED:
            raise LocalProtocolError(
                f"BYE needs a confirmed dialog; {d.id} is {d.state.value} (use hangup())"
            )
        why = by_role(d, local=True, uac=TerminatedReason.UAC_BYE, uas=TerminatedReason.UAS_BYE)
        txn = self.send_bye(d, why, headers=headers, reason=reason)
        self._ctx.drain()
        return txn

    def send(
        self, d: Dialog, method: str, *, origin: ClientTxn | None = None, **content: Unpack[Content]
    ) -> tuple[ClientTxn, ClientTxn]:
        """Send a request within ``d``: (its transaction, the handle the application
        holds: ``origin`` when this is a retry of an earlier request)."""
        body = content.get("body")
        content_type = body_type(method, body, content.get("content_type"))
        headers = tuple(content.get("headers", ()))
        if method in SESSION_REFRESHES:
            # What we support, and the session timer this refreshes (RFC 4028 §7.4),
            # unless the application says it itself.
            ours = (("Supported", self._ctx.supported_value), *self._timers.request_headers(d))
            if headers:
                given = {name.lower() for name, _ in headers}
                ours = tuple(pair for pair in ours if pair[0].lower() not in given)
            headers = (*ours, *headers)
        request, target = self._build(d, method, body, content_type, headers)
        txn = self._ctx.endpoint.send_request(request, target=target, now=self._ctx.now)
        out = Outgoing(d, request, target, origin or txn, body, content_type, headers)
        self._track(txn, out)
        return txn, out.origin

    def refresh(self, d: Dialog, method: str, **content: Unpack[Content]) -> None:
        """A session refresh of the UA's own (RFC 4028 §10): an UPDATE, or a re-INVITE
        (tracked as ours, for glare and its ACK); its responses stay with the UA."""
        txn, _ = self.send(d, method, **content)
        self._out[txn.id].quiet = True
        if method == "INVITE":
            self._reinvites[d] = txn.id

    def _build(
        self,
        d: Dialog,
        method: str,
        body: bytes | None,
        content_type: str | None,
        headers: Hdrs,
    ) -> tuple[Request, Target]:
        """The next request within ``d`` (a new CSeq, §12.2.1.1) and where it goes."""
        seq = self._dialogs.next_cseq(d, method)
        request, hop = build_request(
            d,
            method,
            seq,
            headers=(*self._ctx.common, *headers),
            body=body or b"",
            content_type=content_type if body else None,
        )
        return request, target_for(hop, d.target)

    def send_bye(
        self,
        d: Dialog,
        why: TerminatedReason,
        *,
        headers: Hdrs = (),
        reason: str | None = None,
        status: int | None = None,
        origin: ClientTxn | None = None,
    ) -> ClientTxn:
        """BYE now and end ``d`` with ``why`` (§15.1.1)."""
        extra = (*headers, ("Reason", reason)) if reason else headers
        _, txn = self.send(d, "BYE", headers=extra, origin=origin)
        self._dialogs.end(d, DialogInput.BYE_SENT, why, status)
        return txn

    def send_out_of_dialog(self, request: Request, target: Target, out: Outgoing) -> ClientTxn:
        """Send ``request`` outside any dialog and track it as ``out`` (its ``origin``
        is set to the new transaction when it has none)."""
        txn = self._ctx.endpoint.send_request(request, target=target, now=self._ctx.now)
        if out.origin.id == 0:
            out.origin = txn
        self._track(txn, out)
        return txn

    def _track(self, txn: ClientTxn, out: Outgoing) -> None:
        self._out[txn.id] = out
        self._ctx.client_txns[txn.id] = self
        out.live += 1
        if out.dialog is not None:
            self._dialogs.hold(out.dialog)

    def outgoing(self, txn: ClientTxn) -> Outgoing:
        """The record of a request just sent (for the part that sent it)."""
        return self._out[txn.id]

    # -- responses ----------------------------------------------------------------------

    def on_response(self, event: ResponseReceived) -> None:
        """A response to a request of ours."""
        assert event.txn is not None
        self._out_response(self._out[event.txn.id], event)

    def _late_unanswered(self, d: Dialog, at: float) -> None:
        """The application never answered the offer of the 2xx: ACK without an answer
        and end the session (RFC 3264 §5 leaves no valid alternative)."""
        if d not in self._late:
            return
        self._late_ack(d, b"", None)
        if d.state is DialogState.CONFIRMED:
            self.send_bye(d, TerminatedReason.UAC_OTHER, reason="SIP;cause=488")

    def _tell(self, out: Outgoing, event: ResponseReceived) -> None:
        """Pass a response to ``out`` on, unless the UA sent ``out`` on its own."""
        if not out.quiet:
            pass_on(self._ctx, event, out.origin)

    def _out_response(self, out: Outgoing, event: ResponseReceived) -> None:
        resp = event.response
        code = resp.status_code
        d = out.dialog
        method = out.request.method
        if code < 200:
            if not out.quiet:
                pass_on(self._ctx, event, out.origin)
            return
        if code in (401, 407, 422):
            request = self._retry_of(out, resp)
            if request is not None:
                self._resend(out, request)
                return
        walk = out.walk
        if walk is not None:
            if code == 503:
                if self._fail_over(out, f"{code} {resp.reason}", code, retry_after(resp)):
                    return
            else:
                walk.succeeded(out.target)
        if out.on_final is not None:
            out.on_final(out, code, resp)
            if out.quiet:
                return
        if d is not None and method == "INVITE":
            if 200 <= code < 300:
                if out.ack is not None:
                    self._resend_ack(out.ack, d)  # a 2xx retransmission (§13.2.2.4)
                    return
                late = self._late.get(d)
                if late is not None and late[0] is out.request:
                    return  # a retransmission while the answer is awaited: ACKed with it
                if event.txn is not None and self._reinvites.get(d) == event.txn.id:
                    del self._reinvites[d]
                self._dialogs.refresh_target(d, resp)
                self._tell(out, event)
                if not out.request.body and resp.body and d.state is DialogState.CONFIRMED:
                    # An offer in the 2xx (RFC 3264 §5): the ACK waits for the answer.
                    self.hold_ack(d, out.request, out.keep_ack)
                else:
                    # §13.2.2.4: every 2xx is ACKed, also one that crossed our BYE (the
                    # peer would otherwise retransmit it until its Timer H and end the
                    # dialog anew).
                    out.ack = self.send_ack(d, b"", None, out.request)[0]
                if d.state is DialogState.CONFIRMED:
                    self._timers.on_2xx(d, out.request, resp)  # a session refresh (RFC 4028)
                return
            self._reinvites.pop(d, None)
            if code == 491 and self._glare_retry(d, out, DialogState.CONFIRMED):
                return
        elif d is not None and method == "UPDATE":
            if event.txn is not None and self._updates.get(d) == event.txn.id:
                del self._updates[d]  # the offer is answered, or refused (RFC 3311 §5.1)
            if 200 <= code < 300:
                self._dialogs.refresh_target(d, resp)
                if d.state is DialogState.CONFIRMED:
                    self._timers.on_2xx(d, out.request, resp)
            elif code == 491 and out.body and self._glare_retry(d, out, *_USABLE):
                return
        self._tell(out, event)
        if d is not None and code in (408, 481) and method not in _USAGE_ONLY:
            # §12.2.1.2: the dialog is gone at the other end.
            reason = (
                TerminatedReason.TIMEOUT
                if code == 408
                else by_role(
                    d, local=False, uac=TerminatedReason.UAC_OTHER, uas=TerminatedReason.UAS_OTHER
                )
            )
            self._dialogs.end(d, DialogInput.FAILED, reason, code, resp)

    def _retry_of(self, out: Outgoing, resp: Response) -> Request | None:
        """``out``'s request to send again when its failure can be answered: a 401/407
        with credentials, a 422 to a re-INVITE or UPDATE (see :func:`retry_of`)."""
        d = out.dialog
        method = out.request.method
        if resp.status_code == 422:
            if method not in SESSION_REFRESHES:
                return None
        elif d is not None and method == "INVITE" and d.state is not DialogState.CONFIRMED:
            # The dialog ended meanwhile: a new re-INVITE on it could stay in Proceeding
            # for ever (§17.1.1.2 gives that state no timer). The challenge is the outcome.
            return None
        return retry_of(self._ctx, self._timers, d, out, resp)

    def _resend(self, out: Outgoing, request: Request) -> None:
        """Send ``out``'s request again as ``request``, with the next CSeq (§8.1.3.5)."""
        d = out.dialog
        if d is not None:
            seq = self._dialogs.next_cseq(d, request.method)
        else:
            seq = out.request.cseq.seq + 1
        request.headers.set("CSeq", f"{seq} {request.method}")
        out.request = request
        txn = self._ctx.endpoint.send_request(request, target=out.target, now=self._ctx.now)
        self._track(txn, out)
        if out.on_retry is not None:
            out.on_retry(out)
        if d is not None and request.method == "INVITE":
            self._reinvites[d] = txn.id
        elif d is not None and request.method == "UPDATE" and request.body:
            self._updates[d] = txn.id

    def _glare_retry(self, d: Dialog, out: Outgoing, *states: DialogState) -> bool:
        """§14.1 (RFC 3311 §5.1 for UPDATE): after a 491, retry the offer at a random
        time while ``d`` is in one of ``states``: 2.1-4 s when we own the Call-ID (we
        were the UAC), 0-2 s otherwise, in units of 10 ms; at most
        ``UAConfig.glare_retries`` times, after which the 491 is the outcome. The
        application's handle gets the retry's outcome; the retry waiting holds the
        record, so the handle does not end with the 491's transaction."""
        ctx = self._ctx
        if d.state not in states or out.glare_rounds >= ctx.config.glare_retries:
            return False
        low, high = (210, 400) if d.role == "uac" else (0, 200)
        wait = ctx.rng.randint(low, high) / 100
        out.glare_rounds += 1
        out.live += 1
        self._glare[d] = (out, ctx.alarms.at(ctx.now + wait, self._retry_offer, d))
        return True

    def _retry_offer(self, d: Dialog, at: float) -> None:
        glare = self._glare.pop(d, None)
        if glare is None:
            return
        out = glare[0]
        out.live -= 1
        method = out.request.method
        if d.state not in (_USABLE if method == "UPDATE" else _CONFIRMED):
            self._record_ended(out)
            return
        request, target = self._build(d, method, out.body, out.content_type, out.headers)
        txn = self._ctx.endpoint.send_request(request, target=target, now=self._ctx.now)
        out.request, out.target, out.ack = request, target, None
        self._track(txn, out)
        (self._reinvites if method == "INVITE" else self._updates)[d] = txn.id

    def _record_ended(self, out: Outgoing) -> None:
        """The last transaction of ``out`` ended: so does the application's handle."""
        if out.live == 0 and not out.quiet:
            self._ctx.events.append(TransactionTerminated(txn=out.origin))

    # -- ACK for 2xx (§13.2.2.4) ------------------------------------------------------------

    def send_ack(
        self,
        d: Dialog,
        body: bytes,
        content_type: str | None,
        invite: Request,
        *,
        target: Target | None = None,
    ) -> tuple[Request, Target]:
        """Build and send the ACK for the 2xx to ``invite`` within ``d``: same CSeq
        number, the dialog's route set, the INVITE's credentials, a new branch (no
        transaction). Returns it and where it went, to be resent for each retransmission
        of the 2xx (§13.2.2.4). ``target``: where to send it instead of the dialog's
        next hop (one that cannot be reached)."""
        creds: Hdrs = ()
        if any(name in invite.headers for name in _AUTH_HEADERS):
            creds = tuple((k, v) for k, v in invite.headers if k.lower() in _AUTH_HEADERS)
        content_type = body_type("ACK", body, content_type)
        request, hop = build_request(
            d,
            "ACK",
            invite.cseq.seq,
            headers=creds,
            body=body,
            content_type=content_type if body else None,
        )
        if target is None:
            target = target_for(hop, d.target)
        sent = self._ctx.endpoint.send_stateless(request, target=target, now=self._ctx.now)
        assert isinstance(sent, Request)
        return sent, target

    def _resend_ack(self, ack: Request, d: Dialog) -> None:
        target = target_for(build_request(d, "ACK", ack.cseq.seq)[1], d.target)
        self._ctx.endpoint.send_stateless(ack, target=target, now=self._ctx.now)

    # -- failures and the end of transactions ----------------------------------------------

    def on_failure(self, event: TransactionTimedOut | TransportFailed) -> None:
        """§8.1.3.1: a timeout acts like 408, a transport failure like 503."""
        out = self._out[event.txn.id]
        if out.walk is not None and self._fail_over(out, failure_of(event), None, None):
            return
        if not out.quiet:
            self._ctx.events.append(rewrite(event, out.origin))
        status = 408 if isinstance(event, TransactionTimedOut) else 503
        if out.on_final is not None:
            out.on_final(out, status, None)
        od = out.dialog
        if od is not None and out.request.method not in _USAGE_ONLY:
            if out.request.method == "INVITE":
                self._reinvites.pop(od, None)
            self._dialogs.end(od, DialogInput.FAILED, TerminatedReason.TIMEOUT, status)

    def _fail_over(
        self, out: Outgoing, reason: str, status: int | None, wait: float | None
    ) -> bool:
        """RFC 3263 §4.3: the request of ``out`` failed at its target; send it again,
        in a new transaction, to the next one. False when none is left."""
        walk = out.walk
        assert walk is not None
        ctx = self._ctx
        moved = next_target(ctx, walk, out, (reason, status, wait))
        if moved is None:
            return False
        out.request, out.target = moved
        self._track(ctx.endpoint.send_request(out.request, target=out.target, now=ctx.now), out)
        return True

    def on_terminated(self, event: TransactionTerminated) -> None:
        """A client transaction of ours ended."""
        txn = event.txn
        out = self._out.pop(txn.id)
        out.live -= 1
        d = out.dialog
        if d is not None:
            if self._reinvites.get(d) == txn.id:
                del self._reinvites[d]
            if self._updates.get(d) == txn.id:
                del self._updates[d]
            self._dialogs.release(d)
        if out.live == 0 and not out.quiet:
            self._ctx.events.append(rewrite(event, out.origin))

    def _dialog_ended(self, d: Dialog, was_early: bool) -> None:
        """No re-INVITE of ours may outlive its dialog waiting for a final response that
        may never come (a Proceeding INVITE client transaction has no timer, §17.1.1.2):
        it is CANCELled (§14.1), which bounds the wait to 64*T1 (§9.1). A §14.1 retry
        waiting is dropped (its handle ends), and so is a late offer's ACK."""
        if self._updates:
            self._updates.pop(d, None)
        if not (self._late or self._glare or self._reinvites):  # (most dialogs have none)
            return
        ctx = self._ctx
        late = self._late.pop(d, None)
        if late is not None:
            ctx.alarms.cancel(late[2])
        glare = self._glare.pop(d, None)
        if glare is not None:  # the retry will not be sent: its handle ends
            ctx.alarms.cancel(glare[1])
            glare[0].live -= 1
            self._record_ended(glare[0])
        reinvite = self._reinvites.get(d)
        if reinvite is not None:
            ctx.endpoint.cancel(ClientTxn(reinvite), now=ctx.now)


_TxnEvent = TransactionTimedOut | TransportFailed | TransactionTerminated


class ClientPart:
    """A part of the UserAgent that works on the dialogs and sends its requests within
    them through the client side: 100rel (RFC 3262) and session timers (RFC 4028)."""

    __slots__ = ("_client", "_ctx", "_dialogs")

    def __init__(self, ctx: UAContext, dialogs: DialogTable, client: ClientSide) -> None:
        self._ctx = ctx
        self._dialogs = dialogs
        self._client = client


def rewrite(event: _TxnEvent, origin: ClientTxn) -> _TxnEvent:
    """``event``, about one transaction of a request of ours, as the application sees it:
    about ``origin``, the handle it holds (a retry runs in another transaction)."""
    if event.txn.id == origin.id:
        return event
    if isinstance(event, TransactionTimedOut):
        return TransactionTimedOut(txn=origin, timer=event.timer)
    if isinstance(event, TransportFailed):
        return TransportFailed(txn=origin, reason=event.reason)
    return TransactionTerminated(txn=origin)


def pass_on(ctx: UAContext, event: ResponseReceived, origin: ClientTxn) -> None:
    """Report ``event`` to the application under the handle it holds, ``origin``."""
    if event.txn == origin:
        ctx.events.append(event)
    else:
        ctx.events.append(
            ResponseReceived(response=event.response, txn=origin, source=event.source)
        )


def untagged(addr: NameAddr) -> NameAddr:
    if addr.params:
        return addr.replace(params=tuple(p for p in addr.params if p[0].lower() != "tag"))
    return addr


def name_addr_arg(value: str | NameAddr | URI, header: str) -> NameAddr:
    """An address the application passed in, as a NameAddr: a string that does not
    parse is misuse (DESIGN.md §4)."""
    if isinstance(value, NameAddr):
        return value
    if not isinstance(value, str):
        return NameAddr(value)
    try:
        addr = parse_name_addr(value, header=header)
        addr.uri  # noqa: B018 - the URI is parsed lazily; check it now
    except RemoteProtocolError as exc:
        raise LocalProtocolError(f"invalid {header} argument {value!r}: {exc}") from None
    return addr
