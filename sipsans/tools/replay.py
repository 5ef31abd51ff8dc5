"""Packet captures to SIP traffic: the reading half of pcap replay.

This is the one core module that reads files (DESIGN.md §2). It needs the
optional ``pcap`` extra (dpkt), imported lazily so that ``import sipsans`` never
loads it.

:func:`read_capture` yields every SIP-carrying payload of a pcap or pcapng
file in capture order with its timestamp: UDP datagrams, TCP segments
reassembled per flow (in sequence order, retransmissions and overlaps
dropped), and SCTP DATA chunks. Link types: Ethernet, Linux cooked (SLL and
SLL2), raw IP and BSD loopback; IPv4 and IPv6.

:func:`run_replay` plays one side of a capture: it feeds that side's inbound SIP
traffic into a fresh :class:`~sipsans.Endpoint` in virtual time (capture timestamps
are ``now``), collects the events, and optionally draws a ladder diagram. It is the
whole of ``sipsans replay`` and ``python -m sipsans.tools.replay``; the CLI only prints.
"""

from __future__ import annotations

import random
import re
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import EndpointConfig
from ..errors import RemoteProtocolError
from ..message.framing import StreamFramer
from ..message.parser import parse_message
from ..transaction.endpoint import Endpoint
from ..transaction.events import MalformedMessage, RequestReceived, ResponseReceived
from ..transaction.transport import ConnHandle
from ..ua.events import Event
from .ladder import Arrow, message_label, render_ladder

#: Called as ``progress(bytes_read, total_bytes)`` while a capture is read.
Progress = Callable[[int, int], None]

__all__ = [
    "CapturedPayload",
    "Progress",
    "ReplayReport",
    "main",
    "parse_address",
    "read_capture",
    "replay_transcript_file",
    "run_replay",
]

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
    raise ValueError(f"{getattr(handle, 'name', 'input')}: not a pcap or pcapng capture")


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


#: Frames between two progress reports.
_PROGRESS_EVERY = 2000


def read_capture(
    path: str | Path, *, progress: Progress | None = None
) -> Iterator[CapturedPayload]:
    """Yield the UDP, TCP and SCTP payloads of a pcap/pcapng file in capture order.

    ``progress(bytes_read, total_bytes)`` is called every few thousand frames and
    once at the end, for a progress bar on large captures. Raises ValueError for a
    file that is neither pcap nor pcapng, or has an unsupported link type.
    """
    dpkt = _dpkt()
    flows: dict[tuple[Address, Address], _TcpFlow] = {}
    streams: dict[frozenset[Address], int] = {}
    fragments: dict[tuple[Address, Address, int], list[bytes]] = {}
    path = Path(path)
    total = path.stat().st_size
    with path.open("rb") as handle:
        reader = _open_reader(dpkt, handle)
        linktype = reader.datalink()
        for count, (timestamp, frame) in enumerate(reader, start=1):
            if progress is not None and count % _PROGRESS_EVERY == 0:
                progress(handle.tell(), total)
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
    if progress is not None:
        progress(total, total)


# -- playing one side of a capture ---------------------------------------------------------

#: A party given as (host, port); port None matches every port of the host.
Party = tuple[str, int | None]

_REQUEST_LINE = re.compile(rb"^[A-Za-z!%'*+\-.`~_0-9]+ \S+ SIP/2\.0\r?$")
_VIA_SENT_BY = re.compile(
    rb"^(?:via|v)[ \t]*:[ \t]*SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*[A-Za-z-]+[ \t]+"
    rb"(\[[0-9A-Fa-f:.]+\]|[^;:, \t\r\n]+)(?::([0-9]+))?",
    re.IGNORECASE | re.MULTILINE,
)
_SIP_PORTS = (5060, 5061)


def _normal_host(host: str) -> str:
    import ipaddress  # noqa: PLC0415

    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        return bare.lower()


def parse_address(text: str) -> Party:
    """``"HOST:PORT"``, ``"[IPv6]:PORT"``, ``"HOST"`` or a bare IPv6 address -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not host or (port and not (port.isascii() and port.isdigit())):
        raise ValueError(f"not an address: {text!r} (expected HOST, HOST:PORT or [IPv6]:PORT)")
    return (_normal_host(host), int(port) if port else None)


def _matches(party: Party, address: Address) -> bool:
    return _normal_host(address[0]) == party[0] and party[1] in (None, address[1])


def _show(address: Address) -> str:
    host = address[0]
    return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"


def _is_request(data: bytes) -> bool:
    return bool(_REQUEST_LINE.match(data.lstrip(b"\r\n").split(b"\n", 1)[0]))


def _looks_like_sip(payload: CapturedPayload) -> bool:
    head = payload.data.lstrip(b"\r\n")[:200].split(b"\n", 1)[0]
    return b"SIP/2.0" in head or payload.src[1] in _SIP_PORTS or payload.dst[1] in _SIP_PORTS


@dataclass(frozen=True, slots=True)
class _Side:
    party: Party
    advertised: tuple[str, int]


def _pick_side(path: Path, as_address: str | None) -> _Side | None:
    """The party sipsans plays, and the sent-by its own requests carry (for responses)."""
    party = parse_address(as_address) if as_address is not None else None
    sent_by: tuple[str, int] | None = None
    for payload in read_capture(path):
        if not (payload.data and _looks_like_sip(payload) and _is_request(payload.data)):
            continue
        if party is None:
            party = (_normal_host(payload.dst[0]), payload.dst[1])
        if _matches(party, payload.src):
            match = _VIA_SENT_BY.search(payload.data)
            if match is not None:
                port = int(match.group(2)) if match.group(2) else payload.src[1]
                sent_by = (match.group(1).decode("ascii", "replace"), port)
                break
    if party is None:
        return None
    if sent_by is None or not 0 < sent_by[1] < 65536:
        sent_by = (party[0], party[1] or 5060)
    return _Side(party, sent_by)


@dataclass
class ReplayReport:
    """What :func:`run_replay` saw. ``problems`` lists the unexpected errors."""

    path: str
    #: The party sipsans played, shown as HOST:PORT (or HOST), or None: no SIP found.
    played: str | None
    #: The other parties that exchanged SIP with it, in order of appearance.
    peers: list[str] = field(default_factory=list)
    #: Payloads read from the capture, and those fed to the endpoint.
    payloads: int = 0
    fed: int = 0
    #: Every event the endpoint emitted, with the capture time it emitted it at.
    events: list[tuple[float, Event]] = field(default_factory=list)
    #: What the endpoint itself would have sent (e.g. 100 Trying), not sent anywhere.
    transmits: int = 0
    #: Exceptions that escaped the endpoint (always a bug), with tracebacks.
    errors: list[str] = field(default_factory=list)
    #: True when malformed messages are expected in this capture.
    expect_malformed: bool = False
    check: bool = False
    ladder: str | None = None

    @property
    def malformed(self) -> list[MalformedMessage]:
        return [e for _, e in self.events if isinstance(e, MalformedMessage)]

    @property
    def problems(self) -> list[str]:
        """Exceptions, and MalformedMessage events unless they were expected."""
        found = [f"exception: {text.splitlines()[-1]}" for text in self.errors]
        if not self.expect_malformed:
            found += [
                f"malformed message from {_show(m.source.remote)}: {m.error}"
                for m in self.malformed
            ]
        return found

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        """0, or 1 under ``check`` when there were problems (what ``--check`` exits with)."""
        return 1 if self.check and self.problems else 0

    def format_events(self) -> str:
        """One line per event: capture time, event type and what it is about."""
        if not self.events:
            return ""
        base = self.events[0][0]
        return "".join(f"{t - base:10.3f}  {_describe(e)}\n" for t, e in self.events)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for _, event in self.events:
            counts[type(event).__name__] = counts.get(type(event).__name__, 0) + 1
        kinds = ", ".join(f"{n} {k}" for k, n in counts.items()) or "no events"
        lines = [
            f"{self.path}: played {self.played or '(no SIP found)'}"
            f" against {', '.join(self.peers) or 'nobody'}",
            f"{self.payloads} payloads, {self.fed} fed; {kinds}; {self.transmits} transmits",
        ]
        lines += [f"PROBLEM {p}" for p in self.problems]
        if self.check:
            lines.append("check: " + ("ok" if self.ok else f"{len(self.problems)} problem(s)"))
        return "\n".join(lines) + "\n"


def _describe(event: Event) -> str:
    name = type(event).__name__
    if isinstance(event, RequestReceived):
        req = event.request
        src = f"{_show(event.source.remote)}/{event.source.transport}"
        return f"{name} {req.method} from {src}"
    if isinstance(event, ResponseReceived):
        resp = event.response
        return f"{name} {resp.status_code} {resp.reason} from {_show(event.source.remote)}"
    if isinstance(event, MalformedMessage):
        return f"{name} from {_show(event.source.remote)}: {event.error} (hint {event.status_hint})"
    return f"{name} {event!r}"


class _Labeller:
    """Splits both directions of the capture into messages for the ladder."""

    def __init__(self) -> None:
        self.framers: dict[tuple[int | None, Address], StreamFramer] = {}

    def messages(self, payload: CapturedPayload) -> list[bytes]:
        if payload.transport != "TCP":
            return [payload.data] if payload.data else []
        framer = self.framers.setdefault((payload.stream, payload.src), StreamFramer())
        out: list[bytes] = []
        if framer.failed:
            return out
        try:
            framer.receive_data(payload.data)
            while (frame := framer.next_frame()) is not None:
                out.append(frame)
        except RemoteProtocolError:
            out.append(b"(framing error)")
        return out


def _note(data: bytes) -> str:
    if not data.strip(b"\r\n"):
        return ""
    try:
        parse_message(data)
    except RemoteProtocolError as exc:
        text = str(exc)
        return f"[malformed: {text[:70]}{'...' if len(text) > 70 else ''}]"
    except Exception as exc:  # a parser bug: the ladder still gets drawn, the feed reports it
        return f"[parser raised {type(exc).__name__}]"
    return ""


def run_replay(
    path: str | Path,
    *,
    as_address: str | None = None,
    check: bool = False,
    ladder: bool = False,
    progress: Progress | None = None,
    expect_malformed: bool = False,
    config: EndpointConfig | None = None,
    record: Callable[[str], object] | None = None,
    make_core: Callable[[EndpointConfig], Any] | None = None,
) -> ReplayReport:
    """Play one side of a capture through a fresh Endpoint in virtual time.

    ``as_address`` (``"HOST:PORT"``, ``"HOST"``, ``"[IPv6]:PORT"``) names the side
    sipsans plays; by default it is the side that receives the first request. Its
    inbound SIP traffic is fed in capture order with the capture time as ``now``:
    UDP datagrams with ``receive_datagram``, SCTP messages the same way with
    transport ``"SCTP"``, and each TCP connection through ``connection_made`` and
    ``receive_stream`` (FIN is EOF). Due timers fire as capture time passes.
    Exceptions escaping the endpoint are caught and reported (they are bugs).

    ``check`` makes :attr:`ReplayReport.exit_code` non-zero when there are problems:
    exceptions, or MalformedMessage events unless ``expect_malformed``. ``ladder``
    fills :attr:`ReplayReport.ladder` with an ASCII diagram of every SIP message to
    or from the played side. ``progress(bytes_read, total)`` reports reading
    progress; ``record`` gets the transcript lines (see :mod:`sipsans.tools.trace`) of the
    session, so a capture becomes a byte-for-byte regression test.

    ``config`` replaces the Endpoint configuration (by default it advertises the
    sent-by of the played side's own requests, so that responses to them match).
    ``make_core(config)`` builds something else to play the side, e.g. a UserAgent
    on an Endpoint: anything with the Endpoint's pull surface.
    """
    path = Path(path)
    report = ReplayReport(str(path), None, check=check, expect_malformed=expect_malformed)
    side = _pick_side(path, as_address)
    if side is None:
        for _ in read_capture(path, progress=progress):
            report.payloads += 1
        return report
    host, port = side.party
    report.played = (
        f"[{host}]:{port}" if ":" in host and port else f"{host}:{port}" if port else host
    )
    if config is None:
        config = EndpointConfig(
            advertised_host=side.advertised[0], advertised_port=side.advertised[1]
        )
    core: Any = (
        make_core(config) if make_core is not None else Endpoint(config, rng=random.Random(0))
    )
    if record is not None:
        from .trace import Recorder  # noqa: PLC0415

        core = Recorder(core, seed=0, write=record, keep=False)
    conns: dict[int | None, ConnHandle] = {}
    parties: list[str] = [report.played]
    arrows: list[Arrow] = []
    labeller = _Labeller() if ladder else None
    now = float("-inf")

    def drain() -> None:
        for event in core.events():
            report.events.append((now, event))
        report.transmits += len(core.transmits())

    def feed(payload: CapturedPayload | None, data: bytes = b"") -> None:
        """One input (a timer tick when ``payload`` is None); exceptions are reported."""
        try:
            if payload is None:
                core.handle_timer(now=now)
            elif payload.transport == "TCP":
                if payload.stream not in conns:
                    conns[payload.stream] = core.connection_made(
                        transport="TCP", remote=payload.src, local=payload.dst, now=now
                    )
                core.receive_stream(conns[payload.stream], data, now=now)
            else:
                core.receive_datagram(
                    data, remote=payload.src, local=payload.dst, transport=payload.transport,
                    now=now,
                )  # fmt: skip
        except Exception:
            report.errors.append(f"t={now}: " + traceback.format_exc())
        drain()

    for payload in read_capture(path, progress=progress):
        report.payloads += 1
        now = max(now, payload.time)
        deadline = core.get_next_timer()
        if deadline is not None and deadline <= now:
            feed(None)
        inbound = _matches(side.party, payload.dst)
        outbound = _matches(side.party, payload.src)
        if not (inbound or outbound) or not _looks_like_sip(payload):
            continue
        peer = _show(payload.src if inbound else payload.dst)
        if peer not in parties:
            parties.append(peer)
            report.peers.append(peer)
        if labeller is not None:
            a, b = (parties.index(peer), 0) if inbound else (0, parties.index(peer))
            arrows += [
                Arrow(payload.time, a, b, message_label(m), _note(m))
                for m in labeller.messages(payload)
            ]
        if not inbound:
            continue
        report.fed += 1
        if payload.data:  # (an empty datagram carries nothing; an empty TCP segment is a FIN)
            feed(payload, payload.data)
        if payload.fin:
            feed(payload, b"")  # EOF
    if ladder:
        report.ladder = render_ladder(parties, arrows)
    return report


def replay_transcript_file(path: str | Path, **kwargs: Any) -> Any:
    """:func:`sipsans.tools.trace.replay_transcript` on a transcript file (trace.py reads no files).

    Keyword arguments (``make_core=``) pass through; returns its ``ReplayResult``.
    """
    from .trace import replay_transcript  # noqa: PLC0415

    with Path(path).open(encoding="utf-8") as lines:
        return replay_transcript(lines, **kwargs)


def _print_progress(done: int, total: int) -> None:
    import sys  # noqa: PLC0415

    percent = 100 * done // total if total else 100
    print(f"\rreading capture: {percent:3d}%", end="\n" if done >= total else "", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sipsans.tools.replay FILE [--as HOST:PORT] [--check] [--ladder] ...``.

    FILE is a pcap/pcapng capture, or a sipsans transcript (JSONL, see
    :mod:`sipsans.tools.trace`), which is replayed and compared byte for byte.
    """
    import argparse  # noqa: PLC0415
    import sys  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        prog="python -m sipsans.tools.replay",
        description="Feed one side of a SIP capture through a sipsans Endpoint in virtual "
        "time and print its events (or replay a sipsans transcript byte for byte).",
    )
    parser.add_argument("file", help="a .pcap/.pcapng capture or a .jsonl transcript")
    parser.add_argument("--as", dest="as_address", metavar="HOST:PORT",
                        help="the side to play (default: who gets the first request)")  # fmt: skip
    parser.add_argument("--check", action="store_true",
                        help="exit 1 on unexpected errors (exceptions, bad input)")  # fmt: skip
    parser.add_argument("--expect-malformed", action="store_true",
                        help="malformed messages are expected (not a --check error)")  # fmt: skip
    parser.add_argument("--ladder", action="store_true", help="print a ladder diagram")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    args = parser.parse_args(argv)
    path = Path(args.file)
    with path.open("rb") as handle:
        first = handle.read(1)
    if first == b"{":
        result = replay_transcript_file(path)
        print(result.describe())
        return 0 if result.ok else 1
    big = path.stat().st_size > 16 * 1024 * 1024
    try:
        report = run_replay(
            path,
            as_address=args.as_address,
            check=args.check,
            ladder=args.ladder,
            expect_malformed=args.expect_malformed,
            progress=_print_progress if big and sys.stderr.isatty() else None,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.ladder and report.ladder:
        print(report.ladder, end="")
    elif not args.quiet:
        print(report.format_events(), end="")
    for error in report.errors:
        print(error, file=sys.stderr, end="")
    print(report.summary(), end="")
    return report.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
