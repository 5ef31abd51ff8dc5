"""The UserAgent's dialogs: the table that holds them and the one place their state
changes (RFC 3261 §12; the rows are :data:`sipsans.dialog.state.DIALOG_TABLE`).

Every change of a dialog's state goes through :meth:`DialogTable.change` or
:meth:`DialogTable.end`, which apply the table row and report it as
``DialogStateChanged`` (and ``DialogTerminated``). A dialog made by a subscription
alone (RFC 5057: no INVITE usage) changes state the same way but silently: it was never
announced as a dialog, its subscription events speak for it.

With ``UAConfig.report_changes`` the table also reports, as ``DialogChanged``, each
change of what a confirmed dialog's snapshot holds: its confirmation, a refreshed
remote target (:meth:`DialogTable.refresh_target`), a new local CSeq
(:meth:`DialogTable.next_cseq`), its restoration (DESIGN.md §10).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..dialog.events import DialogChange, DialogChanged, DialogStateChanged, DialogTerminated
from ..dialog.model import Dialog, DialogId
from ..dialog.state import DialogInput, DialogState, TerminatedReason
from ..errors import LocalProtocolError
from ..message.model import Request, Response
from .context import UAContext

__all__ = ["DialogTable", "EndListener", "by_role"]

#: Told when a dialog ended: ``(dialog, was_early)``.
EndListener = Callable[[Dialog, bool], None]

_TERMINATED = DialogState.TERMINATED
_CONFIRMED = DialogState.CONFIRMED
_EARLY = frozenset({DialogState.CALLING, DialogState.TRYING, DialogState.EARLY})
_ENDED, _FAILED = DialogInput.ENDED, DialogInput.FAILED
#: How many ended dialogs ``ua.dialog(id)`` still finds.
ENDED_KEPT = 256


class DialogTable:
    """Every dialog the UA holds, by id; its state changes; its end."""

    __slots__ = (
        "_alone",
        "_by_id",
        "_ctx",
        "_ended",
        "_listeners",
        "_watched",
        "get",
        "report_changes",
    )

    def __init__(self, ctx: UAContext) -> None:
        self._ctx = ctx
        #: By id. Keys are DialogIds; a lookup may use the plain (Call-ID, local tag,
        #: remote tag) tuple it equals.
        self._by_id: dict[tuple[str, str, str], Dialog] = {}
        #: The dialogs that ended last, oldest first, so that ``ua.dialog(id)`` still finds
        #: one whose DialogTerminated the application is handling (bounded: ENDED_KEPT).
        self._ended: dict[DialogId, Dialog] = {}
        self._listeners: dict[str, list[EndListener]] = {"uac": [], "uas": []}
        #: How many live dialogs have listeners of their own end (see :meth:`watch`; the
        #: listeners are in the dialog's ``watchers`` slot).
        self._watched = 0
        #: ``(listener,)`` for each listener that watches dialogs (a few bound methods of
        #: the parts): the one tuple a lone listener's dialogs share, rather than a new
        #: 48-byte tuple held by each (nearly every dialog between two sipsans UAs is
        #: watched by its session timer).
        self._alone: dict[EndListener, tuple[EndListener]] = {}
        #: ``get((call_id, local_tag, remote_tag))``: the dialog, or None.
        self.get: Callable[[tuple[str, str, str]], Dialog | None] = self._by_id.get
        #: ``UAConfig.report_changes``: report DialogChanged (read once per change).
        self.report_changes = ctx.config.report_changes

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._by_id.values()))

    def require(self, dialog_id: DialogId) -> Dialog:
        """The dialog ``dialog_id``, live or one of the last ENDED_KEPT to end;
        LocalProtocolError when the UA knows none."""
        d = self._by_id.get(dialog_id) or self._ended.get(dialog_id)
        if d is None:
            raise LocalProtocolError(f"no dialog {dialog_id}")
        return d

    def add(self, d: Dialog) -> None:
        if d.id in self._by_id:
            raise LocalProtocolError(f"dialog {d.id} already exists")
        self._by_id[d.id] = d

    def has_ended(self, dialog_id: tuple[str, str, str]) -> bool:
        """Whether ``dialog_id`` is one of the last ENDED_KEPT dialogs to end here."""
        return dialog_id in self._ended

    def learn_remote_tag(self, d: Dialog, tag: str) -> None:
        """A UAC's dialog got its remote tag from a response (§12.1.2): re-key it."""
        if self._by_id.get(d.id) is d:
            del self._by_id[d.id]
        d.remote_tag = tag
        self._by_id[d.id] = d

    def on_end(self, listener: EndListener, *, role: str | None = None) -> None:
        """Call ``listener`` after each dialog ends (the parts clean up their usages);
        only for dialogs of ``role`` ("uac"/"uas") when given."""
        roles = (role,) if role is not None else ("uac", "uas")
        for each in roles:
            self._listeners[each].append(listener)

    def watched(self) -> int:
        """How many dialogs have listeners of their own end (zero when idle)."""
        return self._watched

    def watch(self, d: Dialog, listener: EndListener) -> None:
        """Call ``listener`` once, when ``d`` ends: for a part that keeps something for
        some dialogs only (a reliable 1xx, a session timer), so that the ends of all the
        others cost it nothing. The listeners sit in the dialog's own ``watchers`` slot
        (a tuple: there is seldom more than one), not in a table entry per dialog."""
        watchers = d.watchers
        if watchers:
            d.watchers = (*watchers, listener)
            return
        self._watched += 1
        alone = self._alone.get(listener)
        if alone is None:
            alone = self._alone[listener] = (listener,)
        d.watchers = alone

    # -- state ---------------------------------------------------------------------------

    def change(
        self,
        d: Dialog,
        inp: DialogInput,
        message: Request | Response | None = None,
        *,
        appeared: bool = False,
    ) -> bool:
        """Feed ``inp`` to ``d``; report the change. ``appeared``: the dialog is new to the
        application (a fork's first response), so the event's ``previous`` is None.
        True when the table had a row for it."""
        previous = d.state
        nxt = d.advance(inp)
        if nxt is None:
            return False
        if d.invite_usage and (nxt is not previous or appeared):
            self._ctx.events.append(
                DialogStateChanged(
                    dialog_id=d.id,
                    previous=None if appeared else previous,
                    state=nxt,
                    message=message,
                )
            )
            if nxt is _CONFIRMED and self.report_changes:
                self.changed(d, DialogChange.CONFIRMED)
        return True

    # -- what a snapshot holds --------------------------------------------------------------

    def changed(self, d: Dialog, change: DialogChange) -> None:
        """Report that ``d``'s snapshot changed, if changes are reported and ``d`` is a
        confirmed dialog with an INVITE usage (the dialogs a snapshot is taken of)."""
        if self.report_changes and d.state is _CONFIRMED and d.invite_usage:
            self._ctx.events.append(DialogChanged(dialog_id=d.id, change=change))

    def refresh_target(self, d: Dialog, message: Request | Response) -> None:
        """§12.2.1.2 / §12.2.2: a target refresh replaces ``d``'s remote target with the
        Contact of ``message`` (see :meth:`Dialog.refresh_target`)."""
        before = d.remote_target
        d.refresh_target(message)
        if d.remote_target != before:
            self.changed(d, DialogChange.TARGET)

    def next_cseq(self, d: Dialog, method: str) -> int:
        """§12.2.1.1: the CSeq of our next request within ``d`` (its local CSeq, plus
        one). A BYE's is not reported: the dialog ends with it."""
        seq = d.local_cseq = d.local_cseq + 1
        if self.report_changes and method != "BYE":
            self.changed(d, DialogChange.LOCAL_CSEQ)
        return seq

    def end(
        self,
        d: Dialog,
        inp: DialogInput,
        reason: TerminatedReason,
        status: int | None = None,
        message: Request | Response | None = None,
    ) -> None:
        """End ``d`` with ``reason``: ``inp`` when the table has a row for it, else the
        input that ends a dialog in its state (the INVITE transaction ended for an early
        one, a failure for one past it). The parts' listeners run, then the dialog is
        forgotten once nothing runs on it."""
        previous = d.state
        if previous is _TERMINATED:
            return
        was_early = previous in _EARLY
        if d.advance(inp) is None:  # no row for it here: how a dialog in this state ends
            d.advance(_ENDED if was_early else _FAILED)
        assert d.state is _TERMINATED, f"{inp} led {previous} to {d.state}, not Terminated"
        d.reason, d.status = reason, status
        if d.invite_usage:
            events = self._ctx.events
            events.append(
                DialogStateChanged(
                    dialog_id=d.id, previous=previous, state=_TERMINATED, message=message
                )
            )
            events.append(DialogTerminated(dialog_id=d.id, reason=reason, status=status))
        for listener in self._listeners[d.role]:
            listener(d, was_early)
        watchers = d.watchers
        if watchers:
            d.watchers = ()
            self._watched -= 1
            for listener in watchers:
                listener(d, was_early)
        if d.holds <= 0:
            self._forget(d)

    # -- lifetime ------------------------------------------------------------------------

    def hold(self, d: Dialog) -> None:
        """Something (a transaction, the call's INVITE, a subscription) runs on ``d``."""
        d.holds += 1

    def release(self, d: Dialog, count: int = 1) -> None:
        """``count`` holds of ``d`` ended; a terminated dialog nothing holds is forgotten
        (a view of it keeps reading its last state)."""
        d.holds -= count
        if d.holds <= 0 and d.state is _TERMINATED:
            self._forget(d)

    def _forget(self, d: Dialog) -> None:
        """The terminated ``d`` leaves the table (the last ENDED_KEPT stay findable)."""
        if self._by_id.get(d.id) is d:
            del self._by_id[d.id]
            ended = self._ended
            ended[d.id] = d
            if len(ended) > ENDED_KEPT:
                del ended[next(iter(ended))]


def by_role(
    d: Dialog, *, local: bool, uac: TerminatedReason, uas: TerminatedReason
) -> TerminatedReason:
    """The UAC_*/UAS_* reason for an act by us (``local``) or by the peer: the UAC is
    whoever sent the initial INVITE, seen the same way on both ends."""
    return uac if (d.role == "uac") == local else uas
