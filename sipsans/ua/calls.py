"""The calls the UserAgent places: the UAC side of the initial INVITE (RFC 3261 §12.1.2,
§13.2, §9.1, §22.2).

:class:`Caller` sends the INVITE of ``ua.invite``, makes one early dialog per To tag
of the responses (forking, §12.1.2), confirms the fork whose 2xx comes first and ACKs
it, ACKs then BYEs any other fork's 2xx (§13.2.2.4), CANCELs (held until a provisional
response, §9.1), answers a 401/407 once per challenge with a new CSeq, and ends the
early dialogs that never got a 2xx when the INVITE transaction ends. What it sends in
the dialogs afterwards (ACKs, BYE, re-INVITE, ...) goes through the client side.

Its INVITEs say what we support, require 100rel when configured so (RFC 3262 §4) and
ask for a session timer (RFC 4028 §7.1); reliable 1xx go to the reliable-provisionals
part (which PRACKs them), a 2xx to the session timers, and a 422 is answered by asking
again with its Min-SE (RFC 4028 §7.4).

What it tracks: the calls running, by INVITE client transaction and by Call-ID and
From tag (a 2xx retransmission after the transaction ended is re-ACKed by it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

from ..auth import Credentials
from ..dialog.model import Dialog, contact_target, route_set_from, target_for
from ..dialog.state import DialogInput, DialogState, TerminatedReason, reason_for_status
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.fields import NameAddr
from ..message.model import Request, Response, make_request
from ..message.uri import SipURI
from ..transaction.events import (
    ResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from ..transaction.transport import ClientTxn, Target
from .client import ClientSide, name_addr_arg, pass_on, rewrite, untagged
from .context import UAContext
from .dialogs import DialogTable
from .failover import begin_walk, failure_of, retry_after
from .handles import ClientInviteDialog
from .offers import Pending
from .records import Call, Hdrs, body_type
from .reliable import ReliableProvisionals
from .resending import next_target, retry_of
from .session_timers import SessionTimers

__all__ = ["Caller"]

#: URI header fields (§19.1.5) the UA never copies into a request it builds.
_URI_HEADER_DENY = frozenset(
    {
        "from", "to", "call-id", "cseq", "via", "contact", "max-forwards", "route",
        "record-route", "content-length", "content-type", "body", "require",
    }
)  # fmt: skip

#: The Reason (RFC 3326) of the BYE that ends a dialog whose 2xx gave no usable Contact.
_UNUSABLE_CONTACT = 'SIP;cause=400;text="Contact is not a SIP or SIPS URI"'


@dataclass(slots=True, eq=False, repr=False)
class Caller:
    """The calls we place (see the module docstring)."""

    _ctx: UAContext
    _dialogs: DialogTable
    _client: ClientSide
    _reliable: ReliableProvisionals
    _timers: SessionTimers
    #: INVITE client transaction id -> call.
    _calls: dict[int, Call] = field(default_factory=dict, init=False)
    #: (Call-ID, From tag) -> call.
    _call_keys: dict[tuple[str, str], Call] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._dialogs.on_end(self._dialog_ended, role="uac")

    def stats(self) -> dict[str, int]:
        return {"calls": len(self._calls), "call_keys": len(self._call_keys)}

    def call_of(self, d: Dialog) -> Call | None:
        """The call (our initial INVITE, still running) that ``d`` belongs to, if any."""
        return self._call_keys.get((d.call_id, d.local_tag)) if d.role == "uac" else None

    def offer_state(self, d: Dialog) -> Pending | None:
        """The exchange our INVITE opened on its early dialog ``d`` (see offers.py): its
        offer, while no answer came in a reliable 1xx."""
        call = self.call_of(d) if d.is_early else None
        if call is not None and call.request.body and not self._reliable.answered_early(d):
            return "ours"
        return None

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
        targets: Sequence[Target] | None = None,
        now: float,
    ) -> ClientInviteDialog:
        """Start a call (§13.2.1). The request goes to ``target`` or, by default, to
        the first Route given in ``headers`` or else to the host, port and
        ``transport=`` of the To URI. ``targets`` (instead of ``target``) are the places
        RFC 3263 found for that hop, in order: until an early dialog exists, the INVITE
        fails over to the next one on 503, time-out or transport error (§4.3,
        ``TargetFailed``); unlike ``target`` they do not fix where the dialog's later
        requests go."""
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
        local, remote = untagged(local), untagged(to_addr)
        local_text, remote_text = str(local), str(remote)
        extra = tuple(headers)
        # §12.2.1.1: in-dialog requests go to the remote target through the route set;
        # only a target the caller names (an outbound proxy) stays fixed for the dialog.
        fixed_target = target
        routes = [v for k, v in extra if k.lower() == "route"]
        hop = name_addr_arg(routes[0], "Route").uri if routes else ruri
        walk = None
        if targets is not None:
            target, walk = begin_walk(ctx, targets, target)
        if target is None:
            target = target_for(hop)
        content_type = body_type("INVITE", body, content_type)
        local_tag, cseq = ctx.new_local()
        call_id = ctx.new_call_id()
        # §8.1.1.8: a SIPS Request-URI or first hop calls for a SIPS Contact.
        secure = (isinstance(ruri, SipURI) and ruri.secure) or (
            isinstance(hop, SipURI) and hop.secure
        )
        contact = ctx.local_contact(target.transport, secure=secure)
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
        call.walk = walk
        txn = ctx.endpoint.send_request(request, target=target, now=now)
        call.txn, call.origin = txn.id, txn
        self._track(txn, call)
        self._call_keys[(call_id, local_tag)] = call
        self._dialogs.add(d)
        self._dialogs.hold(d)  # the call's INVITE runs on it until its transaction ends
        ctx.drain()
        return ctx.views.call(call)

    # -- commands -------------------------------------------------------------------------

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
        walk = call.walk
        if walk is not None and code >= 200:
            if code == 503:
                if self._fail_over(call, f"{code} {resp.reason}", code, retry_after(resp)):
                    return
            else:
                walk.succeeded(call.target)
        if code < 200:
            if not tag:
                dialogs.change(call.primary, DialogInput.RECV_100, resp)
                pass_on(self._ctx, event, call.origin)
                return
            d, new = self._fork(call, tag)
            rseq = self._reliable.in_order(d, resp) if code > 100 else 0
            if rseq < 0:
                return  # a reliable 1xx again, or out of order (RFC 3262 §4)
            _learn(d, resp)
            _route_early(call, d)
            dialogs.change(d, DialogInput.RECV_1XX, resp, appeared=new)
            pass_on(self._ctx, event, call.origin)
            if rseq:
                self._reliable.acknowledge(d, call.request, resp, rseq)  # PRACK (§4)
            return
        if code < 300:
            if not tag:
                # Leniency refused: a 2xx without a To tag cannot create a dialog (§12.1.2);
                # it is passed on but not ACKed.
                pass_on(self._ctx, event, call.origin)
                return
            sent = call.acks.get(tag)
            if sent is not None:
                self._ctx.endpoint.send_stateless(sent[0], target=sent[1], now=self._ctx.now)
                return
            late = call.dialogs.get(tag)
            if late is not None and self._client.awaits_answer(late):
                return  # a retransmission while the offer's answer is awaited
            d, new = self._fork(call, tag)
            _learn(d, resp)
            if call.via_first_hop is not None and d in call.via_first_hop:
                call.via_first_hop.discard(d)  # (the 2xx decides, as for any fork)
                d.target = None
            pass_on(self._ctx, event, call.origin)
            if not _routable(d):
                # The peer's error: no usable Contact (§12.1.2 requires one in a 2xx) and
                # a Request-URI that names no host (tel:): nothing can reach the dialog's
                # remote target. The 2xx is ACKed toward the INVITE's first hop, so that
                # it stops, and the dialog ends here (no BYE can go either).
                dialogs.change(d, DialogInput.RECV_2XX, resp, appeared=new)
                call.acks[d.remote_tag] = self._client.send_ack(
                    d, b"", None, call.request, target=call.target
                )
                dialogs.end(d, DialogInput.FAILED, TerminatedReason.UAS_OTHER, 400, resp)
                return
            if call.confirmed is not None and call.confirmed is not d:
                # §13.2.2.4: a 2xx from another fork is ACKed, then the dialog it made is
                # ended with BYE (we keep one call).
                dialogs.change(d, DialogInput.RECV_2XX, resp, appeared=new)
                self._ack(call, d)
                self._client.send_bye(d, TerminatedReason.FORK_LOST)
                return
            call.confirmed = d
            call.primary = d
            dialogs.change(d, DialogInput.RECV_2XX, resp, appeared=new)
            if "contact" in resp.headers and contact_target(resp) is None:
                # The peer's error: its Contact cannot be the remote target (§8.1.1.8,
                # §12.1.2; a tel: URI, say). The 2xx is ACKed toward the next hop, so
                # that it stops, and the dialog, which cannot work, ends with BYE.
                self._ack(call, d)
                self._client.send_bye(d, TerminatedReason.UAS_OTHER, reason=_UNUSABLE_CONTACT)
                return
            if call.cancelling:
                # A 2xx that raced our CANCEL (§9.1): ACK it, then BYE.
                self._ack(call, d)
                self._client.send_bye(d, TerminatedReason.UAC_CANCEL)
                return
            if not call.request.body and resp.body and not self._reliable.answered_early(d):
                self._client.hold_ack(
                    d, call.request, partial(self._keep_ack, call, d)
                )  # late offer: the ACK answers it
            else:
                self._ack(call, d)
            self._timers.on_2xx(d, call.request, resp)  # RFC 4028 §7.2
            return
        # Once the caller has CANCELled (§9.1), a challenge or a 422 is the call's final
        # response: sending the INVITE again would start the call it gave up, and no
        # CANCEL would follow the new transaction.
        if code in (401, 407, 422) and not call.cancelling:
            ctx, d = self._ctx, call.primary
            request = retry_of(ctx, self._timers, d, call, resp, credentials=call.credentials)
            if request is not None:
                self._resend(call, request)
                return
        reason = reason_for_status(code, cancelled=call.cancelling)
        if code == 401:
            reason = TerminatedReason.UAS_OTHER
        pass_on(self._ctx, event, call.origin)
        for d in call.all_dialogs():
            if d.is_early:
                dialogs.end(d, DialogInput.RECV_FAILURE, reason, code, resp)

    def _resend(self, call: Call, request: Request) -> None:
        """Send the call's INVITE again as ``request``, with the next CSeq (§8.1.3.5)."""
        ctx = self._ctx
        seq = call.request.cseq.seq + 1
        request.headers.set("CSeq", f"{seq} INVITE")
        call.primary.local_cseq = seq
        txn = ctx.endpoint.send_request(request, target=call.target, now=ctx.now)
        call.request = request
        call.txn = txn.id
        self._track(txn, call)

    def _fail_over(self, call: Call, reason: str, status: int | None, wait: float | None) -> bool:
        """RFC 3263 §4.3: the call's INVITE failed at its target; send it again, in a
        new client transaction, to the next target. Only while no early dialog exists
        (a tagged provisional response means a UAS was reached: what follows is that
        call's outcome) and the caller has not hung up. False when it did not."""
        walk = call.walk
        if walk is None or call.cancelling or call.dialogs:
            return False
        ctx = self._ctx
        d = call.primary
        moved = next_target(ctx, walk, call, (reason, status, wait), d)
        if moved is None:
            return False
        request, following = moved
        if request is not call.request:
            d.local_contact = ctx.local_contact(following.transport)
        txn = ctx.endpoint.send_request(request, target=following, now=ctx.now)
        call.request, call.target, call.txn = request, following, txn.id
        self._track(txn, call)
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

    def _track(self, txn: ClientTxn, call: Call) -> None:
        """``call``'s INVITE was just sent in ``txn``: its events come back here."""
        self._calls[txn.id] = call
        self._ctx.client_txns[txn.id] = self

    def _ack(self, call: Call, d: Dialog) -> None:
        """ACK the 2xx of fork ``d`` (§13.2.2.4); kept for the 2xx's retransmissions."""
        call.acks[d.remote_tag] = self._client.send_ack(d, b"", None, call.request)

    def _keep_ack(self, call: Call, d: Dialog, ack: Request, target: Target) -> None:
        call.acks[d.remote_tag] = (ack, target)

    # -- what comes back ------------------------------------------------------------------

    def on_response(self, event: ResponseReceived) -> None:
        """A response in the client transaction of a call's INVITE."""
        assert event.txn is not None
        self._call_response(self._calls[event.txn.id], event)

    def on_stray_response(self, event: ResponseReceived) -> bool:
        """A response outside any transaction: True when it is a 2xx retransmission to a
        call's INVITE after its client transaction ended (Timer M, §13.2.2.4); it gets
        the same ACK again."""
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

    def on_failure(self, event: TransactionTimedOut | TransportFailed) -> None:
        """§8.1.3.1: the INVITE timed out (408) or could not be sent (503): its early
        dialogs end."""
        txn = event.txn
        call = self._calls[txn.id]
        if call.txn != txn.id:
            return  # an earlier INVITE we already retried with credentials
        if call.walk is not None and self._fail_over(call, failure_of(event), None, None):
            return
        self._ctx.events.append(rewrite(event, call.origin))
        if call.cancelling:
            reason, status = TerminatedReason.UAC_CANCEL, 487
        elif isinstance(event, TransactionTimedOut):
            reason, status = TerminatedReason.TIMEOUT, 408
        else:
            reason, status = TerminatedReason.PROXY_ERROR, 503
        for d in call.all_dialogs():
            if d.is_early:
                self._dialogs.end(d, DialogInput.FAILED, reason, status)

    def on_terminated(self, event: TransactionTerminated) -> None:
        """A call's INVITE client transaction ended (an earlier one's end is silent)."""
        txn = event.txn
        call = self._calls.pop(txn.id)
        if call.txn == txn.id:
            self._finish_call(call)
            self._ctx.events.append(rewrite(event, call.origin))

    def _dialog_ended(self, d: Dialog, was_early: bool) -> None:
        """No INVITE of ours may outlive its dialogs waiting for a final response that may
        never come (a Proceeding INVITE client transaction has no timer, §17.1.1.2): once
        the call's last early dialog ended, the INVITE is CANCELled (§9.1), which bounds
        the wait to 64*T1 even if the peer never answers. So is it when the confirmed
        dialog ends while the INVITE still waits: a 2xx outside its transaction (to the
        branch of an INVITE sent before a 401/407/422 retry) confirmed the call. (After
        a normal call the INVITE has its final response: ``cancel`` returns None.)"""
        call = self.call_of(d)
        if call is None or call.cancelling:
            return
        if was_early:
            if call.confirmed is not None or any(other.is_early for other in call.all_dialogs()):
                return
        elif d is not call.confirmed:
            return  # a fork we ACKed and BYEd: the call goes on
        ctx = self._ctx
        cancel = ctx.endpoint.cancel(ClientTxn(call.txn), now=ctx.now)
        call.cancelling = cancel is not None


def _routable(d: Dialog) -> bool:
    """Whether requests within ``d`` have somewhere to go: a fixed next hop, a route
    set, or a SIP or SIPS remote target."""
    return d.target is not None or bool(d.route_set) or d.remote_target.startswith("sip")


def _route_early(call: Call, d: Dialog) -> None:
    """Where requests within early fork ``d`` go (§12.2.1.1). A call to a tel: URI
    reaches its callee through a proxy named by a Route; a 1xx without a SIP Contact
    leaves the early dialog with that tel: URI as remote target, where no request can
    go: until a response gives it one, the requests within it (a PRACK, the NOTIFYs of
    a REFER accepted in it) follow the INVITE to the proxy, as its ACK would. (The
    NOTIFY could go nowhere: the REFER's subscription stayed for ever.)"""
    borrowed = call.via_first_hop
    if d.target is None and not _routable(d):
        d.target = call.target
        call.via_first_hop = {d} if borrowed is None else borrowed | {d}
    elif borrowed is not None and d in borrowed and d.remote_target.startswith("sip"):
        d.target = None  # a SIP Contact came: the remote target is where they go
        borrowed.discard(d)


def _learn(d: Dialog, resp: Response) -> None:
    """§12.1.2: remote target from Contact, route set from the reversed Record-Route."""
    d.refresh_target(resp)
    # Leniency: a broken Record-Route keeps the previous route set rather than
    # dropping the response.
    with contextlib.suppress(RemoteProtocolError):
        routes = resp.record_routes if "record-route" in resp.headers else []
        d.route_set = route_set_from(routes, reverse=True)
