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

The deadlines live in a :class:`Backoffs` table. Each Failover has its own unless it is
given one to share: a user agent shares one between all its requests, so that a
server that failed one request is tried last by the next ones too, whatever URI they
were planned from.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import LocalProtocolError
from ..transaction.transport import Target
from .errors import TargetsExhaustedError

__all__ = ["Backoffs", "Failover", "describe_target"]


def describe_target(target: Target) -> str:
    """``UDP 192.0.2.1:5060``, ``TLS [2001:db8::1]:5061``: a target for messages."""
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"{target.transport} {host}:{target.port}"


class Backoffs:
    """When each failed target may be tried first again (a bounded table).

    ``backoff`` (seconds, default 30) is how long a failed target stays at the back of
    the order; a failure with ``retry_after`` (a 503's Retry-After, RFC 3261 §21.5.4)
    uses that instead, capped at ``max_backoff`` (default 600). At most ``max_entries``
    targets are remembered: when full, the deadlines already passed go first, then the
    oldest, so a flood of distinct failing targets cannot grow it.
    """

    __slots__ = ("_max_entries", "_until", "backoff", "max_backoff")

    def __init__(
        self, *, backoff: float = 30.0, max_backoff: float = 600.0, max_entries: int = 1024
    ) -> None:
        if not 0 <= backoff <= max_backoff:
            raise LocalProtocolError("back-off needs 0 <= backoff <= max_backoff")
        if max_entries < 1:
            raise LocalProtocolError("Backoffs max_entries must be >= 1")
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self._max_entries = max_entries
        self._until: dict[Target, float] = {}

    def __len__(self) -> int:
        return len(self._until)

    def failed(self, target: Target, *, now: float, retry_after: float | None = None) -> float:
        """Back ``target`` off from ``now``; returns until when."""
        delay = self.backoff if retry_after is None else max(0.0, float(retry_after))
        until = now + min(delay, self.max_backoff)
        until_table = self._until
        until_table.pop(target, None)  # re-inserted last: the newest
        if len(until_table) >= self._max_entries:
            for key in [k for k, v in until_table.items() if v <= now] or [next(iter(until_table))]:
                del until_table[key]
        until_table[target] = until
        return until

    def succeeded(self, target: Target) -> None:
        """``target`` answered: its back-off ends."""
        self._until.pop(target, None)

    def until(self, target: Target) -> float | None:
        """When ``target``'s back-off ends (possibly passed), or None."""
        return self._until.get(target)

    def backing_off(self, target: Target, now: float) -> bool:
        """True while ``target`` should be tried after the healthy ones."""
        until = self._until.get(target)
        return until is not None and until > now

    def keep_only(self, targets: Iterable[Target]) -> None:
        """Forget every target but ``targets`` (a Failover's own table, on update)."""
        keep = set(targets)
        self._until = {t: d for t, d in self._until.items() if t in keep}


class Failover:
    """The targets of one plan, in order, with a back-off per failed target.

    ``backoff`` (seconds, default 30) is how long a failed target stays at the back
    of the order; a failure with ``retry_after`` uses that instead, capped at
    ``max_backoff`` (default 600). At most ``max_targets`` targets are kept (the
    plan's first ones). ``shared`` is a :class:`Backoffs` table to keep the back-offs
    in instead of one of its own (``backoff`` and ``max_backoff`` are then the table's).
    """

    def __init__(
        self,
        targets: Iterable[Target],
        *,
        backoff: float = 30.0,
        max_backoff: float = 600.0,
        max_targets: int = 32,
        shared: Backoffs | None = None,
    ) -> None:
        if backoff < 0 or max_backoff < backoff:
            raise LocalProtocolError("Failover needs 0 <= backoff <= max_backoff")
        if max_targets < 1:
            raise LocalProtocolError("Failover max_targets must be >= 1")
        self._max_targets = max_targets
        self._targets: tuple[Target, ...] = ()
        self._own = shared is None
        #: Back-off deadline per failed target (shared with other Failovers, or its own).
        self._backoffs = (
            shared if shared is not None else Backoffs(backoff=backoff, max_backoff=max_backoff)
        )
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
        if self._own:
            self._backoffs.keep_only(unique)
        self._tried = {}

    def restart(self, current: Target | None = None) -> None:
        """Begin a round: every target may be handed out again (back-offs stay).

        Call it when a new request starts; retransmissions of one request are not new.
        ``current`` is a target the new request is sent to without asking
        :meth:`next_target` (a refresh sent where the last request succeeded): it
        counts as handed out in this round.
        """
        self._tried = {}
        if current is not None:
            self._check_known(current)
            self._tried[current] = "no outcome"

    def next_target(self, *, now: float) -> Target:
        """The target to try next in this round, and mark it tried.

        Healthy targets come first, in plan order, then those still backing off at
        *now*, in plan order. Raises :class:`~sipsans.locate.TargetsExhaustedError`
        (listing each target's failure) once every target was handed out this round;
        the next round starts with :meth:`restart`.
        """
        self._check_now(now)
        later: Target | None = None
        backoffs = self._backoffs
        for target in self._targets:
            if target in self._tried:
                continue
            if not backoffs.backing_off(target, now):
                self._tried[target] = "no outcome"
                return target
            if later is None:
                later = target
        if later is not None:
            self._tried[later] = "no outcome"
            return later
        failures = [(t, self._tried[t]) for t in self._targets]
        detail = "; ".join(f"{describe_target(t)}: {why}" for t, why in failures)
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
        self._backoffs.failed(target, now=now, retry_after=retry_after)
        self._tried[target] = why

    def succeeded(self, target: Target) -> None:
        """Record that *target* answered: its back-off ends and the round is over."""
        self._check_known(target)
        self._backoffs.succeeded(target)
        self._tried = {}

    def backoff_until(self, target: Target) -> float | None:
        """When *target*'s back-off ends, or None if it has none (expired ones too
        remain listed until it succeeds or :meth:`update` drops it)."""
        return self._backoffs.until(target)

    def failures(self) -> tuple[tuple[Target, str], ...]:
        """The targets tried in this round, each with why it failed (``"no outcome"``
        for one handed out and not reported failed)."""
        return tuple((t, self._tried[t]) for t in self._targets if t in self._tried)

    def _check_known(self, target: Target) -> None:
        if target not in self._targets:
            raise LocalProtocolError(f"{target} is not one of this Failover's targets")

    def _check_now(self, now: float) -> None:
        if self._now is not None and now < self._now:
            raise LocalProtocolError(f"now went backwards: {now} after {self._now}")
        self._now = now
