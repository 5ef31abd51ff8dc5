"""Failing over to the next target of a request (RFC 3263 §4.3), for the parts of the
UserAgent that send requests outside a dialog: calls, other requests, registrations.

RFC 3263 §4.3: when a request to one target fails, with a 503, a transaction time-out
or a transport error, the client sends a new request, "identical to the previous, but
[with] a different value of the Via branch ID" (a new client transaction), to the next
target; the request fails only when the list runs out.

The targets come from the caller (``targets=``), planned by
:class:`~sipsans.locate.Planner` from DNS answers the adapter fetched: the core does no
I/O. A request with one target has no walk (None) and never fails over, which costs
it nothing. The back-offs are the UA's one :class:`~sipsans.locate.Backoffs` table, so
that a target that failed one request is tried last by the next ones too.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..dialog.model import DialogId
from ..errors import LocalProtocolError
from ..locate.errors import TargetsExhaustedError
from ..locate.failover import Failover
from ..message.model import Request, Response
from ..transaction.events import TransactionTimedOut, TransportFailed
from ..transaction.transport import ClientTxn, Target
from .context import UAContext
from .events import TargetFailed, TargetsExhausted

__all__ = ["Failure", "begin_walk", "failure_of", "leave_target", "retry_after", "with_contact_for"]


def begin_walk(
    ctx: UAContext, targets: Sequence[Target] | None, target: Target | None
) -> tuple[Target | None, Failover | None]:
    """Where a new request goes first, and its walk when it has several targets.

    ``targets`` is the plan's list; ``target`` a single fixed one (not both). With
    neither, (None, None): the caller falls back to the URI's own host and port.
    """
    if targets is None:
        return target, None
    if target is not None:
        raise LocalProtocolError("give target= or targets=, not both")
    listed = list(targets)
    if not listed or not all(isinstance(t, Target) for t in listed):
        raise LocalProtocolError(f"targets= must be a non-empty list of Target, not {targets!r}")
    if len(listed) == 1:
        return listed[0], None
    walk = Failover(listed, max_targets=len(listed), shared=ctx.backoffs)
    return walk.next_target(now=ctx.now), walk


#: Why a request failed at its target: the reason in words, the status of the response
#: that said so (None for a time-out or transport error) and its Retry-After seconds.
Failure = tuple[str, int | None, float | None]


def failure_of(event: TransactionTimedOut | TransportFailed) -> str:
    """Why a client transaction failed, in words (for :class:`TargetFailed`)."""
    if isinstance(event, TransactionTimedOut):
        return f"no answer (Timer {event.timer.value})"
    return f"transport error: {event.reason}"


def retry_after(response: Response) -> float | None:
    """The delta-seconds of a 503's Retry-After (RFC 3261 §20.33), or None."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    head = value.strip(" \t").split("(", 1)[0].split(";", 1)[0].strip(" \t")
    return float(head) if head.isdigit() else None


def leave_target(
    ctx: UAContext,
    walk: Failover,
    target: Target,
    failure: Failure,
    *,
    txn: ClientTxn,
    request: Request,
    dialog_id: DialogId | None = None,
) -> Target | None:
    """``target`` failed ``request``: back it off, and return the next target to send
    the request to, or None when none is left. Reports :class:`TargetFailed` and, at
    the end of the list, :class:`TargetsExhausted`. ``failure`` is why, in words, with the
    response's status and a 503's Retry-After if a response said so."""
    reason, status, wait = failure
    now = ctx.now
    walk.failed(target, reason, now=now, retry_after=wait)
    try:
        following: Target | None = walk.next_target(now=now)
    except TargetsExhaustedError as exc:
        following = None
        failures = exc.failures
    events = ctx.events
    events.append(
        TargetFailed(
            txn=txn,
            request=request,
            target=target,
            reason=reason,
            status=status,
            next_target=following,
            dialog_id=dialog_id,
        )
    )
    if following is None:
        events.append(
            TargetsExhausted(txn=txn, request=request, failures=failures, dialog_id=dialog_id)
        )
    return following


def with_contact_for(ctx: UAContext, request: Request, previous: Target, target: Target) -> Request:
    """``request`` to be sent again to ``target``: the same, but for a Contact naming
    another transport (§19.1.1: ``transport=`` for all but UDP) when the transport
    changes, as it may between NAPTR's choices (TLS, then TCP, then UDP)."""
    if previous.transport.upper() == target.transport.upper():
        return request
    if request.headers.get("Contact") != ctx.local_contact(previous.transport):
        return request  # none, or not ours to change (one the application gave)
    contact = ctx.local_contact(target.transport)
    copy = request.copy()
    copy.headers.set("Contact", contact)
    return copy
