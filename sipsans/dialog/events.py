"""The dialog layer's events: a dialog changed state, what its snapshot holds changed, or
it ended (DESIGN.md §4, §10)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .._speed import quick_init
from ..message.model import Request, Response
from .model import DialogId
from .state import DialogState, TerminatedReason

__all__ = ["DialogChange", "DialogChanged", "DialogStateChanged", "DialogTerminated"]


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class DialogStateChanged:
    """A dialog moved from ``previous`` to ``state`` (see docs/dialogs.md).

    ``message`` is what caused it when a message did (the 180/183/200 with its
    body, the ACK carrying an answer, the BYE), else None. ``previous`` is None for
    a dialog that just appeared (an early dialog of a new fork).
    """

    dialog_id: DialogId
    previous: DialogState | None
    state: DialogState
    message: Request | Response | None = None


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class DialogTerminated:
    """The dialog ended; ``status`` is the SIP status involved, when one applies."""

    dialog_id: DialogId
    reason: TerminatedReason
    status: int | None = None


class DialogChange(Enum):
    """What changed in a confirmed dialog's snapshot (``DialogChanged.change``)."""

    #: The dialog was just confirmed: its first snapshot.
    CONFIRMED = "confirmed"
    #: This UA restored it from a snapshot (``ua.resume`` / ``ua.restore``): it holds it now.
    RESTORED = "restored"
    #: A target refresh (re-INVITE, UPDATE: §12.2, RFC 3311) replaced the remote target.
    TARGET = "target"
    #: We sent a request within it: our CSeq went up (§12.2.1.1).
    LOCAL_CSEQ = "local-cseq"


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class DialogChanged:
    """What ``ua.snapshot(dialog_id)`` returns changed (``UAConfig.report_changes``):
    a store of snapshots writes the dialog again (DESIGN.md §10); ``DialogTerminated``
    says when to drop it.

    Reported: confirmation, restoration, a refreshed remote target and a new local
    CSeq. Not reported: the remote CSeq of each request received, which a restored
    dialog does not need exactly (§12.2.2: a CSeq above the last one seen, by any
    amount, is in order), so that a call costs one write, not one per request.
    """

    dialog_id: DialogId
    change: DialogChange
