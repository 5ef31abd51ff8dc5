"""Packet captures to SIP traffic: the reading half of pcap replay.

This is the one core module that reads files (DESIGN.md §2). It needs the
optional ``pcap`` extra (dpkt), imported lazily so that ``import sipsans`` never
loads it.

:func:`read_capture` yields every SIP-carrying payload of a pcap or pcapng
file in capture order with its timestamp: UDP datagrams, TCP segments
reassembled per flow (in sequence order, retransmissions and overlaps
dropped), and SCTP DATA chunks. Link types: Ethernet, Linux cooked (SLL and
SLL2), raw IP and BSD loopback; IPv4 and IPv6.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CapturedPayload", "read_capture"]

Address = tuple[str, int]

# pcap link types (https://www.tcpdump.org/linktypes.html)
_LINK_NULL = 0
_LINK_ETHERNET = 1
_LINK_RAW = (12, 14, 101)
_LINK_LINUX_SLL = 113
_LINK_IPV4 = 228
_LINK_IPV6 = 229
_LINK_LINUX_SLL2 = 276


@dataclass(frozen=True, slots=True, kw_only=True)
class CapturedPayload:
    """One transport payload: a datagram, a chunk of a TCP stream, or an SCTP chunk.

    For TCP, ``data`` is the next in-order part of the flow's byte stream and
    ``stream`` identifies the flow (the same value for every chunk of a
    connection, whichever side sent it); empty ``data`` with ``fin=True`` marks
    the end of that direction.
    """

    time: float
    transport: str  # "UDP", "TCP" or "SCTP"
    src: Address
    dst: Address
    data: bytes
    stream: int | None = None
    fin: bool = False


def _dpkt() -> Any:
    try:
        import dpkt  # noqa: PLC0415  (optional dependency, loaded on demand)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("reading captures needs dpkt: pip install 'sipsans[pcap]'") from exc
    return dpkt


def _open_reader(dpkt: Any, handle: Any) -> Any:
    magic = handle.read(4)
    handle.seek(0)
    if magic == b"\x0a\x0d\x0d\x0a":
        return dpkt.pcapng.Reader(handle)
    return dpkt.pcap.Reader(handle)


def _network_layer(dpkt: Any, linktype: int, frame: bytes) -> Any:
    if linktype == _LINK_ETHERNET:
        return dpkt.ethernet.Ethernet(frame).data
    if linktype == _LINK_LINUX_SLL:
        return dpkt.sll.SLL(frame).data
    if linktype == _LINK_LINUX_SLL2:
        return dpkt.sll2.SLL2(frame).data
    if linktype == _LINK_NULL:
        return dpkt.loopback.Loopback(frame).data
    if linktype in (*_LINK_RAW, _LINK_IPV4, _LINK_IPV6):
        version = frame[0] >> 4 if frame else 0
        return dpkt.ip6.IP6(frame) if version == 6 else dpkt.ip.IP(frame)
    raise ValueError(f"unsupported capture link type {linktype}")


def _address(dpkt: Any, ip: Any) -> tuple[str, str]:
    import ipaddress  # noqa: PLC0415

    return (str(ipaddress.ip_address(ip.src)), str(ipaddress.ip_address(ip.dst)))


class _TcpFlow:
    """In-order reassembly of one direction of a TCP connection."""

    __slots__ = ("next_seq", "pending")

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.pending: dict[int, bytes] = {}

    def push(self, seq: int, data: bytes, syn: bool) -> bytes:
        if syn:
            self.next_seq = (seq + 1) & 0xFFFFFFFF
            return b""
        if self.next_seq is None:  # capture started mid-connection
            self.next_seq = seq
        if data:
            self.pending.setdefault(seq, data)
        out = bytearray()
        while True:
            expected = self.next_seq
            chunk = self.pending.pop(expected, None)
            if chunk is None:
                # a retransmission overlapping what we already have
                overlapping = [
                    s
                    for s in self.pending
                    if 0 < (expected - s) & 0xFFFFFFFF < len(self.pending[s])
                ]
                if not overlapping:
                    break
                start = overlapping[0]
                chunk = self.pending.pop(start)[(expected - start) & 0xFFFFFFFF :]
            out += chunk
            self.next_seq = (expected + len(chunk)) & 0xFFFFFFFF
        # drop stale segments entirely before next_seq
        for s in [s for s in self.pending if 0 < (self.next_seq - s) & 0xFFFFFFFF < 2**31]:
            if (self.next_seq - s) & 0xFFFFFFFF >= len(self.pending[s]):
                del self.pending[s]
        return bytes(out)


def read_capture(path: str | Path) -> Iterator[CapturedPayload]:
    """Yield the UDP, TCP and SCTP payloads of a pcap/pcapng file in capture order."""
    dpkt = _dpkt()
    flows: dict[tuple[Address, Address], _TcpFlow] = {}
    streams: dict[frozenset[Address], int] = {}
    fragments: dict[tuple[Address, Address, int], list[bytes]] = {}
    with Path(path).open("rb") as handle:
        reader = _open_reader(dpkt, handle)
        linktype = reader.datalink()
        for timestamp, frame in reader:
            try:
                ip = _network_layer(dpkt, linktype, frame)
            except (dpkt.dpkt.UnpackError, ValueError, IndexError):
                continue
            if not isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6):
                continue
            src_ip, dst_ip = _address(dpkt, ip)
            segment = ip.data
            now = float(timestamp)
            if isinstance(segment, dpkt.udp.UDP):
                yield CapturedPayload(
                    time=now,
                    transport="UDP",
                    src=(src_ip, segment.sport),
                    dst=(dst_ip, segment.dport),
                    data=bytes(segment.data),
                )
            elif isinstance(segment, dpkt.tcp.TCP):
                src, dst = (src_ip, segment.sport), (dst_ip, segment.dport)
                key = frozenset((src, dst))
                stream = streams.setdefault(key, len(streams))
                flow = flows.setdefault((src, dst), _TcpFlow())
                data = flow.push(segment.seq, bytes(segment.data), bool(segment.flags & 0x02))
                fin = bool(segment.flags & 0x01)
                if data or fin:
                    yield CapturedPayload(
                        time=now,
                        transport="TCP",
                        src=src,
                        dst=dst,
                        data=data,
                        stream=stream,
                        fin=fin,
                    )
            elif isinstance(segment, dpkt.sctp.SCTP):
                src, dst = (src_ip, segment.sport), (dst_ip, segment.dport)
                for chunk in segment.chunks:
                    if chunk.type != dpkt.sctp.DATA or len(chunk.data) < 12:
                        continue
                    # RFC 9260 §3.3.1: TSN(4) stream id(2) stream seq(2) PPID(4), then user
                    # data; a user message split over chunks runs from the B flag to the E flag.
                    fragment_key = (src, dst, int.from_bytes(chunk.data[4:6], "big"))
                    part = bytes(chunk.data[12:])
                    if chunk.flags & 0x02:  # B: beginning fragment
                        fragments[fragment_key] = [part]
                    else:
                        fragments.setdefault(fragment_key, []).append(part)
                    if chunk.flags & 0x01:  # E: ending fragment
                        yield CapturedPayload(
                            time=now,
                            transport="SCTP",
                            src=src,
                            dst=dst,
                            data=b"".join(fragments.pop(fragment_key)),
                        )
