"""Awaitable subscriptions (RFC 6665, and REFER's implicit one, RFC 3515) and the
failure of ``await ua.subscribe(...)``.

:class:`AsyncSubscription` wraps the core's ``ClientSubscription`` (we subscribed, or
sent a REFER) or ``ServerSubscription`` (we notify) the way
:class:`~sipsans_session.dialogs.AsyncDialog` wraps a dialog view: the same methods,
without ``now=``, as coroutines. Those that send a request of their own (``notify``,
``terminate``) return its final ``Response``; the others return once the UA has acted,
or, for the waiting ones (``established``, ``closed``, ``unsubscribe``), once the
subscription reached that state. The UA keeps every subscription rule (refreshes, Timer
N, forks, NOTIFY answers); nothing here decides anything.
"""

from __future__ import annotations

from typing import Any

from sipsans import (
    ClientSubscription,
    DialogId,
    Request,
    Response,
    ServerSubscription,
    SubscriptionState,
)

from .driver import Driver
from .options import Hdrs, SubView
from .sent import Sent
from .waits import Waits

__all__ = [
    "AsyncSubscription",
    "SubscriptionFailed",
    "SubscriptionInfo",
    "subscription_key",
]


def subscription_key(subscription: SubView) -> tuple[str, int]:
    """The watcher key of a subscription (apart from the dialogs' ``(Call-ID, tag)``)."""
    return ("subscription", subscription.key)


class SubscriptionFailed(Exception):
    """``await ua.subscribe(...)`` (or ``await subscription.established()``) ended
    without any NOTIFY: rejected (``status`` 403, 489, ...), timed out, or Timer N
    ran out after the 2xx (RFC 6665 §4.1.2.4).

    ``reason`` is the subscription's reason (``rejected``, ``timeout``, ...),
    ``status`` the SIP status that ended it when one did, ``retry_after`` the seconds
    the notifier asked us to wait, and ``subscription`` the terminated
    :class:`AsyncSubscription`."""

    def __init__(self, subscription: AsyncSubscription) -> None:
        self.subscription = subscription
        self.reason: str | None = subscription.reason
        self.status: int | None = subscription.status
        self.retry_after: int | None = subscription.retry_after
        status = f" ({self.status})" if self.status is not None else ""
        super().__init__(f"subscription to {subscription.event} failed: {self.reason}{status}")


class SubscriptionInfo:
    """The read-only state of a subscription, from the core's view (always current)."""

    __slots__ = ()

    @property
    def view(self) -> SubView:
        """The core's ``ClientSubscription`` or ``ServerSubscription``."""
        raise NotImplementedError

    @property
    def key(self) -> int:
        return self.view.key

    @property
    def state(self) -> SubscriptionState:
        return self.view.state

    @property
    def event(self) -> str:
        """The event package (``presence``, ``refer``, ...)."""
        return self.view.event

    @property
    def event_id(self) -> str | None:
        return self.view.event_id

    @property
    def dialog_id(self) -> DialogId | None:
        return self.view.dialog_id

    @property
    def expires_at(self) -> float | None:
        return self.view.expires_at

    @property
    def reason(self) -> str | None:
        """Why it ended (``timeout``, ``noresource``, ``rejected``, ...), else None."""
        return self.view.reason

    @property
    def retry_after(self) -> int | None:
        return self.view.retry_after

    @property
    def status(self) -> int | None:
        return self.view.status

    @property
    def is_terminated(self) -> bool:
        return self.view.state is SubscriptionState.TERMINATED

    @property
    def last_notify(self) -> Request | None:
        """The last NOTIFY received (subscriber side; None for a notifier)."""
        view = self.view
        return view.last_notify if isinstance(view, ClientSubscription) else None

    @property
    def request(self) -> Request | None:
        """The SUBSCRIBE or REFER that created it (notifier side; None for a subscriber)."""
        view = self.view
        return view.request if isinstance(view, ServerSubscription) else None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SubscriptionInfo):
            return NotImplemented
        return self.view == other.view

    def __hash__(self) -> int:
        return hash(self.view)


class AsyncSubscription(SubscriptionInfo):
    """A subscription (either role) with awaitable methods.

    Subscriber: ``established``, ``refresh``, ``unsubscribe``. Notifier: ``accept``,
    ``reject``, ``notify``, ``terminate``. Both: ``closed``. A method of the other role
    raises TypeError; one the state does not allow raises the core's
    LocalProtocolError. NOTIFYs received arrive as ``NotifyReceived`` in
    ``async for event in ua`` (``event.subscription == sub.view``).
    """

    __slots__ = ("_driver", "_waits", "view")

    view: SubView  # a plain attribute here: the wrapped view

    def __init__(self, driver: Driver[Any], waits: Waits, view: SubView) -> None:
        self._driver = driver
        self._waits = waits
        #: The core's subscription view (its properties are always current).
        self.view = view

    def __repr__(self) -> str:
        return f"<AsyncSubscription {self.view!r}>"

    def _client(self) -> ClientSubscription:
        view = self.view
        if not isinstance(view, ClientSubscription):
            raise TypeError("only the subscriber's side can do that; a notifier terminate()s")
        return view

    def _server(self) -> ServerSubscription:
        view = self.view
        if not isinstance(view, ServerSubscription):
            raise TypeError("only the notifier's side (IncomingSubscription) can do that")
        return view

    # -- waiting for states ----------------------------------------------------------

    async def closed(self, timeout: float | None = None) -> str | None:
        """Wait until the subscription is terminated; returns its ``reason``."""
        await self._waits.until(subscription_key(self.view), lambda _: self.is_terminated, timeout)
        return self.reason

    async def established(self, timeout: float | None = None) -> AsyncSubscription:
        """Wait for the first NOTIFY (RFC 6665 §4.1.2.4: the subscription's state is then
        pending or active, or terminated after a fetch with ``expires=0``);
        :class:`SubscriptionFailed` if it ended without one."""
        view = self._client()
        await self._waits.until(
            subscription_key(view),
            lambda _: view.state is not SubscriptionState.NOTIFY_WAIT,
            timeout,
        )
        if view.last_notify is None:
            raise SubscriptionFailed(self)
        return self

    # -- subscriber ----------------------------------------------------------------------

    # Commands (refresh, unsubscribe, accept, reject): each is sent when called, on every
    # adapter, and returns a Sent that awaiting is optional for (sipsans_session.sent).

    def refresh(self, *, expires: int | None = None) -> Sent[None]:
        """SUBSCRIBE now (the UA refreshes by itself before expiry, §4.1.2.2), sent at
        once. The notifier's NOTIFY follows as ``NotifyReceived``; a refresh rejected
        for good ends the subscription (see ``closed()``)."""
        self._driver.command(self._client().refresh, expires=expires)
        return Sent()

    def unsubscribe(self, *, wait: bool = True, timeout: float | None = None) -> Sent[str | None]:
        """SUBSCRIBE with Expires: 0 (§4.1.2.3), sent at once; awaiting it with ``wait``
        (default) returns the ``reason`` once the notifier's final NOTIFY (or Timer N)
        ended it."""
        self._driver.command(self._client().unsubscribe)
        if not wait:
            return Sent()
        return Sent(lambda: self.closed(timeout))

    # -- notifier ------------------------------------------------------------------------

    def accept(
        self,
        *,
        state: SubscriptionState | str = SubscriptionState.ACTIVE,
        body: bytes = b"",
        content_type: str | None = None,
        expires: int | None = None,
        headers: Hdrs = (),
    ) -> Sent[None]:
        """200 OK and at once the first NOTIFY with ``state`` and ``body`` (§4.2.1.2),
        both sent at once (the NOTIFY's response comes as ``ResponseReceived``)."""
        self._driver.command(
            self._server().accept,
            state=state,
            body=body,
            content_type=content_type,
            expires=expires,
            headers=headers,
        )
        return Sent()

    def reject(
        self, status: int = 403, *, reason: str | None = None, headers: Hdrs = ()
    ) -> Sent[None]:
        """A final 3xx-6xx to the SUBSCRIBE (``reason`` is the reason phrase), sent at
        once."""
        self._driver.command(self._server().reject, status, reason=reason, headers=headers)
        return Sent()

    async def notify(
        self,
        body: bytes | None = None,
        *,
        content_type: str | None = None,
        state: SubscriptionState | str | None = None,
        headers: Hdrs = (),
    ) -> Response:
        """NOTIFY the new resource state (and subscription ``state`` if given); returns
        the subscriber's final response (a 481 or a timeout ends the subscription)."""
        return await self._waits.response(
            self._server().notify, body, content_type=content_type, state=state, headers=headers
        )

    async def terminate(
        self,
        *,
        reason: str | None = "noresource",
        retry_after: int | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Hdrs = (),
    ) -> Response:
        """NOTIFY ``terminated;reason=...`` (§4.2.2); returns the subscriber's answer."""
        return await self._waits.response(
            self._server().terminate,
            reason=reason,
            retry_after=retry_after,
            body=body,
            content_type=content_type,
            headers=headers,
        )
