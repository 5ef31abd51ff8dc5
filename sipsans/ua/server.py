"""The UserAgent's server side: requests it receives (RFC 3261 §8.2, §12.2.2, §13.3,
§14.2, §15.1.2) and the event dispatch from the Endpoint.

Checks run in the order of §8.2: the message itself (400 with the parser's hint),
the method (501 unknown, 405 with Allow), Require (420 with Unsupported), then the
dialog (481 for an unknown one, 500 with Retry-After for a CSeq out of order,
491/500 for overlapping INVITEs). What survives goes to the application as an event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..dialog.model import Dialog, DialogId, dialog_id_from, route_set_from
from ..dialog.replaces import match_replaces, parse_replaces
from ..dialog.state import DialogInput, DialogState, TerminatedReason
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.model import Request, Response, make_response
from ..transaction.events import (
    CancelReceived,
    RequestReceived,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from ..transaction.transport import ClientTxn, ServerTxn, Source
from . import client as ua_client
from . import refer as ua_refer
from . import subscriptions as ua_subscriptions
from .events import Event, IncomingCall, InDialogRequest, MessageReceived
from .handles import ServerInviteDialog
from .records import KNOWN_METHODS, _In

if TYPE_CHECKING:
    from .agent import UserAgent

__all__ = [
    "answer_invite",
    "default_answer",
    "dispatch",
    "drop_deferred_bye",
    "end_pending_invite",
    "respond",
    "retransmit_2xx",
    "ring_timeout",
]

#: Methods that only make sense inside a dialog: out of one they get 481.
_DIALOG_ONLY = frozenset({"BYE", "UPDATE", "INFO", "NOTIFY", "PRACK"})

# The Enum members every call goes through, read once. Python 3.11's EnumType has a
# __getattr__, which sends each ``DialogState.X`` read through CPython's slow attribute
# hook (~900 machine instructions, against ~20 for a module global).
_TRYING = DialogState.TRYING
_WAIT_ACK = DialogState.WAIT_ACK
_CONFIRMED = DialogState.CONFIRMED
_TERMINATED = DialogState.TERMINATED
_RECV_ACK = DialogInput.RECV_ACK
_SENT_2XX = DialogInput.SENT_2XX
_BYE_RECEIVED = DialogInput.BYE_RECEIVED
_UAC_BYE = TerminatedReason.UAC_BYE
_UAS_BYE = TerminatedReason.UAS_BYE


def dispatch(ua: UserAgent, event: Event) -> None:
    """Route one endpoint event: dialogs consume what is theirs, the rest passes.
    (The most frequent kinds are tested first: a UAS call brings three requests and
    the end of two server transactions.)"""
    if isinstance(event, RequestReceived):
        if event.txn is None:
            _on_ack(ua, event.request)
        else:
            _on_request(ua, event.request, event.txn, event.source)
    elif isinstance(event, TransactionTerminated):
        ua_client.transaction_terminated(ua, event)
    elif isinstance(event, ResponseReceived):
        ua_client.on_response(ua, event)
    elif isinstance(event, CancelReceived):
        _on_cancel(ua, event)
    elif isinstance(event, TransactionTimedOut | TransportFailed):
        ua_client.on_failure(ua, event)
    else:
        ua._emit(event)  # MalformedMessage, ConnectionClosed


def _reply(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
    ua: UserAgent,
    txn: ServerTxn,
    request: Request,
    status: int,
    headers: tuple[tuple[str, str], ...] = (),
    to_tag: str | None = None,
) -> None:
    tag = to_tag if to_tag is not None else ua._new_tag()
    response = make_response(request, status, to_tag=tag, headers=headers)
    ua.endpoint.send_response(txn, response, now=ua._now)


def _hand_over(
    ua: UserAgent, txn: ServerTxn, request: Request, d: Dialog | None, *, default: bool
) -> _In:
    pending = ua._pending[txn.id] = _In(request, d)
    ua._app_txns.add(txn.id)
    if default:
        pending.timer = ua._at(ua._now + ua.config.answer_timeout, "answer", txn.id)
    return pending


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


def _on_request(ua: UserAgent, request: Request, txn: ServerTxn, source: Source) -> None:
    # The canonical names of the header lines, read once: the checks below ask for
    # half a dozen headers by presence, and a scan of this short list (in C) is much
    # cheaper than as many ``name in request.headers`` calls.
    present = request.headers.keys()
    try:
        check_request(request, present)
    except RemoteProtocolError as exc:
        _reply(ua, txn, request, exc.status_hint if 400 <= exc.status_hint <= 699 else 400)
        return
    method = request.method
    cfg = ua.config
    allow = ua._allow
    if method not in KNOWN_METHODS and method not in allow:
        _reply(ua, txn, request, 501)  # §8.2.1: an extension the application did not allow
        return
    if method not in allow:
        _reply(ua, txn, request, 405, (("Allow", ua._allow_value),))  # §8.2.1
        return
    if "require" in present:
        required = [t.strip() for t in request.headers.get_all("require") if t.strip()]
        unsupported = [t for t in required if t not in cfg.supported]
        if unsupported:
            _reply(ua, txn, request, 420, (("Unsupported", ", ".join(unsupported)),))  # §8.2.2.3
            return
    to_tag = request.to.tag
    if to_tag:
        _in_dialog(ua, request, txn, to_tag)
    else:
        _out_of_dialog(ua, request, txn, source, present)


def _retry_after(ua: UserAgent) -> tuple[tuple[str, str], ...]:
    return (("Retry-After", str(ua.config.retry_after)),)


def _in_dialog(ua: UserAgent, request: Request, txn: ServerTxn, to_tag: str) -> None:
    method = request.method
    key = dialog_id_from((request.call_id, to_tag, request.from_.tag or ""))
    d = ua._dialogs.get(key)
    if d is None and method == "NOTIFY":
        ua_subscriptions.on_notify(ua, request, txn, None)  # may create the dialog (RFC 6665)
        return
    # RFC 5057: a dialog whose INVITE usage ended lives on for its subscriptions.
    usages = bool(d is not None and d.subs and method in ("NOTIFY", "SUBSCRIBE"))
    if d is None or (d.state is _TERMINATED and method != "BYE" and not usages):
        _reply(ua, txn, request, 481)  # §12.2.2
        return
    if not d.invite_usage and method in ("BYE", "INVITE"):
        # RFC 5057: no INVITE usage to end or modify in a subscription's dialog.
        _reply(ua, txn, request, 481, to_tag=to_tag)
        return
    seq = request.cseq.seq
    if d.remote_cseq is not None and seq < d.remote_cseq:
        _reply(ua, txn, request, 500, _retry_after(ua))  # §12.2.2: out of order
        return
    d.remote_cseq = seq
    if method == "NOTIFY":
        ua_subscriptions.on_notify(ua, request, txn, d)
        return
    if method == "SUBSCRIBE":
        ua_subscriptions.on_subscribe(ua, request, txn, d)
        return
    if method == "REFER":
        ua_refer.on_refer(ua, d, request, txn)
        return
    if method == "BYE":
        _reply(ua, txn, request, 200, to_tag=to_tag)  # §15.1.2
        if d.state is _TERMINATED:
            return  # BYEs crossed
        if d.role == "uas" and d.server_invite is not None and d.is_early:
            # §15.1.2: a BYE ends the pending INVITE with 487.
            pending = ua._unpend(d.server_invite)
            if pending is not None:
                _reply(ua, ServerTxn(d.server_invite), pending.request, 487, to_tag=d.local_tag)
            d.server_invite = None
        reason = ua._role_reason(d, local=False, uac=_UAC_BYE, uas=_UAS_BYE)
        # §15: a callee MUST NOT BYE an early dialog. When one does and no other fork is
        # left, _terminate CANCELs our INVITE (§9.1), as it does a pending re-INVITE.
        ua._terminate(d, _BYE_RECEIVED, reason, None, request)
        return
    if method == "INVITE":
        if d.uac_reinvite:
            _reply(ua, txn, request, 491, to_tag=to_tag)  # §14.2: glare
            return
        if d.state is not _CONFIRMED or d.server_invite is not None:
            _reply(ua, txn, request, 500, _retry_after(ua), to_tag=to_tag)  # §14.2
            return
        d.server_invite = txn.id
    _hand_over(ua, txn, request, d, default=True)
    ua._emit(InDialogRequest(dialog_id=d.id, request=request, txn=txn))


def _out_of_dialog(
    ua: UserAgent, request: Request, txn: ServerTxn, source: Source, present: list[str]
) -> None:
    method = request.method
    if method == "INVITE":
        _new_call(ua, request, txn, source.transport, present)
    elif method == "MESSAGE":
        _hand_over(ua, txn, request, None, default=True)
        ua._emit(MessageReceived(request=request, txn=txn))
    elif method == "SUBSCRIBE":
        ua_subscriptions.on_subscribe(ua, request, txn, None)
    elif method in _DIALOG_ONLY:
        _reply(ua, txn, request, 481)  # §15.1.2, RFC 3311 §5.2, RFC 6086 §4.2
    else:
        # OPTIONS and any method the application allowed: passed through, with a
        # default answer for OPTIONS (§11.2) and for a REFER outside a dialog (603:
        # the UA keeps no implicit subscription for a REFER outside a dialog).
        _hand_over(ua, txn, request, None, default=method in ("OPTIONS", "REFER"))
        ua._emit(RequestReceived(request=request, txn=txn, source=source))


def _new_call(
    ua: UserAgent, request: Request, txn: ServerTxn, transport: str, present: list[str]
) -> None:
    """§12.1.1: a UAS dialog from an INVITE without a To tag (``present``: the canonical
    names of its header lines)."""
    if len(ua._dialogs) >= ua.config.max_dialogs:
        _reply(ua, txn, request, 503, _retry_after(ua))
        return
    contact = ua_client._contact_uri(request)
    if contact is None:
        _reply(ua, txn, request, 400)  # §8.1.1.8: an INVITE MUST carry a Contact
        return
    replaced = None
    values = request.headers.get_all("replaces") if "replaces" in present else None
    if values:
        # RFC 3891 §3: exactly one; it must name a dialog we may replace.
        try:
            if len(values) != 1:
                raise RemoteProtocolError("more than one Replaces", status_hint=400)
            replaced, status = match_replaces(ua._dialogs, parse_replaces(values[0]))
        except RemoteProtocolError:
            replaced, status = None, 400
        if replaced is None:
            _reply(ua, txn, request, status)
            return
    routes = request.record_routes if "record-route" in present else []
    local_tag, local_cseq = ua._new_local()
    remote = request.from_  # (each view property is a cache look-up: read them once)
    seq = request.cseq.seq
    d = Dialog(  # positional: one per call (see Dialog.__init__)
        "uas",  # role
        request.call_id,
        local_tag,
        remote.tag or "",
        request.to,  # local_uri: rendered without its tag when first needed, as is
        remote,  # remote_uri
        ua._local_contact(transport),
        contact,  # remote_target
        route_set_from(routes, reverse=False) if routes else (),
        local_cseq,
        seq,  # remote_cseq
        _TRYING,
    )
    d.server_invite = txn.id
    d.invite_cseq = seq
    if replaced is not None:
        d.replaces = replaced.id
    ua._dialogs[d.id] = d
    pending = _hand_over(ua, txn, request, d, default=False)
    pending.timer = ua._at(ua._now + ua.config.ring_timeout, "ring", txn.id)
    view = ServerInviteDialog(ua, d.id)
    view._last = d
    ua._events.append(  # = ua._emit(): once per call, a Python call less
        IncomingCall(
            dialog=view,
            request=request,
            txn=txn,
            replaces=ua.dialog(replaced.id) if replaced is not None else None,
        )
    )


def _on_ack(ua: UserAgent, ack: Request) -> None:
    """§13.3.1.4: the ACK for our 2xx stops its retransmission and confirms the dialog."""
    try:
        key = dialog_id_from((ack.call_id, ack.to.tag or "", ack.from_.tag or ""))
        seq = ack.cseq.seq
    except RemoteProtocolError:
        return
    d = ua._dialogs.get(key)
    if d is None or d.retrans is None or seq != d.invite_cseq:
        return  # a retransmitted or stray ACK: absorbed (§17.2.1)
    ua._stop_retransmit(d)
    d.server_invite = None
    if d.state is _WAIT_ACK:
        ua._set_state(d, _RECV_ACK, ack)
        if d.replaces is not None:
            ua_refer.replaced(ua, d)  # RFC 3891 §3
    elif ack.body:
        ua._emit(InDialogRequest(dialog_id=d.id, request=ack, txn=None))
    if d.state is _CONFIRMED and d.id in ua._deferred_bye:
        why = ua._role_reason(d, local=True, uac=_UAC_BYE, uas=_UAS_BYE)
        headers, reason, handle = ua._deferred_bye.pop(d.id)
        ua._send_bye(d, headers, reason, ua._now, why, origin=handle)


def _on_cancel(ua: UserAgent, event: CancelReceived) -> None:
    pending = ua._pending.get(event.txn.id)
    d = pending.dialog if pending is not None else None
    if d is None or pending is None or d.server_invite != event.txn.id:
        ua._emit(event)
        return
    ua._unpend(event.txn.id)
    if not event.answered:
        _reply(ua, event.txn, pending.request, 487, to_tag=d.local_tag)
    d.server_invite = None
    if not d.is_early:
        # §9.2 for a re-INVITE: the 487 ends that request only; the dialog and its session
        # stay as they were. The application hears of it (and must not answer any more).
        ua._emit(event)
        return
    ua._terminate(d, DialogInput.CANCEL_RECEIVED, TerminatedReason.UAC_CANCEL, 487, event.request)


# -- answering ---------------------------------------------------------------------


def _uas_reason(status: int) -> TerminatedReason:
    if status in (486, 600):
        return TerminatedReason.UAS_BUSY
    if status in (603, 607):
        return TerminatedReason.UAS_DECLINE
    return TerminatedReason.UAS_OTHER


def _dialog_headers(
    ua: UserAgent, d: Dialog, request: Request, status: int, *, record_route: bool
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
        out.append(("Allow", ua._allow_value))
    return out


def answer_invite(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
    ua: UserAgent,
    d: Dialog,
    status: int,
    reason: str | None,
    headers: tuple[tuple[str, str], ...],
    body: bytes,
    content_type: str | None,
    now: float,
) -> None:
    """The UAS's response to the initial INVITE (§13.3.1)."""
    assert d.server_invite is not None
    txn = ServerTxn(d.server_invite)
    pending = ua._pending.get(txn.id)
    if pending is None:
        raise LocalProtocolError(f"the INVITE of {d.id} was already answered or ended")
    request = pending.request
    if body and content_type is None:
        content_type = "application/sdp"
    # The route set is the INVITE's Record-Route list (§12.1.1): when it is empty
    # there is none to copy.
    extra = _dialog_headers(ua, d, request, status, record_route=bool(d.route_set))
    extra += ua._common
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
    ua.endpoint.send_response(txn, response, now=now)
    if status < 200:
        ua._set_state(d, DialogInput.SENT_1XX, response)
        return
    ua._unpend(txn.id)
    if status < 300:
        ua._set_state(d, _SENT_2XX, response)
        _start_retransmit(ua, d, txn, response, now)
    else:
        d.server_invite = None
        ua._terminate(d, DialogInput.SENT_FAILURE, _uas_reason(status), status, response)


def _start_retransmit(
    ua: UserAgent, d: Dialog, txn: ServerTxn, response: Response, now: float
) -> None:
    t1 = ua.endpoint.config.t1
    d.retrans = (txn.id, response, t1, now, ua._at(now + t1, "retransmit", d.id))


def retransmit_2xx(ua: UserAgent, key: DialogId, at: float) -> None:
    """§13.3.1.4: resend the 2xx at T1, 2*T1, ... capped at T2 until the ACK; after
    64*T1 without one the dialog is confirmed and at once ended with BYE."""
    d = ua._dialogs.get(key)
    if d is None or d.retrans is None:
        return
    txn_id, response, interval, started, _ = d.retrans
    cfg = ua.endpoint.config
    if at - started >= 64 * cfg.t1 - 1e-9:
        d.retrans = None
        d.server_invite = None
        # The BYE the application asked for meanwhile, if any, goes now (with its handle).
        headers, reason, handle = ua._deferred_bye.pop(d.id, ((), None, None))
        if d.state is DialogState.WAIT_ACK:
            d.state = DialogState.CONFIRMED  # §13.3.1.4: "the dialog is confirmed, but ..."
        ua._send_bye(d, headers, reason, ua._now, TerminatedReason.TIMEOUT, origin=handle)
        return
    try:
        ua.endpoint.send_response(ServerTxn(txn_id), response, now=ua._now)
    except LocalProtocolError:
        ua.endpoint.send_stateless(response, now=ua._now)  # the transaction ended (Timer L)
    interval = min(2 * interval, cfg.t2)
    # The next resend, or the 64*T1 give-up instant if that comes first.
    timer = ua._at(min(at + interval, started + 64 * cfg.t1), "retransmit", key)
    d.retrans = (txn_id, response, interval, started, timer)


def respond(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
    ua: UserAgent,
    txn: ServerTxn,
    status: int,
    reason: str | None,
    headers: tuple[tuple[str, str], ...],
    body: bytes,
    content_type: str | None,
    now: float,
) -> None:
    pending = ua._pending.get(txn.id)
    if pending is None:
        raise LocalProtocolError(f"{txn!r} is not a request waiting for an answer")
    d = pending.dialog
    request = pending.request
    method = request.method
    if d is not None and d.role == "uas" and method == "INVITE" and d.is_early:
        answer_invite(ua, d, status, reason, headers, body, content_type, now)
        return
    if pending.sub is not None:  # a SUBSCRIBE: accept() or reject() it
        if 200 <= status < 300:
            ua_subscriptions.accept(
                ua, pending.sub, "active", body, content_type, None, headers, now
            )
        elif status >= 300:
            ua_subscriptions.reject(ua, pending.sub, status, reason, headers, now)
        else:
            raise LocalProtocolError("a SUBSCRIBE is answered with a final status (RFC 6665)")
        return
    extra: list[tuple[str, str]] = []
    if d is not None and method in ("INVITE", "UPDATE"):
        # A target refresh keeps the route set: no Record-Route copied.
        extra = _dialog_headers(ua, d, request, status, record_route=False)
    elif method == "REFER" and 200 <= status < 300:
        extra = list(ua_refer.accept_headers(request))
    elif status == 405 or (method == "OPTIONS" and 200 <= status < 300):
        extra = [("Allow", ua._allow_value)]
        if method == "OPTIONS":
            extra.append(("Accept", "application/sdp"))
    if body and content_type is None:
        content_type = "application/sdp"
    tag = d.local_tag if d is not None else (None if request.to.tag else ua._new_tag())
    response = make_response(
        request,
        status,
        reason,
        to_tag=tag,
        headers=[*extra, *ua._common, *headers],
        body=body,
        content_type=content_type if body else None,
    )
    ua.endpoint.send_response(txn, response, now=now)
    if status < 200:
        return
    ua._unpend(txn.id)
    if d is None:
        return
    if method == "INVITE":
        if status < 300:
            ua_client._refresh_target(d, request)  # §12.2.2: target refresh
            d.invite_cseq = request.cseq.seq
            _start_retransmit(ua, d, txn, response, now)
        else:
            d.server_invite = None
    elif method == "UPDATE" and status < 300:
        ua_client._refresh_target(d, request)
    elif method == "REFER" and status < 300:
        ua_refer.accepted(ua, d, request, now)


def default_answer(ua: UserAgent, txn_id: int, at: float) -> None:
    """The documented answer to a request the application left unanswered."""
    pending = ua._pending.get(txn_id)
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
    respond(ua, ServerTxn(txn_id), status, None, (), b"", None, ua._now)


def end_pending_invite(ua: UserAgent, d: Dialog, status: int) -> None:
    """Answer ``status`` to the unanswered INVITE of the early dialog ``d``, which ended."""
    txn_id = d.server_invite
    d.server_invite = None
    pending = ua._unpend(txn_id) if txn_id is not None else None
    if txn_id is not None and pending is not None:
        _reply(ua, ServerTxn(txn_id), pending.request, status, to_tag=d.local_tag)


def ring_timeout(ua: UserAgent, txn_id: int, at: float) -> None:
    pending = ua._pending.get(txn_id)
    d = pending.dialog if pending is not None else None
    if d is not None and d.server_invite == txn_id and d.is_early:
        answer_invite(ua, d, 480, None, (), b"", None, ua._now)


def defer_bye(
    ua: UserAgent, d: Dialog, headers: tuple[tuple[str, str], ...], reason: str | None
) -> ClientTxn:
    """§15: the callee may not BYE before its 2xx is ACKed: the BYE waits for the ACK,
    or for the ACK's timeout (64*T1, §13.3.1.4), and is sent then.

    The handle is returned now, its id taken from the endpoint's sequence so that no
    transaction ever has it; the BYE's responses, timeout and end carry it later (as a
    re-INVITE's do after a glare retry). Asked again before the ACK, the first BYE
    stands and its handle is returned again."""
    held = ua._deferred_bye.get(d.id)
    if held is not None:
        return held[2]
    handle = ClientTxn(ua.endpoint._take_id())
    ua._deferred_bye[d.id] = (headers, reason, handle)
    return handle


def drop_deferred_bye(ua: UserAgent, d: Dialog) -> None:
    """The dialog ended before its ACK some other way (the peer's BYE, a request of ours
    that failed): the held BYE is never sent. Its handle ends with TransactionTerminated
    and no response, as a CANCEL the endpoint drops unsent does."""
    held = ua._deferred_bye.pop(d.id, None)
    if held is not None:
        ua._emit(TransactionTerminated(txn=held[2]))
