"""The UserAgent's bookkeeping records (no behaviour): calls, requests sent, requests
waiting for the application's answer."""

from __future__ import annotations

from typing import Any

from ..auth import Credentials
from ..dialog.model import Dialog
from ..dialog.subscription import Subscription
from ..message.model import Request
from ..transaction.transport import ClientTxn, Target

__all__ = ["KNOWN_METHODS", "Hdrs", "Timer", "_Call", "_In", "_Out"]

Hdrs = tuple[tuple[str, str], ...]
#: A UA timer as kept in its heap: ``[deadline, seq, kind, key]``, compared as a list
#: (by deadline, then the unique seq). Mutable so that it can be disarmed in place.
Timer = list[Any]

#: Methods RFC 3261 and its extensions define; anything else gets 501 (§8.2.1).
KNOWN_METHODS = frozenset(
    {
        "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
        "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
    }
)  # fmt: skip


class _Call:
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
        self.primary = primary
        self.credentials = credentials
        self.txn = 0
        self.origin = ClientTxn(0)
        self.auth_tries = 0
        self.cancelling = False
        self.confirmed: Dialog | None = None
        #: Every dialog of this call by remote (To) tag: one per fork (§12.1.2).
        self.dialogs: dict[str, Dialog] = {}
        #: The ACK sent per To tag, resent for each 2xx retransmission (§13.2.2.4).
        self.acks: dict[str, tuple[Request, Target]] = {}


class _Out:
    """A request the UA sent within a dialog (or out of dialog) other than the
    initial INVITE; kept so that 401/407 can be retried (§22.2)."""

    __slots__ = (
        "auth_tries",
        "body",
        "content_type",
        "dialog",
        "headers",
        "live",
        "origin",
        "quiet",
        "request",
        "sub",
        "target",
    )

    def __init__(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
        self,
        dialog: Dialog | None,
        request: Request,
        target: Target,
        origin: ClientTxn,
        body: bytes | None,
        content_type: str | None,
        headers: Hdrs,
    ) -> None:
        self.dialog = dialog
        self.request = request
        self.target = target
        #: client transactions still mapped to this record (auth and glare retries
        #: add one each); the record ends when the count drops to zero
        self.live = 0
        self.origin = origin
        self.auth_tries = 0
        self.body = body
        self.content_type = content_type
        self.headers = headers
        #: The subscription whose SUBSCRIBE, NOTIFY or REFER this is, if any.
        self.sub: Subscription | None = None
        #: True for requests the UA sent on its own (refreshes, automatic NOTIFYs):
        #: their responses and end are not passed on to the application.
        self.quiet = False


class _In:
    """An incoming request handed to the application and not answered yet."""

    __slots__ = ("dialog", "request", "sub", "timer")

    def __init__(
        self, request: Request, dialog: Dialog | None, sub: Subscription | None = None
    ) -> None:
        self.request = request
        self.dialog = dialog
        #: The notifier's subscription a SUBSCRIBE awaiting accept/reject created.
        self.sub = sub
        #: Its answer or ring timer, disarmed once the request is answered.
        self.timer: Timer | None = None
