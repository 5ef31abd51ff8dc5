"""A fake DNS for the sipsans.locate tests: a dict of record sets and a driver loop."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sipsans.locate import AddressRecord, NaptrRecord, Planner, Query, Record, SrvRecord

World = Mapping[tuple[str, str], Sequence[Record]]


def naptr(
    name: str,
    order: int,
    preference: int,
    service: str,
    replacement: str,
    *,
    flags: str = "s",
    regexp: str = "",
    ttl: float = 300,
) -> NaptrRecord:
    return NaptrRecord(
        name=name,
        order=order,
        preference=preference,
        flags=flags,
        service=service,
        regexp=regexp,
        replacement=replacement,
        ttl=ttl,
    )


def srv(
    name: str, priority: int, weight: int, port: int, target: str, *, ttl: float = 300
) -> SrvRecord:
    return SrvRecord(name=name, priority=priority, weight=weight, port=port, target=target, ttl=ttl)


def addr(name: str, address: str, *, ttl: float = 300) -> AddressRecord:
    return AddressRecord(name=name, address=address, ttl=ttl)


def world(records: Iterable[Record]) -> dict[tuple[str, str], list[Record]]:
    """Group records into record sets by (type, owner name), as a zone would."""
    out: dict[tuple[str, str], list[Record]] = {}
    for record in records:
        if isinstance(record, NaptrRecord):
            kind = "NAPTR"
        elif isinstance(record, SrvRecord):
            kind = "SRV"
        else:
            kind = record.kind
        out.setdefault((kind, record.name.lower().rstrip(".")), []).append(record)
    return out


def resolve(plan: Planner, dns: World, *, now: float = 0.0, max_rounds: int = 200) -> list[Query]:
    """Answer every query from *dns* ([] when absent) until the plan is done; return the
    queries asked, in order. Fails if the plan does not finish (it must never hang)."""
    asked: list[Query] = []
    for _ in range(max_rounds):
        query = plan.next_query()
        if query is None:
            assert plan.done
            return asked
        asked.append(query)
        plan.answer(query, dns.get((query.kind, query.name), []), now=now)
    raise AssertionError(f"the plan did not finish in {max_rounds} answers: {asked[-5:]}")
