"""Failing over between the targets of a plan (RFC 3263 §4.3), with memory of failures.

RFC 3263 §4.3: a client tries the targets in order and moves to the next one when a
request to the current one fails: a transport error, a transaction time-out (Timer B
or F), or a 503 response (RFC 3261 §21.5.4 also lets a 503 say, in Retry-After, how
long to stay away). The request fails only when the list runs out.

:class:`Failover` keeps that order for a transaction user, and remembers across
requests that a target failed: for ``backoff`` seconds (or a 503's Retry-After, up to
``max_backoff``) a failed target is tried only after the healthy ones, so the next
request does not wait for the same time-out again. It is pure bookkeeping over
virtual time::

    failover = Failover(plan.targets())
    failover.restart()                       # a new request begins
    target = failover.next_target(now=t)     # send there
    ...
    failover.failed(target, "timeout", now=t2)
    target = failover.next_target(now=t2)    # the next one, or TargetsExhaustedError
    ...
    failover.succeeded(target)               # any response but 503 counts as success

A *round* is one request's walk down the list: each target is handed out at most once
per round. :meth:`restart` (or :meth:`succeeded`) begins the next round; the back-off
deadlines survive rounds, and :meth:`update` keeps them when a new plan (after its
TTLs ran out) brings a new list.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import LocalProtocolError
from ..transaction.transport import Target
from .errors import TargetsExhaustedError

__all__ = ["Failover"]


def _describe(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"{target.transport} {host}:{target.port}"


class Failover:
    """The targets of one plan, in order, with a back-off per failed target.

    ``backoff`` (seconds, default 30) is how long a failed target stays at the back
    of the order; a failure with ``retry_after`` uses that instead, capped at
    ``max_backoff`` (default 600). At most ``max_targets`` targets are kept (the
    plan's first ones).
    """

    def __init__(
        self,
        targets: Iterable[Target],
        *,
        backoff: float = 30.0,
        max_backoff: float = 600.0,
        max_targets: int = 32,
    ) -> None:
        if backoff < 0 or max_backoff < backoff:
            raise LocalProtocolError("Failover needs 0 <= backoff <= max_backoff")
        if max_targets < 1:
            raise LocalProtocolError("Failover max_targets must be >= 1")
        self._backoff = float(backoff)
        self._max_backoff = float(max_backoff)
        self._max_targets = max_targets
        self._targets: tuple[Target, ...] = ()
        self._until: dict[Target, float] = {}  # back-off deadline per failed target
        self._tried: dict[Target, str] = {}  # this round: target -> why it failed
        self._now: float | None = None
        self.update(targets)

    @property
    def targets(self) -> tuple[Target, ...]:
        """The targets in plan order."""
        return self._targets

    def update(self, targets: Iterable[Target]) -> None:
        """Take a new list (a fresh plan), keeping the back-off of targets still in it.

        Begins a new round. Raises :class:`~sipsans.errors.LocalProtocolError` for an
        empty list (a plan with no target raises before it gets here).
        """
        unique: list[Target] = []
        for target in targets:
            if not isinstance(target, Target):
                raise LocalProtocolError(f"Failover takes Target objects, not {target!r}")
            if target not in unique and len(unique) < self._max_targets:
                unique.append(target)
        if not unique:
            raise LocalProtocolError("Failover needs at least one target")
        self._targets = tuple(unique)
        self._until = {t: d for t, d in self._until.items() if t in unique}
        self._tried = {}

    def restart(self) -> None:
        """Begin a round: every target may be handed out again (back-offs stay).

        Call it when a new request starts; retransmissions of one request are not new.
        """
        self._tried = {}

    def next_target(self, *, now: float) -> Target:
        """The target to try next in this round, and mark it tried.

        Healthy targets come first, in plan order, then those still backing off at
        *now*, in plan order. Raises :class:`~sipsans.locate.TargetsExhaustedError`
        (listing each target's failure) once every target was handed out this round;
        the next round starts with :meth:`restart`.
        """
        self._check_now(now)
        later: Target | None = None
        for target in self._targets:
            if target in self._tried:
                continue
            until = self._until.get(target)
            if until is None or until <= now:
                self._tried[target] = "no outcome"
                return target
            if later is None:
                later = target
        if later is not None:
            self._tried[later] = "no outcome"
            return later
        failures = [(t, self._tried[t]) for t in self._targets]
        detail = "; ".join(f"{_describe(t)}: {why}" for t, why in failures)
        raise TargetsExhaustedError(
            f"all {len(failures)} targets failed (RFC 3263 §4.3): {detail}", failures=failures
        )

    def failed(
        self, target: Target, why: str, *, now: float, retry_after: float | None = None
    ) -> None:
        """Record that a request to *target* failed (transport error, time-out, 503).

        The target backs off until ``now + backoff`` (or ``now + retry_after``, capped
        at ``max_backoff``) and counts as tried in this round.
        """
        self._check_now(now)
        self._check_known(target)
        delay = self._backoff if retry_after is None else max(0.0, float(retry_after))
        self._until[target] = now + min(delay, self._max_backoff)
        self._tried[target] = why

    def succeeded(self, target: Target) -> None:
        """Record that *target* answered: its back-off ends and the round is over."""
        self._check_known(target)
        self._until.pop(target, None)
        self._tried = {}

    def backoff_until(self, target: Target) -> float | None:
        """When *target*'s back-off ends, or None if it has none (expired ones too
        remain listed until it succeeds or :meth:`update` drops it)."""
        return self._until.get(target)

    def _check_known(self, target: Target) -> None:
        if target not in self._targets:
            raise LocalProtocolError(f"{target} is not one of this Failover's targets")

    def _check_now(self, now: float) -> None:
        if self._now is not None and now < self._now:
            raise LocalProtocolError(f"now went backwards: {now} after {self._now}")
        self._now = now
