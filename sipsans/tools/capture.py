"""Packet captures to SIP payloads: the reading half of ``sipsans replay``.

One of the two core modules that read files (DESIGN.md §2, with :mod:`.replay`). It
needs the optional ``pcap`` extra (dpkt), and the ``ws`` extra (wsproto) for captures
of SIP over WebSocket, both imported only when used, so that ``import sipsans`` never
loads them.

:func:`read_capture` yields every SIP-carrying payload of a pcap or pcapng file in
capture order with its timestamp:

- link layers: Ethernet (with 802.1Q and QinQ VLAN tags, and PPPoE sessions), Linux
  cooked captures (SLL and SLL2), BSD/Linux loopback (null), raw IPv4 and IPv6;
- IPv4 fragments are reassembled (a SIP datagram over the MTU arrives in several);
- UDP datagrams; TCP segments reassembled per flow, in sequence order, retransmissions
  and overlaps dropped; SCTP DATA chunks joined per message;
- a TCP connection that starts with a WebSocket upgrade (RFC 6455, RFC 7118) is
  decoded into its WebSocket messages, each one SIP message with transport ``"WS"``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CapturedPayload", "MissingExtra", "Progress", "read_capture"]

Address = tuple[str, int]
#: Called as ``progress(bytes_read, total_bytes)`` while a capture is read.
Progress = Callable[[int, int], None]

# pcap link types (https://www.tcpdump.org/linktypes.html)
_LINK_NULL = 0
_LINK_ETHERNET = 1
_LINK_RAW = (12, 14, 101)
_LINK_LOOP = 108
_LINK_LINUX_SLL = 113
_LINK_IPV4 = 228
_LINK_IPV6 = 229
_LINK_LINUX_SLL2 = 276

#: Address families of a null/loopback header: AF_INET, and AF_INET6 as Linux, the
#: BSDs and macOS number it.
_AF_INET = 2
_AF_INET6 = frozenset({10, 24, 28, 30})

_IP_PROTO_TCP, _IP_PROTO_UDP, _IP_PROTO_SCTP = 6, 17, 132
#: IPv4 datagrams being reassembled at most (the oldest is dropped first).
_MAX_REASSEMBLIES = 1024


class MissingExtra(ImportError):
    """Reading this capture needs an optional dependency that is not installed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CapturedPayload:
    """One transport payload: a datagram, a chunk of a TCP stream, an SCTP message or
    a WebSocket message.

    For TCP, ``data`` is the next in-order part of the flow's byte stream and
    ``stream`` identifies the flow (the same value for every chunk of a connection,
    whichever side sent it); empty ``data`` with ``fin=True`` marks the end of that
    direction. WebSocket messages (``transport="WS"``) carry the ``stream`` of their
    TCP connection too, each one a whole SIP message.
    """

    time: float
    transport: str  # "UDP", "TCP", "SCTP" or "WS"
    src: Address
    dst: Address
    data: bytes
    stream: int | None = None
    fin: bool = False


def _dpkt() -> Any:
    try:
        import dpkt  # noqa: PLC0415  (optional dependency, loaded on demand)
    except ImportError as exc:
        raise MissingExtra("reading captures needs dpkt: pip install 'sipsans[pcap]'") from exc
    return dpkt


_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
#: Classic pcap magics: micro- and nanosecond resolution, both byte orders.
_PCAP_MAGICS = frozenset(bytes.fromhex(m) for m in ("a1b2c3d4", "d4c3b2a1", "a1b23c4d", "4d3cb2a1"))


def _open_reader(dpkt: Any, handle: Any) -> Any:
    magic = handle.read(4)
    handle.seek(0)
    if magic == _PCAPNG_MAGIC:
        return dpkt.pcapng.Reader(handle)
    if magic in _PCAP_MAGICS:
        return dpkt.pcap.Reader(handle)
    name = getattr(handle, "name", "input")
    raise ValueError(
        f"{name}: not a pcap or pcapng capture (it begins {magic!r}), nor a sipsans"
        " transcript (the JSON lines --trace writes begin with '{')"
    )


def _ip_of(dpkt: Any, raw: bytes) -> Any:
    version = raw[0] >> 4 if raw else 0
    return dpkt.ip6.IP6(raw) if version == 6 else dpkt.ip.IP(raw)


def _network_layer(dpkt: Any, linktype: int, frame: bytes) -> Any:
    """The IP packet of one frame (dpkt object), or something else to skip."""
    if linktype == _LINK_ETHERNET:
        # dpkt takes the 802.1Q and QinQ tags off itself; a PPPoE session carries PPP,
        # which carries the IP packet (RFC 2516).
        layer = dpkt.ethernet.Ethernet(frame).data
        if isinstance(layer, dpkt.pppoe.PPPoE):
            layer = layer.data.data if isinstance(layer.data, dpkt.ppp.PPP) else layer.data
        return layer
    if linktype == _LINK_LINUX_SLL:
        return dpkt.sll.SLL(frame).data
    if linktype == _LINK_LINUX_SLL2:
        return dpkt.sll2.SLL2(frame).data
    if linktype in (_LINK_NULL, _LINK_LOOP):
        # The family is in the capturing host's byte order (null) or network order (loop).
        head = frame[:4]
        family = min(int.from_bytes(head, "little"), int.from_bytes(head, "big"))
        if family == _AF_INET:
            return dpkt.ip.IP(frame[4:])
        if family in _AF_INET6:
            return dpkt.ip6.IP6(frame[4:])
        return None
    if linktype in (*_LINK_RAW, _LINK_IPV4, _LINK_IPV6):
        return _ip_of(dpkt, frame)
    raise ValueError(f"unsupported capture link type {linktype}")


def _host(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))


class _Fragments:
    """IPv4 reassembly (RFC 791 §3.2): the pieces of each datagram by source,
    destination, protocol and identification, until they cover it all."""

    def __init__(self) -> None:
        self._pending: dict[tuple[bytes, bytes, int, int], dict[int, bytes]] = {}
        self._ends: dict[tuple[bytes, bytes, int, int], int] = {}

    def add(self, ip: Any) -> bytes | None:
        """The whole transport payload once ``ip``'s datagram is complete, else None."""
        key = (bytes(ip.src), bytes(ip.dst), int(ip.p), int(ip.id))
        payload = ip.data if isinstance(ip.data, bytes) else bytes(ip.data)
        pieces = self._pending.get(key)
        if pieces is None:
            if len(self._pending) >= _MAX_REASSEMBLIES:
                oldest = next(iter(self._pending))
                del self._pending[oldest]
                self._ends.pop(oldest, None)
            pieces = self._pending[key] = {}
        pieces.setdefault(int(ip.offset), payload)
        if not ip.mf:
            self._ends[key] = int(ip.offset) + len(payload)
        end = self._ends.get(key)
        if end is None:
            return None
        out = bytearray()
        for offset in sorted(pieces):
            if offset > len(out):
                return None  # a hole: more pieces to come
            out[offset:] = pieces[offset][: max(0, end - offset)]
        if len(out) < end:
            return None
        del self._pending[key]
        del self._ends[key]
        return bytes(out[:end])


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


_UPGRADE = re.compile(
    rb"^GET [^\r\n]* HTTP/1\.1\r\n(?:[^\r\n]+\r\n)*?upgrade:[ \t]*websocket", re.I
)


class _WebSocket:
    """One direction of a TCP connection that carries SIP over WebSocket (RFC 7118):
    the HTTP upgrade is skipped, the frames after it decoded (masked from the client,
    RFC 6455 §5.3), each message one SIP message (§5.1 of RFC 7118)."""

    def __init__(self, *, from_client: bool) -> None:
        try:
            from wsproto.frame_protocol import FrameProtocol  # noqa: PLC0415
        except ImportError as exc:
            raise MissingExtra(
                "this capture has SIP over WebSocket; decoding it needs wsproto:"
                " pip install 'sipsans[ws]'"
            ) from exc
        # The decoder of frames *from* the client is the server's.
        self._frames = FrameProtocol(client=not from_client, extensions=[])
        self._head = b""
        self._in_handshake = True
        self._parts: list[bytes] = []
        self.failed = False

    def messages(self, data: bytes) -> list[bytes]:
        if self.failed:
            return []
        if self._in_handshake:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return []
            data, self._head, self._in_handshake = self._head[end + 4 :], b"", False
        from wsproto.frame_protocol import Opcode, ParseFailed  # noqa: PLC0415

        out: list[bytes] = []
        try:
            self._frames.receive_bytes(data)
            for frame in self._frames.received_frames():
                if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION):
                    payload = frame.payload
                    if isinstance(payload, str):
                        self._parts.append(payload.encode("utf-8"))
                    elif isinstance(payload, bytes | bytearray):
                        self._parts.append(bytes(payload))
                    if frame.message_finished:
                        out.append(b"".join(self._parts))
                        self._parts = []
        except ParseFailed:
            self.failed = True
        return out


#: Frames between two progress reports.
_PROGRESS_EVERY = 2000


def read_capture(
    path: str | Path, *, progress: Progress | None = None
) -> Iterator[CapturedPayload]:
    """Yield the SIP-carrying payloads of a pcap/pcapng file in capture order (see the
    module docstring).

    ``progress(bytes_read, total_bytes)`` is called every few thousand frames and once
    at the end. Raises ValueError for a file that is neither pcap nor pcapng or has an
    unsupported link type, :class:`MissingExtra` when dpkt (or, for WebSocket, wsproto)
    is missing.
    """
    dpkt = _dpkt()
    reader = _Reader(dpkt)
    path = Path(path)
    total = path.stat().st_size
    with path.open("rb") as handle:
        capture = _open_reader(dpkt, handle)
        linktype = capture.datalink()
        for count, (timestamp, frame) in enumerate(capture, start=1):
            if progress is not None and count % _PROGRESS_EVERY == 0:
                progress(handle.tell(), total)
            try:
                ip = _network_layer(dpkt, linktype, frame)
            except (dpkt.dpkt.UnpackError, ValueError, IndexError, AttributeError):
                continue
            yield from reader.packet(ip, float(timestamp))
    if progress is not None:
        progress(total, total)


class _Reader:
    """IP packets to payloads: reassembly of fragments, TCP flows, SCTP messages and
    WebSocket connections, across the whole capture."""

    def __init__(self, dpkt: Any) -> None:
        self._dpkt = dpkt
        self._fragments = _Fragments()
        self._flows: dict[tuple[Address, Address], _TcpFlow] = {}
        self._streams: dict[frozenset[Address], int] = {}
        self._websockets: dict[tuple[Address, Address], _WebSocket] = {}
        self._plain: set[tuple[Address, Address]] = set()
        self._sctp: dict[tuple[Address, Address, int], list[bytes]] = {}

    def packet(self, ip: Any, now: float) -> Iterator[CapturedPayload]:
        dpkt = self._dpkt
        if isinstance(ip, dpkt.ip.IP):
            segment = ip.data
            if ip.mf or ip.offset:
                whole = self._fragments.add(ip)
                if whole is None:
                    return
                segment = self._transport(int(ip.p), whole)
        elif isinstance(ip, dpkt.ip6.IP6):
            segment = ip.data
        else:
            return
        src_ip, dst_ip = _host(ip.src), _host(ip.dst)
        if isinstance(segment, dpkt.udp.UDP):
            yield CapturedPayload(
                time=now,
                transport="UDP",
                src=(src_ip, segment.sport),
                dst=(dst_ip, segment.dport),
                data=bytes(segment.data),
            )
        elif isinstance(segment, dpkt.tcp.TCP):
            yield from self._tcp(segment, (src_ip, segment.sport), (dst_ip, segment.dport), now)
        elif isinstance(segment, dpkt.sctp.SCTP):
            yield from self._sctp_chunks(
                segment, (src_ip, segment.sport), (dst_ip, segment.dport), now
            )

    def _transport(self, protocol: int, data: bytes) -> Any:
        dpkt = self._dpkt
        try:
            if protocol == _IP_PROTO_UDP:
                return dpkt.udp.UDP(data)
            if protocol == _IP_PROTO_TCP:
                return dpkt.tcp.TCP(data)
            if protocol == _IP_PROTO_SCTP:
                return dpkt.sctp.SCTP(data)
        except dpkt.dpkt.UnpackError:
            return None
        return None

    def _tcp(
        self, segment: Any, src: Address, dst: Address, now: float
    ) -> Iterator[CapturedPayload]:
        stream = self._streams.setdefault(frozenset((src, dst)), len(self._streams))
        flow = self._flows.setdefault((src, dst), _TcpFlow())
        data = flow.push(segment.seq, bytes(segment.data), bool(segment.flags & 0x02))
        fin = bool(segment.flags & 0x01)
        if not (data or fin):
            return
        websocket = self._websocket(src, dst, data)
        if websocket is None:
            yield CapturedPayload(
                time=now, transport="TCP", src=src, dst=dst, data=data, stream=stream, fin=fin
            )
            return
        for message in websocket.messages(data) if data else ():
            yield CapturedPayload(
                time=now, transport="WS", src=src, dst=dst, data=message, stream=stream
            )
        if fin:
            yield CapturedPayload(
                time=now, transport="WS", src=src, dst=dst, data=b"", stream=stream, fin=True
            )

    def _websocket(self, src: Address, dst: Address, data: bytes) -> _WebSocket | None:
        """The WebSocket decoder of this direction, if its connection began with an
        upgrade (decided on the client's first bytes)."""
        found = self._websockets.get((src, dst))
        if found is not None or (src, dst) in self._plain:
            return found
        if (dst, src) in self._websockets:  # the server's side of a WebSocket connection
            found = self._websockets[(src, dst)] = _WebSocket(from_client=False)
            return found
        if data and _UPGRADE.match(data[:4096]):
            self._websockets[(src, dst)] = found = _WebSocket(from_client=True)
            return found
        if data:
            self._plain.add((src, dst))
            self._plain.add((dst, src))
        return None

    def _sctp_chunks(
        self, segment: Any, src: Address, dst: Address, now: float
    ) -> Iterator[CapturedPayload]:
        sctp = self._dpkt.sctp
        for chunk in segment.chunks:
            if chunk.type != sctp.DATA or len(chunk.data) < 12:
                continue
            # RFC 9260 §3.3.1: TSN(4) stream id(2) stream seq(2) PPID(4), then user
            # data; a user message split over chunks runs from the B flag to the E flag.
            key = (src, dst, int.from_bytes(chunk.data[4:6], "big"))
            part = bytes(chunk.data[12:])
            if chunk.flags & 0x02:  # B: beginning fragment
                self._sctp[key] = [part]
            else:
                self._sctp.setdefault(key, []).append(part)
            if chunk.flags & 0x01:  # E: ending fragment
                yield CapturedPayload(
                    time=now, transport="SCTP", src=src, dst=dst, data=b"".join(self._sctp.pop(key))
                )
