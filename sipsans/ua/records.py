"""The UserAgent's bookkeeping records (no behaviour beyond reading themselves): a call
we placed, a request we sent, a request waiting for the application's answer, an INVITE
we received and have not finished with."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

from ..auth import Credentials
from ..dialog.model import Dialog, DialogId
from ..dialog.subscription import Subscription
from ..errors import LocalProtocolError
from ..message.model import Request, Response
from ..transaction.transport import ClientTxn, Target
from .alarms import Alarm

if TYPE_CHECKING:
    from ..locate.failover import Failover

__all__ = [
    "KNOWN_METHODS",
    "Call",
    "Content",
    "FinalHandler",
    "Hdrs",
    "Incoming",
    "Outgoing",
    "Reply",
    "RetryHandler",
    "ServerInvite",
    "body_type",
]

#: Header fields as the UA passes them around: (name, value) pairs.
Hdrs = tuple[tuple[str, str], ...]


class Content(TypedDict, total=False):
    """What a request within a dialog may carry besides its method (the application's
    keyword arguments to ``dialog.request()``, ``reinvite()``, ``update()``, ...)."""

    body: bytes | None
    content_type: str | None
    headers: Iterable[tuple[str, str]]


#: Methods whose requests and answers carry session descriptions (offer/answer: RFC 3264,
#: RFC 3262, RFC 3311; capabilities in an OPTIONS answer: RFC 3261 §11.2): a body given
#: to them without a type is taken for SDP when it reads as one.
_SDP_CARRIERS = frozenset({"INVITE", "ACK", "UPDATE", "PRACK", "OPTIONS"})


def body_type(method: str, body: bytes | None, content_type: str | None) -> str | None:
    """The Content-Type of a body the application gave for ``method`` (§20.15: a body
    needs one). Given: it. No body: None. Otherwise only what the body says of itself
    (callers on a hot path skip the call when the type is given or there is no body):
    a session description (``v=0`` first, RFC 8866 §5) where SDP goes is
    ``application/sdp``, MESSAGE text is ``text/plain`` (RFC 3428); for anything else
    the caller must say (LocalProtocolError)."""
    if not body or content_type is not None:
        return content_type if body else None
    if method in _SDP_CARRIERS and body.startswith(b"v=0"):
        return "application/sdp"
    if method == "MESSAGE":
        return "text/plain"
    raise LocalProtocolError(
        f"the {method} body has no content_type=: say what it is (e.g. 'application/sdp', "
        "'application/dtmf-relay'); RFC 3261 §20.15 requires a Content-Type with a body"
    )


#: Methods RFC 3261 and its extensions define; anything else gets 501 (§8.2.1).
KNOWN_METHODS = frozenset(
    {
        "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
        "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
    }
)  # fmt: skip


class Call:
    """A UAC's initial INVITE: its current transaction, forks and ACKs (§13.2.2)."""

    __slots__ = (
        "acks",
        "auth_tries",
        "cancelling",
        "confirmed",
        "credentials",
        "dialogs",
        "origin",
        "primary",
        "request",
        "target",
        "txn",
        "via_first_hop",
        "walk",
    )

    def __init__(
        self,
        request: Request,
        target: Target,
        primary: Dialog,
        credentials: tuple[Credentials, ...],
    ) -> None:
        self.request = request
        self.target = target
        #: The dialog the call started with (its remote tag is the first To tag seen).
        self.primary = primary
        self.credentials = credentials
        #: Id of the INVITE client transaction now running (a new one per auth retry).
        self.txn = 0
        #: The handle ``invite()`` returned: every event about the call carries it.
        self.origin = ClientTxn(0)
        self.auth_tries = 0
        self.cancelling = False
        #: The fork whose 2xx we kept (§13.2.2.4).
        self.confirmed: Dialog | None = None
        #: Every dialog of this call by remote (To) tag: one per fork (§12.1.2).
        self.dialogs: dict[str, Dialog] = {}
        #: The ACK sent per To tag, resent for each 2xx retransmission (§13.2.2.4).
        self.acks: dict[str, tuple[Request, Target]] = {}
        #: Early forks whose requests go where the INVITE went, as no SIP remote target
        #: is known for them (a call to a tel: URI; ``calls._route_early``); None while
        #: there are none (nearly always).
        self.via_first_hop: set[Dialog] | None = None
        #: The walk down the targets when the call was given several (RFC 3263 §4.3).
        self.walk: Failover | None = None

    def current(self) -> Dialog:
        """The dialog a view of this call shows: the answered fork, else the first."""
        return self.confirmed or self.primary

    def all_dialogs(self) -> list[Dialog]:
        """Every fork of the call, the primary dialog included."""
        dialogs = list(self.dialogs.values())
        if self.primary not in dialogs:
            dialogs.append(self.primary)
        return dialogs


#: Told the final outcome of a request sent for a subscription (SUBSCRIBE, NOTIFY,
#: REFER): ``(record, status, response)``; the response is None for a timeout (408)
#: or a transport failure (503).
FinalHandler = Callable[["Outgoing", int, Response | None], None]
#: Told that a request sent for a subscription was sent again with credentials (§22.2):
#: its CSeq changed (a REFER's implicit subscription is keyed by it, RFC 3515 §2.4.6).
RetryHandler = Callable[["Outgoing"], None]


@dataclass(slots=True, eq=False, repr=False)
class Outgoing:
    """A request the UA sent other than the initial INVITE (within a dialog or not);
    kept so that 401/407 can be retried (§22.2) and every event carries the handle the
    application was given."""

    dialog: Dialog | None
    request: Request
    target: Target
    origin: ClientTxn
    body: bytes | None
    content_type: str | None
    headers: Hdrs
    #: client transactions still mapped to this record (auth and glare retries
    #: add one each); the record ends when the count drops to zero
    live: int = field(default=0, init=False)
    auth_tries: int = field(default=0, init=False)
    #: The subscription whose SUBSCRIBE, NOTIFY or REFER this is, if any.
    sub: Subscription | None = field(default=None, init=False)
    #: For a subscription's request: who hears its final outcome.
    on_final: FinalHandler | None = field(default=None, init=False)
    on_retry: RetryHandler | None = field(default=None, init=False)
    #: True for requests the UA sent on its own (refreshes, automatic NOTIFYs):
    #: their responses and end are not passed on to the application.
    quiet: bool = field(default=False, init=False)
    #: A re-INVITE's ACK, resent for each retransmission of its 2xx (§13.2.2.4).
    ack: Request | None = field(default=None, init=False)
    #: How many times a re-INVITE met 491 and was retried (§14.1).
    glare_rounds: int = field(default=0, init=False)
    #: The walk down the targets of a request given several (RFC 3263 §4.3).
    walk: Failover | None = field(default=None, init=False)

    def keep_ack(self, ack: Request, target: Target) -> None:
        """The ACK of this re-INVITE's 2xx, once sent (resent for its retransmissions)."""
        self.ack = ack


class Incoming:
    """An incoming request handed to the application and not answered yet."""

    __slots__ = ("alarm", "dialog", "request", "sub")

    def __init__(
        self, request: Request, dialog: Dialog | None, sub: Subscription | None = None
    ) -> None:
        self.request = request
        self.dialog = dialog
        #: The notifier's subscription a SUBSCRIBE awaiting accept/reject created.
        self.sub = sub
        #: Its answer or ring timer, cancelled once the request is answered.
        self.alarm: Alarm | None = None


@dataclass(slots=True)
class Reply:
    """An answer the application gives to a request (``respond``, ``accept``,
    ``reject``, ...): its status and what goes with it, passed as one value to the
    code that sends it, and kept whole when it must wait (a 2xx held for a PRACK)."""

    status: int
    reason: str | None = None
    headers: Hdrs = ()
    body: bytes = b""
    content_type: str | None = None


class ServerInvite:
    """An INVITE received within a dialog (the initial one, or a re-INVITE) that the
    server side has not finished with: unanswered, or answered 2xx and awaiting the
    ACK, its 2xx retransmitted meanwhile (§13.3.1.4)."""

    __slots__ = (
        "alarm",
        "cseq",
        "held",
        "interval",
        "offer",
        "rel100",
        "replaces",
        "response",
        "started",
        "timer",
        "txn",
    )

    def __init__(self, txn: int, cseq: int, offer: bool) -> None:
        self.txn = txn
        #: The INVITE's CSeq number, which its ACK carries.
        self.cseq = cseq
        #: It carried an offer (RFC 3264).
        self.offer = offer
        #: The 2xx sent, once sent; its retransmission interval, start and alarm.
        self.response: Response | None = None
        self.interval = 0.0
        self.started = 0.0
        self.alarm: Alarm | None = None
        #: The dialog the initial INVITE's Replaces names (RFC 3891).
        self.replaces: DialogId | None = None
        #: What the initial INVITE says of 100rel: reliable.NOT_SUPPORTED (0), SUPPORTED
        #: or REQUIRED.
        self.rel100 = 0
        #: Our 2xx negotiates a session timer (RFC 4028 §9).
        self.timer = False
        #: A 2xx the application gave that waits for the PRACK of our reliable 1xx
        #: (RFC 3262 §3).
        self.held: Reply | None = None
