"""Locating SIP servers for a session (RFC 3263): the DNS half of ``sipsans.locate``.

The core plans (:class:`sipsans.locate.Planner`: which record sets to ask for, and what
the answers mean) and fails over (``targets=`` on the UserAgent's commands); it does no
I/O. :class:`Resolver` fetches the record sets a plan asks for, caches them by their
TTL (:class:`sipsans.locate.DnsCache`) and returns the plan's ordered targets::

    resolver = Resolver(server=("127.0.0.1", 5353), clock=session.now)
    targets = await resolver.targets("sip:alice@example.com")
    ua.invite("sip:alice@example.com", targets=targets, now=...)

Where the records come from (a :class:`DnsBackend`):

- :class:`DnspythonBackend` when the ``dns`` extra is installed (``pip install
  sipsans[dns]``, dnspython): NAPTR, SRV, A and AAAA with their TTLs, from the
  configured ``server`` or the system's resolver configuration; additional-section
  addresses are used as RFC 2782 intends.
- :class:`AddressBackend` otherwise: the loop's ``getaddrinfo`` for A/AAAA only (no
  NAPTR or SRV: a domain then means its addresses at the default port, §4.2), cached for
  ``address_ttl`` seconds since getaddrinfo tells no TTL. Asking for a DNS server without
  dnspython is an error that names the extra.

It imports no event loop: dnspython's resolver runs on asyncio and trio alike, and the
address backend is given the loop's ``getaddrinfo``. Every query has a time limit, and
a whole resolution another (``timeout``): a silent server, a NAPTR loop or an answer
naming thousands of names ends in :class:`sipsans.locate.NoTargetsError` (a
:class:`sipsans.locate.LocateError`, whose ``problems`` say why), never a hang.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

from sipsans import URI, SipURI, Target, parse_uri
from sipsans.locate import (
    DEFAULT_TRANSPORTS,
    AddressRecord,
    DnsCache,
    NaptrRecord,
    Planner,
    Query,
    Record,
    SrvRecord,
)

__all__ = [
    "DNS_EXTRA",
    "AddressBackend",
    "DnsBackend",
    "DnsQueryError",
    "DnspythonBackend",
    "Resolver",
    "dnspython_available",
    "is_local_name",
]

#: What to install for DNS beyond getaddrinfo.
DNS_EXTRA = "pip install sipsans[dns]"

#: Seconds an address from getaddrinfo is cached (it tells no TTL).
ADDRESS_TTL = 30.0


class DnsQueryError(Exception):
    """A query got no usable answer (time-out, SERVFAIL, refused, a malformed reply):
    the plan goes on as if the name had no such records (``Planner.fail``)."""


class DnsBackend(Protocol):
    """Fetches one record set: the records of the query's type (with their owner names
    and TTLs) and any additional records that came with them. ``[]`` means NXDOMAIN or
    no data; :class:`DnsQueryError` means no usable answer."""

    async def query(self, query: Query) -> list[Record]: ...


def dnspython_available() -> bool:
    try:
        import dns.asyncresolver  # noqa: F401, PLC0415  (the optional `dns` extra)
    except ImportError:
        return False
    return True


def is_local_name(host: str) -> bool:
    """``localhost`` and names under it (RFC 6761 §6.3): resolved locally, never
    through DNS."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


class DnspythonBackend:
    """Queries through dnspython's asynchronous resolver (the ``dns`` extra).

    ``server`` is ``(host, port)`` of the DNS server to ask (an IP address), or None
    for the system's configuration (``/etc/resolv.conf``). Each query is given up after
    ``lifetime`` seconds. No search list is applied: SIP names are absolute.
    """

    def __init__(self, server: tuple[str, int] | None = None, *, lifetime: float = 3.0) -> None:
        try:
            import dns.asyncresolver  # noqa: PLC0415  (the optional `dns` extra)
        except ImportError:
            raise RuntimeError(
                f"DNS lookups (NAPTR/SRV, a DNS server of your choice) need dnspython: {DNS_EXTRA}"
            ) from None
        resolver = dns.asyncresolver.Resolver(configure=server is None)
        if server is not None:
            resolver.nameservers = [server[0]]
            resolver.port = server[1]
        self._resolver: Any = resolver
        self.lifetime = lifetime

    async def query(self, query: Query) -> list[Record]:
        import dns.exception  # noqa: PLC0415
        import dns.resolver  # noqa: PLC0415

        try:
            answer = await self._resolver.resolve(
                query.name + ".",
                query.kind,
                raise_on_no_answer=False,
                lifetime=self.lifetime,
                search=False,
            )
        except dns.resolver.NXDOMAIN:
            return []
        except dns.exception.Timeout:
            raise DnsQueryError(f"no answer within {self.lifetime:g} s") from None
        except dns.resolver.NoNameservers:
            raise DnsQueryError("no DNS server answered it (refused or failed)") from None
        except dns.exception.DNSException as exc:
            raise DnsQueryError(f"{type(exc).__name__}: {exc}") from None
        records: list[Record] = []
        if answer.rrset is not None:
            records += _records(answer.rrset)
        for rrset in answer.response.additional:
            records += _records(rrset)
        return records


def _name(value: Any) -> str:
    text = value.to_text() if hasattr(value, "to_text") else str(value)
    return str(text)


def _text(value: bytes | str) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else value


def _records(rrset: Any) -> list[Record]:
    """dnspython's rdatas as sipsans records (other types are skipped). Values are taken
    as they came: the planner checks each record and skips a malformed one."""
    import dns.rdatatype  # noqa: PLC0415

    owner, ttl, kind = _name(rrset.name), float(rrset.ttl), rrset.rdtype
    out: list[Record] = []
    for rdata in rrset:
        if kind == dns.rdatatype.NAPTR:
            out.append(
                NaptrRecord(
                    name=owner,
                    order=rdata.order,
                    preference=rdata.preference,
                    flags=_text(rdata.flags),
                    service=_text(rdata.service),
                    regexp=_text(rdata.regexp),
                    replacement=_name(rdata.replacement),
                    ttl=ttl,
                )
            )
        elif kind == dns.rdatatype.SRV:
            out.append(
                SrvRecord(
                    name=owner,
                    priority=rdata.priority,
                    weight=rdata.weight,
                    port=rdata.port,
                    target=_name(rdata.target),
                    ttl=ttl,
                )
            )
        elif kind in (dns.rdatatype.A, dns.rdatatype.AAAA):
            out.append(AddressRecord(name=owner, address=str(rdata.address), ttl=ttl))
    return out


#: getaddrinfo's "no such name" and "no address of that family" (others are failures).
_NO_SUCH_NAME = frozenset(
    code
    for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None))
    if code is not None
)

#: ``getaddrinfo(host, family)``: the addresses of ``host`` (family "A" or "AAAA").
AddressLookup = Callable[[str, str], Awaitable[Sequence[str]]]


class AddressBackend:
    """A/AAAA through the loop's ``getaddrinfo`` (the stdlib fallback); NAPTR and SRV
    have no answer, so a domain means its addresses at the transport's default port
    (RFC 3263 §4.2). Addresses are cached for ``ttl`` seconds."""

    def __init__(self, lookup: AddressLookup, *, ttl: float = ADDRESS_TTL) -> None:
        self._lookup = lookup
        self.ttl = ttl

    async def query(self, query: Query) -> list[Record]:
        if query.kind not in ("A", "AAAA"):
            return []
        try:
            addresses = await self._lookup(query.name, query.kind)
        except socket.gaierror as exc:
            if exc.errno in _NO_SUCH_NAME:
                return []  # the name has no such addresses
            raise DnsQueryError(str(exc)) from None
        except OSError as exc:
            raise DnsQueryError(str(exc)) from None
        return [AddressRecord(name=query.name, address=a, ttl=self.ttl) for a in addresses]


class Resolver:
    """Turns a SIP URI into RFC 3263's ordered targets, with a cache (see the module).

    ``backend`` fetches the records (default: :class:`DnspythonBackend` on ``server``
    when dnspython is installed, else :class:`AddressBackend` on ``getaddrinfo``);
    ``clock`` is the session's monotonic clock (it dates the TTLs); ``transports`` the
    ones the session can send over, in preference order (default TLS, TCP, UDP);
    ``rng`` draws RFC 2782's weighted SRV order. A resolution takes at most ``timeout``
    seconds plus one query's lifetime: past it, the queries still missing count as
    failed. ``localhost`` names are never sent to DNS (RFC 6761).
    """

    def __init__(
        self,
        *,
        server: tuple[str, int] | None = None,
        backend: DnsBackend | None = None,
        getaddrinfo: AddressLookup | None = None,
        clock: Callable[[], float],
        transports: Iterable[str] = DEFAULT_TRANSPORTS,
        rng: random.Random | None = None,
        cache: DnsCache | None = None,
        timeout: float = 10.0,
        lifetime: float = 3.0,
    ) -> None:
        self._clock = clock
        self._lookup = getaddrinfo
        if backend is None:
            if server is not None or dnspython_available():
                backend = DnspythonBackend(server, lifetime=lifetime)
            elif getaddrinfo is not None:
                backend = AddressBackend(getaddrinfo)
            else:
                raise RuntimeError(f"no way to resolve names: give getaddrinfo= or {DNS_EXTRA}")
        self.backend = backend
        self.transports = tuple(transports)
        self.rng = rng if rng is not None else random.SystemRandom()
        self.cache = cache if cache is not None else DnsCache()
        self.timeout = timeout
        #: The name each TLS target's certificate is checked against (RFC 5922 §4: the
        #: domain of the URI, not the SRV target), by (transport, (host, port)).
        self.server_names: dict[tuple[str, tuple[str, int]], str] = {}

    async def targets(self, uri: URI | str) -> list[Target]:
        """The targets of ``uri`` in RFC 3263 order. Raises
        :class:`sipsans.locate.LocateError` (NoTargetsError with its ``problems``,
        UnsupportedTransportError) when there is none."""
        parsed = parse_uri(uri) if isinstance(uri, str) else uri
        families: tuple[str, ...] = ("A", "AAAA")
        backend: DnsBackend = self.backend
        if isinstance(parsed, SipURI) and is_local_name(parsed.maddr or parsed.host):
            if self._lookup is not None:
                backend = AddressBackend(self._lookup)
            else:
                families = ()  # the connect step resolves it
        plan = Planner(
            parsed,
            rng=self.rng,
            transports=self.transports,
            families=families,  # type: ignore[arg-type]
        )
        deadline = self._clock() + self.timeout
        while True:
            queries = plan.answer_from(self.cache, now=self._clock())
            if not queries:
                break
            for query in queries:
                if self._clock() > deadline:
                    plan.fail(query, f"not asked: the resolution took over {self.timeout:g} s")
                    continue
                try:
                    records = await backend.query(query)
                except DnsQueryError as exc:
                    plan.fail(query, str(exc))
                    continue
                now = self._clock()
                self.cache.put_answer(query, records, now=now)
                plan.answer(query, records, now=now)
        found = plan.targets()
        for target in found:
            if target.transport in ("TLS", "WSS"):
                self.server_names[(target.transport, target.address)] = plan.domain
        if len(self.server_names) > 1024:  # bounded: the oldest go first
            for key in list(self.server_names)[:-1024]:
                del self.server_names[key]
        return found
