"""Dialogs (RFC 3261 §12-§15) and their subscription usages (RFC 6665, RFC 5057).

* :mod:`.state`: :class:`DialogState`, :class:`TerminatedReason` and the table.
* :mod:`.model`: :class:`DialogId`, the dialog record, in-dialog request building,
  snapshots.
* :mod:`.subscription`: :class:`SubscriptionState`, the subscription table and
  record, the Event and Subscription-State header fields.
* :mod:`.views`: :class:`ClientInviteDialog`, :class:`ServerInviteDialog`,
  :class:`ClientSubscription` and :class:`ServerSubscription`.
"""

from __future__ import annotations

from .model import SNAPSHOT_VERSION, DialogId, DialogSnapshot
from .state import DIALOG_TABLE, DialogInput, DialogState, TerminatedReason, reason_for_status
from .subscription import SUBSCRIPTION_TABLE, SubscriptionState
from .views import ClientInviteDialog, ClientSubscription, ServerInviteDialog, ServerSubscription

__all__ = [
    "DIALOG_TABLE",
    "SNAPSHOT_VERSION",
    "SUBSCRIPTION_TABLE",
    "ClientInviteDialog",
    "ClientSubscription",
    "DialogId",
    "DialogInput",
    "DialogSnapshot",
    "DialogState",
    "ServerInviteDialog",
    "ServerSubscription",
    "SubscriptionState",
    "TerminatedReason",
    "reason_for_status",
]
