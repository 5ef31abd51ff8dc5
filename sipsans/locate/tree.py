"""The shape of one RFC 3263 resolution: a small tree whose leaves are targets.

Each node stands for one step of RFC 3263 §4 and grows children as DNS answers come
in. A depth-first walk of the finished tree gives the targets in RFC order, because
each node keeps its children in the order the RFC ranks them:

* :class:`NaptrNode` -- the NAPTR set of a domain (§4.1). Its children are SRV nodes
  (terminal ``"s"`` records) and NAPTR nodes (non-terminal records), in order then
  preference. The root one falls back to :func:`srv_fallback` when the domain has no
  usable NAPTR record, and to an address lookup of the domain when none of its SRV
  sets exist (§4.2 "If no SRV records were found").
* :class:`SrvNode` -- one SRV set (§4.2, RFC 2782): host children in RFC 2782 order.
* :class:`HostNode` -- one host and port over one transport: its A/AAAA addresses,
  or the literal itself when the URI gave an IP address (§4.2).
* :class:`SequenceNode` -- children tried in order, with an optional fallback that
  replaces them when none of them found any record.

Nodes ask for records through a :class:`Context` (the :class:`~sipsans.locate.Planner`)
each time they are stepped; whatever they still need then is what the plan waits for.
"""

from __future__ import annotations

import abc
import enum
import random
from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol

from ..transaction.transport import Target, default_port
from .errors import LocateError, LookupLimitError, NaptrLoopError, ServiceNotOfferedError
from .errors import MalformedAnswerError as _Malformed
from .ordering import order_srv, select_naptr
from .records import (
    AddressRecord,
    NaptrRecord,
    Record,
    RecordKind,
    SrvRecord,
    canonical_address,
    dns_name,
)
from .transports import SRV_PREFIXES

__all__ = [
    "Context",
    "HostNode",
    "NaptrNode",
    "Node",
    "Outcome",
    "SequenceNode",
    "SrvNode",
    "srv_fallback",
]


class Outcome(enum.Enum):
    """Where a node stands. FOUND / NOT_FOUND / NOT_OFFERED are final."""

    PENDING = "pending"
    #: DNS had records for this step (its targets may still be few or none).
    FOUND = "found"
    #: No records: NXDOMAIN, no data, or a failed query. Fallbacks apply (§4.2).
    NOT_FOUND = "not found"
    #: SRV target "." (RFC 2782): the service exists and is refused. No fallback.
    NOT_OFFERED = "not offered"


class Context(Protocol):
    """What a node may ask of the plan it belongs to."""

    @property
    def secure(self) -> bool: ...
    @property
    def transports(self) -> tuple[str, ...]: ...
    @property
    def families(self) -> tuple[RecordKind, ...]: ...
    @property
    def default_transport(self) -> str: ...
    @property
    def rng(self) -> random.Random: ...
    @property
    def max_naptr_chain(self) -> int: ...

    def lookup(self, kind: RecordKind, name: str) -> Sequence[Record] | None:
        """The records of (kind, name) if known; otherwise None, and the plan now waits
        for that query. Returns ``()`` instead when the plan may ask no more queries."""

    def known(self, kind: RecordKind, name: str) -> Sequence[Record] | None:
        """The records of (kind, name) if known, without asking for them."""

    def has_additional_addresses(self, name: str) -> bool:
        """True when address records of *name* came as additional data."""

    def problem(self, error: LocateError) -> None:
        """Note something that went wrong but did not stop the plan."""


class Node(abc.ABC):
    """A step of the resolution (see the module docstring)."""

    __slots__ = ("outcome",)

    def __init__(self) -> None:
        self.outcome = Outcome.PENDING

    @abc.abstractmethod
    def step(self, ctx: Context) -> None:
        """Use what the context knows; ask for what is missing. Stepping a finished
        node changes nothing."""

    @abc.abstractmethod
    def collect(self, out: list[Target]) -> None:
        """Append this node's targets, in order."""


class HostNode(Node):
    """``host`` and ``port`` over ``transport``: one target per address (§4.2).

    A numeric host is its own address. Otherwise the address families the plan uses
    are looked up (A then AAAA by default), unless address records for the host came
    as additional data with an SRV or NAPTR answer: then those are used as they are,
    without a query for the missing family (RFC 2782 asks servers to put them there
    so that clients need no further query). With no families at all the host name
    itself is the target, for callers whose connect step resolves names.
    """

    __slots__ = ("_targets", "host", "numeric", "port", "transport")

    def __init__(self, host: str, port: int, transport: str, *, numeric: bool = False) -> None:
        super().__init__()
        self.host = host
        self.port = port
        self.transport = transport
        self.numeric = numeric
        self._targets: list[Target] = []

    def step(self, ctx: Context) -> None:
        if self.outcome is not Outcome.PENDING:
            return
        if self.numeric or not ctx.families:
            self._targets = [Target(self.transport, self.host, self.port)]
            self.outcome = Outcome.FOUND
            return
        additional = ctx.has_additional_addresses(self.host)
        addresses: list[str] = []
        waiting = False
        for family in ctx.families:
            records = ctx.known(family, self.host) if additional else ctx.lookup(family, self.host)
            if records is None:
                waiting = waiting or not additional
                continue
            # The plan checked every address (record_problem) before storing it.
            addresses.extend(
                canonical_address(r.address) or r.address
                for r in records
                if isinstance(r, AddressRecord)
            )
        if waiting:
            return
        self._targets = [Target(self.transport, a, self.port) for a in addresses]
        self.outcome = Outcome.FOUND if addresses else Outcome.NOT_FOUND

    def collect(self, out: list[Target]) -> None:
        out.extend(self._targets)


class SequenceNode(Node):
    """Children in order; *fallback* (built when needed) replaces them when none of
    them found a record and none was explicitly not offered."""

    __slots__ = ("_fallback", "_make_fallback", "children")

    def __init__(
        self, children: Sequence[Node], fallback: Callable[[], Node] | None = None
    ) -> None:
        super().__init__()
        self.children = list(children)
        self._make_fallback = fallback
        self._fallback: Node | None = None

    def step(self, ctx: Context) -> None:
        if self._fallback is None:
            for child in self.children:
                child.step(ctx)
            outcomes = {child.outcome for child in self.children}
            if Outcome.PENDING in outcomes:
                return
            if Outcome.FOUND in outcomes:
                self.outcome = Outcome.FOUND
                return
            if Outcome.NOT_OFFERED in outcomes:
                self.outcome = Outcome.NOT_OFFERED
                return
            if self._make_fallback is None:
                self.outcome = Outcome.NOT_FOUND
                return
            self._fallback = self._make_fallback()
        self._fallback.step(ctx)
        self.outcome = self._fallback.outcome

    def collect(self, out: list[Target]) -> None:
        for child in self.children:
            child.collect(out)
        if self._fallback is not None:
            self._fallback.collect(out)


class _LookupNode(Node):
    """A node that asks one DNS question (``RTYPE`` records of ``name``) and then
    stands for the subtree it grows from the answer."""

    __slots__ = ("_inner", "name")

    #: The record type asked for.
    RTYPE: ClassVar[RecordKind]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self._inner: Node | None = None

    def step(self, ctx: Context) -> None:
        if self.outcome is not Outcome.PENDING:
            return
        if self._inner is None:
            records = ctx.lookup(self.RTYPE, self.name)
            if records is None:
                return
            self._inner = self._grow(ctx, records)
            if self._inner is None:
                return
        self._inner.step(ctx)
        self._settle(self._inner.outcome)

    @abc.abstractmethod
    def _grow(self, ctx: Context, records: Sequence[Record]) -> Node | None:
        """The subtree the answer *records* lead to; None when the answer settles
        this node's outcome by itself."""

    @abc.abstractmethod
    def _settle(self, inner: Outcome) -> None:
        """Take this node's outcome from its subtree's (*inner*)."""

    def collect(self, out: list[Target]) -> None:
        if self._inner is not None:
            self._inner.collect(out)


class SrvNode(_LookupNode):
    """The SRV set ``name`` for ``transport``: its hosts in RFC 2782 order."""

    __slots__ = ("transport",)

    RTYPE = "SRV"

    def __init__(self, name: str, transport: str) -> None:
        super().__init__(name)
        self.transport = transport

    def _grow(self, ctx: Context, records: Sequence[Record]) -> Node | None:
        srvs = [r for r in records if isinstance(r, SrvRecord)]
        usable = [r for r in srvs if r.target != "."]
        if not srvs:
            self.outcome = Outcome.NOT_FOUND
            return None
        if not usable:
            ctx.problem(
                ServiceNotOfferedError(
                    f"SRV {self.name}: target '.', so {self.transport} is decidedly not "
                    "offered at this domain (RFC 2782)"
                )
            )
            self.outcome = Outcome.NOT_OFFERED
            return None
        if len(usable) < len(srvs):
            ctx.problem(
                _Malformed(
                    f"SRV {self.name}: a '.' target beside other targets was ignored "
                    "('.' means 'not offered' only as the sole record, RFC 2782)"
                )
            )
        return SequenceNode(
            [
                HostNode(dns_name(r.target), r.port, self.transport)
                for r in order_srv(usable, ctx.rng)
            ]
        )

    def _settle(self, inner: Outcome) -> None:
        if inner is not Outcome.PENDING:
            # Records were found, whatever the hosts gave: no fallback to the domain's
            # own addresses (§4.2 falls back only "if no SRV records were found").
            self.outcome = Outcome.FOUND


class NaptrNode(_LookupNode):
    """The NAPTR set of ``name`` (§4.1). ``chain`` lists the names that led here
    through non-terminal records, to stop loops; ``root`` marks the URI's own domain,
    which owns the SRV and address fallbacks of §4.1/§4.2."""

    __slots__ = ("chain", "root")

    RTYPE = "NAPTR"

    def __init__(self, name: str, *, chain: tuple[str, ...] = (), root: bool = False) -> None:
        super().__init__(name)
        self.chain = chain
        self.root = root

    def _grow(self, ctx: Context, records: Sequence[Record]) -> Node:
        return self._expand(ctx, [r for r in records if isinstance(r, NaptrRecord)])

    def _settle(self, inner: Outcome) -> None:
        self.outcome = inner

    def _expand(self, ctx: Context, records: list[NaptrRecord]) -> Node:
        steps, notes = select_naptr(records, secure=ctx.secure, supported=ctx.transports)
        for note in notes:
            ctx.problem(_Malformed(note))
        children: list[Node] = []
        first_transport: str | None = None
        path = (*self.chain, self.name)
        for step in steps:
            replacement = dns_name(step.replacement)
            if step.transport is not None:
                children.append(SrvNode(replacement, step.transport))
                first_transport = first_transport or step.transport
            elif replacement in path:
                ctx.problem(
                    NaptrLoopError(
                        "NAPTR loop: " + " -> ".join((*path, replacement)) + " (RFC 3403 §4.1)"
                    )
                )
            elif len(path) > ctx.max_naptr_chain:
                ctx.problem(
                    LookupLimitError(
                        f"NAPTR chain {' -> '.join((*path, replacement))} is longer than "
                        f"{ctx.max_naptr_chain} non-terminal records"
                    )
                )
            else:
                children.append(NaptrNode(replacement, chain=path))
        if not self.root:
            return SequenceNode(children)
        domain = self.name
        if not children:
            # §4.1: no (usable) NAPTR records: SRV queries for each supported transport.
            return srv_fallback(ctx, domain)
        transport = first_transport or ctx.default_transport
        # §4.2: "If no SRV records were found", the domain's addresses over the
        # transport NAPTR chose, at its default port.
        return SequenceNode(children, lambda: HostNode(domain, default_port(transport), transport))


def srv_fallback(ctx: Context, domain: str) -> Node:
    """RFC 3263 §4.1 without NAPTR: an SRV query per supported transport, in the
    client's order of preference (``_sips`` ones only for a ``sips:`` URI, which has
    only secure transports); if none has records, §4.2: the domain's addresses over
    the scheme's default transport (UDP for sip:, TLS for sips:) at its default port."""
    transport = ctx.default_transport
    return SequenceNode(
        [SrvNode(f"{SRV_PREFIXES[t]}.{domain}", t) for t in ctx.transports],
        lambda: HostNode(domain, default_port(transport), transport),
    )
