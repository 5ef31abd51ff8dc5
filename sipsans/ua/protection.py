"""Digest protection of the requests the UserAgent receives (RFC 3261 §22.2).

A UA given a :class:`~sipsans.auth.DigestGuard` with ``ua.protect(guard)`` checks the
credentials of the guarded methods before anything else, as §8.2 orders a UAS's steps
("starting with authentication, then inspecting the method, the header fields..."):
out of a dialog, and in the dialogs of calls it answered. A request without valid
ones gets the guard's answer (401 with a fresh nonce, 400, or the back-off 503) and
goes no further, so the application hears of an INVITE, and a BYE ends the call, only
once authenticated. Anything else goes on to the server side.
"""

from __future__ import annotations

from ..auth.guard import DigestGuard
from ..errors import RemoteProtocolError
from ..transaction.events import RequestReceived
from .context import UAContext
from .dialogs import DialogTable

__all__ = ["Protection"]

#: Requests that only make sense within a dialog: outside one their 481 gives nothing
#: away, so they are not challenged first.
_DIALOG_ONLY = frozenset({"BYE", "UPDATE", "INFO", "NOTIFY", "PRACK"})


class Protection:
    """The UA's guard, if any, and its check of received requests."""

    __slots__ = ("_ctx", "_dialogs", "guard", "methods")

    def __init__(self, ctx: UAContext, dialogs: DialogTable) -> None:
        self._ctx = ctx
        self._dialogs = dialogs
        self.guard: DigestGuard | None = None
        #: The methods that need credentials (empty: none, and the UA passes requests
        #: on after one truth test).
        self.methods: frozenset[str] = frozenset()

    def protect(self, guard: DigestGuard | None) -> None:
        """From now on, the methods of ``guard`` need valid digest credentials (§22.2):
        out of a dialog, and within the dialogs of calls we answered. None lifts the
        protection."""
        self.guard = guard
        self.methods = guard.methods if guard is not None else frozenset()

    def answered(self, event: RequestReceived) -> bool:
        """Whether the request of ``event`` was answered by the guard instead, for want
        of valid credentials (False: the server side takes it). Within a dialog only
        the peer of a call we answered is asked: it authenticated its INVITE (the
        callee of our own call never had our realm's credentials); requests naming no
        dialog of ours, dialog-only requests outside one (their 481 gives nothing
        away) and malformed ones (their 400) are left to the server side."""
        guard, txn, request = self.guard, event.txn, event.request
        if guard is None or txn is None or request.method not in self.methods:
            return False  # (an ACK has no transaction: it cannot be challenged)
        try:
            to_tag = request.to.tag
            key = (request.call_id, to_tag or "", request.from_.tag or "")
        except RemoteProtocolError:
            return False
        if to_tag:
            d = self._dialogs.get(key)
            if d is None or d.role != "uas":
                return False
        elif request.method in _DIALOG_ONLY:
            return False
        ctx = self._ctx
        try:
            answer = guard.answer(
                request, now=ctx.now, source=event.source.remote[0], to_tag=to_tag or ctx.new_tag()
            )
        except RemoteProtocolError:
            return False  # a request too broken to answer here: the server side's 400
        if answer is None:
            return False
        ctx.endpoint.send_response(txn, answer, now=ctx.now)
        return True
