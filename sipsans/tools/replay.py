"""Replaying captures and transcripts: ``sipsans replay``.

With :mod:`.capture` (which reads the capture files: link layers, reassembly,
WebSocket), the one core module that reads files (DESIGN.md §2). Optional extras are
imported only when a capture needs them: ``pcap`` (dpkt), and ``ws`` (wsproto) for SIP
over WebSocket.

:func:`run_replay` plays one side of a capture: it feeds that side's inbound SIP
traffic into a fresh :class:`~sipsans.Endpoint` in virtual time (capture timestamps
are ``now``), collects the events, and optionally draws a ladder diagram. It is the
whole of ``sipsans replay`` and ``python -m sipsans.tools.replay``; the CLI only prints.
"""

from __future__ import annotations

import random
import re
import traceback
from collections.abc import Callable
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import EndpointConfig
from ..errors import RemoteProtocolError
from ..message.framing import StreamFramer
from ..transaction.endpoint import Endpoint
from ..transaction.events import MalformedMessage, RequestReceived, ResponseReceived
from ..transaction.transport import ConnHandle
from ..ua.events import Event
from .capture import CapturedPayload, MissingExtra, Progress, read_capture
from .sequence import Sent, Sequence, from_transcript, render_text

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
#: Parties of a capture named in the problem of an ``--as`` that is not in it.
_PARTIES_SHOWN = 8


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
    """What :func:`run_replay` saw. ``problems`` lists what ``--check`` fails on."""

    path: str
    #: The party sipsans played, shown as HOST:PORT (or HOST), or None: no SIP found.
    played: str | None
    #: The other parties that exchanged SIP with it, in order of appearance.
    peers: list[str] = field(default_factory=list)
    #: Payloads read from the capture, and those fed to the endpoint.
    payloads: int = 0
    fed: int = 0
    #: SIP payloads to or from the played side (0 with an ``--as`` not in the capture).
    matched: int = 0
    #: The ``--as`` asked for, if any.
    asked: str | None = None
    #: Every party that sent or received SIP in the capture (the first few), to say
    #: which ``--as`` would have worked.
    parties: list[str] = field(default_factory=list)
    #: Every event the endpoint emitted, with the capture time it emitted it at.
    events: list[tuple[float, Event]] = field(default_factory=list)
    #: What the endpoint itself would have sent (e.g. 100 Trying), not sent anywhere.
    transmits: int = 0
    #: Exceptions that escaped the endpoint (always a bug), with tracebacks.
    errors: list[str] = field(default_factory=list)
    #: True when malformed messages are expected in this capture.
    expect_malformed: bool = False
    check: bool = False
    #: The messages to and from the played side (for --ladder and --html).
    sequence: Sequence | None = None
    ladder: str | None = None

    @property
    def malformed(self) -> list[MalformedMessage]:
        return [e for _, e in self.events if isinstance(e, MalformedMessage)]

    @property
    def problems(self) -> list[str]:
        """No SIP, an ``--as`` not in the capture, exceptions, and MalformedMessage
        events unless they were expected."""
        found: list[str] = []
        if self.played is None:
            found.append(
                f"no SIP message in the capture ({self.payloads} payloads read: wrong file,"
                " or a link layer or transport sipsans cannot decode)"
            )
        elif self.asked is not None and self.matched == 0:
            others = ", ".join(self.parties) or "none"
            found.append(
                f"--as {self.asked}: no SIP message to or from it in the capture"
                f" (SIP parties seen: {others})"
            )
        found += [f"exception: {text.splitlines()[-1]}" for text in self.errors]
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


class _Framer:
    """Splits both directions of the capture into messages, for the diagrams."""

    def __init__(self) -> None:
        self.framers: dict[tuple[int | None, Address], StreamFramer] = {}

    def messages(self, payload: CapturedPayload) -> list[bytes]:
        if payload.transport != "TCP":
            return [payload.data] if payload.data else []  # (a WebSocket message is one)
        framer = self.framers.setdefault((payload.stream, payload.src), StreamFramer())
        out: list[bytes] = []
        if framer.failed:
            return out
        try:
            framer.receive_data(payload.data)
            while (frame := framer.next_frame()) is not None:
                if frame.strip(b"\r\n"):
                    out.append(frame)
        except RemoteProtocolError:
            out.append(b"(framing error)")
        return out


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
    diagram: bool = False,
) -> ReplayReport:
    """Play one side of a capture through a fresh Endpoint in virtual time.

    ``as_address`` (``"HOST:PORT"``, ``"HOST"``, ``"[IPv6]:PORT"``) names the side
    sipsans plays; by default it is the side that receives the first request. Its
    inbound SIP traffic is fed in capture order with the capture time as ``now``:
    UDP datagrams with ``receive_datagram``, SCTP messages the same way with
    transport ``"SCTP"``, and each TCP (or WebSocket) connection through
    ``connection_made`` and ``receive_stream`` (FIN is EOF). Due timers fire as
    capture time passes. Exceptions escaping the endpoint are caught and reported
    (they are bugs).

    ``check`` makes :attr:`ReplayReport.exit_code` non-zero when there are problems:
    no SIP at all, an ``as_address`` that sent and received none, exceptions, or
    MalformedMessage events unless ``expect_malformed``. ``ladder`` fills
    :attr:`ReplayReport.ladder` with an ASCII diagram of every SIP message to or from
    the played side, grouped by dialog; ``diagram`` (implied by ``ladder``) keeps those
    messages in :attr:`ReplayReport.sequence` (for :func:`sipsans.tools.diagram.render_html`).
    ``progress(bytes_read, total)`` reports reading progress; ``record`` gets the
    transcript lines (see :mod:`sipsans.tools.trace`) of the session, so a capture
    becomes a byte-for-byte regression test.

    ``config`` replaces the Endpoint configuration (by default it advertises the
    sent-by of the played side's own requests, so that responses to them match).
    ``make_core(config)`` builds something else to play the side, e.g. a UserAgent
    on an Endpoint: anything with the Endpoint's pull surface.
    """
    path = Path(path)
    report = ReplayReport(
        str(path), None, check=check, expect_malformed=expect_malformed, asked=as_address
    )
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
    sequence = Sequence([report.played]) if (ladder or diagram) else None
    framer = _Framer() if sequence is not None else None
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
            elif payload.transport in ("TCP", "WS"):
                if payload.stream not in conns:
                    conns[payload.stream] = core.connection_made(
                        transport=payload.transport, remote=payload.src, local=payload.dst,
                        now=now,
                    )  # fmt: skip
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
        if not _looks_like_sip(payload):
            continue
        if len(report.parties) < _PARTIES_SHOWN:
            for address in (payload.src, payload.dst):
                if _show(address) not in report.parties:
                    report.parties.append(_show(address))
        if not (inbound or outbound):
            continue
        report.matched += 1
        peer = _show(payload.src if inbound else payload.dst)
        if peer != report.played and peer not in report.peers:
            report.peers.append(peer)
        if sequence is not None and framer is not None:
            other = sequence.party(peer)
            a, b = (other, 0) if inbound else (0, other)
            sequence.sent += [
                Sent(payload.time, a, b, m, payload.transport) for m in framer.messages(payload)
            ]
        if not inbound:
            continue
        report.fed += 1
        if payload.data:  # (an empty datagram carries nothing; an empty TCP segment is a FIN)
            feed(payload, payload.data)
        if payload.fin:
            feed(payload, b"")  # EOF
    report.sequence = sequence
    if ladder and sequence is not None:
        report.ladder = render_text(sequence)
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


def _write_html(out: str, sequence: Sequence, title: str) -> None:
    from .diagram import render_html  # noqa: PLC0415

    Path(out).write_text(render_html(sequence, title=title), encoding="utf-8")


def _transcript(args: Any) -> int:
    """A transcript: replay it byte for byte; ``--ladder`` and ``--html`` draw it."""
    from .trace import TranscriptError  # noqa: PLC0415

    path = Path(args.file)
    try:
        result = replay_transcript_file(path)
        if args.ladder or args.html:
            with path.open(encoding="utf-8") as lines:
                sequence = from_transcript(lines)
    except (TranscriptError, ValueError) as exc:
        print(f"{path}: not a usable transcript: {exc}")
        return 1 if args.check else 2
    if args.ladder and not args.quiet:
        print(render_text(sequence), end="")
    if args.html:
        _write_html(args.html, sequence, f"{path.name}: {len(sequence.sent)} messages")
    print(f"{path}: {result.describe()}")
    return 0 if result.ok else 1


def main(argv: SequenceOf[str] | None = None, *, prog: str | None = None) -> int:
    """``python -m sipsans.tools.replay FILE [--as HOST:PORT] [--check] [--ladder] ...``.

    FILE is a pcap/pcapng capture, or a sipsans transcript (JSONL, see
    :mod:`sipsans.tools.trace`), which is replayed and compared byte for byte.
    """
    import argparse  # noqa: PLC0415
    import sys  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        prog=prog or "python -m sipsans.tools.replay",
        description="Feed one side of a SIP capture through a sipsans Endpoint in virtual "
        "time and print its events (or replay a sipsans transcript byte for byte).",
    )
    parser.add_argument("file", help="a .pcap/.pcapng capture or a .jsonl transcript")
    parser.add_argument("--as", dest="as_address", metavar="HOST:PORT",
                        help="the side to play (default: who gets the first request)")  # fmt: skip
    parser.add_argument("--check", action="store_true",
                        help="exit 1 on problems (exceptions, malformed, no SIP)")  # fmt: skip
    parser.add_argument("--expect-malformed", action="store_true",
                        help="malformed messages are expected (not a --check error)")  # fmt: skip
    parser.add_argument("--ladder", action="store_true", help="print a ladder diagram")
    parser.add_argument("--html", metavar="OUT", help="write an HTML sequence diagram to OUT")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    args = parser.parse_args(argv)
    path = Path(args.file)
    try:
        with path.open("rb") as handle:
            first = handle.read(1)
        if not first:
            print(f"sipsans: error: {path} is empty", file=sys.stderr)
            return 2
        if first == b"{":
            return _transcript(args)
        big = path.stat().st_size > 16 * 1024 * 1024
        report = run_replay(
            path,
            as_address=args.as_address,
            check=args.check,
            ladder=args.ladder and not args.quiet,
            diagram=bool(args.html),
            expect_malformed=args.expect_malformed,
            progress=_print_progress if big and sys.stderr.isatty() else None,
        )
        if args.html and report.sequence is not None:
            _write_html(args.html, report.sequence, f"{path.name}: played {report.played}")
    except MissingExtra as exc:
        print(f"sipsans: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise  # (our reader went away: not a file we could not read)
    except OSError as exc:
        print(f"sipsans: error: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"sipsans: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        if args.ladder and report.ladder:
            print(report.ladder, end="")
        elif not args.ladder:
            print(report.format_events(), end="")
        for error in report.errors:
            print(error, file=sys.stderr, end="")
    print(report.summary(), end="")
    return report.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
