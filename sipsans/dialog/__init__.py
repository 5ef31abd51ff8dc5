"""INVITE dialogs (RFC 3261 §12-§15): the state table, dialog data, the views.

* :mod:`.state`: :class:`DialogState`, :class:`TerminatedReason` and the table.
* :mod:`.model`: :class:`DialogId`, the dialog record, in-dialog request building,
  snapshots.
* :mod:`.views`: :class:`ClientInviteDialog` and :class:`ServerInviteDialog`.
"""

from __future__ import annotations

from .model import SNAPSHOT_VERSION, DialogId, DialogSnapshot
from .state import DIALOG_TABLE, DialogInput, DialogState, TerminatedReason, reason_for_status
from .views import ClientInviteDialog, ServerInviteDialog

__all__ = [
    "DIALOG_TABLE",
    "SNAPSHOT_VERSION",
    "ClientInviteDialog",
    "DialogId",
    "DialogInput",
    "DialogSnapshot",
    "DialogState",
    "ServerInviteDialog",
    "TerminatedReason",
    "reason_for_status",
]
