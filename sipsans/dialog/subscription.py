"""Subscriptions (RFC 6665): the state table, the record, the Event and
Subscription-State header fields.

:data:`SUBSCRIPTION_TABLE` maps ``(state, input) -> (next state, RFC reference)``
for both roles; nothing else in sipsans decides a subscription's next state. The
inputs name what happened to the subscription, whichever side it happened on: a
NOTIFY saying ``active`` moves a subscriber that *received* it and a notifier that
*sent* it the same way. A pair not in the table is absorbed.

States follow RFC 6665 §4.1.2: a subscription starts in ``NOTIFY_WAIT`` (the
SUBSCRIBE, or REFER, was sent or received and no NOTIFY has been exchanged yet),
the first NOTIFY makes it ``PENDING`` or ``ACTIVE``, and it ends ``TERMINATED``.

A :class:`Subscription` is the UserAgent's record of one subscription usage of a
dialog (RFC 5057): an event package and ``id`` within a dialog. The subscriber's
record exists before its dialog does: RFC 6665 §4.4.1 lets the NOTIFY, not the
2xx, create the dialog, and a forked SUBSCRIBE can create several.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple

from .._speed import IdentityHashedEnum
from ..errors import RemoteProtocolError
from ..message.fields import get_param, parse_params
from ..message.grammar import is_digits, is_token

if TYPE_CHECKING:
    from ..message.model import Request
    from ..transaction.transport import Target
    from .model import Dialog

__all__ = [
    "REFRESH_FAILURES",
    "SUBSCRIPTION_TABLE",
    "EventHeader",
    "SubState",
    "Subscription",
    "SubscriptionInput",
    "SubscriptionState",
    "format_subscription_state",
    "parse_event",
    "parse_subscription_state",
    "render_table",
    "transition",
]

Role = Literal["subscriber", "notifier"]


class SubscriptionState(IdentityHashedEnum):
    """Where a subscription is (RFC 6665 §4.1.2, the states of its diagram)."""

    NOTIFY_WAIT = "notify_wait"
    PENDING = "pending"
    ACTIVE = "active"
    TERMINATED = "terminated"


class SubscriptionInput(IdentityHashedEnum):
    #: 2xx to the SUBSCRIBE (or REFER) received or sent.
    ACCEPTED = "2xx to SUBSCRIBE"
    #: A failure response to the initial SUBSCRIBE, or its transaction failed.
    REJECTED = "SUBSCRIBE failed"
    #: A refresh got one of :data:`REFRESH_FAILURES` (RFC 6665 §4.1.2.2).
    REFRESH_REJECTED = "refresh rejected"
    NOTIFY_PENDING = "NOTIFY pending"
    NOTIFY_ACTIVE = "NOTIFY active"
    NOTIFY_TERMINATED = "NOTIFY terminated"
    #: No NOTIFY within Timer N (64*T1) of the 2xx (RFC 6665 §4.1.2.4).
    TIMER_N = "Timer N"
    #: The subscription's duration ran out without a refresh.
    EXPIRED = "expired"
    #: A NOTIFY we sent got 481 or another failure, or timed out (RFC 6665 §4.2.2).
    NOTIFY_FAILED = "NOTIFY failed"
    #: The subscriber un-subscribed and gave up waiting for the final NOTIFY.
    UNSUBSCRIBED = "unsubscribed"


_S = SubscriptionState
_I = SubscriptionInput
_LIVE = (_S.NOTIFY_WAIT, _S.PENDING, _S.ACTIVE)

SUBSCRIPTION_TABLE: dict[
    tuple[SubscriptionState, SubscriptionInput], tuple[SubscriptionState, str]
] = {
    (_S.NOTIFY_WAIT, _I.ACCEPTED): (_S.NOTIFY_WAIT, "§4.1.2.4 (Timer N starts)"),
    (_S.NOTIFY_WAIT, _I.REJECTED): (_S.TERMINATED, "§4.1.2.1"),
    (_S.NOTIFY_WAIT, _I.TIMER_N): (_S.TERMINATED, "§4.1.2.4"),
    (_S.NOTIFY_WAIT, _I.NOTIFY_PENDING): (_S.PENDING, "§4.1.2, §4.2.1.2"),
    (_S.NOTIFY_WAIT, _I.NOTIFY_ACTIVE): (_S.ACTIVE, "§4.1.2, §4.2.1.2"),
    (_S.PENDING, _I.NOTIFY_ACTIVE): (_S.ACTIVE, "§4.1.3"),
    # The notifier's word is the subscription's state (§4.1.3): it may also move an
    # active subscription back to pending (re-authorisation).
    (_S.ACTIVE, _I.NOTIFY_PENDING): (_S.PENDING, "§4.1.3"),
    **{(s, _I.NOTIFY_TERMINATED): (_S.TERMINATED, "§4.1.3, §4.2.2") for s in _LIVE},
    (_S.PENDING, _I.REFRESH_REJECTED): (_S.TERMINATED, "§4.1.2.2"),
    (_S.ACTIVE, _I.REFRESH_REJECTED): (_S.TERMINATED, "§4.1.2.2"),
    **{(s, _I.EXPIRED): (_S.TERMINATED, "§4.1.2.2, §4.2.2") for s in _LIVE},
    **{(s, _I.NOTIFY_FAILED): (_S.TERMINATED, "§4.2.2") for s in _LIVE},
    **{(s, _I.UNSUBSCRIBED): (_S.TERMINATED, "§4.1.2.3") for s in _LIVE},
}

#: Statuses to a refreshing SUBSCRIBE after which the subscription is gone (RFC 6665
#: §4.1.2.2); after any other failure it lives on until it expires.
REFRESH_FAILURES = frozenset({404, 405, 410, 416, 480, 481, 482, 483, 484, 485, 489, 501, 604})


def transition(state: SubscriptionState, inp: SubscriptionInput) -> SubscriptionState | None:
    """The next state, or None when the table absorbs ``inp`` in ``state``."""
    row = SUBSCRIPTION_TABLE.get((state, inp))
    return row[0] if row is not None else None


def render_table() -> str:
    """Markdown for docs/subscriptions.md: the rows of the table."""
    lines = ["| State | Input | Next | RFC 6665 |", "|---|---|---|---|"]
    order = {s: i for i, s in enumerate(SubscriptionState)}
    rows = sorted(SUBSCRIPTION_TABLE.items(), key=lambda kv: order[kv[0][0]])
    for (state, inp), (nxt, ref) in rows:
        lines.append(f"| {state.value} | {inp.value} | {nxt.value} | {ref} |")
    return "\n".join(lines)


# -- header fields -----------------------------------------------------------------


class EventHeader(NamedTuple):
    """``Event: package;id=...`` (RFC 6665 §8.2.1)."""

    package: str
    id: str | None = None

    def __str__(self) -> str:
        return self.package if self.id is None else f"{self.package};id={self.id}"


def parse_event(value: str) -> EventHeader:
    """Parse an Event (or Allow-Events entry) value; RemoteProtocolError(400) if bad.

    event-type = event-package *( "." event-template ); tokens (§8.4). The package
    is compared case-insensitively here: RFC 6665 registers lower-case names only,
    and peers that capitalise (``Event: Presence``) mean the same thing.
    """
    head, _, tail = value.strip(" \t").partition(";")
    package = head.strip(" \t").lower()
    if not is_token(package):
        raise RemoteProtocolError(
            f"Event: bad event type {head!r} (RFC 6665 §8.4)", status_hint=400
        )
    params = parse_params(";" + tail, header="Event") if tail else ()
    return EventHeader(package, get_param(params, "id") or None)


class SubState(NamedTuple):
    """A Subscription-State value (RFC 6665 §8.2.3)."""

    state: str  # active / pending / terminated, or an extension value
    reason: str | None = None
    expires: int | None = None
    retry_after: int | None = None


def parse_subscription_state(value: str) -> SubState:
    """Parse Subscription-State; RemoteProtocolError(400) when it is unusable."""
    head, _, tail = value.strip(" \t").partition(";")
    state = head.strip(" \t").lower()
    if not is_token(state):
        raise RemoteProtocolError(f"Subscription-State: bad value {head!r}", status_hint=400)
    params = parse_params(";" + tail, header="Subscription-State") if tail else ()

    def number(name: str) -> int | None:
        raw = get_param(params, name)
        # Leniency: a malformed number is ignored, not fatal; the state still counts.
        return int(raw) if raw and is_digits(raw) else None

    reason = get_param(params, "reason")
    return SubState(
        state, reason.lower() if reason else None, number("expires"), number("retry-after")
    )


def format_subscription_state(
    state: SubscriptionState,
    *,
    expires: int | None = None,
    reason: str | None = None,
    retry_after: int | None = None,
) -> str:
    """The Subscription-State value for a NOTIFY (expires only while not terminated)."""
    out = state.value if state is not SubscriptionState.NOTIFY_WAIT else "pending"
    if state is SubscriptionState.TERMINATED:
        if reason:
            out += f";reason={reason}"
        if retry_after is not None:
            out += f";retry-after={retry_after}"
    elif expires is not None:
        out += f";expires={max(0, expires)}"
    return out


# -- the record ----------------------------------------------------------------------


class Subscription:
    """One subscription usage (RFC 5057), subscriber or notifier side.

    Times are absolute on the caller's clock. ``dialog`` is None for a subscriber
    waiting for its first NOTIFY and for a notifier that has not accepted yet.
    """

    __slots__ = (
        "accept",
        "alarm_at",
        "body",
        "content_type",
        "dialog",
        "event",
        "expires",
        "expires_at",
        "headers",
        "implicit",
        "key",
        "last_notify",
        "local_uri",
        "origin",
        "reason",
        "refresh_at",
        "refreshing",
        "remote_uri",
        "request",
        "retry_after",
        "role",
        "state",
        "status",
        "target",
        "timer_n_at",
        "txn",
        "unsubscribing",
    )

    def __init__(self, key: int, role: Role, event: EventHeader, *, expires: int) -> None:
        self.key = key
        self.role: Role = role
        self.event = event
        #: Where the subscription is; it moves only through :meth:`advance`.
        self.state = SubscriptionState.NOTIFY_WAIT
        self.dialog: Dialog | None = None
        #: Seconds asked for (subscriber) or granted (notifier).
        self.expires = expires
        self.expires_at: float | None = None
        self.refresh_at: float | None = None
        self.timer_n_at: float | None = None
        #: Subscriber: the initial SUBSCRIBE (its Call-ID, From tag, CSeq); notifier:
        #: the SUBSCRIBE (or REFER) that created the subscription.
        self.request: Request | None = None
        self.target: Target | None = None
        #: From/To values (no tags) for a dialog created by a NOTIFY.
        self.local_uri = ""
        self.remote_uri = ""
        self.accept: str | None = None
        self.headers: tuple[tuple[str, str], ...] = ()
        #: Notifier: the last state body, resent on refresh (RFC 6665 §4.2.1.2).
        self.body = b""
        self.content_type: str | None = None
        #: Subscriber: the last NOTIFY received.
        self.last_notify: Request | None = None
        #: A REFER's implicit subscription (RFC 3515): never refreshed by the UA.
        self.implicit = False
        self.refreshing = False
        self.unsubscribing = False
        #: Id of the server transaction of a SUBSCRIBE awaiting accept/reject.
        self.txn = 0
        #: Why it ended: the Subscription-State reason, or a local cause.
        self.reason: str | None = None
        self.retry_after: int | None = None
        self.status: int | None = None
        #: Subscriber forks: the subscription whose SUBSCRIBE this one came from.
        self.origin: Subscription | None = None
        #: The deadline the UserAgent has an alarm armed for (a stale alarm does nothing).
        self.alarm_at: float | None = None

    def advance(self, inp: SubscriptionInput) -> SubscriptionState | None:
        """Feed ``inp`` to :data:`SUBSCRIPTION_TABLE`: the next state, or None when the
        table absorbs it (nothing changes)."""
        nxt = transition(self.state, inp)
        if nxt is not None:
            self.state = nxt
        return nxt

    @property
    def usage_key(self) -> tuple[Role, EventHeader]:
        """The key of this usage within its dialog: our role, the package and its id
        (RFC 6665 §4.1.2; the role keeps reciprocal subscriptions apart)."""
        return (self.role, self.event)

    def next_deadline(self) -> float | None:
        """The earliest of Timer N, the refresh and the expiry, while live."""
        if self.state is SubscriptionState.TERMINATED:
            return None
        times = [t for t in (self.timer_n_at, self.refresh_at, self.expires_at) if t is not None]
        return min(times) if times else None
