"""The dialog layer's events: a dialog changed state, or ended (DESIGN.md §4)."""

from __future__ import annotations

from dataclasses import dataclass

from .._speed import quick_init
from ..message.model import Request, Response
from .model import DialogId
from .state import DialogState, TerminatedReason

__all__ = ["DialogStateChanged", "DialogTerminated"]


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
