"""Requests handed to the application and not answered yet.

An incoming request the UserAgent does not answer itself (an INVITE, a request within
a dialog, MESSAGE, OPTIONS, SUBSCRIBE, REFER) waits here for ``respond()`` (or the
dialog's ``accept()``/``reject()``...). Each has an alarm: the documented default
answer after ``UAConfig.answer_timeout``, or the ring timeout of an INVITE. The
transactions of requests the application was handed are remembered until they end,
so that their ``TransactionTerminated`` (and failures) reach the application.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..dialog.model import Dialog
from ..dialog.subscription import Subscription
from ..message.model import Request
from ..transaction.events import TransactionTerminated
from ..transaction.transport import ServerTxn
from .context import UAContext
from .records import Incoming

__all__ = ["Inbox"]


class Inbox:
    """The application's unanswered requests, by server transaction id."""

    __slots__ = ("_app_txns", "_ctx", "_pending", "get", "unanswered")

    def __init__(self, ctx: UAContext) -> None:
        self._ctx = ctx
        self._pending: dict[int, Incoming] = {}
        #: ``get(txn_id)``: the request of that server transaction awaiting its answer.
        self.get: Callable[[int], Incoming | None] = self._pending.get
        #: Server transactions the application was handed (their end is its business).
        self._app_txns: set[int] = set()
        #: What runs for a request left unanswered: ``(txn_id, at)`` (the UserAgent sets
        #: it to the server side's documented default answer).
        self.unanswered: Callable[[Any, float], None] = _ignore

    def stats(self) -> dict[str, int]:
        return {"pending_answers": len(self._pending), "app_txns": len(self._app_txns)}

    def hand_over(
        self,
        txn: ServerTxn,
        request: Request,
        dialog: Dialog | None,
        *,
        after: float | None,
        action: Callable[[Any, float], None] | None = None,
        sub: Subscription | None = None,
    ) -> Incoming:
        """Keep ``request`` for the application; unless it is answered first,
        ``action(txn_id, at)`` (by default :attr:`unanswered`) runs ``after`` seconds
        from now (None: nothing runs; the request waits for its transaction's end)."""
        incoming = self._pending[txn.id] = Incoming(request, dialog, sub)
        self._app_txns.add(txn.id)
        if after is not None:
            ctx = self._ctx
            incoming.alarm = ctx.alarms.at(ctx.now + after, action or self.unanswered, txn.id)
        return incoming

    def take(self, txn_id: int) -> Incoming | None:
        """Forget the request of ``txn_id`` once it is answered (or cancelled, or its
        transaction is gone), cancelling its alarm."""
        incoming = self._pending.pop(txn_id, None)
        if incoming is not None and incoming.alarm is not None:
            self._ctx.alarms.cancel(incoming.alarm)
        return incoming

    def is_app_txn(self, txn_id: int) -> bool:
        """Whether the application was handed the request of server transaction ``txn_id``."""
        return txn_id in self._app_txns

    def txn_ended(self, event: TransactionTerminated) -> Incoming | None:
        """A server transaction ended: the application hears of it if it was handed its
        request; that request, if still unanswered (a transport failure), is returned
        and forgotten."""
        txn_id = event.txn.id
        app_txns = self._app_txns
        if txn_id in app_txns:
            app_txns.discard(txn_id)
            if not app_txns:
                # A set never shrinks as it empties: after a burst of calls its table
                # would stay sized for every INVITE then in flight (each lingers 64*T1
                # after its 2xx, RFC 6026), about 100 bytes per call of the burst.
                # Emptied, it gives the table back.
                app_txns.clear()
            self._ctx.events.append(event)
        return self.take(txn_id) if txn_id in self._pending else None


def _ignore(txn_id: int, at: float) -> None:
    return None
