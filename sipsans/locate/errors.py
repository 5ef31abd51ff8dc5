"""Why locating a server failed (RFC 3263).

Every error here is a :class:`LocateError`, itself a :class:`~sipsans.errors.SipError`.
They describe the *outside world* (DNS data, the URI's demands, servers that failed),
never a bug in the caller: misuse of the API (answering a query that was never asked,
``now`` going backwards) raises :class:`~sipsans.errors.LocalProtocolError` instead.

A :class:`~sipsans.locate.Planner` never raises for a bad DNS answer while it works: it
skips what it cannot use and keeps the reason in ``Planner.problems`` (one bad record
must not hide the good ones beside it). Only when nothing usable is left does
``Planner.targets()`` raise :class:`NoTargetsError`, whose ``problems`` say why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import SipError

if TYPE_CHECKING:
    from ..transaction.transport import Target

__all__ = [
    "DnsQueryFailedError",
    "LocateError",
    "LookupLimitError",
    "MalformedAnswerError",
    "NaptrLoopError",
    "NoTargetsError",
    "ServiceNotOfferedError",
    "TargetsExhaustedError",
    "UnsupportedTransportError",
]


class LocateError(SipError):
    """Base class: the server a URI names cannot be reached (or not yet)."""


class UnsupportedTransportError(LocateError):
    """The URI asks for a transport this client does not support, or one that its
    scheme forbids (``sips:`` with ``transport=udp``: RFC 3261 §26.2.2, every hop TLS)."""


class MalformedAnswerError(LocateError):
    """A DNS record that cannot be used: a field out of range, a bad domain name, a
    NAPTR with both or neither of regexp and replacement (RFC 3403 §4.1), ..."""


class NaptrLoopError(LocateError):
    """A chain of non-terminal NAPTR records leads back to a name already visited
    (RFC 3403 §4.1 gives no depth limit; a resolver must bound it)."""


class ServiceNotOfferedError(LocateError):
    """An SRV answer whose only target is ``"."``: "the service is decidedly not
    available at this domain" (RFC 2782, Target)."""


class LookupLimitError(LocateError):
    """A bound of :class:`~sipsans.locate.LocateLimits` was reached (queries per plan,
    records per answer, NAPTR chain depth, targets per plan)."""


class DnsQueryFailedError(LocateError):
    """The caller reported that a query could not be answered (time-out, SERVFAIL, ...)
    through ``Planner.fail``; the plan went on as if the name had no such records."""


class NoTargetsError(LocateError):
    """The plan is complete and yields no target at all.

    ``problems`` holds what went wrong on the way (possibly nothing: every name simply
    had no records); the message repeats them.
    """

    def __init__(self, message: str, *, problems: Sequence[LocateError] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[LocateError, ...] = tuple(problems)


class TargetsExhaustedError(LocateError):
    """Every target of a :class:`~sipsans.locate.Failover` round has been tried and
    failed (RFC 3263 §4.3: the request fails when the list runs out).

    ``failures`` pairs each target tried in the round with the reason it failed
    (targets handed out but never reported failed have the reason ``"no outcome"``).
    """

    def __init__(self, message: str, *, failures: Sequence[tuple[Target, str]] = ()) -> None:
        super().__init__(message)
        self.failures: tuple[tuple[Target, str], ...] = tuple(failures)
