"""The UserAgent's client side: the requests it sends and what comes back (RFC 3261
§8.1, §12.1.2, §13.2, §14.1, §15.1.1, §22.2).

:class:`ClientSide` places calls (``ua.invite``), sends requests within dialogs (BYE,
re-INVITE, UPDATE, INFO, ...), CANCELs, ACKs every 2xx (§13.2.2.4), answers 401/407
with credentials once per challenge, and backs off and retries a re-INVITE that met
491 (§14.1). Every response is passed on to the application as ``ResponseReceived``
with the handle the command returned, except the 401/407s it answers itself and the
2xx retransmissions it re-ACKs.

What it tracks: the calls it placed (by INVITE transaction and by Call-ID and From
tag), every other request it sent (by transaction), and per dialog the re-INVITE of
ours still running, a §14.1 retry waiting for its moment and a 2xx offer waiting for
the ACK's answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypedDict, Unpack

from ..auth import AuthFailure, Credentials
from ..dialog.model import Dialog, build_request, contact_target, route_set_from, target_for
from ..dialog.state import DialogInput, DialogState, TerminatedReason, reason_for_status
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
from .events import AuthenticationFailed
from .handles import ClientInviteDialog
from .offers import Negotiations, Pending
from .records import Call, Hdrs, Outgoing, body_type

if TYPE_CHECKING:
    from .reliable import ReliableProvisionals
    from .session_timers import SessionTimers

__all__ = ["ClientSide", "name_addr_arg"]

_AUTH_HEADERS = ("authorization", "proxy-authorization")

#: Methods whose failure ends only their own usage of the dialog, not the dialog:
#: a BYE ends it anyway; a 481 or timeout to NOTIFY/SUBSCRIBE ends one subscription
#: (RFC 5057, RFC 6665 §4.1.2.2, §4.2.2).
_USAGE_ONLY = frozenset({"BYE", "NOTIFY", "SUBSCRIBE"})

#: URI header fields (§19.1.5) the UA never copies into a request it builds.
_URI_HEADER_DENY = frozenset(
    {
        "from", "to", "call-id", "cseq", "via", "contact", "max-forwards", "route",
        "record-route", "content-length", "content-type", "body", "require",
    }
)  # fmt: skip

#: The Reason (RFC 3326) of the BYE that ends a dialog whose 2xx gave no usable Contact.
_UNUSABLE_CONTACT = 'SIP;cause=400;text="Contact is not a SIP or SIPS URI"'

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


class Request_(TypedDict, total=False):
    """What a request outside a dialog may carry besides its method and target."""

    from_: str | NameAddr | None
    body: bytes
    content_type: str | None
    headers: Iterable[tuple[str, str]]
    target: Target | None


#: Requests within a dialog that refresh the session (and the target, §12.2): they say
#: what we support and carry the session timer (RFC 4028 §7.4).
_SESSION_REFRESHES = frozenset({"INVITE", "UPDATE"})

#: Dialog states in which requests may be sent within the dialog.
_USABLE = frozenset({DialogState.EARLY, DialogState.WAIT_ACK, DialogState.CONFIRMED})
_CONFIRMED = frozenset({DialogState.CONFIRMED})


class ClientSide:
    """Requests the UA sends and their outcomes (see the module docstring)."""

    __slots__ = (
        "_call_keys",
        "_calls",
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

    _reliable: ReliableProvisionals
    _timers: SessionTimers

    def __init__(self, ctx: UAContext, dialogs: DialogTable, negotiations: Negotiations) -> None:
        self._ctx = ctx
        self._dialogs = dialogs
        self._negotiations = negotiations
        self._calls: dict[int, Call] = {}  # INVITE client transaction id -> call
        self._call_keys: dict[tuple[str, str], Call] = {}  # (Call-ID, From tag) -> call
        self._out: dict[int, Outgoing] = {}  # client transaction id -> request record
        #: Our re-INVITE still running, per dialog: its client transaction id.
        self._reinvites: dict[Dialog, int] = {}
        #: A re-INVITE answered 491 waiting for its §14.1 retry: its record and alarm.
        self._glare: dict[Dialog, tuple[Outgoing, Alarm]] = {}
        #: A 2xx carrying an offer for our offer-less INVITE or re-INVITE: the ACK waits
        #: for ack() (RFC 3264 §5). The INVITE it answers, the re-INVITE's record (None
        #: for the call's INVITE), and the alarm of the default.
        self._late: dict[Dialog, tuple[Request, Outgoing | None, Alarm]] = {}
        #: Our UPDATE carrying an offer, per dialog, until its final response (RFC 3311
        #: §5.1: one offer at a time): its client transaction id.
        self._updates: dict[Dialog, int] = {}
        dialogs.on_end(self._dialog_ended)

    def bind(self, reliable: ReliableProvisionals, timers: SessionTimers) -> None:
        """The parts our INVITEs and responses involve: 100rel (RFC 3262) and session
        timers (RFC 4028). (They send their requests through this side, so they are made
        after it; the UserAgent binds them.)"""
        self._reliable = reliable
        self._timers = timers

    def stats(self) -> dict[str, int]:
        return {
            "calls": len(self._calls),
            "call_keys": len(self._call_keys),
            "requests": len(self._out),
            "reinvites": len(self._reinvites),
            "glare_retries": len(self._glare),
            "late_offers": len(self._late),
            "update_offers": len(self._updates),
        }

    def call_of(self, d: Dialog) -> Call | None:
        """The call (our initial INVITE, still running) that ``d`` belongs to, if any."""
        return self._call_keys.get((d.call_id, d.local_tag)) if d.role == "uac" else None

    def reinvite_pending(self, d: Dialog) -> bool:
        """Whether a re-INVITE of ours is in progress on ``d`` (§14.2 glare)."""
        return d in self._reinvites

    def offer_state(self, d: Dialog) -> Pending | None:
        """The offer/answer exchange our requests opened on ``d`` (docs in offers.py):
        our UPDATE or re-INVITE offer, or our INVITE's while no answer came in a
        reliable 1xx; the offer of a 2xx awaiting our ACK."""
        if d in self._late:
            return "theirs"
        if d in self._updates:
            return "ours"
        reinvite = self._reinvites.get(d)
        if reinvite is not None:
            out = self._out.get(reinvite)
            return "ours" if out is not None and out.request.body else None
        call = self.call_of(d) if d.is_early else None
        if call is not None and call.request.body and not self._reliable.answered_early(d):
            return "ours"
        return None

    # -- commands: calls ------------------------------------------------------------------

    def invite(
        self,
        to: str | NameAddr | SipURI,
        *,
        from_: str | NameAddr | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        credentials: Credentials | Iterable[Credentials] | None = None,
        target: Target | None = None,
        now: float,
    ) -> ClientInviteDialog:
        """Start a call (§13.2.1). The request goes to ``target`` or, by default, to
        the first Route given in ``headers`` or else to the host, port and
        ``transport=`` of the To URI."""
        ctx = self._ctx
        ctx.advance(now)
        if len(self._dialogs) >= ctx.config.max_dialogs:
            raise LocalProtocolError(f"{len(self._dialogs)} dialogs, UAConfig.max_dialogs reached")
        to_addr = name_addr_arg(to, "To")
        ruri = to_addr.uri
        uri_headers: list[tuple[str, str]] = []
        if isinstance(ruri, SipURI):
            # §19.1.5: header fields in the URI go into the request, except those the
            # UA builds itself (a Refer-To with Replaces, RFC 3891 §4, arrives so).
            uri_headers = [(n, v) for n, v in ruri.headers if n.lower() not in _URI_HEADER_DENY]
            if any(n.lower() == "replaces" for n, _ in uri_headers):
                uri_headers.append(("Require", "replaces"))
            ruri = ruri.without_headers()
        local = ctx.identity if from_ is None else name_addr_arg(from_, "From")
        local, remote = _untagged(local), _untagged(to_addr)
        local_text, remote_text = str(local), str(remote)
        extra = tuple(headers)
        # §12.2.1.1: in-dialog requests go to the remote target through the route set;
        # only a target the caller names (an outbound proxy) stays fixed for the dialog.
        fixed_target = target
        if target is None:
            routes = [v for k, v in extra if k.lower() == "route"]
            hop = name_addr_arg(routes[0], "Route").uri if routes else ruri
            target = target_for(hop)
        content_type = body_type("INVITE", body, content_type)
        local_tag, cseq = ctx.new_local()
        call_id = ctx.new_call_id()
        contact = ctx.local_contact(target.transport)
        # What we support and ask for (RFC 3262 §4, RFC 4028 §7.1), unless given.
        given = {name.lower() for name, _ in (*uri_headers, *extra)}
        ours = (
            ("Supported", ctx.supported_value),
            *self._reliable.invite_headers(),
            *self._timers.invite_headers(),
        )
        request = make_request(
            "INVITE",
            ruri,
            from_=f"{local_text};tag={local_tag}",  # = str(local.with_tag(...)): no tag in local
            to=remote_text,
            call_id=call_id,
            cseq=cseq,
            contact=contact,
            headers=[
                ("Allow", ctx.allow_value),
                *[(name, value) for name, value in ours if name.lower() not in given],
                *ctx.common,
                *uri_headers,
                *extra,
            ],
            body=body,
            content_type=content_type,
        )
        d = Dialog(
            role="uac",
            call_id=call_id,
            local_tag=local_tag,
            remote_tag="",
            local_uri=local_text,
            remote_uri=remote_text,
            local_contact=contact,
            remote_target=str(ruri),
            route_set=(),
            local_cseq=cseq,
            remote_cseq=None,
            state=DialogState.CALLING,
            target=fixed_target,
            secure=isinstance(ruri, SipURI) and ruri.secure,
        )
        creds = (credentials,) if isinstance(credentials, Credentials) else tuple(credentials or ())
        call = Call(request, target, d, creds)
        txn = ctx.endpoint.send_request(request, target=target, now=now)
        call.txn, call.origin = txn.id, txn
        self._calls[txn.id] = call
        self._call_keys[(call_id, local_tag)] = call
        self._dialogs.add(d)
        self._dialogs.hold(d)  # the call's INVITE runs on it until its transaction ends
        ctx.drain()
        return ctx.views.call(call)

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
        now: float,
    ) -> ClientTxn:
        """A request outside any dialog (OPTIONS §11, MESSAGE RFC 3428, or any method the
        peer understands that makes no dialog). Its responses arrive as
        ``ResponseReceived`` with the handle returned; 401/407 are answered with the UA's
        credentials. It goes to ``target``, else to the first Route in ``headers``, else
        to the To URI's host, port and ``transport=``."""
        ctx = self._ctx
        ctx.advance(now)
        method = method.upper()
        if method in _HAVE_COMMANDS:
            raise LocalProtocolError(f"{method} has a command of its own: {_HAVE_COMMANDS[method]}")
        to_addr = name_addr_arg(to, "To")
        ruri = to_addr.uri
        if isinstance(ruri, SipURI):
            ruri = ruri.without_headers()
        local = _untagged(ctx.identity if from_ is None else name_addr_arg(from_, "From"))
        extra = tuple(headers)
        if target is None:
            routes = [v for k, v in extra if k.lower() == "route"]
            target = target_for(name_addr_arg(routes[0], "Route").uri if routes else ruri)
        content_type = body_type(method, body, content_type)
        request = make_request(
            method,
            ruri,
            from_=f"{local};tag={ctx.new_tag()}",
            to=str(_untagged(to_addr)),
            call_id=ctx.new_call_id(),
            cseq=ctx.rng.randrange(1, 2**15),
            # §11.1: an OPTIONS may say where we are; other requests here make no dialog.
            contact=ctx.local_contact(target.transport) if method == "OPTIONS" else None,
            headers=[*ctx.common, *extra],
            body=body,
            content_type=content_type,
        )
        out = Outgoing(None, request, target, ClientTxn(0), body, content_type, extra)
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

    def cancel(
        self, d: Dialog, *, headers: Hdrs = (), reason: str | None = None, now: float
    ) -> ClientTxn | None:
        """CANCEL the call's INVITE (§9.1): None when nothing is pending."""
        ctx = self._ctx
        ctx.advance(now)
        txn = self.send_cancel(d, headers=headers, reason=reason)
        ctx.drain()
        return txn

    def send_cancel(
        self, d: Dialog, *, headers: Hdrs = (), reason: str | None = None
    ) -> ClientTxn | None:
        """CANCEL the INVITE of the call ``d`` belongs to while ``d`` is early (§9.1)."""
        call = self.call_of(d)
        if call is None or not d.is_early:
            return None
        if call.cancelling:
            return self._ctx.endpoint.cancel(ClientTxn(call.txn), now=self._ctx.now)
        call.cancelling = True
        extra = [*headers, ("Reason", reason)] if reason is not None else list(headers)
        return self._ctx.endpoint.cancel(ClientTxn(call.txn), headers=extra, now=self._ctx.now)

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

    def _hold_ack(self, d: Dialog, invite: Request, out: Outgoing | None) -> None:
        """The 2xx offers a session our INVITE did not: its ACK carries the answer, so it
        waits for ack() (RFC 3264 §5), at most UAConfig.answer_timeout."""
        ctx = self._ctx
        deadline = ctx.now + ctx.config.answer_timeout
        self._late[d] = (invite, out, ctx.alarms.at(deadline, self._late_unanswered, d))

    def _late_ack(self, d: Dialog, body: bytes, content_type: str | None) -> None:
        invite, out, alarm = self._late.pop(d)
        self._ctx.alarms.cancel(alarm)
        ack = self._send_ack(d, body, content_type, invite)
        if out is not None:
            out.ack = ack  # resent for the 2xx's retransmissions

    # -- commands: requests within a dialog ---------------------------------------------

    def request(
        self,
        d: Dialog,
        method: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Hdrs = (),
        now: float,
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
        if method == "UPDATE" and body:
            self._check_update_offer(d)
        txn, origin = self.send(d, method, body=body, content_type=content_type, headers=headers)
        if method == "UPDATE" and body:
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

    def reinvite(
        self,
        d: Dialog,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Hdrs = (),
        now: float,
    ) -> ClientTxn:
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
        txn, origin = self.send(d, "INVITE", body=body, content_type=content_type, headers=headers)
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
        self,
        d: Dialog,
        method: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Hdrs = (),
        origin: ClientTxn | None = None,
    ) -> tuple[ClientTxn, ClientTxn]:
        """Send a request within ``d``: (its transaction, the handle the application
        holds: ``origin`` when this is a retry of an earlier request)."""
        content_type = body_type(method, body, content_type)
        if method in _SESSION_REFRESHES:
            # What we support, and the session timer this refreshes (RFC 4028 §7.4).
            headers = (
                ("Supported", self._ctx.supported_value),
                *self._timers.request_headers(d),
                *headers,
            )
        request, target = self._build(d, method, body, content_type, headers)
        txn = self._ctx.endpoint.send_request(request, target=target, now=self._ctx.now)
        out = Outgoing(d, request, target, origin or txn, body, content_type, headers)
        self._track(txn, out)
        return txn, out.origin

    def refresh(
        self,
        d: Dialog,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Hdrs = (),
    ) -> None:
        """A session refresh of the UA's own (RFC 4028 §10): an UPDATE, or a re-INVITE
        (tracked as ours, for glare and its ACK); its responses stay with the UA."""
        txn, _ = self.send(d, method, body=body, content_type=content_type, headers=headers)
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
        d.local_cseq += 1
        request, hop = build_request(
            d,
            method,
            d.local_cseq,
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
        out.live += 1
        if out.dialog is not None:
            self._dialogs.hold(out.dialog)

    def outgoing(self, txn: ClientTxn) -> Outgoing:
        """The record of a request just sent (for the part that sent it)."""
        return self._out[txn.id]

    # -- responses ----------------------------------------------------------------------

    def on_response(self, event: ResponseReceived) -> bool:
        """A response: True when it belongs to a request of ours (handled here)."""
        txn = event.txn
        if txn is not None:
            call = self._calls.get(txn.id)
            if call is not None:
                self._call_response(call, event)
                return True
            out = self._out.get(txn.id)
            if out is not None:
                self._out_response(out, event)
                return True
            return False
        # Outside any transaction: a 2xx retransmission after the INVITE client
        # transaction ended (Timer M, §13.2.2.4) gets the same ACK again.
        resp = event.response
        try:
            is_invite_2xx = resp.cseq.method == "INVITE" and 200 <= resp.status_code < 300
            key = (resp.call_id, resp.from_.tag or "")
        except RemoteProtocolError:
            return False
        call = self._call_keys.get(key) if is_invite_2xx else None
        if call is None:
            return False
        self._call_response(call, event)
        return True

    def _tell(self, out: Outgoing, event: ResponseReceived) -> None:
        """Pass a response to ``out`` on, unless the UA sent ``out`` on its own."""
        if not out.quiet:
            self._pass(event, out.origin)

    def _pass(self, event: ResponseReceived, origin: ClientTxn) -> None:
        if event.txn == origin:
            self._ctx.events.append(event)
        else:
            self._ctx.events.append(
                ResponseReceived(response=event.response, txn=origin, source=event.source)
            )

    def _fork(self, call: Call, tag: str) -> tuple[Dialog, bool]:
        """The dialog of ``call`` for To tag ``tag``: one per fork (§12.1.2, §13.2.2.4)."""
        d = call.dialogs.get(tag)
        if d is not None:
            return d, False
        p = call.primary
        if not p.remote_tag:
            self._dialogs.learn_remote_tag(p, tag)
            d, new = p, False
        else:
            d = Dialog(
                role="uac",
                call_id=p.call_id,
                local_tag=p.local_tag,
                remote_tag=tag,
                local_uri=p.local_uri,
                remote_uri=p.remote_uri,
                local_contact=p.local_contact,
                remote_target=str(call.request.uri),
                route_set=(),
                local_cseq=p.local_cseq,
                remote_cseq=None,
                state=DialogState.CALLING,
                target=p.target,
                secure=p.secure,
            )
            self._dialogs.add(d)
            self._dialogs.hold(d)  # held by the call's INVITE, like the primary
            new = True
        call.dialogs[tag] = d
        return d, new

    def _call_response(self, call: Call, event: ResponseReceived) -> None:
        resp = event.response
        code = resp.status_code
        tag = resp.to.tag
        dialogs = self._dialogs
        if code < 200:
            if not tag:
                dialogs.change(call.primary, DialogInput.RECV_100, resp)
                self._pass(event, call.origin)
                return
            d, new = self._fork(call, tag)
            rseq = self._reliable.in_order(d, resp) if code > 100 else 0
            if rseq < 0:
                return  # a reliable 1xx again, or out of order (RFC 3262 §4)
            _learn(d, resp)
            dialogs.change(d, DialogInput.RECV_1XX, resp, appeared=new)
            self._pass(event, call.origin)
            if rseq:
                self._reliable.acknowledge(d, call.request, resp, rseq)  # PRACK (§4)
            return
        if code < 300:
            if not tag:
                # Leniency refused: a 2xx without a To tag cannot create a dialog (§12.1.2);
                # it is passed on but not ACKed.
                self._pass(event, call.origin)
                return
            sent = call.acks.get(tag)
            if sent is not None:
                self._ctx.endpoint.send_stateless(sent[0], target=sent[1], now=self._ctx.now)
                return
            if call.dialogs.get(tag) in self._late:
                return  # a retransmission while the offer's answer is awaited
            d, new = self._fork(call, tag)
            _learn(d, resp)
            self._pass(event, call.origin)
            if call.confirmed is not None and call.confirmed is not d:
                # §13.2.2.4: a 2xx from another fork is ACKed, then the dialog it made is
                # ended with BYE (we keep one call).
                dialogs.change(d, DialogInput.RECV_2XX, resp, appeared=new)
                self._send_ack(d, b"", None, call.request)
                self.send_bye(d, TerminatedReason.FORK_LOST)
                return
            call.confirmed = d
            call.primary = d
            dialogs.change(d, DialogInput.RECV_2XX, resp, appeared=new)
            if "contact" in resp.headers and contact_target(resp) is None:
                # The peer's error: its Contact cannot be the remote target (§8.1.1.8,
                # §12.1.2; a tel: URI, say). The 2xx is ACKed toward the next hop, so
                # that it stops, and the dialog, which cannot work, ends with BYE.
                self._send_ack(d, b"", None, call.request)
                self.send_bye(d, TerminatedReason.UAS_OTHER, reason=_UNUSABLE_CONTACT)
                return
            if call.cancelling:
                # A 2xx that raced our CANCEL (§9.1): ACK it, then BYE.
                self._send_ack(d, b"", None, call.request)
                self.send_bye(d, TerminatedReason.UAC_CANCEL)
                return
            if not call.request.body and resp.body and not self._reliable.answered_early(d):
                self._hold_ack(d, call.request, None)  # late offer: the ACK answers it
            else:
                self._send_ack(d, b"", None, call.request)
            self._timers.on_2xx(d, call.request, resp)  # RFC 4028 §7.2
            return
        if code in (401, 407) and self._retry_call(call, resp):
            return
        if code == 422 and self._retry_422(call, resp):
            return
        reason = reason_for_status(code, cancelled=call.cancelling)
        if code == 401:
            reason = TerminatedReason.UAS_OTHER
        self._pass(event, call.origin)
        for d in call.all_dialogs():
            if d.is_early:
                dialogs.end(d, DialogInput.RECV_FAILURE, reason, code, resp)

    def _late_unanswered(self, d: Dialog, at: float) -> None:
        """The application never answered the offer of the 2xx: ACK without an answer
        and end the session (RFC 3264 §5 leaves no valid alternative)."""
        if d not in self._late:
            return
        self._late_ack(d, b"", None)
        if d.state is DialogState.CONFIRMED:
            self.send_bye(d, TerminatedReason.UAC_OTHER, reason="SIP;cause=488")

    def _auth_failed(
        self, d: Dialog | None, origin: ClientTxn, resp: Response, why: str, realm: str | None
    ) -> None:
        self._ctx.events.append(
            AuthenticationFailed(
                dialog_id=d.id if d is not None else None,
                txn=origin,
                response=resp,
                reason=why,
                realm=realm,
            )
        )

    def _retry_call(self, call: Call, resp: Response) -> bool:
        """§22.2: answer a 401/407 to the INVITE once per challenge, with a new CSeq."""
        ctx = self._ctx
        d = call.primary
        if call.auth_tries >= ctx.config.max_auth_retries:
            self._auth_failed(d, call.origin, resp, "too many authentication retries", None)
            return False
        result = ctx.digest.authorize(call.request, resp, credentials=call.credentials)
        if isinstance(result, AuthFailure):
            self._auth_failed(d, call.origin, resp, result.reason, result.realm)
            return False
        call.auth_tries += 1
        self._resend_call(call, result.apply(call.request))
        return True

    def _retry_422(self, call: Call, resp: Response) -> bool:
        """RFC 4028 §7.4: send the INVITE again asking for the 422's Min-SE."""
        request = self._timers.after_422(call.request, resp)
        if request is None:
            return False
        self._resend_call(call, request)
        return True

    def _resend_call(self, call: Call, request: Request) -> None:
        """Send the call's INVITE again as ``request``, with the next CSeq (§8.1.3.5)."""
        ctx = self._ctx
        seq = call.request.cseq.seq + 1
        request.headers.set("CSeq", f"{seq} INVITE")
        call.primary.local_cseq = seq
        txn = ctx.endpoint.send_request(request, target=call.target, now=ctx.now)
        call.request = request
        call.txn = txn.id
        self._calls[txn.id] = call

    def _out_response(self, out: Outgoing, event: ResponseReceived) -> None:
        resp = event.response
        code = resp.status_code
        d = out.dialog
        method = out.request.method
        if code < 200:
            if not out.quiet:
                self._pass(event, out.origin)
            return
        if code in (401, 407) and self._retry_out(out, resp):
            return
        if code == 422 and method in _SESSION_REFRESHES and self._retry_422_out(out, resp):
            return
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
                if late is not None and late[1] is out:
                    return  # a retransmission while the answer is awaited: ACKed with it
                if event.txn is not None and self._reinvites.get(d) == event.txn.id:
                    del self._reinvites[d]
                d.refresh_target(resp)
                self._tell(out, event)
                if not out.request.body and resp.body and d.state is DialogState.CONFIRMED:
                    self._hold_ack(d, out.request, out)  # an offer in the 2xx (RFC 3264 §5)
                else:
                    # §13.2.2.4: every 2xx is ACKed, also one that crossed our BYE (the
                    # peer would otherwise retransmit it until its Timer H and end the
                    # dialog anew).
                    out.ack = self._send_ack(d, b"", None, out.request)
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
                d.refresh_target(resp)
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

    def _retry_out(self, out: Outgoing, resp: Response) -> bool:
        ctx = self._ctx
        d = out.dialog
        if out.auth_tries >= ctx.config.max_auth_retries:
            self._auth_failed(d, out.origin, resp, "too many authentication retries", None)
            return False
        result = ctx.digest.authorize(out.request, resp)
        if isinstance(result, AuthFailure):
            self._auth_failed(d, out.origin, resp, result.reason, result.realm)
            return False
        out.auth_tries += 1
        self._resend_out(out, result.apply(out.request))
        return True

    def _resend_out(self, out: Outgoing, request: Request) -> None:
        """Send ``out``'s request again as ``request``, with the next CSeq (§8.1.3.5)."""
        d = out.dialog
        if d is not None:
            d.local_cseq += 1
            seq = d.local_cseq
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

    def _retry_422_out(self, out: Outgoing, resp: Response) -> bool:
        """RFC 4028 §7.4: a re-INVITE or UPDATE of ours met 422: again, asking for the
        422's Min-SE."""
        request = self._timers.after_422(out.request, resp)
        if request is None:
            return False
        self._resend_out(out, request)
        return True

    def _record_ended(self, out: Outgoing) -> None:
        """The last transaction of ``out`` ended: so does the application's handle."""
        if out.live == 0 and not out.quiet:
            self._ctx.events.append(TransactionTerminated(txn=out.origin))

    # -- ACK for 2xx (§13.2.2.4) ------------------------------------------------------------

    def _send_ack(
        self, d: Dialog, body: bytes, content_type: str | None, invite: Request
    ) -> Request:
        """Build and send the ACK for the 2xx to ``invite`` within ``d``: same CSeq
        number, the dialog's route set, the INVITE's credentials, a new branch (no
        transaction). The call's initial INVITE keeps its ACK per fork for the 2xx
        retransmissions (§13.2.2.4)."""
        creds: Hdrs = ()
        if any(name in invite.headers for name in _AUTH_HEADERS):
            creds = tuple((k, v) for k, v in invite.headers if k.lower() in _AUTH_HEADERS)
        if body and content_type is None:
            content_type = "application/sdp"
        request, hop = build_request(
            d,
            "ACK",
            invite.cseq.seq,
            headers=creds,
            body=body,
            content_type=content_type if body else None,
        )
        target = target_for(hop, d.target)
        sent = self._ctx.endpoint.send_stateless(request, target=target, now=self._ctx.now)
        assert isinstance(sent, Request)
        call = self.call_of(d)
        if call is not None and invite is call.request:
            call.acks[d.remote_tag] = (sent, target)
        return sent

    def _resend_ack(self, ack: Request, d: Dialog) -> None:
        target = target_for(build_request(d, "ACK", ack.cseq.seq)[1], d.target)
        self._ctx.endpoint.send_stateless(ack, target=target, now=self._ctx.now)

    # -- failures and the end of transactions ----------------------------------------------

    def on_failure(self, event: TransactionTimedOut | TransportFailed) -> bool:
        """§8.1.3.1: a timeout acts like 408, a transport failure like 503. True when the
        transaction was ours."""
        txn = event.txn
        if not isinstance(txn, ClientTxn):
            return False
        timeout = isinstance(event, TransactionTimedOut)
        call = self._calls.get(txn.id)
        if call is not None:
            if call.txn != txn.id:
                return True  # an earlier INVITE we already retried with credentials
            self._ctx.events.append(_rewrite(event, call.origin))
            if call.cancelling:
                reason, status = TerminatedReason.UAC_CANCEL, 487
            elif timeout:
                reason, status = TerminatedReason.TIMEOUT, 408
            else:
                reason, status = TerminatedReason.PROXY_ERROR, 503
            for d in call.all_dialogs():
                if d.is_early:
                    self._dialogs.end(d, DialogInput.FAILED, reason, status)
            return True
        out = self._out.get(txn.id)
        if out is None:
            return False
        if not out.quiet:
            self._ctx.events.append(_rewrite(event, out.origin))
        status = 408 if timeout else 503
        if out.on_final is not None:
            out.on_final(out, status, None)
        od = out.dialog
        if od is not None and out.request.method not in _USAGE_ONLY:
            if out.request.method == "INVITE":
                self._reinvites.pop(od, None)
            self._dialogs.end(od, DialogInput.FAILED, TerminatedReason.TIMEOUT, status)
        return True

    def on_terminated(self, event: TransactionTerminated) -> bool:
        """A client transaction ended: True when it was ours."""
        txn = event.txn
        call = self._calls.pop(txn.id, None)
        if call is not None:
            if call.txn == txn.id:
                self._finish_call(call)
                origin = call.origin
                self._ctx.events.append(
                    event if origin.id == txn.id else TransactionTerminated(txn=origin)
                )
            return True
        out = self._out.pop(txn.id, None)
        if out is None:
            return False
        out.live -= 1
        d = out.dialog
        if d is not None:
            if self._reinvites.get(d) == txn.id:
                del self._reinvites[d]
            if self._updates.get(d) == txn.id:
                del self._updates[d]
            self._dialogs.release(d)
        if out.live == 0 and not out.quiet:
            origin = out.origin
            self._ctx.events.append(
                event if origin.id == txn.id else TransactionTerminated(txn=origin)
            )
        return True

    def _finish_call(self, call: Call) -> None:
        """The INVITE transaction ended (Timer M, D or a timeout): early dialogs that
        never got a 2xx end (§13.2.2.4) and the per-call state is freed."""
        dialogs = call.all_dialogs()
        for d in dialogs:
            if d.is_early:
                self._dialogs.end(d, DialogInput.ENDED, TerminatedReason.UAC_OTHER)
        key = (call.primary.call_id, call.primary.local_tag)
        if self._call_keys.get(key) is call:
            del self._call_keys[key]
        call.acks.clear()
        for d in dialogs:
            self._dialogs.release(d)

    def _dialog_ended(self, d: Dialog, was_early: bool) -> None:
        """No INVITE of ours may outlive its dialog waiting for a final response that
        may never come (a Proceeding INVITE client transaction has no timer, §17.1.1.2):
        CANCEL a pending re-INVITE (§14.1), and the call's INVITE once its last early
        dialog ended (§9.1). The CANCEL bounds the wait to 64*T1 (§9.1) even if the peer
        never answers; an INVITE already answered has nothing to cancel."""
        ctx = self._ctx
        if self._updates:
            self._updates.pop(d, None)
        if self._late or self._glare or self._reinvites:  # (most dialogs have none)
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
        call = self.call_of(d) if was_early else None
        if (
            call is not None
            and not call.cancelling
            and call.confirmed is None
            and not any(other.is_early for other in call.all_dialogs())
        ):
            cancel = ctx.endpoint.cancel(ClientTxn(call.txn), now=ctx.now)
            call.cancelling = cancel is not None


def _rewrite(
    event: TransactionTimedOut | TransportFailed, origin: ClientTxn
) -> TransactionTimedOut | TransportFailed:
    if event.txn == origin:
        return event
    if isinstance(event, TransactionTimedOut):
        return TransactionTimedOut(txn=origin, timer=event.timer)
    return TransportFailed(txn=origin, reason=event.reason)


def _learn(d: Dialog, resp: Response) -> None:
    """§12.1.2: remote target from Contact, route set from the reversed Record-Route."""
    d.refresh_target(resp)
    # Leniency: a broken Record-Route keeps the previous route set rather than
    # dropping the response.
    with contextlib.suppress(RemoteProtocolError):
        routes = resp.record_routes if "record-route" in resp.headers else []
        d.route_set = route_set_from(routes, reverse=True)


def _untagged(addr: NameAddr) -> NameAddr:
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
