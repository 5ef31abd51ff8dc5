"""The DNS data a plan asks for and is given: queries, NAPTR/SRV/A/AAAA records, names.

The caller (an adapter with a resolver) turns its DNS library's answers into these
small frozen records; the planner checks them (:func:`record_problem`) before use, so
a record built from a hostile or broken answer is skipped with a reason, never trusted.

Domain names are compared the DNS way: case-insensitively, with or without the final
dot (RFC 4343, RFC 1034 §3.1). :func:`dns_name` gives the one spelling used as a key:
lower case, no final dot.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

__all__ = [
    "AddressRecord",
    "NaptrRecord",
    "Query",
    "Record",
    "RecordKind",
    "SrvRecord",
    "canonical_address",
    "dns_name",
    "effective_ttl",
    "is_dns_name",
    "kind_of",
    "record_problem",
]

RecordKind: TypeAlias = Literal["NAPTR", "SRV", "A", "AAAA"]

#: RFC 2181 §8: a TTL is 0 .. 2**31 - 1 seconds; larger values are read as zero.
MAX_TTL: Final = 2**31 - 1
_U16: Final = 65535


@dataclass(frozen=True, slots=True)
class Query:
    """One question for DNS: the records of ``kind`` owned by ``name``.

    ``name`` is lower case without the final dot (``_sip._udp.example.com``); DNS
    libraries that want absolute names add the dot themselves.
    """

    kind: RecordKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NaptrRecord:
    """A NAPTR record (RFC 3403 §4.1) owned by ``name``.

    RFC 3263 uses only terminal ``"s"`` records with an empty ``regexp``, whose
    ``replacement`` names an SRV record set; non-terminal records (empty ``flags``) lead
    to another NAPTR query on ``replacement`` (RFC 3403 §4.1 Flags).
    """

    name: str
    order: int
    preference: int
    flags: str
    service: str
    regexp: str
    replacement: str
    ttl: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SrvRecord:
    """An SRV record (RFC 2782) owned by ``name`` (``_sip._tcp.example.com``).

    A ``target`` of ``"."`` means the service is decidedly not offered at this domain.
    """

    name: str
    priority: int
    weight: int
    port: int
    target: str
    ttl: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressRecord:
    """An A or AAAA record: ``address`` is a dotted quad or a bare IPv6 address.

    The kind follows from the address, so one class serves both.
    """

    name: str
    address: str
    ttl: float

    @property
    def kind(self) -> RecordKind:
        return "AAAA" if ":" in self.address else "A"


Record: TypeAlias = NaptrRecord | SrvRecord | AddressRecord


def kind_of(record: Record) -> RecordKind:
    """The DNS type of *record*."""
    if isinstance(record, SrvRecord):
        return "SRV"
    if isinstance(record, NaptrRecord):
        return "NAPTR"
    return record.kind


def dns_name(name: str) -> str:
    """The key spelling of a domain name: lower case, without the final dot."""
    name = name.lower()
    return name[:-1] if name.endswith(".") and name != "." else name


def is_dns_name(name: str) -> bool:
    """True for a usable host or service name (RFC 1035 §2.3.4 sizes: labels of 1-63
    octets, 253 in all). Letters, digits, ``-`` and ``_`` (service labels such as
    ``_sip`` and, leniently, host names that carry one) are accepted."""
    if not name or len(name) > 253 or not name.isascii():
        return False
    for label in name.split("."):
        if not 0 < len(label) <= 63:
            return False
        if not label.replace("-", "").replace("_", "").isalnum():
            return False
    return True


def canonical_address(text: str) -> str | None:
    """*text* as an IP literal in canonical form (bare, RFC 5952 for IPv6), or None.

    Brackets around an IPv6 address are accepted and removed: sockets want the bare
    form, and a Target's host is what the adapter connects to.
    """
    if text[:1] == "[" and text[-1:] == "]":
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return None


def _u16(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _U16


def _ttl_ok(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def record_problem(record: Record) -> str | None:
    """Why *record* cannot be used, or None when it is well formed.

    Checks field ranges (16-bit order, preference, priority, weight and port; a
    non-negative TTL), domain names, IP addresses, and RFC 3403 §4.1's rule that a
    NAPTR uses exactly one of regexp and replacement. It does not judge whether the
    record is *relevant* (a service this client does not speak is not malformed).
    """
    if not isinstance(record.name, str) or not (
        record.name == "." or is_dns_name(dns_name(record.name))
    ):
        return f"bad owner name {record.name!r}"
    if not _ttl_ok(record.ttl):
        return f"bad TTL {record.ttl!r} (a TTL is a number of seconds >= 0)"
    if isinstance(record, SrvRecord):
        for field in ("priority", "weight", "port"):
            if not _u16(getattr(record, field)):
                return f"SRV {field} {getattr(record, field)!r} is not 0-65535"
        if not isinstance(record.target, str) or not (
            record.target == "." or is_dns_name(dns_name(record.target))
        ):
            return f"bad SRV target {record.target!r}"
        if record.target != "." and record.port == 0:
            return f"SRV target {record.target!r} has port 0"
        return None
    if isinstance(record, NaptrRecord):
        for field in ("order", "preference"):
            if not _u16(getattr(record, field)):
                return f"NAPTR {field} {getattr(record, field)!r} is not 0-65535"
        for field in ("flags", "service", "regexp", "replacement"):
            if not isinstance(getattr(record, field), str):
                return f"NAPTR {field} {getattr(record, field)!r} is not text"
        if not record.flags.isalnum() and record.flags != "":
            return f"NAPTR flags {record.flags!r} are not alphanumeric (RFC 3403 §4.1)"
        has_replacement = record.replacement not in ("", ".")
        if record.regexp and has_replacement:
            return "NAPTR has both a regexp and a replacement (RFC 3403 §4.1 forbids it)"
        if not record.regexp and not has_replacement:
            return "NAPTR has neither a regexp nor a replacement"
        if has_replacement and not is_dns_name(dns_name(record.replacement)):
            return f"bad NAPTR replacement {record.replacement!r}"
        return None
    if not isinstance(record.address, str) or canonical_address(record.address) is None:
        return f"bad IP address {record.address!r}"
    return None


def effective_ttl(ttl: float) -> float:
    """RFC 2181 §8: a TTL above 2**31 - 1 is treated as zero."""
    return 0.0 if ttl > MAX_TTL else float(ttl)
