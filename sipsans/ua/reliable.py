"""Reliable provisional responses (RFC 3262), both roles.

**As callee (UAS, §3).** A 1xx (other than 100) to an INVITE is sent reliably when the
caller requires it, or when the application asks and the caller supports it
(``UAConfig.rel100`` says what we offer): it carries ``Require: 100rel`` and an RSeq,
which starts at a random value and grows by one per reliable 1xx. It is retransmitted
at T1, 2*T1, 4*T1, ... (doubling without the T2 cap of §17) until its PRACK arrives;
after 64*T1 without one the INVITE is rejected with 500 (§3: "SHOULD reject the
original request with a 5xx"). One reliable 1xx is outstanding at a time: the next
waits in a queue until the previous is PRACKed. A 2xx waits until every reliable 1xx
is PRACKed (§3 requires it when one of them carried a session description; waiting
always keeps the caller from seeing the 2xx before a 1xx the application sent first);
a 3xx-6xx goes at once and ends the retransmissions (PRACKs for them are still
answered). A PRACK that matches no unacknowledged reliable 1xx gets 481; one that does
gets 200, or, when it carries a new offer, goes to the application to answer.

**As caller (UAC, §4).** Our INVITEs carry ``Supported: 100rel`` (``Require: 100rel``
when configured so). A reliable 1xx is PRACKed by the UA itself, in the dialog it
belongs to (one RSeq sequence per fork); a retransmission (RSeq not above the last)
or one out of order (RSeq more than one above) is not PRACKed and not processed
further. A reliable 1xx carrying the callee's offer (our INVITE had none) waits for the
application's answer (``ProvisionalOffer``, then ``dialog.prack(body=...)``, §5).

What it tracks: per UAS dialog, the reliable 1xx of its INVITE (:class:`_Sender`);
per UAC dialog, the last RSeq in order and a PRACK waiting for an answer
(:class:`_Receiver`). Both end with the dialog.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from ..dialog.model import Dialog
from ..errors import LocalProtocolError
from ..message.grammar import is_digits
from ..message.model import Request, Response
from ..transaction.transport import ClientTxn, ServerTxn
from .alarms import Alarm
from .client import ClientPart, ClientSide
from .context import UAContext
from .dialogs import DialogTable
from .events import InDialogRequest, ProvisionalOffer
from .offers import Pending
from .records import Hdrs, body_type

__all__ = ["NOT_SUPPORTED", "REQUIRED", "SUPPORTED", "ReliableProvisionals", "option_tags"]

#: What an INVITE says of 100rel: nothing, ``Supported: 100rel``, ``Require: 100rel``.
NOT_SUPPORTED, SUPPORTED, REQUIRED = 0, 1, 2

#: RSeq values lie in 1 .. 2**31 - 1 (§7.1); the first is random (§3).
_RSEQ_LIMIT = 2**31 - 1

#: The Reason of the CANCEL that ends a call whose 1xx offer the application never
#: answered (there is no valid PRACK without the answer, RFC 3262 §5).
_UNANSWERED = 'SIP;cause=488;text="No answer to the offer in the provisional response"'


def option_tags(message: Request | Response, header: str) -> list[str]:
    """The option tags of every ``header`` line (Require, Supported), lower case."""
    return [tag.strip().lower() for tag in message.headers.get_all(header)]


@dataclass(slots=True, eq=False)
class _Sent:
    """A reliable 1xx of ours."""

    response: Response
    rseq: int
    #: What its body is in the offer/answer exchange: ``"offer"`` (the INVITE had
    #: none: its PRACK brings the answer), ``"answer"`` (to the INVITE's offer), or
    #: None (no body, or the same session description again).
    carries: str | None
    #: Its retransmission (§3): the alarm, the interval and when it started.
    alarm: Alarm | None = field(default=None, init=False)
    interval: float = field(default=0.0, init=False)
    started: float = field(default=0.0, init=False)


@dataclass(slots=True, eq=False)
class _Sender:
    """The reliable 1xx of one UAS dialog's INVITE."""

    #: The INVITE's server transaction, and its CSeq number (a PRACK's RAck names it).
    txn: int
    cseq: int
    #: The RSeq the next reliable 1xx gets.
    rseq: int
    #: The 1xx sent and not PRACKed yet (retransmitted or, after the final
    #: response, no longer: §3 still answers their PRACKs).
    unacked: list[_Sent] = field(default_factory=list, init=False)
    #: The one of them being retransmitted, if any.
    outstanding: _Sent | None = field(default=None, init=False)
    #: The ones waiting for it to be PRACKed, in order.
    queue: deque[_Sent] = field(default_factory=deque, init=False)
    #: An answer to the INVITE's offer went in a reliable 1xx.
    answered: bool = field(default=False, init=False)
    #: An offer of ours went in a reliable 1xx (the INVITE had none).
    offered: bool = field(default=False, init=False)
    #: The initial offer/answer exchange is complete and acknowledged: the 1xx
    #: with our answer was PRACKed, or the PRACK brought the answer to our offer.
    confirmed: bool = field(default=False, init=False)


class _Receiver:
    """The reliable 1xx of one UAC dialog (a fork of our INVITE)."""

    __slots__ = ("answered", "held", "rseq")

    def __init__(self, rseq: int) -> None:
        #: The RSeq of the last reliable 1xx accepted in order (§4).
        self.rseq = rseq
        #: The initial exchange is complete: a reliable 1xx answered our offer, or our
        #: PRACK answered its offer.
        self.answered = False
        #: A reliable 1xx whose offer waits for the application's answer: its RSeq, its
        #: INVITE's CSeq, and the alarm of the default.
        self.held: tuple[int, int, Alarm] | None = None


def _noop(d: Dialog) -> None:
    return None


def _noop_cancel(d: Dialog, *, reason: str | None = None) -> None:
    return None


class ReliableProvisionals(ClientPart):
    """RFC 3262 for one UserAgent (see the module docstring)."""

    __slots__ = ("_receivers", "_senders", "cancel_call", "gave_up", "idle")

    def __init__(self, ctx: UAContext, dialogs: DialogTable, client: ClientSide) -> None:
        super().__init__(ctx, dialogs, client)
        self._senders: dict[Dialog, _Sender] = {}
        self._receivers: dict[Dialog, _Receiver] = {}
        #: Told that a reliable 1xx went unacknowledged for 64*T1: the server side
        #: rejects the INVITE (set by it).
        self.gave_up: Callable[[Dialog], None] = _noop
        #: Told that the last reliable 1xx of a dialog was PRACKed: a 2xx held for it
        #: may go (set by the server side).
        self.idle: Callable[[Dialog], None] = _noop
        #: CANCELs the call an early dialog of ours belongs to, with a Reason (the
        #: caller's ``send_cancel``, set by the UserAgent).
        self.cancel_call: Callable[..., object] = _noop_cancel

    def stats(self) -> dict[str, int]:
        return {"reliable_sent": len(self._senders), "reliable_received": len(self._receivers)}

    @property
    def required(self) -> bool:
        """Whether we require 100rel (``UAConfig.rel100 == "required"``)."""
        return self._ctx.config.rel100 == "required"

    # -- callee (§3) ----------------------------------------------------------------------

    def peer_support(self, request: Request, present: Collection[str]) -> int:
        """What an INVITE says of 100rel (``present``: its header names): REQUIRED,
        SUPPORTED or NOT_SUPPORTED."""
        if "require" in present and "100rel" in option_tags(request, "require"):
            return REQUIRED
        if "supported" in present and "100rel" in option_tags(request, "supported"):
            return SUPPORTED
        return NOT_SUPPORTED

    def choose(self, peer: int, status: int, reliable: bool | None) -> bool:
        """Whether a ``status`` 1xx to an INVITE that said ``peer`` of 100rel goes
        reliably; ``reliable`` is the application's wish (None: as the caller and
        ``UAConfig.rel100`` ask). LocalProtocolError for a wish that cannot be met."""
        if status == 100:
            return False  # §3: a 100 is never sent reliably
        mode = self._ctx.config.rel100
        if reliable is None:
            return peer == REQUIRED or (mode == "required" and peer != NOT_SUPPORTED)
        if reliable:
            if mode == "disabled":
                raise LocalProtocolError("reliable=True, but UAConfig.rel100 is 'disabled'")
            if peer == NOT_SUPPORTED:
                raise LocalProtocolError(
                    "reliable=True, but the INVITE does not support 100rel (RFC 3262 §3)"
                )
            return True
        if peer == REQUIRED:
            raise LocalProtocolError(
                "the INVITE requires 100rel: its provisional responses go reliably (RFC 3262 §3)"
            )
        return False

    def next_headers(self, d: Dialog, txn_id: int, cseq: int) -> Hdrs:
        """The Require and RSeq of the next reliable 1xx to ``d``'s INVITE (server
        transaction ``txn_id``, CSeq number ``cseq``)."""
        sender = self._senders.get(d)
        if sender is None:
            first = self._ctx.rng.randint(1, _RSEQ_LIMIT // 2)  # room to grow (§3)
            sender = self._senders[d] = _Sender(txn_id, cseq, first)
            self._dialogs.watch(d, self._dialog_ended)
        rseq = sender.rseq
        sender.rseq += 1
        return (("Require", "100rel"), ("RSeq", str(rseq)))

    def send(self, d: Dialog, response: Response, *, invite_offer: bool) -> None:
        """Send the reliable 1xx ``response`` (built with :meth:`next_headers`), or
        queue it behind the one outstanding. ``invite_offer``: the INVITE carried an
        offer (so a body here is the answer; otherwise the first body is our offer)."""
        sender = self._senders[d]
        carries = None
        if response.body:
            if invite_offer and not sender.answered:
                sender.answered, carries = True, "answer"
            elif not invite_offer and not sender.offered:
                sender.offered, carries = True, "offer"
        sent = _Sent(response, int(response.headers.get("rseq", "0")), carries)
        if sender.outstanding is None:
            self._transmit(d, sender, sent)
        else:
            sender.queue.append(sent)

    def _transmit(self, d: Dialog, sender: _Sender, sent: _Sent) -> None:
        ctx = self._ctx
        ctx.endpoint.send_response(ServerTxn(sender.txn), sent.response, now=ctx.now)
        t1 = ctx.endpoint.config.t1
        sent.interval, sent.started = t1, ctx.now
        sent.alarm = ctx.alarms.at(ctx.now + t1, self._retransmit, d)
        sender.outstanding = sent
        sender.unacked.append(sent)

    def _retransmit(self, d: Dialog, at: float) -> None:
        """§3: resend at T1, 2*T1, 4*T1, ... until the PRACK; give up after 64*T1."""
        sender = self._senders.get(d)
        sent = sender.outstanding if sender is not None else None
        if sender is None or sent is None:
            return
        ctx = self._ctx
        limit = sent.started + 64 * ctx.endpoint.config.t1
        if at >= limit - 1e-9:
            self._stop(sender)
            self.gave_up(d)  # §3: the INVITE is rejected with a 5xx
            return
        try:
            ctx.endpoint.send_response(ServerTxn(sender.txn), sent.response, now=ctx.now)
        except LocalProtocolError:
            return  # the INVITE transaction is gone (a transport failure): nothing to do
        sent.interval *= 2
        sent.alarm = ctx.alarms.at(min(at + sent.interval, limit), self._retransmit, d)

    def final(self, d: Dialog, status: int) -> bool:
        """The INVITE of ``d`` is to be answered ``status``: False when a 2xx must wait
        for PRACKs (:attr:`idle` is told when it may go). Otherwise the retransmissions
        stop and the 1xx still queued are dropped (§3: no new reliable 1xx after the
        final response); the unacknowledged ones may still be PRACKed."""
        sender = self._senders.get(d)
        if sender is None:
            return True
        if 200 <= status < 300:
            if sender.unacked or sender.queue:
                return False
            del self._senders[d]  # all PRACKed: nothing left to track (§3)
            return True
        self._stop(sender)
        return True

    def _stop(self, sender: _Sender) -> None:
        """No more retransmissions, nothing more sent."""
        sent = sender.outstanding
        if sent is not None:
            self._ctx.alarms.cancel(sent.alarm)
            sender.outstanding = None
        sender.queue.clear()

    def on_prack(self, d: Dialog, request: Request, txn: ServerTxn) -> bool:
        """A PRACK within ``d``: answered here (481 when it matches no unacknowledged
        reliable 1xx, 200 otherwise), except one carrying a new offer, which is left to
        the caller to hand to the application (True)."""
        ctx = self._ctx
        sender = self._senders.get(d)
        sent = _match(sender, request) if sender is not None else None
        if sender is None or sent is None:
            ctx.reply(txn, request, 481, to_tag=d.local_tag)  # §3
            return False
        sender.unacked.remove(sent)
        if sender.outstanding is sent:
            ctx.alarms.cancel(sent.alarm)
            sender.outstanding = None
        if sent.carries is not None:
            # The answer to our offer came (§5), or our answer is known to have arrived
            # (RFC 3311 §5.1: an UPDATE may now carry a new offer).
            sender.confirmed = True
        offer_in_prack = bool(request.body) and sent.carries != "offer"
        if not offer_in_prack:
            ctx.reply(txn, request, 200, to_tag=d.local_tag)
            if request.body:
                ctx.events.append(InDialogRequest(dialog_id=d.id, request=request, txn=None))
        if sender.queue:
            self._transmit(d, sender, sender.queue.popleft())
        elif not sender.unacked:
            self.idle(d)
        return offer_in_prack

    # -- state asked by the other parts ----------------------------------------------------

    def answered_early(self, d: Dialog) -> bool:
        """Whether the INVITE offer of ``d`` got its answer in a reliable 1xx (either
        role): sent by us as callee, received by us as caller."""
        sender = self._senders.get(d)
        if sender is not None:
            return sender.answered
        receiver = self._receivers.get(d)
        return receiver is not None and receiver.answered

    def early_exchange_done(self, d: Dialog) -> bool:
        """Whether an early dialog's initial offer/answer exchange is complete, so that
        an UPDATE may carry a new offer (RFC 3311 §5.1): for the caller, the answer came
        in a reliable 1xx or went in our PRACK; for the callee, the 1xx with our answer
        was PRACKed or the PRACK answered our offer."""
        sender = self._senders.get(d)
        if sender is not None:
            return sender.confirmed
        receiver = self._receivers.get(d)
        return receiver is not None and receiver.answered

    def offer_state(self, d: Dialog) -> Pending | None:
        """The exchange a reliable 1xx or PRACK opened on ``d``: our offer in a 1xx not
        answered by a PRACK yet, or an offer in a 1xx waiting for our PRACK."""
        sender = self._senders.get(d)
        if sender is not None:
            return "ours" if sender.offered and not sender.confirmed else None
        receiver = self._receivers.get(d)
        if receiver is not None and receiver.held is not None:
            return "theirs"
        return None

    # -- caller (§4) -------------------------------------------------------------------------

    def invite_headers(self) -> Hdrs:
        """What our INVITEs say of 100rel beyond Supported: ``Require: 100rel`` when we
        require it."""
        return (("Require", "100rel"),) if self.required else ()

    def in_order(self, d: Dialog, response: Response) -> int:
        """A 101-199 to our INVITE within ``d``: its RSeq when it is a reliable 1xx to
        process and PRACK (:meth:`acknowledge`), 0 for an unreliable one, -1 for one not
        to process further (a reliable 1xx retransmitted or out of order, §4, or one
        after the final response)."""
        if "rseq" not in response.headers or self._ctx.config.rel100 == "disabled":
            return 0
        if "100rel" not in option_tags(response, "require"):
            return 0  # an RSeq without Require: 100rel is not a reliable 1xx (§7.1)
        value = response.headers.get("rseq", "").strip()
        if not is_digits(value) or not 1 <= int(value) <= _RSEQ_LIMIT:
            return 0  # leniency: a broken RSeq is taken for an unreliable 1xx
        rseq = int(value)
        if not d.is_early:
            return -1  # §4: after the final response it may be discarded
        receiver = self._receivers.get(d)
        if receiver is None:
            self._receivers[d] = _Receiver(rseq)  # §4: the first sets the sequence
            self._dialogs.watch(d, self._dialog_ended)
        elif rseq != receiver.rseq + 1:
            return -1  # a retransmission, or one out of order (§4)
        else:
            receiver.rseq = rseq
        return rseq

    def acknowledge(self, d: Dialog, invite: Request, response: Response, rseq: int) -> None:
        """PRACK the reliable 1xx ``rseq`` of ``d`` now, or, when it carries the callee's
        offer (our ``invite`` had none), once the application answers it (§5)."""
        receiver = self._receivers[d]
        cseq = invite.cseq.seq
        if response.body and not receiver.answered:
            if invite.body:
                receiver.answered = True  # the answer to our offer (§5)
            else:
                # The callee's offer: our PRACK must carry the answer (§5).
                ctx = self._ctx
                alarm = ctx.alarms.at(ctx.now + ctx.config.answer_timeout, self._unanswered, d)
                receiver.held = (rseq, cseq, alarm)
                ctx.events.append(ProvisionalOffer(dialog_id=d.id, response=response))
                return
        self._auto_prack(d, rseq, cseq)

    def prack(
        self, d: Dialog, *, body: bytes, content_type: str | None, headers: Hdrs, now: float
    ) -> ClientTxn:
        """Send the PRACK carrying our answer to the offer of a reliable 1xx (§5)."""
        ctx = self._ctx
        ctx.advance(now)
        receiver = self._receivers.get(d)
        if receiver is None or receiver.held is None:
            raise LocalProtocolError(
                "no reliable provisional response with an offer is waiting for its PRACK"
            )
        if not body:
            raise LocalProtocolError("the PRACK must carry the answer to the 1xx's offer")
        rseq, cseq, alarm = receiver.held
        ctx.alarms.cancel(alarm)
        receiver.held = None
        receiver.answered = True
        content_type = body_type("PRACK", body, content_type)
        txn = self._send_prack(d, rseq, cseq, body=body, content_type=content_type, headers=headers)
        ctx.drain()
        return txn

    def _send_prack(
        self,
        d: Dialog,
        rseq: int,
        cseq: int,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Hdrs = (),
    ) -> ClientTxn:
        rack = ("RAck", f"{rseq} {cseq} INVITE")  # §7.2
        _, origin = self._client.send(
            d, "PRACK", body=body, content_type=content_type, headers=(rack, *headers)
        )
        return origin

    def _auto_prack(self, d: Dialog, rseq: int, cseq: int) -> None:
        """The UA's own PRACK: its answer stays with the UA. A dialog whose remote target
        cannot be reached (the 1xx gave no SIP Contact and the Request-URI is a tel: URI)
        gets none: the callee gives up after 64*T1, as for a PRACK lost (§3)."""
        try:
            origin = self._send_prack(d, rseq, cseq)
        except LocalProtocolError:
            return
        self._client.outgoing(origin).quiet = True

    def _unanswered(self, d: Dialog, at: float) -> None:
        """The application never answered the 1xx's offer: PRACK without an answer
        (which stops the 1xx's retransmission) and CANCEL the call."""
        receiver = self._receivers.get(d)
        if receiver is None or receiver.held is None:
            return
        rseq, cseq, _ = receiver.held
        receiver.held = None
        if d.is_early:
            self._auto_prack(d, rseq, cseq)
            self.cancel_call(d, reason=_UNANSWERED)

    # -- the end of a dialog ----------------------------------------------------------------

    def _dialog_ended(self, d: Dialog, was_early: bool) -> None:
        alarms = self._ctx.alarms
        sender = self._senders.pop(d, None)
        if sender is not None:
            self._stop(sender)
        receiver = self._receivers.pop(d, None)
        if receiver is not None and receiver.held is not None:
            alarms.cancel(receiver.held[2])


def _match(sender: _Sender, request: Request) -> _Sent | None:
    """The unacknowledged reliable 1xx a PRACK's RAck names (§7.2: response-num, the
    INVITE's CSeq number and method), if any."""
    parts = (request.headers.get("rack") or "").split()
    if len(parts) != 3 or not is_digits(parts[0]) or not is_digits(parts[1]):
        return None
    rseq, cseq, method = int(parts[0]), int(parts[1]), parts[2]
    if cseq != sender.cseq or method != "INVITE":
        return None
    for sent in sender.unacked:
        if sent.rseq == rseq:
            return sent
    return None
