"""The UserAgent's client side: responses to what it sent (RFC 3261 §12.1.2, §13.2.2,
§14.1, §15.1.1, §22.2).

Functions over a :class:`~sipsans.ua.UserAgent`; the UA's state lives there.
Every response is passed on to the application as ``ResponseReceived`` with the
handle the command returned (``origin``), except 401/407s the UA answers itself
and 2xx retransmissions it re-ACKs.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from .._memo import remember_text
from ..auth import AuthFailure
from ..dialog.events import DialogStateChanged
from ..dialog.model import Dialog, DialogId, build_request, route_set_from, target_for
from ..dialog.state import DialogInput, DialogState, TerminatedReason, reason_for_status
from ..errors import RemoteProtocolError
from ..message.model import Request, Response
from ..transaction.events import (
    ResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from ..transaction.transport import ClientTxn, Target
from . import refer as ua_refer
from . import registrations as ua_registration
from . import subscriptions as ua_subscriptions
from .events import AuthenticationFailed
from .records import _Call, _Out

if TYPE_CHECKING:
    from .agent import UserAgent

__all__ = ["on_failure", "on_response", "send_ack", "transaction_terminated"]

_AUTH_HEADERS = ("authorization", "proxy-authorization")

#: Methods whose failure ends only their own usage of the dialog, not the dialog:
#: a BYE ends it anyway; a 481 or timeout to NOTIFY/SUBSCRIBE ends one subscription
#: (RFC 5057, RFC 6665 §4.1.2.2, §4.2.2).
_USAGE_ONLY = frozenset({"BYE", "NOTIFY", "SUBSCRIBE"})


#: The remote target (§12.1.1) that a one-line Contact value gives, memoized: a peer
#: sends the same Contact in every INVITE, and building the Contact view for it (list
#: split, name-addr and URI parse, rendering) costs more than the rest of the UA's work
#: on the INVITE. Bounded like the parser's memos (see _memo.py).
_TARGETS: dict[str, str] = {}


def _contact_uri(message: Request | Response) -> str | None:
    """The URI of the first Contact as text; None without one or when it is broken."""
    lines = message.headers.lines("contact")
    line = lines[0] if len(lines) == 1 else None  # a single line: a memo key
    if line is not None and (target := _TARGETS.get(line)) is not None:
        return target
    try:
        contacts = message.contacts
        target = str(contacts[0].uri) if contacts else None
    except RemoteProtocolError:
        return None  # a broken Contact leaves the remote target as it was
    if target is not None and line is not None:
        remember_text(_TARGETS, line, target)
    return target


def _refresh_target(d: Dialog, message: Request | Response) -> None:
    """§12.2.1.2 / §12.2.2: a target refresh replaces the remote target."""
    contact = _contact_uri(message)
    if contact is not None:
        d.remote_target = contact


def _pass(ua: UserAgent, event: ResponseReceived, origin: ClientTxn) -> None:
    if event.txn == origin:
        ua._emit(event)
    else:
        ua._emit(ResponseReceived(response=event.response, txn=origin, source=event.source))


# -- responses --------------------------------------------------------------------


def on_response(ua: UserAgent, event: ResponseReceived) -> None:
    txn, resp = event.txn, event.response
    if txn is not None:
        call = ua._calls.get(txn.id)
        if call is not None:
            _call_response(ua, call, event)
            return
        out = ua._out.get(txn.id)
        if out is not None:
            _out_response(ua, out, event)
            return
        reg = ua._reg_txns.get(txn.id)
        if reg is not None:
            ua_registration.on_response(ua, reg, txn, resp)
            return
        ua._emit(event)  # a CANCEL's response, or a transaction the app started
        return
    # Outside any transaction: a 2xx retransmission after the INVITE client
    # transaction ended (Timer M, §13.2.2.4) gets the same ACK again.
    try:
        is_invite_2xx = resp.cseq.method == "INVITE" and 200 <= resp.status_code < 300
        key = (resp.call_id, resp.from_.tag or "")
        to_tag = resp.to.tag or ""
    except RemoteProtocolError:
        ua._emit(event)
        return
    if is_invite_2xx:
        call = ua._call_keys.get(key)
        if call is not None:
            _call_response(ua, call, event)
            return
        d = ua._dialogs.get(DialogId(key[0], key[1], to_tag))
        if d is not None and d.ack is not None and d.ack_cseq == resp.cseq.seq:
            _resend_ack(ua, d.ack, d)
            return
    ua._emit(event)


def _fork(ua: UserAgent, call: _Call, resp: Response, tag: str) -> tuple[Dialog, bool]:
    """The dialog of ``call`` for To tag ``tag``: one per fork (§12.1.2, §13.2.2.4)."""
    d = call.dialogs.get(tag)
    if d is not None:
        return d, False
    p = call.primary
    if not p.remote_tag:
        del ua._dialogs[p.id]
        p.remote_tag = tag
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
        d.invite_cseq = p.invite_cseq
        d.call = call
        new = True
    ua._dialogs[d.id] = d
    call.dialogs[tag] = d
    return d, new


def _learn(d: Dialog, resp: Response) -> None:
    """§12.1.2: remote target from Contact, route set from the reversed Record-Route."""
    _refresh_target(d, resp)
    # Leniency: a broken Record-Route keeps the previous route set rather than
    # dropping the response.
    with contextlib.suppress(RemoteProtocolError):
        routes = resp.record_routes if "record-route" in resp.headers else []
        d.route_set = route_set_from(routes, reverse=True)


def _call_response(ua: UserAgent, call: _Call, event: ResponseReceived) -> None:
    resp = event.response
    code = resp.status_code
    tag = resp.to.tag
    now = ua._now
    if code < 200:
        if tag:
            d, new = _fork(ua, call, resp, tag)
            _learn(d, resp)
            if new:
                previous = None
                d.state = DialogState.EARLY
                ua._emit(
                    DialogStateChanged(
                        dialog_id=d.id, previous=previous, state=d.state, message=resp
                    )
                )
            else:
                ua._set_state(d, DialogInput.RECV_1XX, resp)
        else:
            ua._set_state(call.primary, DialogInput.RECV_100, resp)
        _pass(ua, event, call.origin)
        return
    if code < 300:
        if not tag:
            # Leniency refused: a 2xx without a To tag cannot create a dialog (§12.1.2);
            # it is passed on but not ACKed.
            _pass(ua, event, call.origin)
            return
        sent = call.acks.get(tag)
        if sent is not None:
            _resend_ack(ua, sent[0], None, sent[1])
            return
        d, new = _fork(ua, call, resp, tag)
        _learn(d, resp)
        _pass(ua, event, call.origin)
        if call.confirmed is not None and call.confirmed is not d:
            # §13.2.2.4: a 2xx from another fork is ACKed, then the dialog it made is
            # ended with BYE (we keep one call).
            d.state = DialogState.CONFIRMED
            send_ack(ua, d, b"", None, now)
            ua._send_bye(d, (), None, now, TerminatedReason.UAC_BUSY)
            return
        call.confirmed = d
        call.primary = d
        ua._set_state(d, DialogInput.RECV_2XX, resp)
        if call.cancelling:
            # A 2xx that raced our CANCEL (§9.1): ACK it, then BYE.
            send_ack(ua, d, b"", None, now)
            ua._send_bye(d, (), None, now, TerminatedReason.UAC_CANCEL)
        elif not call.request.body and resp.body:
            # Late offer (RFC 3264 §5): the 2xx carries the offer, the ACK the answer.
            d.late_offer = resp
            ua._at(now + ua.config.answer_timeout, "late", d.id)
        else:
            send_ack(ua, d, b"", None, now)
        return
    if code in (401, 407) and _retry_call(ua, call, resp):
        return
    reason = reason_for_status(code, cancelled=call.cancelling)
    if code == 401:
        reason = TerminatedReason.UAS_OTHER
    _pass(ua, event, call.origin)
    for d in _call_dialogs(call):
        if d.is_early:
            ua._terminate(d, DialogInput.RECV_FAILURE, reason, code, resp)


def _call_dialogs(call: _Call) -> list[Dialog]:
    dialogs = list(call.dialogs.values())
    if call.primary not in dialogs:
        dialogs.append(call.primary)
    return dialogs


def _auth_failed(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
    ua: UserAgent, d: Dialog | None, origin: ClientTxn, resp: Response, why: str, realm: str | None
) -> None:
    ua._emit(
        AuthenticationFailed(
            dialog_id=d.id if d is not None else None,
            txn=origin,
            response=resp,
            reason=why,
            realm=realm,
        )
    )


def _retry_call(ua: UserAgent, call: _Call, resp: Response) -> bool:
    """§22.2: answer a 401/407 to the INVITE once per challenge, with a new CSeq."""
    d = call.primary
    if call.auth_tries >= ua.config.max_auth_retries:
        _auth_failed(ua, d, call.origin, resp, "too many authentication retries", None)
        return False
    result = ua.digest.authorize(call.request, resp, credentials=call.credentials)
    if isinstance(result, AuthFailure):
        _auth_failed(ua, d, call.origin, resp, result.reason, result.realm)
        return False
    call.auth_tries += 1
    request = result.apply(call.request)
    seq = call.request.cseq.seq + 1
    request.headers.set("CSeq", f"{seq} INVITE")
    d.local_cseq = d.invite_cseq = seq
    txn = ua.endpoint.send_request(request, target=call.target, now=ua._now)
    call.request = request
    call.txn = txn.id
    ua._calls[txn.id] = call
    return True


def _out_response(ua: UserAgent, out: _Out, event: ResponseReceived) -> None:
    resp = event.response
    code = resp.status_code
    d = out.dialog
    method = out.request.method
    now = ua._now
    if code < 200:
        if not out.quiet:
            _pass(ua, event, out.origin)
        return
    if code in (401, 407) and _retry_out(ua, out, resp):
        return
    if out.sub is not None:
        ua_subscriptions.on_final(ua, out, code, resp)
        if out.quiet:
            return
    if d is not None and method == "INVITE":
        if 200 <= code < 300:
            if d.ack is not None and d.ack_cseq == resp.cseq.seq:
                _resend_ack(ua, d.ack, d)  # a 2xx retransmission (§13.2.2.4)
                return
            if d.uac_reinvite in (event.txn.id if event.txn else 0, 0):
                d.uac_reinvite = 0
            _refresh_target(d, resp)
            d.invite_cseq = resp.cseq.seq
            _pass(ua, event, out.origin)
            # §13.2.2.4: every 2xx is ACKed, also one that crossed our BYE (the peer
            # would otherwise retransmit it until its Timer H and end the dialog anew).
            send_ack(ua, d, b"", None, now, invite=out.request)
            return
        d.uac_reinvite = 0
        if code == 491 and d.state is DialogState.CONFIRMED:
            ua._glare(d, out, now)
    elif d is not None and method == "UPDATE" and 200 <= code < 300:
        _refresh_target(d, resp)
    _pass(ua, event, out.origin)
    if d is not None and code in (408, 481) and method not in _USAGE_ONLY:
        # §12.2.1.2: the dialog is gone at the other end.
        reason = (
            TerminatedReason.TIMEOUT
            if code == 408
            else ua._role_reason(
                d, local=False, uac=TerminatedReason.UAC_OTHER, uas=TerminatedReason.UAS_OTHER
            )
        )
        ua._terminate(d, DialogInput.FAILED, reason, code, resp)


def _retry_out(ua: UserAgent, out: _Out, resp: Response) -> bool:
    d = out.dialog
    if out.auth_tries >= ua.config.max_auth_retries:
        _auth_failed(ua, d, out.origin, resp, "too many authentication retries", None)
        return False
    result = ua.digest.authorize(out.request, resp)
    if isinstance(result, AuthFailure):
        _auth_failed(ua, d, out.origin, resp, result.reason, result.realm)
        return False
    out.auth_tries += 1
    request = result.apply(out.request)
    if d is not None:
        d.local_cseq += 1
        seq = d.local_cseq
    else:
        seq = out.request.cseq.seq + 1
    request.headers.set("CSeq", f"{seq} {request.method}")
    txn = ua.endpoint.send_request(request, target=out.target, now=ua._now)
    out.request = request
    sub = out.sub
    if sub is not None and d is None:
        sub.request = request  # the initial SUBSCRIBE's CSeq grows with each retry
    elif sub is not None and d is not None and request.method == "REFER":
        ua_refer.rekey(d, sub, request)
    ua._out[txn.id] = out
    out.live += 1
    if d is not None:
        d.txns[txn.id] = None
        if request.method == "INVITE":
            d.uac_reinvite = txn.id
    return True


# -- ACK for 2xx (§13.2.2.4) ------------------------------------------------------------


def send_ack(
    ua: UserAgent,
    d: Dialog,
    body: bytes,
    content_type: str | None,
    now: float,
    *,
    invite: Request | None = None,
) -> None:
    """Build and send the ACK for the 2xx of the dialog's INVITE: same CSeq number,
    the dialog's route set, the INVITE's credentials, a new branch (no transaction)."""
    call = d.call
    if invite is None:
        invite = call.request if isinstance(call, _Call) else None
    creds: tuple[tuple[str, str], ...] = ()
    if invite is not None and any(name in invite.headers for name in _AUTH_HEADERS):
        creds = tuple((k, v) for k, v in invite.headers if k.lower() in _AUTH_HEADERS)
    if body and content_type is None:
        content_type = "application/sdp"
    request, hop = build_request(
        d,
        "ACK",
        d.invite_cseq,
        headers=creds,
        body=body,
        content_type=content_type if body else None,
    )
    target = target_for(hop, d.target)
    sent = ua.endpoint.send_stateless(request, target=target, now=now)
    assert isinstance(sent, Request)

    if isinstance(call, _Call) and invite is call.request:
        call.acks[d.remote_tag] = (sent, target)
    else:
        d.ack, d.ack_cseq = sent, d.invite_cseq


def _resend_ack(ua: UserAgent, ack: Request, d: Dialog | None, target: object = None) -> None:
    if target is None:
        assert d is not None
        target = target_for(build_request(d, "ACK", d.invite_cseq)[1], d.target)
    assert isinstance(target, Target)
    ua.endpoint.send_stateless(ack, target=target, now=ua._now)


# -- failures and the end of transactions --------------------------------------------------


def on_failure(ua: UserAgent, event: TransactionTimedOut | TransportFailed) -> None:
    """§8.1.3.1: a timeout acts like 408, a transport failure like 503."""
    txn = event.txn
    timeout = isinstance(event, TransactionTimedOut)
    if isinstance(txn, ClientTxn):
        call = ua._calls.get(txn.id)
        if call is not None:
            if call.txn != txn.id:
                return  # an earlier INVITE we already retried with credentials
            ua._emit(_rewrite(event, call.origin))
            if call.cancelling:
                reason, status = TerminatedReason.UAC_CANCEL, 487
            elif timeout:
                reason, status = TerminatedReason.TIMEOUT, 408
            else:
                reason, status = TerminatedReason.PROXY_ERROR, 503
            for d in _call_dialogs(call):
                if d.is_early:
                    ua._terminate(d, DialogInput.FAILED, reason, status)
            return
        out = ua._out.get(txn.id)
        if out is not None:
            if not out.quiet:
                ua._emit(_rewrite(event, out.origin))
            if out.sub is not None:
                ua_subscriptions.on_final(ua, out, 408 if timeout else 503, None)
            od = out.dialog
            if od is not None and out.request.method not in _USAGE_ONLY:
                if out.request.method == "INVITE":
                    od.uac_reinvite = 0
                status = 408 if timeout else 503
                ua._terminate(od, DialogInput.FAILED, TerminatedReason.TIMEOUT, status)
            return
        reg = ua._reg_txns.get(txn.id)
        if reg is not None:
            ua_registration.on_failure(ua, reg, event)
            return
    if txn.id in ua._app_txns:
        ua._emit(event)  # a server transaction the application was answering


def _rewrite(
    event: TransactionTimedOut | TransportFailed, origin: ClientTxn
) -> TransactionTimedOut | TransportFailed:
    if event.txn == origin:
        return event
    if isinstance(event, TransactionTimedOut):
        return TransactionTimedOut(txn=origin, timer=event.timer)
    return TransportFailed(txn=origin, reason=event.reason)


def transaction_terminated(ua: UserAgent, event: TransactionTerminated) -> None:
    txn = event.txn
    if isinstance(txn, ClientTxn):
        call = ua._calls.pop(txn.id, None)
        if call is not None:
            if call.txn == txn.id:
                _finish_call(ua, call)
                origin = call.origin
                ua._emit(event if origin.id == txn.id else TransactionTerminated(txn=origin))
            return
        out = ua._out.pop(txn.id, None)
        if out is not None:
            out.live -= 1
            d = out.dialog
            if d is not None:
                d.txns.pop(txn.id, None)
                if d.uac_reinvite == txn.id:
                    d.uac_reinvite = 0
                ua._maybe_free(d)
            if out.live == 0 and not out.quiet:
                origin = out.origin
                ua._emit(event if origin.id == txn.id else TransactionTerminated(txn=origin))
            return
        if ua._reg_txns.pop(txn.id, None) is not None:
            return  # a REGISTER's: the application sees RegistrationStateChanged
        ua._emit(event)
        return
    if txn.id in ua._app_txns:
        ua._app_txns.discard(txn.id)
        ua._emit(event)
    if txn.id in ua._pending:  # (usually answered long ago: nothing left to forget)
        _server_txn_ended(ua, txn.id)


def _server_txn_ended(ua: UserAgent, txn_id: int) -> None:
    """An unanswered request's transaction is gone (transport failure): forget it."""
    pending = ua._unpend(txn_id)
    if pending is not None and pending.sub is not None:
        ua_subscriptions.abandon(ua, pending.sub)  # the SUBSCRIBE can no longer be answered
    d = pending.dialog if pending is not None else None
    if d is not None and d.server_invite == txn_id and d.retrans is None:
        d.server_invite = None
        if d.is_early:
            ua._terminate(d, DialogInput.FAILED, TerminatedReason.TIMEOUT)


def _finish_call(ua: UserAgent, call: _Call) -> None:
    """The INVITE transaction ended (Timer M, D or a timeout): early dialogs that never
    got a 2xx end (§13.2.2.4) and the per-call state is freed."""
    dialogs = _call_dialogs(call)
    for d in dialogs:
        if d.is_early:
            ua._terminate(d, DialogInput.ENDED, TerminatedReason.UAC_OTHER)
    key = (call.primary.call_id, call.primary.local_tag)
    if ua._call_keys.get(key) is call:
        del ua._call_keys[key]
    call.acks.clear()
    call.dialogs.clear()
    for d in dialogs:
        d.call = None
        ua._maybe_free(d)
