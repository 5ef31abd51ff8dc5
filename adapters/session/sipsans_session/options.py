"""The keyword arguments the session's awaitable methods pass on to the UA's commands,
typed once for the asyncio, anyio and blocking sessions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict

from sipsans import (
    URI,
    ClientInviteDialog,
    ClientSubscription,
    Credentials,
    NameAddr,
    ServerInviteDialog,
    ServerSubscription,
    SipURI,
    Target,
)

__all__ = [
    "Answer",
    "Content",
    "Hdrs",
    "RegisterOptions",
    "Request_",
    "SubView",
    "SubscribeOptions",
    "View",
]

#: Extra headers: ``(name, value)`` pairs.
Hdrs = Iterable[tuple[str, str]]
#: The core's view of an INVITE dialog, either end.
View = ClientInviteDialog | ServerInviteDialog
#: The core's view of a subscription, either role.
SubView = ClientSubscription | ServerSubscription


class Content(TypedDict, total=False):
    """The keywords of an in-dialog request (defaults: no body, no extra headers)."""

    body: bytes | None
    content_type: str | None
    headers: Hdrs


class Answer(TypedDict, total=False):
    """The keywords of ``respond(txn, status, ...)`` (defaults: the standard reason
    phrase, no body, no extra headers)."""

    reason: str | None
    headers: Hdrs
    body: bytes
    content_type: str | None


class SubscribeOptions(TypedDict, total=False):
    """The keywords of ``ua.subscribe`` besides ``to`` and ``event`` (see the core)."""

    expires: int
    accept: str | None
    headers: Hdrs
    body: bytes
    content_type: str | None
    from_: str | NameAddr | None
    target: Target | None
    targets: list[Target] | None


class Request_(TypedDict, total=False):
    """The keywords of ``ua.request`` besides ``method`` and ``to`` (see the core)."""

    from_: str | NameAddr | None
    body: bytes
    content_type: str | None
    headers: Hdrs
    target: Target | None
    targets: list[Target] | None


class RegisterOptions(TypedDict, total=False):
    """The keywords of ``ua.register`` besides ``registrar`` (see the core)."""

    aor: str | SipURI | None
    contacts: Iterable[str | NameAddr | URI] | None
    expires: int
    credentials: Credentials | Iterable[Credentials] | None
    headers: Hdrs
    target: Target | None
    targets: list[Target] | None
    refresh_margin: float
    max_failures: int
    retry_interval: float
    max_retry_interval: float
