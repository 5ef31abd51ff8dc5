"""The services' events: a publication changed state (DESIGN.md §4); a registration's
events are the REGISTER machine's (:mod:`sipsans.ua.register_client`), named here too."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..ua.register_client import RegistrationState, RegistrationStateChanged

__all__ = [
    "PublicationState",
    "PublicationStateChanged",
    "RegistrationState",
    "RegistrationStateChanged",
]


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
