"""Requests within dialogs this UA does not hold, waiting for the dialog to be restored
(DESIGN.md §10).

Behind a load balancer a dialog may have been made by another process that has since
died; its snapshot (``ua.snapshot``) lives in a store shared by the processes. When
``UAConfig.restore_wait`` is set, a request within an unknown dialog does not get 481
at once (§12.2.2): it waits here and the UA reports ``UnknownDialogRequest``. The
application fetches the snapshot (the I/O is the application's: the core only waits)
and answers with ``ua.resume(dialog_id, snapshot)``: the dialog is restored whole, or
refused whole (``RestoreRefused``), and the requests that waited are then processed
as if the dialog had always been here, or answered 481.

Nothing waits for ever: each waiting dialog has an alarm ``restore_wait`` seconds
after its first request (481 then, reason TIMEOUT), at most ``UAConfig.max_restores``
dialogs wait at once and each holds at most :data:`MAX_HELD_PER_DIALOG` requests;
beyond either, 481 at once. The server transactions of waiting requests absorb the
peer's retransmissions meanwhile (§17.2.2; an INVITE's sends 100 Trying, §17.2.1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from ..dialog.events import DialogChange
from ..dialog.model import SNAPSHOT_VERSION, Dialog, DialogId, DialogSnapshot, restore
from ..errors import LocalProtocolError
from ..message.model import Request
from ..transaction.transport import ServerTxn
from .alarms import Alarm
from .context import UAContext
from .dialogs import DialogTable
from .events import RestoreRefusal, RestoreRefused, UnknownDialogRequest

__all__ = ["MAX_HELD_PER_DIALOG", "Restores"]

#: Most requests one dialog holds while it awaits restoration (a BYE crossing an INFO
#: is two; more is a peer misbehaving).
MAX_HELD_PER_DIALOG = 8

#: Replays one waiting request once its dialog is here: ``(request, txn)``.
Replay = Callable[[Request, ServerTxn], None]


class _Waiting:
    """The requests of one dialog awaiting restoration, and its give-up alarm."""

    __slots__ = ("alarm", "requests")

    def __init__(self) -> None:
        self.requests: list[tuple[Request, ServerTxn]] = []
        self.alarm: Alarm | None = None


def _no_replay(request: Request, txn: ServerTxn) -> None:  # pragma: no cover - set at once
    raise AssertionError("Restores.replay is set by the server side")


class Restores:
    """Dialogs awaiting restoration, by id (see the module docstring)."""

    __slots__ = ("_by_txn", "_ctx", "_dialogs", "_waiting", "replay")

    def __init__(self, ctx: UAContext, dialogs: DialogTable) -> None:
        self._ctx = ctx
        self._dialogs = dialogs
        self._waiting: dict[DialogId, _Waiting] = {}
        #: The dialog each waiting request's server transaction waits for.
        self._by_txn: dict[int, DialogId] = {}
        #: Processes a waiting request once its dialog is here (the server side's).
        self.replay: Replay = _no_replay

    def stats(self) -> dict[str, int]:
        return {"awaiting_restore": len(self._waiting)}

    @property
    def held(self) -> bool:
        """Whether any request waits (read before the rarer look-ups)."""
        return bool(self._by_txn)

    # -- a request for an unknown dialog -------------------------------------------------

    def hold(self, request: Request, txn: ServerTxn, dialog_id: DialogId) -> bool:
        """Keep ``request`` until ``dialog_id`` is restored or refused; False when it must
        be answered 481 now (the dialog ended here, or too much waits already)."""
        ctx = self._ctx
        wait = ctx.config.restore_wait
        if wait is None:
            return False
        waiting = self._waiting.get(dialog_id)
        if waiting is None:
            refusal = None
            if self._dialogs.has_ended(dialog_id):
                # A stale snapshot may well be in the store still (written behind):
                # restoring it would raise the dead.
                refusal = RestoreRefusal.ENDED, "the dialog already ended here"
            elif len(self._waiting) >= ctx.config.max_restores:
                refusal = (
                    RestoreRefusal.BUSY,
                    f"{len(self._waiting)} dialogs already await restoration",
                )
            if refusal is not None:
                ctx.events.append(
                    RestoreRefused(dialog_id=dialog_id, reason=refusal[0], detail=refusal[1])
                )
                return False
            waiting = self._waiting[dialog_id] = _Waiting()
            waiting.alarm = ctx.alarms.at(ctx.now + wait, self._expire, dialog_id)
            ctx.events.append(UnknownDialogRequest(dialog_id=dialog_id, request=request))
        elif len(waiting.requests) >= MAX_HELD_PER_DIALOG:
            return False
        waiting.requests.append((request, txn))
        self._by_txn[txn.id] = dialog_id
        return True

    def _expire(self, dialog_id: DialogId, at: float) -> None:
        waiting = self._waiting.pop(dialog_id, None)
        if waiting is not None:
            waiting.alarm = None
            wait = self._ctx.config.restore_wait
            self._refuse(
                dialog_id, waiting, RestoreRefusal.TIMEOUT, f"nothing restored within {wait} s"
            )

    def txn_ended(self, txn_id: int) -> None:
        """A waiting request's server transaction ended (its connection was lost): it can
        no longer be answered; the dialog still waits if other requests do."""
        dialog_id = self._by_txn.pop(txn_id, None)
        waiting = self._waiting.get(dialog_id) if dialog_id is not None else None
        if dialog_id is None or waiting is None:
            return
        waiting.requests = [(r, t) for r, t in waiting.requests if t.id != txn_id]
        if not waiting.requests:
            del self._waiting[dialog_id]
            self._ctx.alarms.cancel(waiting.alarm)

    # -- the application's answer ----------------------------------------------------------

    def resume(
        self, dialog_id: DialogId, data: Mapping[str, Any] | None, *, contact: str | None
    ) -> Dialog | None:
        """Restore ``dialog_id`` from ``data`` (None: no snapshot) for the requests that
        wait for it, then process them; or refuse it whole (``RestoreRefused``, 481 to
        each). ``contact``: our Contact in the dialog from now on instead of the
        snapshot's (the restoring process's own). The dialog, or None when refused or
        when nothing waited (a refusal was reported then)."""
        waiting = self._waiting.pop(dialog_id, None)
        if waiting is None:
            return None
        self._ctx.alarms.cancel(waiting.alarm)
        held = self._dialogs.get(dialog_id)
        if held is not None:  # restored meanwhile (ua.restore)
            self._replay(waiting)
            return held
        refusal = self._check(dialog_id, data)
        if isinstance(refusal, tuple):
            self._refuse(dialog_id, waiting, *refusal)
            return None
        d = refusal
        if contact is not None:
            d.local_contact = contact
        self._dialogs.add(d)
        self._dialogs.changed(d, DialogChange.RESTORED)
        self._replay(waiting)
        return d

    def refuse(self, dialog_id: DialogId, reason: RestoreRefusal, detail: str) -> None:
        """The application will not restore ``dialog_id`` (another process owns it, the
        store is unreachable...): 481 to what waits for it (nothing, if nothing does)."""
        waiting = self._waiting.pop(dialog_id, None)
        if waiting is not None:
            self._ctx.alarms.cancel(waiting.alarm)
            self._refuse(dialog_id, waiting, reason, detail)

    def restored(self, d: Dialog) -> None:
        """``d`` was restored by ``ua.restore``: what waited for it is processed now."""
        waiting = self._waiting.pop(d.id, None)
        if waiting is not None:
            self._ctx.alarms.cancel(waiting.alarm)
            self._replay(waiting)

    def _check(
        self, dialog_id: DialogId, data: Mapping[str, Any] | None
    ) -> Dialog | tuple[RestoreRefusal, str]:
        """The dialog ``data`` restores, or why it is refused. (One that ended here
        never waits: :meth:`hold` refuses it at once.)"""
        if data is None:
            return RestoreRefusal.NOT_FOUND, "no snapshot of the dialog"
        if not isinstance(data, Mapping):
            return RestoreRefusal.CORRUPT, f"a snapshot is a JSON object, not {type(data).__name__}"
        version = data.get("version")
        if version != SNAPSHOT_VERSION:
            if isinstance(version, int) and not isinstance(version, bool):
                return RestoreRefusal.UNKNOWN_VERSION, f"snapshot version {version} (this reads 1)"
            return RestoreRefusal.CORRUPT, f"no snapshot version: {version!r}"
        try:
            d = restore(cast(DialogSnapshot, dict(data)))
        except LocalProtocolError as exc:
            return RestoreRefusal.CORRUPT, str(exc)
        if d.id != dialog_id:
            return RestoreRefusal.CORRUPT, f"the snapshot is of dialog {tuple(d.id)}"
        return d

    def _replay(self, waiting: _Waiting) -> None:
        for request, txn in waiting.requests:
            if self._by_txn.pop(txn.id, None) is not None:
                self.replay(request, txn)

    def _refuse(
        self, dialog_id: DialogId, waiting: _Waiting, reason: RestoreRefusal, detail: str
    ) -> None:
        ctx = self._ctx
        ctx.events.append(RestoreRefused(dialog_id=dialog_id, reason=reason, detail=detail))
        for request, txn in waiting.requests:
            if self._by_txn.pop(txn.id, None) is not None:
                ctx.reply(txn, request, 481)  # §12.2.2
