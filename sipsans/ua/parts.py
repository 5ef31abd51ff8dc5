"""The parts of a UserAgent that its server side passes requests on to.

The server side is made last: it hands NOTIFY to the subscriber, SUBSCRIBE to the
notifier, REFER to the transfers, asks the client side and the caller to end dialogs
it replaces (RFC 3891 §3), and answers from the tables the others keep. The UserAgent
gives it those parts as one record, made once.
"""

from __future__ import annotations

from dataclasses import dataclass

from .calls import Caller
from .client import ClientSide
from .dialogs import DialogTable
from .inbox import Inbox
from .notifier import Notifier
from .offers import Negotiations
from .refer import Transfers
from .reliable import ReliableProvisionals
from .restores import Restores
from .session_timers import SessionTimers
from .subscriber import Subscriber
from .subscriptions import Subscriptions

__all__ = ["Parts"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Parts:
    """The parts of one UserAgent made before its server side."""

    dialogs: DialogTable
    inbox: Inbox
    #: Where each dialog's offer/answer exchange stands (RFC 3311 §5.2).
    negotiations: Negotiations
    client: ClientSide
    #: Reliable provisional responses (RFC 3262).
    reliable: ReliableProvisionals
    #: Session timers (RFC 4028).
    timers: SessionTimers
    caller: Caller
    subscriptions: Subscriptions
    subscriber: Subscriber
    notifier: Notifier
    transfers: Transfers
    #: Requests within dialogs the UA does not hold, waiting for their restoration.
    restores: Restores
