"""The services' events: a registration changed state (DESIGN.md §4)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .._speed import quick_init

__all__ = ["RegistrationState", "RegistrationStateChanged"]


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


@quick_init
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
