"""The services' events: a registration or a publication changed state (DESIGN.md §4)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "PublicationState",
    "PublicationStateChanged",
    "RegistrationState",
    "RegistrationStateChanged",
]


class RegistrationState(enum.Enum):
    """Where a :class:`~sipsans.Registration` is (state table in sipsans/services/registration.py).

    Defined here rather than beside the REGISTER machine so that this module, which
    the machine imports, needs nothing from it."""

    UNREGISTERED = "unregistered"
    REGISTERING = "registering"
    REGISTERED = "registered"
    REFRESHING = "refreshing"
    UNREGISTERING = "unregistering"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationStateChanged:
    """A :class:`~sipsans.Registration` changed state (``ua.register`` or a
    RegistrationDriver).

    ``status`` is the response status that caused it (None for a local cause such as
    ``start()`` or a timer); ``reason`` says why in words (for FAILED it names the
    status or the timeout); ``expires`` is the granted interval on REGISTERED.
    """

    aor: str
    state: RegistrationState
    previous: RegistrationState
    status: int | None = None
    reason: str = ""
    expires: int | None = None


class PublicationState(enum.Enum):
    """Where a :class:`Publication` is (see the module's state table)."""

    UNPUBLISHED = "unpublished"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    REFRESHING = "refreshing"
    REMOVING = "removing"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicationStateChanged:
    """A :class:`Publication` changed state; ``etag`` is the entity-tag now held."""

    entity: str
    event: str
    state: PublicationState
    previous: PublicationState
    status: int | None = None
    reason: str = ""
    etag: str | None = None
    expires: int | None = None
