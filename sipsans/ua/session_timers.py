"""Session timers (RFC 4028), both roles.

**Negotiation.** Our INVITEs say ``Supported: timer`` and ask for
``UAConfig.session_expires`` (``Session-Expires``, with ``Min-SE``; §7.1). As callee
(§9) a Session-Expires below our ``min_se`` from a caller that supports timers gets
422 with our Min-SE; otherwise the 2xx carries the interval granted (the request's, or
our ``session_expires`` if that is smaller, never below the request's Min-SE) and the
``refresher`` (the request's choice, else ours: the caller when it supports timers,
``UAConfig.session_refresher`` if set, else us), with ``Require: timer`` when the
caller refreshes (or supports timers). A caller that meets 422 sends the INVITE again
with the larger Min-SE (§7.4); so does a refresh.

**Running.** A 2xx that carries Session-Expires, to the INVITE or to a later re-INVITE
or UPDATE (sent or received), starts or restarts the timer: ``SessionRefreshed``. The
refresher sends a refresh at half the interval (§10): an UPDATE without a body when the
peer's Allow lists UPDATE, else a re-INVITE carrying our last session description
unchanged. The other side, unrefreshed, sends BYE at the expiry minus the lesser of
32 s and a third of the interval (§10); the refresher, if its refreshes fail, at the
expiry. Either way the dialog ends with ``TerminatedReason.SESSION_EXPIRED``. A 2xx to
a refresh without Session-Expires turns the timer off (§7.2).

``refresher=uac|uas`` names the client or server of the transaction that carried it,
not of the dialog; this part turns it into whether *we* refresh.

**Memory.** Nearly every dialog between two sipsans UAs runs a timer, idle for most of
its life, so a timer costs little: its record hangs off the dialog
(:class:`~sipsans.dialog.session_timer.SessionTimer`), its next action waits in a
:class:`~sipsans.ua.alarms.Wheel` (a dict entry per dialog until the last second before
it, still run at its exact instant), and the actions are bound once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection

from ..dialog.model import Dialog
from ..dialog.session_timer import SessionTimer
from ..dialog.state import DialogInput, DialogState, TerminatedReason
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.fields import get_param, parse_params
from ..message.grammar import is_digits
from ..message.model import Request, Response
from .alarms import Wheel
from .client import ClientPart, ClientSide
from .config import MIN_SESSION_INTERVAL
from .context import UAContext
from .dialogs import DialogTable
from .events import SessionRefreshed
from .records import Hdrs
from .reliable import option_tags

__all__ = ["Negotiated", "SessionTimers"]

#: The Reason of the BYE that ends an expired session.
_EXPIRED = 'SIP;cause=408;text="Session timer expired"'
#: Seconds to wait before trying a refresh again while another re-INVITE runs.
_BUSY_RETRY = 2.0


class Negotiated:
    """What our 2xx to a request grants (RFC 4028 §9): its header fields, and the timer
    it starts once sent."""

    __slots__ = ("headers", "interval", "update", "we_refresh")

    def __init__(self, interval: int, refresher: str, *, supports: bool, update: bool) -> None:
        self.interval = interval
        #: The refresher is the server of the transaction: us.
        self.we_refresh = refresher == "uas"
        #: The peer allows UPDATE (refreshes go by UPDATE rather than re-INVITE).
        self.update = update
        headers: Hdrs = (("Session-Expires", f"{interval};refresher={refresher}"),)
        if refresher == "uac" or supports:
            # §9: MUST when the client refreshes (it has to know), SHOULD when it
            # supports timers.
            headers += (("Require", "timer"),)
        self.headers = headers


def _session_expires(message: Request | Response) -> tuple[int, str | None] | None:
    """The Session-Expires of ``message``: (delta-seconds, refresher or None); None when
    absent (leniency: or unreadable, which is taken for absent, as a proxy would)."""
    value = message.headers.get("session-expires")
    if value is None:
        return None
    head, _, rest = value.partition(";")
    head = head.strip()
    if not is_digits(head):
        return None
    refresher = None
    if rest:
        try:
            refresher = get_param(parse_params(";" + rest, header="Session-Expires"), "refresher")
        except RemoteProtocolError:
            refresher = None  # leniency: broken parameters are left unread
    if refresher is not None:
        refresher = refresher.lower()
        if refresher not in ("uac", "uas"):
            refresher = None
    return int(head), refresher


def _min_se(message: Request | Response) -> int:
    """The Min-SE of ``message`` (§5: 90 when absent; an unreadable one too)."""
    value = (message.headers.get("min-se") or "").partition(";")[0].strip()
    return max(int(value), MIN_SESSION_INTERVAL) if is_digits(value) else MIN_SESSION_INTERVAL


def _supports_timer(request: Request) -> bool:
    return "timer" in option_tags(request, "supported") or "timer" in option_tags(
        request, "require"
    )


def _allows_update(message: Request | Response) -> bool | None:
    """Whether the Allow of ``message`` lists UPDATE; None without an Allow."""
    if "allow" not in message.headers:
        return None
    return any(m.strip().upper() == "UPDATE" for m in message.headers.get_all("allow"))


class SessionTimers(ClientPart):
    """RFC 4028 for one UserAgent (see the module docstring)."""

    __slots__ = ("_on_dialog_end", "_on_expire", "_on_refresh", "_running", "_wheel", "busy")

    def __init__(self, ctx: UAContext, dialogs: DialogTable, client: ClientSide) -> None:
        super().__init__(ctx, dialogs, client)
        #: Each running timer's next action (at its dialog's ``session_timer.due``).
        self._wheel: Wheel[Dialog] = Wheel(ctx.alarms, _due)
        #: How many dialogs run a timer.
        self._running = 0
        # Bound once: reading ``self._dialog_ended`` (or ``self._refresh``) for each
        # dialog would make a new bound method, held for the dialog's life (64 bytes a
        # dialog, and nearly every dialog between two sipsans UAs runs a timer).
        self._on_dialog_end = self._dialog_ended
        self._on_refresh = self._refresh
        self._on_expire = self._expire
        #: Whether a re-INVITE or an offer is in progress on a dialog, so that a
        #: re-INVITE refresh must wait (set by the UserAgent).
        self.busy: Callable[[Dialog], bool] = _never

    def stats(self) -> dict[str, int]:
        return {"session_timers": self._running, "session_timer_seconds": self._wheel.buckets()}

    @property
    def enabled(self) -> bool:
        return self._ctx.config.session_timer != "disabled"

    def active(self, d: Dialog) -> bool:
        """Whether a session timer runs on ``d``."""
        return d.session_timer is not None

    # -- requests we send (§7) -----------------------------------------------------------

    def invite_headers(self) -> Hdrs:
        """Session-Expires and Min-SE for our INVITEs (§7.1)."""
        config = self._ctx.config
        if config.session_timer == "disabled":
            return ()
        value = str(config.session_expires)
        if config.session_refresher is not None:
            value += f";refresher={config.session_refresher}"
        return (("Session-Expires", value), ("Min-SE", str(config.min_se)))

    def request_headers(self, d: Dialog) -> Hdrs:
        """Session-Expires and Min-SE for a re-INVITE or UPDATE of ours on ``d`` while a
        timer runs (§7.4): the current interval, and whether we refresh."""
        timer = d.session_timer
        if timer is None:
            return ()
        refresher = "uac" if timer.we_refresh else "uas"
        return (
            ("Session-Expires", f"{timer.interval};refresher={refresher}"),
            ("Min-SE", str(self._ctx.config.min_se)),
        )

    def after_422(self, request: Request, response: Response) -> Request | None:
        """§7.4: the request sent again after a 422, asking for at least its Min-SE;
        None when the 422 asks for nothing larger than what we sent, or ``request`` is
        already such a retry (one round: a 422 carries the largest minimum of the path,
        and a second one would be a loop)."""
        if not self.enabled or _min_se(request) > self._ctx.config.min_se:
            return None
        wanted = _min_se(response)
        asked = _session_expires(request)
        if asked is not None and wanted <= asked[0]:
            return None
        retry = request.copy()
        refresher = asked[1] if asked is not None else None
        value = f"{wanted};refresher={refresher}" if refresher else str(wanted)
        retry.headers.set("Session-Expires", value)
        retry.headers.set("Min-SE", str(wanted))
        return retry

    def on_2xx(self, d: Dialog, request: Request, response: Response) -> None:
        """A 2xx to our INVITE, re-INVITE or UPDATE on ``d``: the timer it sets (§7.2),
        or none when it carries no Session-Expires."""
        if not self.enabled:
            return
        granted = _session_expires(response)
        timer = d.session_timer
        if granted is None:
            if timer is not None and timer.we_refresh and "session-expires" in request.headers:
                # Our refresh, answered by a peer without timers (one we imposed a timer
                # on, refreshing it ourselves, §9): we go on refreshing.
                self._start(d, timer, timer.interval, True, response)
            else:
                self._stop(d)  # §7.2: no Session-Expires, no session expiration
            return
        interval, refresher = granted
        if refresher is None:
            # Leniency: §9 makes the refresher mandatory in the 2xx. Without one we
            # refresh ourselves: a needless refresh is harmless, a missing one is not.
            refresher = "uac"
        timer = self._timer(d)
        if request.body:
            timer.body, timer.content_type = request.body, request.content_type
        update = _allows_update(response)
        if update is not None:
            timer.update = update
        self._start(d, timer, max(interval, MIN_SESSION_INTERVAL), refresher == "uac", response)

    def described(self, d: Dialog, body: bytes, content_type: str | None) -> None:
        """Our session description on ``d`` is now ``body`` (sent in an ACK, the answer to
        a 2xx's offer): a refresh re-INVITE offers it again."""
        timer = d.session_timer
        if timer is not None:
            timer.body, timer.content_type = body, content_type

    # -- requests we receive (§9) -----------------------------------------------------------

    def refusal(self, request: Request) -> Hdrs | None:
        """The Min-SE of a 422 for a Session-Expires below our minimum from a client that
        supports timers (§9); None when the request is fine."""
        if not self.enabled:
            return None
        asked = _session_expires(request)
        config = self._ctx.config
        if asked is None or asked[0] >= config.min_se or not _supports_timer(request):
            return None
        return (("Min-SE", str(config.min_se)),)

    def wanted(self, request: Request, present: Collection[str]) -> bool:
        """Whether our 2xx to this initial INVITE negotiates a timer (``present``: its
        header names): it asks for one, or we always do."""
        mode = self._ctx.config.session_timer
        return mode == "always" or (mode == "supported" and "session-expires" in present)

    def grant(self, d: Dialog, request: Request) -> Negotiated | None:
        """What our 2xx to ``request`` (the INVITE, or a re-INVITE or UPDATE) grants
        (§9); None for no timer."""
        if not self.enabled:
            return None
        config = self._ctx.config
        asked = _session_expires(request)
        supports = _supports_timer(request)
        timer = d.session_timer
        if asked is not None:
            interval, refresher = asked
            floor = _min_se(request)
            if interval > config.session_expires:
                interval = max(config.session_expires, floor)  # §9: MAY reduce it
            # A Session-Expires below 90 s breaks §4: taken as 90 (never less often).
            interval = max(interval, MIN_SESSION_INTERVAL)
        elif timer is not None:
            interval, refresher = timer.interval, None  # a refresh that asks nothing
        elif config.session_timer == "always":
            interval, refresher = max(config.session_expires, _min_se(request)), None
        else:
            return None
        if refresher is None:
            if timer is not None:
                # A refresh leaving it open: whoever refreshed goes on (if it can).
                refresher = "uas" if timer.we_refresh or not supports else "uac"
            elif not supports:
                refresher = "uas"  # §9: a client without timers cannot refresh
            else:
                refresher = config.session_refresher or "uac"
        update = _allows_update(request)
        if update is None:
            update = timer.update if timer is not None else False
        return Negotiated(interval, refresher, supports=supports, update=update)

    def granted(self, d: Dialog, negotiated: Negotiated, response: Response, body: bytes) -> None:
        """Our 2xx carrying ``negotiated`` went out: start or restart the timer."""
        timer = self._timer(d)
        timer.update = negotiated.update
        if body:
            timer.body, timer.content_type = body, response.content_type
        self._start(d, timer, negotiated.interval, negotiated.we_refresh, response)

    # -- the timer ---------------------------------------------------------------------------

    def _timer(self, d: Dialog) -> SessionTimer:
        timer = d.session_timer
        if timer is None:
            timer = d.session_timer = SessionTimer()
            self._running += 1
            self._dialogs.watch(d, self._on_dialog_end)
        return timer

    def _schedule(self, d: Dialog, timer: SessionTimer, due: float, action: _Action) -> None:
        """Run ``action`` on ``d`` at ``due``, instead of what was scheduled."""
        wheel = self._wheel
        wheel.discard(d)
        timer.due = due
        wheel.add(d, action)

    def _start(
        self, d: Dialog, timer: SessionTimer, interval: int, we_refresh: bool, response: Response
    ) -> None:
        ctx = self._ctx
        timer.interval, timer.we_refresh = interval, we_refresh
        timer.expires_at = ctx.now + interval
        if we_refresh:
            self._schedule(d, timer, ctx.now + interval / 2, self._on_refresh)  # §10
        else:
            # §10: BYE before the expiry, by the lesser of 32 s and a third of it.
            deadline = timer.expires_at - min(32.0, interval / 3)
            self._schedule(d, timer, deadline, self._on_expire)
        ctx.events.append(
            SessionRefreshed(
                dialog_id=d.id,
                interval=interval,
                we_refresh=we_refresh,
                expires_at=timer.expires_at,
                message=response,
            )
        )

    def _refresh(self, d: Dialog, at: float) -> None:
        """Half the interval passed: refresh (§10), by UPDATE when the peer allows it."""
        timer = d.session_timer
        if timer is None:
            return
        if not timer.update and self.busy(d) and at + _BUSY_RETRY < timer.expires_at:
            # Another re-INVITE or offer is under way (its 2xx refreshes too): try again
            # shortly, still before the expiry.
            self._schedule(d, timer, at + _BUSY_RETRY, self._on_refresh)
            return
        # Until the refresh's 2xx restarts the timer, the session ends at the expiry.
        self._schedule(d, timer, timer.expires_at, self._on_expire)
        if d.state is not DialogState.CONFIRMED or (self.busy(d) and not timer.update):
            return
        # (The client side adds Supported and our request_headers() to both.) A dialog
        # whose remote target cannot be reached gets no refresh; it expires.
        with contextlib.suppress(LocalProtocolError):
            if timer.update:
                self._client.refresh(d, "UPDATE")
            else:
                body, content_type = timer.body, timer.content_type
                self._client.refresh(d, "INVITE", body=body, content_type=content_type)

    def _expire(self, d: Dialog, at: float) -> None:
        """No refresh in time: end the session with BYE (§10)."""
        if d.session_timer is None:
            return
        self._stop(d)
        if d.state is not DialogState.CONFIRMED:
            return
        try:
            self._client.send_bye(d, TerminatedReason.SESSION_EXPIRED, reason=_EXPIRED)
        except LocalProtocolError:
            # No way to the peer (its remote target is not a SIP URI): the session ends
            # here all the same.
            self._dialogs.end(d, DialogInput.BYE_SENT, TerminatedReason.SESSION_EXPIRED)

    def _stop(self, d: Dialog) -> None:
        if d.session_timer is not None:
            self._wheel.discard(d)
            d.session_timer = None
            self._running -= 1

    def _dialog_ended(self, d: Dialog, was_early: bool) -> None:
        self._stop(d)


def _never(d: Dialog) -> bool:
    return False


#: What a timer does next: refresh, or end the session.
_Action = Callable[[Dialog, float], None]


def _due(d: Dialog) -> float:
    """When ``d``'s timer acts next (the wheel's ``due_of``)."""
    timer = d.session_timer
    assert timer is not None, "only dialogs with a running timer are in the wheel"
    return timer.due
