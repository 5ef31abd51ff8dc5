"""The subscriptions of a UserAgent (RFC 6665, RFC 5057): their records and states.

:class:`Subscriptions` owns every live subscription (by key), the initial SUBSCRIBEs
whose NOTIFYs may still create dialogs (forks, RFC 6665 §4.1.4), the subscription
usages of each dialog (RFC 5057) and the subscriptions' alarms. A subscription's state
moves only through :data:`~sipsans.dialog.subscription.SUBSCRIPTION_TABLE`
(``Subscription.advance``, called by :meth:`Subscriptions.move`, which reports each
change). The two roles act on them, :mod:`sipsans.ua.subscriber` and
:mod:`sipsans.ua.notifier`, and work through :class:`Subscriptions`: it holds what
both use (the UA context, the dialog table, the client side) and hands each role the
alarms of its records.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..dialog.model import Dialog
from ..dialog.state import DialogInput
from ..dialog.subscription import (
    EventHeader,
    Subscription,
    SubscriptionInput,
    SubscriptionState,
)
from ..errors import LocalProtocolError
from ..message.model import Request, Response
from .client import ClientSide
from .context import UAContext
from .dialogs import DialogTable
from .events import SubscriptionStateChanged
from .handles import ClientSubscription, ServerSubscription
from .refreshing import refresh_delay

__all__ = ["NOTIFY_INPUT", "Subscriptions", "state_arg"]

_S = SubscriptionState
_I = SubscriptionInput
Role = Literal["subscriber", "notifier"]
UsageKey = tuple[Role, EventHeader]

#: A subscriber refreshes this many seconds before expiry (never before half-way).
REFRESH_MARGIN = 60.0

#: The input a NOTIFY's Subscription-State value feeds the subscription's table (the
#: subscriber's on receipt, the notifier's on sending, RFC 6665 §4.1.3, §4.2.2).
NOTIFY_INPUT = {
    "active": _I.NOTIFY_ACTIVE,
    "pending": _I.NOTIFY_PENDING,
    "terminated": _I.NOTIFY_TERMINATED,
}


@dataclass(slots=True, eq=False, repr=False)
class Subscriptions:
    """Every subscription of the UA, both roles (see the module docstring)."""

    #: What both roles work with: the UA's context, its dialogs (a subscription's
    #: dialog is held here while it has usages) and the client side they send by.
    ctx: UAContext
    dialogs: DialogTable
    client: ClientSide
    #: Each role's handler of its records' alarms (see :meth:`serve`).
    _handlers: dict[Role, Callable[[Subscription], None]] = field(init=False, default_factory=dict)
    _by_key: dict[int, Subscription] = field(init=False, default_factory=dict)
    _keys: int = field(init=False, default=0)
    #: Our initial SUBSCRIBEs by (Call-ID, From tag): where NOTIFYs that create a
    #: dialog (forks included) find their subscription (RFC 6665 §4.1.4).
    _forkable: dict[tuple[str, str], Subscription] = field(init=False, default_factory=dict)
    #: The subscription usages of each dialog (RFC 5057), by our role and Event.
    _usages: dict[Dialog, dict[UsageKey, Subscription]] = field(init=False, default_factory=dict)
    #: The newest usage of each dialog, kept after it ended (``as_subscription()``)
    #: for as long as the dialog record lives (a handle holds it).
    _newest: weakref.WeakKeyDictionary[Dialog, Subscription] = field(
        init=False, default_factory=weakref.WeakKeyDictionary
    )

    def stats(self) -> dict[str, int]:
        return {"subscriptions": len(self._by_key), "subscribe_calls": len(self._forkable)}

    def all(self) -> list[ClientSubscription | ServerSubscription]:
        """Every live subscription, both roles (for a clean shutdown)."""
        views = self.ctx.views
        return [views.subscription(rec) for rec in self._by_key.values()]

    def newest(self, d: Dialog) -> Subscription | None:
        """The newest subscription usage of ``d``, live or ended."""
        return self._newest.get(d)

    def usage(self, d: Dialog, role: Role, event: EventHeader) -> Subscription | None:
        """The live usage of ``d`` for ``role`` and ``event``."""
        usages = self._usages.get(d)
        return usages.get((role, event)) if usages is not None else None

    def usages(self, d: Dialog) -> list[Subscription]:
        """The live subscription usages of ``d``."""
        usages = self._usages.get(d)
        return list(usages.values()) if usages is not None else []

    def has_usages(self, d: Dialog) -> bool:
        return d in self._usages

    # -- bookkeeping ------------------------------------------------------------------------

    def new_record(self, role: Role, event: EventHeader, expires: int) -> Subscription:
        self._keys += 1
        rec = Subscription(self._keys, role, event, expires=expires)
        self._by_key[rec.key] = rec
        return rec

    def move(  # noqa: PLR0917 - a table input and what to report with it
        self,
        rec: Subscription,
        inp: SubscriptionInput,
        reason: str | None = None,
        status: int | None = None,
        message: Request | Response | None = None,
        retry_after: int | None = None,
        *,
        appeared: bool = False,
    ) -> None:
        """Feed ``inp`` to the table; emit SubscriptionStateChanged when the state moved
        (or the subscription just ``appeared``); forget it once terminated."""
        previous = rec.state
        nxt = rec.advance(inp)
        if nxt is None:
            return
        if nxt is _S.TERMINATED:
            rec.reason, rec.status, rec.retry_after = reason, status, retry_after
        if nxt is not previous or appeared:
            self.ctx.events.append(
                SubscriptionStateChanged(
                    subscription=self.ctx.views.subscription(rec),
                    previous=None if appeared else previous,
                    state=nxt,
                    reason=reason,
                    retry_after=retry_after,
                    status=status,
                    message=message,
                )
            )
        if nxt is _S.TERMINATED:
            self._forget(rec)
        else:
            self.arm(rec)

    def attach(self, d: Dialog, rec: Subscription) -> None:
        """Make ``rec`` a usage of dialog ``d`` (RFC 5057)."""
        rec.dialog = d
        usages = self._usages.setdefault(d, {})
        if rec.usage_key not in usages:
            self.dialogs.hold(d)
        usages[rec.usage_key] = rec
        self._newest[d] = rec

    def detach(self, rec: Subscription) -> None:
        """``rec`` is no longer a usage of its dialog (a REFER retried under a new id)."""
        d = rec.dialog
        usages = self._usages.get(d) if d is not None else None
        if d is None or usages is None or usages.get(rec.usage_key) is not rec:
            return
        del usages[rec.usage_key]
        if not usages:
            del self._usages[d]
        self.dialogs.release(d)

    def _forget(self, rec: Subscription) -> None:
        self._by_key.pop(rec.key, None)
        rec.timer_n_at = rec.refresh_at = None
        self.close_fork_window(rec)
        d = rec.dialog
        if d is None:
            return
        self.detach(rec)
        if d not in self._usages:
            if not d.invite_usage:
                # A subscription-only dialog ends with its last usage (RFC 5057 §5).
                self.dialogs.change(d, DialogInput.USAGES_ENDED)
            self.dialogs.release(d, 0)

    def serve(
        self,
        *,
        subscriber: Callable[[Subscription], None],
        notifier: Callable[[Subscription], None],
    ) -> None:
        """The roles, once made: each handler runs when an alarm of one of its role's
        records is due."""
        self._handlers = {"subscriber": subscriber, "notifier": notifier}

    def refuse(self, rec: Subscription, reason: str, response: Response | None = None) -> None:
        """Others' SUBSCRIBE ``rec`` was refused (with ``response``), or lost its
        transaction, before it took effect (RFC 6665 §4.2.1.1): it ends with no
        transaction and no dialog, so that an in-dialog SUBSCRIBE refused leaves that
        dialog's usages alone."""
        rec.txn = 0
        rec.dialog = None
        status = response.status_code if response is not None else None
        self.move(rec, _I.REJECTED, reason, status, response)

    def notify_failed(self, rec: Subscription, status: int, response: Response | None) -> None:
        """A NOTIFY we sent for ``rec`` failed for good: the subscription ends (§4.2.2)."""
        self.move(rec, _I.NOTIFY_FAILED, "notify failed", status, response)

    def drop(self, rec: Subscription) -> None:
        """Forget ``rec`` before it ever took effect (a fork whose NOTIFY was refused)."""
        self._by_key.pop(rec.key, None)

    def expect_notifies(self, rec: Subscription) -> None:
        """Our initial SUBSCRIBE ``rec`` was sent: the NOTIFYs that create its dialog, one
        per notifier that forks reach, find it (RFC 6665 §4.1.4)."""
        request = rec.request
        assert request is not None
        self._forkable[(request.call_id, request.from_.tag or "")] = rec

    def fork_origin(self, call_id: str, local_tag: str) -> Subscription | None:
        """The initial SUBSCRIBE a NOTIFY with this Call-ID and To tag answers, if any."""
        return self._forkable.get((call_id, local_tag))

    def close_fork_window(self, rec: Subscription) -> None:
        """No more dialogs are created for ``rec``'s forks (Timer N, or its end)."""
        request = rec.request
        if rec.role == "subscriber" and rec.origin is None and request is not None:
            key = (request.call_id, request.from_.tag or "")
            if self._forkable.get(key) is rec:
                del self._forkable[key]

    def arm(self, rec: Subscription) -> None:
        """Keep one alarm at the record's next deadline (stale ones do nothing)."""
        deadline = rec.next_deadline()
        if deadline is not None and deadline != rec.alarm_at:
            rec.alarm_at = deadline
            self.ctx.alarms.at(deadline, self._fire, rec)

    def set_expiry(self, rec: Subscription, seconds: int, now: float) -> None:
        rec.expires_at = now + seconds
        if rec.role == "subscriber" and not rec.implicit and not rec.unsubscribing:
            rec.refresh_at = now + refresh_delay(seconds, REFRESH_MARGIN)
        else:
            rec.refresh_at = None

    def timer_n(self) -> float:
        """RFC 6665 Timer N: how long a 2xx waits for its NOTIFY (64*T1)."""
        return 64 * self.ctx.endpoint.config.t1

    def _fire(self, rec: Subscription, at: float) -> None:
        """The alarm of ``rec`` is due (a stale one does nothing): its role acts."""
        if self._by_key.get(rec.key) is not rec or rec.alarm_at != at:
            return
        rec.alarm_at = None
        self._handlers[rec.role](rec)


def state_arg(state: SubscriptionState | str) -> SubscriptionState:
    """A subscription state the caller passed: active, pending or terminated."""
    try:
        value = state if isinstance(state, SubscriptionState) else SubscriptionState(state)
    except ValueError:
        value = None
    if value is None or value is _S.NOTIFY_WAIT:
        raise LocalProtocolError(f"state must be active, pending or terminated, not {state!r}")
    return value
