"""A dialog's session timer (RFC 4028): the record the UserAgent keeps on the dialog.

The negotiation and the refreshes are the UserAgent's
(:mod:`sipsans.ua.session_timers`); this is only what a running timer needs between
them. It hangs off :attr:`Dialog.session_timer <sipsans.dialog.model.Dialog>` rather
than sitting in a table keyed by the dialog: nearly every dialog between two
timer-capable user agents runs one, and a table entry per dialog costs more than the
slot.
"""

from __future__ import annotations

__all__ = ["SessionTimer"]


class SessionTimer:
    """A running session timer (RFC 4028 §10): its interval, who refreshes, when the
    session expires, and when the UserAgent acts next."""

    __slots__ = ("body", "content_type", "due", "expires_at", "interval", "update", "we_refresh")

    def __init__(self) -> None:
        #: The session interval in seconds (Session-Expires of the last 2xx, §7.2/§9).
        self.interval = 0
        #: Whether we are the refresher (§7.2, §9).
        self.we_refresh = False
        #: When the session expires unless refreshed (the last 2xx + the interval).
        self.expires_at = 0.0
        #: When the UserAgent acts next: a refresh at half the interval, or a BYE just
        #: before the expiry (§10). Changed only while the timer is not scheduled.
        self.due = 0.0
        #: Refreshes go by UPDATE (the peer allows it) rather than re-INVITE.
        self.update = False
        #: Our last session description, re-offered unchanged by a refresh re-INVITE.
        self.body = b""
        self.content_type: str | None = None
