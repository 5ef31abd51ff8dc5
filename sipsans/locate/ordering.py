"""The two orderings RFC 3263 borrows: NAPTR selection (RFC 3403) and SRV (RFC 2782).

Both are pure functions over records the planner has already checked
(:func:`~sipsans.locate.records.record_problem`); the SRV draw takes the injected rng.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate

from .records import NaptrRecord, SrvRecord
from .transports import NAPTR_SERVICES

__all__ = ["NaptrStep", "order_srv", "select_naptr"]


def order_srv(records: Iterable[SrvRecord], rng: random.Random) -> list[SrvRecord]:
    """*records* in the order RFC 2782 ("Usage rules") says to contact them.

    Lower priority first. Within one priority, a weighted draw repeated until none is
    left: the records are arranged with the weight-0 ones first, each gets the running
    sum of the weights in that arrangement, a number is drawn uniformly up to the total,
    and the first record whose running sum is >= the number is next. So a record of
    weight ``w`` comes first with probability ``w / total`` (the "three quarters" of
    RFC 2782's own example for weights 1 and 3). Beside weight-0 records the draw
    starts at 0, which only the first weight-0 record's running sum (0) meets: it keeps
    "a very small chance", ``1 / (total + 1)``, and a record of weight ``w`` has
    ``w / (total + 1)``.

    One reading to note: RFC 2782 draws from 0 to the total inclusive. When no record
    has weight 0, a draw of 0 would hand the first record an extra share (3/5 instead
    of 3/4 in that example), so the draw then starts at 1. When every remaining weight
    is 0 the draw could only pick the first, so the rest keep their given order.
    """
    by_priority: dict[int, list[SrvRecord]] = {}
    for record in records:
        by_priority.setdefault(record.priority, []).append(record)
    ordered: list[SrvRecord] = []
    for priority in sorted(by_priority):
        group = by_priority[priority]
        unordered = [r for r in group if r.weight == 0] + [r for r in group if r.weight > 0]
        total = sum(r.weight for r in unordered)
        while len(unordered) > 1 and total > 0:
            # Weight-0 records sit first; only they may be picked by a draw of 0.
            lowest = 0 if unordered[0].weight == 0 else 1
            record = unordered.pop(_running_sum_pick(unordered, rng.randint(lowest, total)))
            ordered.append(record)
            total -= record.weight
        ordered.extend(unordered)
    return ordered


def _running_sum_pick(records: Sequence[SrvRecord], draw: int) -> int:
    """The index of the first record whose running sum of weights is >= *draw* (the
    last running sum is the total, which the draw never exceeds)."""
    sums = accumulate(record.weight for record in records)
    return next(index for index, running in enumerate(sums) if running >= draw)


@dataclass(frozen=True, slots=True)
class NaptrStep:
    """One NAPTR record RFC 3263 can follow, with what following it means.

    ``transport`` is set for a terminal ``"s"`` record (query SRV at ``replacement``,
    then reach the targets over that transport) and None for a non-terminal record
    (query NAPTR again at ``replacement``).
    """

    record: NaptrRecord
    replacement: str
    transport: str | None


def select_naptr(
    records: Sequence[NaptrRecord], *, secure: bool, supported: Sequence[str]
) -> tuple[list[NaptrStep], list[str]]:
    """The records to follow, in order then preference (RFC 3403 §4.1), and the
    reasons some were passed over that a user may want to know about.

    RFC 3263 §4.1 keeps a terminal record when its flags are ``"s"``, its service is one
    of ``SIP+D2x`` / ``SIPS+D2x`` for a transport the client supports, and, for a
    ``sips:`` URI, its service is a ``SIPS`` one ("MUST discard any services that do not
    contain SIPS"); a ``sip:`` URI keeps the ``SIPS`` records too (TLS by choice). Its
    regexp must be empty: SIP uses the replacement (a record with a regexp is reported
    and skipped). A non-terminal record (empty flags, RFC 3403 §4.1) is followed when
    its service is empty or of the SIP family the URI allows. Records with other flags
    (``"a"``, ``"u"``, ``"p"``) belong to other applications and are skipped silently,
    as are services of other applications and transports the client does not support.
    """
    steps: list[tuple[int, int, NaptrStep]] = []
    notes: list[str] = []
    for record in records:
        flags = record.flags.lower()
        service = record.service.upper()
        protocol = service.partition("+")[0]
        if flags == "s":
            transport = NAPTR_SERVICES.get(service)
            # For a sips: URI *supported* holds only secure transports, and only SIPS
            # services map to them: this one test also discards the SIP services.
            if transport is None or transport not in supported:
                continue
            if record.regexp:
                notes.append(
                    f"NAPTR {record.name} {record.service}: uses a regexp; RFC 3263 records "
                    "name their SRV set in the replacement field"
                )
                continue
            step = NaptrStep(record, record.replacement, transport)
        elif flags == "":
            if service and protocol not in (("SIPS",) if secure else ("SIP", "SIPS")):
                continue
            if record.regexp:
                notes.append(f"NAPTR {record.name}: a non-terminal record with a regexp")
                continue
            step = NaptrStep(record, record.replacement, None)
        else:
            continue
        steps.append((record.order, record.preference, step))
    steps.sort(key=lambda item: (item[0], item[1]))
    return [step for _, _, step in steps], notes
