"""Dialogs (RFC 3261 §12-§15) and their subscription usages (RFC 6665, RFC 5057).

* :mod:`.state`: :class:`DialogState`, :class:`TerminatedReason` and the dialog table,
  the only place a dialog's state changes.
* :mod:`.model`: :class:`DialogId`, the dialog record, in-dialog request building,
  snapshots.
* :mod:`.subscription`: :class:`SubscriptionState`, the subscription table and
  record, the Event and Subscription-State header fields.
* :mod:`.replaces`: the Replaces header (RFC 3891) and message/sipfrag bodies.
* :mod:`.events`: ``DialogStateChanged``, ``DialogChanged`` and ``DialogTerminated``.

The dialog views users hold (``ClientInviteDialog``, ...) are the UserAgent's
(:mod:`sipsans.ua.handles`): every one of their methods is a UserAgent command.
"""

from __future__ import annotations

from .events import DialogChange, DialogChanged, DialogStateChanged, DialogTerminated
from .model import SNAPSHOT_VERSION, DialogId, DialogSnapshot
from .replaces import Replaces
from .state import DIALOG_TABLE, DialogInput, DialogState, TerminatedReason, reason_for_status
from .subscription import SUBSCRIPTION_TABLE, SubscriptionState

__all__ = [
    "DIALOG_TABLE",
    "SNAPSHOT_VERSION",
    "SUBSCRIPTION_TABLE",
    "DialogChange",
    "DialogChanged",
    "DialogId",
    "DialogInput",
    "DialogSnapshot",
    "DialogState",
    "DialogStateChanged",
    "DialogTerminated",
    "Replaces",
    "SubscriptionState",
    "TerminatedReason",
    "reason_for_status",
]
