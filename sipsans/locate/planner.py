"""RFC 3263 §4 as a sans-IO planner: which DNS records to ask for, and what they mean.

The planner does no I/O. It tells its caller which record sets it needs
(:meth:`Planner.queries`), takes the answers the caller fetched (:meth:`Planner.answer`,
or :meth:`Planner.fail` when a query could not be answered), and once nothing is
missing gives the targets in the order RFC 3263 says to try them::

    plan = Planner("sip:alice@example.com", rng=random.Random(1))
    while (query := plan.next_query()) is not None:
        plan.answer(query, records_for(query), now=t)   # [] for NXDOMAIN / no data
    targets = plan.targets()    # [Target("UDP", "192.0.2.1", 5060), ...]

What it follows (RFC 3263 §4):

* TARGET is the URI's ``maddr`` when present, else its host (§4).
* Transport (§4.1): the URI's ``transport=`` parameter; else, for a numeric TARGET or an
  explicit port, UDP for ``sip:`` and TLS for ``sips:``; else the domain's NAPTR
  records (services ``SIP+D2U/D2T/D2S/D2W`` and ``SIPS+D2T/D2S/D2W`` the client
  supports, ``SIPS`` only for ``sips:``, order then preference); else an SRV query per
  supported transport; else UDP (sip) / TLS (sips).
* Port and address (§4.2): a numeric TARGET is used as it is; an explicit port means
  A/AAAA of TARGET only; otherwise the SRV set NAPTR named (or ``_sip(s)._proto.TARGET``
  for a transport from the URI), ordered per RFC 2782 with the injected rng, each SRV
  target's addresses (additional-section records used when supplied); with no SRV
  record at all, TARGET's addresses at the transport's default port.
* Each (transport, host, port) appears once, at its first place.

Bad data never stops the plan: a malformed record is skipped, a NAPTR loop cut, a
failed query treated as empty, and each is kept in :attr:`Planner.problems`. Every
resource is bounded (:class:`LocateLimits`), so a hostile DNS answer cannot make the
plan grow or wait forever. When the finished plan has no target,
:meth:`Planner.targets` raises :class:`~sipsans.locate.NoTargetsError` with those
problems.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from ..errors import LocalProtocolError
from ..message.uri import URI, SipURI, parse_uri
from ..transaction.transport import Target, default_port
from .errors import (
    DnsQueryFailedError,
    LocateError,
    LookupLimitError,
    MalformedAnswerError,
    NoTargetsError,
    UnsupportedTransportError,
)
from .records import (
    AddressRecord,
    NaptrRecord,
    Query,
    Record,
    RecordKind,
    SrvRecord,
    canonical_address,
    dns_name,
    effective_ttl,
    is_dns_name,
    kind_of,
    record_problem,
)
from .transports import (
    DEFAULT_TRANSPORTS,
    SECURE_TRANSPORTS,
    SRV_PREFIXES,
    check_transports,
    default_transport,
    uri_transport,
)
from .tree import HostNode, NaptrNode, Node, Outcome, SequenceNode, SrvNode

if TYPE_CHECKING:
    from .cache import DnsCache

__all__ = ["LocateLimits", "Planner"]

_FAMILIES: Final[tuple[RecordKind, ...]] = ("A", "AAAA")
#: Problems kept per plan; later ones are counted, not stored.
_MAX_PROBLEMS: Final = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class LocateLimits:
    """Bounds on one plan, so that no DNS answer can make it grow without end.

    ``max_queries``: distinct queries one plan may ask (beyond it, a needed record set
    counts as empty). ``max_records``: records taken from one answer (the rest are
    ignored). ``max_naptr_chain``: non-terminal NAPTR hops followed from the URI's
    domain. ``max_targets``: targets returned.
    """

    max_queries: int = 48
    max_records: int = 32
    max_naptr_chain: int = 4
    max_targets: int = 32

    def __post_init__(self) -> None:
        for name in ("max_queries", "max_records", "max_naptr_chain", "max_targets"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise LocalProtocolError(f"LocateLimits.{name} must be an int >= 1, not {value!r}")


@dataclass(slots=True, eq=False, kw_only=True)
class _Workspace:
    """What one plan knows and waits for; the :class:`~sipsans.locate.tree.Context`
    its nodes ask. Owned by the :class:`Planner`, which feeds it answers."""

    secure: bool
    transports: tuple[str, ...]
    families: tuple[RecordKind, ...]
    default_transport: str
    rng: random.Random
    limits: LocateLimits
    records: dict[tuple[RecordKind, str], tuple[Record, ...]] = field(
        init=False, default_factory=dict
    )
    additional_hosts: set[str] = field(init=False, default_factory=set)
    #: What the plan waits for: an ordered set.
    pending: dict[Query, None] = field(init=False, default_factory=dict)
    issued: set[Query] = field(init=False, default_factory=set)
    problems: list[LocateError] = field(init=False, default_factory=list)
    problems_dropped: int = field(init=False, default=0)

    @property
    def max_naptr_chain(self) -> int:
        return self.limits.max_naptr_chain

    def expects(self, query: Query) -> bool:
        """True if the plan waits for *query*; False if it no longer does (additional
        data answered it meanwhile). A query never asked is the caller's mistake."""
        if not isinstance(query, Query):
            raise LocalProtocolError(f"expected a Query from this plan, not {query!r}")
        if query in self.pending:
            return True
        if query in self.issued:
            return False
        raise LocalProtocolError(f"this plan never asked {query}; answer what queries() lists")

    def store(self, kind: RecordKind, name: str, records: Sequence[Record]) -> None:
        self.records[kind, name] = tuple(records)

    def store_additional(self, kind: RecordKind, name: str, records: Sequence[Record]) -> None:
        """Additional data never overrides an answer already known."""
        if (kind, name) not in self.records:
            self.records[kind, name] = tuple(records)
            if kind in _FAMILIES:
                self.additional_hosts.add(name)

    def begin_pass(self) -> None:
        # Every pass asks the tree afresh what it needs, so a query that additional data
        # made useless stops being listed.
        self.pending = {}

    # Context
    def lookup(self, kind: RecordKind, name: str) -> Sequence[Record] | None:
        records = self.records.get((kind, name))
        if records is not None:
            return records
        query = Query(kind, name)
        if query not in self.issued:
            if len(self.issued) >= self.limits.max_queries:
                self.problem(
                    LookupLimitError(
                        f"{query} not asked: the plan already asked "
                        f"{self.limits.max_queries} queries"
                    )
                )
                self.records[kind, name] = ()
                return ()
            self.issued.add(query)
        self.pending[query] = None
        return None

    def known(self, kind: RecordKind, name: str) -> Sequence[Record] | None:
        return self.records.get((kind, name))

    def has_additional_addresses(self, name: str) -> bool:
        return name in self.additional_hosts

    def problem(self, error: LocateError) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(error)
        else:
            self.problems_dropped += 1


class Planner:
    """Plans how to reach the server a SIP or SIPS URI names (RFC 3263 §4).

    *uri* is the next hop's URI (the Request-URI, or the first Route URI when the
    route set is not empty, RFC 3261 §8.1.2), as a :class:`~sipsans.message.uri.SipURI`
    or text. *transports* are the ones this client can use, in order of preference
    (the order counts only where RFC 3263 leaves the choice to the client: the SRV
    queries made without NAPTR); default ``("TLS", "TCP", "UDP")``. *families* are the
    address record types to ask for, in the order their addresses are tried (default
    ``("A", "AAAA")``; ``()`` returns host names instead of addresses, for callers
    whose connect step resolves them). *rng* draws the SRV weighted order (RFC 2782).

    Raises :class:`~sipsans.errors.LocalProtocolError` for a non-SIP URI or bad
    arguments, :class:`~sipsans.locate.UnsupportedTransportError` when the URI demands a
    transport the client lacks or its scheme forbids, and
    :class:`~sipsans.locate.NoTargetsError` for a ``maddr`` that is no host.
    """

    def __init__(
        self,
        uri: URI | str,
        *,
        rng: random.Random | None = None,
        transports: Iterable[str] = DEFAULT_TRANSPORTS,
        families: Iterable[RecordKind] = _FAMILIES,
        limits: LocateLimits | None = None,
    ) -> None:
        parsed = parse_uri(uri) if isinstance(uri, str) else uri
        if not isinstance(parsed, SipURI):
            raise LocalProtocolError(
                f"cannot locate {parsed}: RFC 3263 resolves sip: and sips: URIs only "
                "(send tel: and other URIs to a proxy)"
            )
        self._uri = parsed
        self._secure = parsed.secure
        self._limits = limits if limits is not None else LocateLimits()
        supported = check_transports(transports)
        if self._secure:
            supported = tuple(t for t in supported if t in SECURE_TRANSPORTS)
            if not supported:
                raise UnsupportedTransportError(
                    f"{parsed} is a sips: URI, which needs TLS on every hop (RFC 3261 "
                    "§26.2.2), and none of the supported transports is secure"
                )
        self._work = _Workspace(
            secure=self._secure,
            transports=supported,
            families=_check_families(families),
            default_transport=default_transport(secure=self._secure, supported=supported),
            rng=rng if rng is not None else random.SystemRandom(),
            limits=self._limits,
        )
        self._expires: float | None = None
        self._now: float | None = None
        self._domain, self._root = self._plan_root(parsed)
        self._advance()

    # -- what the plan is ----------------------------------------------------------
    @property
    def uri(self) -> SipURI:
        return self._uri

    @property
    def secure(self) -> bool:
        """True for a ``sips:`` URI: only TLS, TLS-SCTP and WSS targets (§4.1)."""
        return self._secure

    @property
    def domain(self) -> str:
        """TARGET (§4): the ``maddr`` or host, lower case; an IP address in bare form.

        A TLS client checks the server's certificate against the URI's domain (RFC 5922
        §4), not against the SRV target names, so adapters need this beside the targets.
        """
        return self._domain

    @property
    def transports(self) -> tuple[str, ...]:
        """The transports this plan may use, in preference order."""
        return self._work.transports

    # -- the query/answer loop ---------------------------------------------------------
    def queries(self) -> list[Query]:
        """Every query the plan waits for now; they may be asked in parallel.

        Answering one may add others (the SRV targets' addresses after an SRV answer).
        Empty once the plan is :attr:`done`.
        """
        return list(self._work.pending)

    def next_query(self) -> Query | None:
        """The first of :meth:`queries`, or None when the plan is done."""
        return next(iter(self._work.pending), None)

    @property
    def done(self) -> bool:
        """True once every record set the plan needs is known."""
        return self._root.outcome is not Outcome.PENDING

    def answer(self, query: Query, records: Iterable[Record], *, now: float) -> None:
        """Give the records DNS returned for *query*; ``[]`` means NXDOMAIN or no data.

        Records of the queried type are the answer (whatever their owner name: an
        answer reached through a CNAME is owned by the canonical name). Records of other
        types are additional data and answer the matching queries before they are asked
        (the A/AAAA records of SRV targets, the SRV sets a NAPTR answer names).
        A malformed record is skipped and noted in :attr:`problems`. TTLs count from
        *now*. Answering a query the plan no longer waits for (answered meanwhile by
        additional data) does nothing; answering one it never asked raises
        :class:`~sipsans.errors.LocalProtocolError`.
        """
        self._check_now(now)
        if self._work.expects(query):
            self._take(query, records, now, additional=False)

    def fail(self, query: Query, reason: str) -> None:
        """Report that *query* could not be answered (time-out, SERVFAIL, refused, ...).

        The plan goes on as if the name had no such records, which is what RFC 3263
        does for a missing answer (NAPTR -> SRV -> A/AAAA), and notes a
        :class:`~sipsans.locate.DnsQueryFailedError` in :attr:`problems`.
        """
        if not self._work.expects(query):
            return
        self._work.problem(DnsQueryFailedError(f"{query}: {reason}"))
        self._work.store(query.kind, query.name, ())
        self._advance()

    def answer_from(self, cache: DnsCache, *, now: float) -> list[Query]:
        """Answer every waiting query that *cache* holds (again as answers arrive) and
        return the queries still to be asked."""
        self._check_now(now)
        progress = True
        while progress:
            progress = False
            for query in self.queries():
                found = cache.get_set(query.kind, query.name, now=now)
                if found is None or query not in self._work.pending:
                    continue
                progress = True
                # A set that came as additional data is read as such again (see HostNode).
                self._take(query, found.records, now, additional=found.additional)
        return self.queries()

    # -- the result ------------------------------------------------------------------
    def targets(self) -> list[Target]:
        """The targets to try, in order (RFC 3263 §4.2 with §4.3's RFC 2782 order).

        Each (transport, host, port) appears once. Raises
        :class:`~sipsans.errors.LocalProtocolError` while the plan still waits for
        answers, and :class:`~sipsans.locate.NoTargetsError` when it found none.
        """
        if not self.done:
            waiting = ", ".join(str(q) for q in self._work.pending)
            raise LocalProtocolError(f"the plan for {self._uri} still waits for: {waiting}")
        found: list[Target] = []
        self._root.collect(found)
        targets: list[Target] = []
        seen: set[tuple[str, str, int | None]] = set()
        for target in found:
            key = (target.transport, target.host.lower(), target.port)
            if key in seen:
                continue
            if len(targets) == self._limits.max_targets:
                self._work.problem(
                    LookupLimitError(
                        f"more than {self._limits.max_targets} targets; the rest were dropped"
                    )
                )
                break
            seen.add(key)
            targets.append(target)
        if not targets:
            raise NoTargetsError(self._no_targets_message(), problems=self._work.problems)
        return targets

    @property
    def expires(self) -> float | None:
        """When the first record the plan used expires (the smallest ``now + TTL``), on
        the caller's clock: plan again after that. None when DNS was not used."""
        return self._expires

    @property
    def problems(self) -> tuple[LocateError, ...]:
        """What went wrong without stopping the plan, in the order it happened."""
        return tuple(self._work.problems)

    # -- internals -----------------------------------------------------------------
    def _plan_root(self, uri: SipURI) -> tuple[str, Node]:
        """TARGET (§4) and the first step of its resolution (§4.1, §4.2)."""
        target = uri.maddr if uri.maddr is not None else uri.host
        address = canonical_address(target)
        name = dns_name(target)
        if address is None and not is_dns_name(name):
            raise NoTargetsError(
                f"{uri}: maddr {target!r} is neither a host name nor an IP address"
            )
        explicit = (
            None
            if uri.transport is None
            else uri_transport(uri.transport, secure=self._secure, supported=self.transports)
        )
        transport = explicit or self._work.default_transport
        port = uri.port
        if address is not None:
            # §4.1/§4.2: a numeric TARGET needs no DNS at all.
            port = port if port is not None else default_port(transport)
            return address, HostNode(address, port, transport, numeric=True)
        if port is not None:
            # §4.2: an explicit port means the A/AAAA records of TARGET only.
            return name, HostNode(name, port, transport)
        if explicit is not None:
            # §4.2: the SRV set of that transport; with no records, TARGET's addresses.
            return name, SequenceNode(
                [SrvNode(f"{SRV_PREFIXES[explicit]}.{name}", explicit)],
                lambda: HostNode(name, default_port(explicit), explicit),
            )
        return name, NaptrNode(name, root=True)

    def _take(
        self, query: Query, records: Iterable[Record], now: float, *, additional: bool
    ) -> None:
        """Check an answer to *query* (see :meth:`answer`), store it, step the plan."""
        batch = list(records)
        for record in batch:
            if not isinstance(record, NaptrRecord | SrvRecord | AddressRecord):
                raise LocalProtocolError(
                    f"answer records must be NaptrRecord, SrvRecord or AddressRecord, "
                    f"not {type(record).__name__}"
                )
        if len(batch) > self._limits.max_records:
            self._work.problem(
                LookupLimitError(
                    f"{query}: {len(batch)} records; only the first "
                    f"{self._limits.max_records} were used"
                )
            )
            del batch[self._limits.max_records :]
        main: list[Record] = []
        extra: dict[tuple[RecordKind, str], list[Record]] = {}
        for record in batch:
            why = record_problem(record)
            if why is not None:
                self._work.problem(MalformedAnswerError(f"{query}: {why}; record skipped"))
                continue
            expiry = now + effective_ttl(record.ttl)
            if self._expires is None or expiry < self._expires:
                self._expires = expiry
            kind = kind_of(record)
            if kind == query.kind:
                main.append(record)
            else:
                extra.setdefault((kind, dns_name(record.name)), []).append(record)
        for (kind, name), found in extra.items():
            self._work.store_additional(kind, name, found)
        if additional:
            self._work.store_additional(query.kind, query.name, main)
        else:
            self._work.store(query.kind, query.name, main)
        self._advance()

    def _check_now(self, now: float) -> None:
        if self._now is not None and now < self._now:
            raise LocalProtocolError(f"now went backwards: {now} after {self._now}")
        self._now = now

    def _advance(self) -> None:
        self._work.begin_pass()
        self._root.step(self._work)

    def _no_targets_message(self) -> str:
        work = self._work
        asked = ", ".join(sorted(str(q) for q in work.issued))
        text = f"no target for {self._uri} (asked {asked}; no usable address came of it)"
        if work.problems:
            text += "; " + "; ".join(str(p) for p in work.problems)
        if work.problems_dropped:
            text += f"; and {work.problems_dropped} more problems"
        return text


def _check_families(families: Iterable[RecordKind]) -> tuple[RecordKind, ...]:
    out: list[RecordKind] = []
    for family in families:
        if family not in _FAMILIES:
            raise LocalProtocolError(f"families holds 'A' and/or 'AAAA', not {family!r}")
        if family not in out:
            out.append(family)
    return tuple(out)
