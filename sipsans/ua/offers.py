"""Where a dialog's offer/answer exchange stands (RFC 3264 §4, RFC 3262 §5, RFC 3311 §5).

An offer may travel in an INVITE, a re-INVITE, a reliable 1xx, a 2xx, a PRACK or an
UPDATE, and at most one exchange is open at a time: a UA that made an offer waits for
its answer before making another, and answers the offer it was made before making its
own. Each part of the UserAgent knows the exchanges its own messages opened (the client
side: our INVITEs and UPDATEs, a 2xx offer awaiting our ACK; the server side: the INVITEs
and UPDATEs it received; the reliable-1xx part: offers in 1xx and PRACK);
:class:`Negotiations` asks them, so that the rules that need the whole picture read it
in one place:

* an UPDATE carrying an offer while our own offer is unanswered gets 491, and while
  we owe an answer 500 with a Retry-After of 0 to 10 s (RFC 3311 §5.2); a re-INVITE
  with an offer crossing our UPDATE offer gets 491 the same way (RFC 3261 §14.2);
* ``dialog.update(body=...)`` is refused while an exchange is open (RFC 3311 §5.1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from ..dialog.model import Dialog
from .context import UAContext
from .records import Hdrs

__all__ = ["Negotiations", "Pending", "PendingSource", "refusal"]

#: An open exchange: ``"ours"`` (we made an offer not answered yet) or ``"theirs"``
#: (we were made one and owe the answer).
Pending = Literal["ours", "theirs"]
#: What a part knows of a dialog's open exchange (None: nothing of its own is open).
PendingSource = Callable[[Dialog], "Pending | None"]


class Negotiations:
    """The open offer/answer exchange of a dialog, from what each part knows."""

    __slots__ = ("_sources",)

    def __init__(self) -> None:
        self._sources: tuple[PendingSource, ...] = ()

    def bind(self, *sources: PendingSource) -> None:
        """The parts' ``offer_state`` methods (the UserAgent binds them once they exist)."""
        self._sources = sources

    def pending(self, d: Dialog) -> Pending | None:
        """The exchange open on ``d``, if any."""
        for source in self._sources:
            found = source(d)
            if found is not None:
                return found
        return None


def refusal(ctx: UAContext, pending: Pending | None) -> tuple[int, Hdrs] | None:
    """RFC 3311 §5.2: the answer to a request carrying an offer while ``pending`` is
    open: 491 when the open offer is ours (the offers crossed), 500 with a random
    Retry-After of 0-10 s when we owe an answer; None when nothing is open."""
    if pending is None:
        return None
    if pending == "ours":
        return 491, ()
    return 500, (("Retry-After", str(ctx.rng.randint(0, 10))),)
