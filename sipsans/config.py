"""Frozen configuration objects with safe defaults.

Every hard limit of the core lives here, so that no input can make sipsans use
unbounded memory or time (DESIGN.md §4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["EndpointConfig", "ParserLimits"]

#: The key of a setting's :class:`Bound` in its dataclass field's metadata.
_BOUND = "sipsans.bound"


@dataclass(frozen=True, slots=True)
class Bound:
    """The values one setting of a configuration dataclass may take.

    Declared beside the setting, ``field(default=..., metadata=bounded(...))``, and
    checked for every setting at once by :func:`check_settings`. A number bounds the
    value; a string in ``at_least``/``at_most`` names another setting of the same
    object (``t2`` at least ``t1``). A side left None is not checked.
    """

    above: float | None = None
    below: float | None = None
    at_least: float | str | None = None
    at_most: float | str | None = None
    one_of: tuple[object, ...] | None = None
    #: None passes (the setting's "off" or "unset"), whatever the bounds.
    optional: bool = False
    #: Where the bound comes from (an RFC section), for the error message.
    why: str = ""

    def violated(self, value: object, settings: object) -> str | None:
        """What ``value`` fails to be (``"> 0"``), or None when it is within the bound."""
        if value is None and self.optional:
            return None
        if self.one_of is not None:
            return None if value in self.one_of else f"one of {self.one_of!r}"
        number = cast("float", value)  # the other bounds are numeric
        if self.above is not None and not number > self.above:
            return f"> {self.above:g}"
        if self.below is not None and not number < self.below:
            return f"< {self.below:g}"
        if self.at_least is not None and not number >= _resolve(self.at_least, settings):
            return f">= {_show(self.at_least)}"
        if self.at_most is not None and not number <= _resolve(self.at_most, settings):
            return f"<= {_show(self.at_most)}"
        return None


def _show(limit: float | str) -> str:
    """A bound as the error message writes it: ``0.5``, ``200`` or a setting's name."""
    return limit if isinstance(limit, str) else f"{limit:g}"


def _resolve(limit: float | str, settings: object) -> float:
    """A bound's number: itself, or the value of the setting it names."""
    value: float = getattr(settings, limit) if isinstance(limit, str) else limit
    return value


def bounded(
    *,
    above: float | None = None,
    below: float | None = None,
    at_least: float | str | None = None,
    at_most: float | str | None = None,
    one_of: tuple[object, ...] | None = None,
    optional: bool = False,
    why: str = "",
) -> Mapping[str, Bound]:
    """A field's ``metadata`` declaring its :class:`Bound` (the arguments are its fields)."""
    return {_BOUND: Bound(above, below, at_least, at_most, one_of, optional, why)}


def check_settings(settings: DataclassInstance, error: type[Exception] = ValueError) -> None:
    """Raise ``error`` naming the first setting of ``settings`` outside its bound.

    Every configuration dataclass calls it from ``__post_init__``, so that a setting
    that cannot work is refused when the object is made, not when it is first used.
    """
    for setting in fields(settings):
        bound: Bound | None = setting.metadata.get(_BOUND)
        if bound is None:
            continue
        value = getattr(settings, setting.name)
        wanted = bound.violated(value, settings)
        if wanted is not None:
            why = f" ({bound.why})" if bound.why else ""
            name = f"{type(settings).__name__}.{setting.name}"
            raise error(f"{name} must be {wanted}{why}, not {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ParserLimits:
    """Bounds applied by :func:`sipsans.parse_message` and :class:`sipsans.StreamFramer`.

    The defaults accept every real capture we know of (the 9.5 KB datagrams of
    ``sip-long-via-paths.pcap`` included) while keeping the worst case small.
    """

    #: Largest message, start line to end of body (a UDP datagram cannot exceed 65,535).
    max_message_size: int = field(default=65_535, metadata=bounded(above=0))
    #: Largest header section (start line and headers, without the body).
    max_header_size: int = field(default=32_768, metadata=bounded(above=0))
    #: Most header lines (after unfolding) in one message.
    max_headers: int = field(default=256, metadata=bounded(above=0))
    #: Longest single header line after unfolding.
    max_line_length: int = field(default=16_384, metadata=bounded(above=0))
    #: Largest body a Content-Length may announce.
    max_body_size: int = field(default=65_535, metadata=bounded(above=0))
    #: Most bytes a StreamFramer buffers for one connection while a message is incomplete.
    max_buffer_size: int = field(default=131_072, metadata=bounded(above=0))

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointConfig:
    """Settings of an :class:`sipsans.Endpoint` (the transaction layer).

    The timer defaults are RFC 3261's (§17.1.1.1, Table 4 of Appendix A).
    """

    #: The advertised address put in the Via sent-by of every request (§18.1.1) and
    #: checked in the top Via of every response (§18.1.2). Not the bind address.
    advertised_host: str = "127.0.0.1"
    advertised_port: int = field(default=5060, metadata=bounded(above=0, below=65536))
    #: RTT estimate, the base of every retransmission interval.
    t1: float = field(default=0.5, metadata=bounded(above=0))
    #: Longest retransmission interval for non-INVITE requests and INVITE responses.
    t2: float = field(
        default=4.0, metadata=bounded(above=0, at_least="t1", why="RFC 3261 §17.1.2.2")
    )
    #: Longest time a message may linger in the network.
    t4: float = field(default=5.0, metadata=bounded(above=0))
    #: Timer D on unreliable transports; §17.1.1.2 asks for at least 32 s.
    timer_d: float = field(default=32.0, metadata=bounded(above=0))
    #: An INVITE server transaction sends 100 Trying itself when the TU has not
    #: answered within this many seconds (§17.2.1); None never sends one.
    trying_delay: float | None = field(default=0.2, metadata=bounded(at_least=0, optional=True))
    #: Path MTU for §18.1.1: a UDP request larger than ``mtu - 200`` bytes goes over TCP.
    mtu: int = field(default=1500, metadata=bounded(above=200, why="RFC 3261 §18.1.1"))
    #: Most transactions (client and server) in flight, i.e. not yet settled: a server
    #: transaction settles once its final response is sent, a client one once its final
    #: response arrives. Past it, new requests from the network get a stateless 503 with
    #: Retry-After and send_request raises.
    max_transactions: int = field(default=65_536, metadata=bounded(above=0))
    #: Most settled transactions kept to absorb retransmissions until their timer ends
    #: them (Timers D, I, J, K, L, M: up to 32 s on UDP, so a UAS taking 3,000 calls/s
    #: keeps about 192,000; some 1 KB each). Past it, the one that settled first ends
    #: early, as if its timer had fired: under such a load a late retransmission of its
    #: request is then taken for a new request rather than the memory growing unbounded.
    max_lingering: int = field(default=262_144, metadata=bounded(above=0))
    #: Seconds in the Retry-After of that 503 (§20.33).
    retry_after: int = field(default=5, metadata=bounded(at_least=0))
    #: Answer a request that merges with an ongoing transaction (same From tag,
    #: Call-ID and CSeq, no To tag, different transaction) with 482 (§8.2.2.2).
    #: A UAS wants this; a proxy that may see spirals does not.
    detect_merged_requests: bool = True
    #: On a CANCEL for an INVITE still in Proceeding, answer the INVITE with 487 at
    #: once (§9.2). False leaves the 487 to the TU, told by CancelReceived.
    answer_cancelled_invite: bool = True
    #: Parser and framer limits for everything received.
    limits: ParserLimits = ParserLimits()

    def __post_init__(self) -> None:
        check_settings(self)
