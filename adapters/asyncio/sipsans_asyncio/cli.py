"""The ``sipsans`` command line.

Subcommands:

``demo``
    A UAC and a UAS in one process making a full call over real loopback UDP
    (INVITE/100/180/200/ACK/BYE/200 with SDP), printed as a ladder diagram
    (:mod:`sipsans_asyncio.demo`). ``demo --parse`` instead parses a realistic INVITE
    with :func:`sipsans.parse_message`, prints what the parser understood and the
    message serialised again.

``options URI`` / ``message URI TEXT``
    Send one request and print the final response (exit 0 on 2xx, 1 otherwise).

``uas``
    Answer calls (``--ring``, ``--reject CODE``, ``--calls N``) and OPTIONS; with
    ``--register AOR`` (``--user/--password``) register the AOR first from the same
    socket, so a proxy's location lookup routes calls here, and unregister on exit.

``call URI``
    Call, stay ``--duration`` seconds, hang up (Ctrl-C hangs up too).

``register AOR``
    Register AOR (``--user/--password``, ``--expires``), stay ``--duration`` seconds,
    unregister.

``registrar``
    Accept registrations (RFC 3261 §10.3) with digest authentication for each
    ``--user NAME:PASSWORD``; print every REGISTER's answer and the bindings.

``replay FILE``
    Feed one side of a pcap capture (or a sipsans transcript) through an Endpoint in
    virtual time (:func:`sipsans.tools.replay.run_replay`): ``--as HOST:PORT``, ``--check``,
    ``--ladder``.

Common flags: ``--listen HOST:PORT``, ``--transport udp|tcp|tls|ws``, ``--trace FILE``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from typing import TextIO

import sipsans
from sipsans.auth import ALGORITHMS

from .commands import CommandError, run_command

__all__ = ["SAMPLE_INVITE", "main"]

_SAMPLE_SDP = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 192.0.2.101\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.101\r\n"
    b"t=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
    b"a=sendrecv\r\n"
)

#: An INVITE as a softphone would send it through an outbound proxy: two Vias (the proxy
#: added the top one, with received/rport filled in per RFC 3581), a Record-Route, compact
#: and long header names mixed, and an SDP offer whose Content-Length is exact.
SAMPLE_INVITE: bytes = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP proxy.atlanta.example.com:5060;branch=z9hG4bK2d4790.1\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.101:5060;received=198.51.100.7;rport=62044"
    b";branch=z9hG4bK74bf9\r\n"
    b"Record-Route: <sip:proxy.atlanta.example.com;lr>\r\n"
    b"Max-Forwards: 69\r\n"
    b'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n'
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b"Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"m: <sip:alice@192.0.2.101:5060;transport=udp>;expires=3600\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER, NOTIFY\r\n"
    b"Supported: replaces, timer\r\n"
    b"User-Agent: sipsans-demo/0.1\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(_SAMPLE_SDP)).encode("ascii") + b"\r\n"
    b"\r\n" + _SAMPLE_SDP
)


def _version() -> str:
    try:
        return metadata.version("sipsans")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _or_none(value: object) -> str:
    return "(none)" if value is None or value == "" else str(value)


def _quoted(value: str | None) -> str:
    return "(none)" if not value else f'"{value}"'


def _content_type(headers: Iterable[tuple[str, str]]) -> str | None:
    for name, value in headers:
        if name.lower() in ("content-type", "c"):
            return value.strip()
    return None


def _wire_lines(data: bytes) -> list[str]:
    """The wire form as printable lines: CRLF ends a line, other bytes are shown escaped."""
    text = data.decode("utf-8", errors="backslashreplace")
    lines = text.split("\r\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _run_parse_demo(out: TextIO) -> int:
    print(f"sipsans {_version()} demo --parse: parse one INVITE and write it back.", file=out)
    print(file=out)

    try:
        msg = sipsans.parse_message(SAMPLE_INVITE)
    except sipsans.RemoteProtocolError as exc:
        print(f"the parser rejected the sample: {exc} (would answer {exc.status_hint})", file=out)
        return 1

    if isinstance(msg, sipsans.Request):
        start_line = f"{msg.method} {msg.uri} SIP/2.0"
    else:
        start_line = f"SIP/2.0 {msg.status_code} {msg.reason}"
    headers = list(msg.headers)

    print("Start line", file=out)
    print(f"  {start_line}", file=out)
    print(f"Headers ({len(headers)}, in wire order, names as received)", file=out)
    width = max((len(name) for name, _ in headers), default=0)
    for name, value in headers:
        print(f"  {name:<{width}} : {value}", file=out)

    print("Typed fields", file=out)
    rows: list[tuple[str, str]] = []
    if msg.vias:
        top = msg.vias[0]
        port = "(default)" if top.port is None else str(top.port)
        rows.append(
            (
                "top Via",
                f"transport={top.transport} host={top.host} port={port}"
                f" branch={_or_none(top.branch)}",
            )
        )
    rows.append(("Via count", str(len(msg.vias))))
    for label, addr in (("From", msg.from_), ("To", msg.to)):
        rows.append(
            (
                label,
                f"display name={_quoted(addr.display_name)} uri={addr.uri}"
                f" tag={_or_none(addr.tag)}",
            )
        )
    rows.append(("Call-ID", msg.call_id))
    rows.append(("CSeq", f"seq={msg.cseq.seq} method={msg.cseq.method}"))
    rows.append(("Max-Forwards", _or_none(msg.max_forwards)))
    rows.extend(("Contact", str(contact.uri)) for contact in msg.contacts)
    content_type = _content_type(headers)
    rows.append(
        ("Body", f"{len(msg.body)} bytes" + (f" of {content_type}" if content_type else ""))
    )
    label_width = max(len(label) for label, _ in rows)
    for label, text in rows:
        print(f"  {label:<{label_width}}  {text}", file=out)

    wire = bytes(msg)
    same = "identical to the input" if wire == SAMPLE_INVITE else "differs from the input"
    print(f"Serialised again ({len(wire)} bytes, {same})", file=out)
    for line in _wire_lines(wire):
        print(f"  | {line}", file=out)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from sipsans.tools import replay  # noqa: PLC0415 - reads files; only this command needs it

    argv = [args.file]
    if args.as_address:
        argv += ["--as", args.as_address]
    for flag in ("check", "expect_malformed", "ladder", "quiet"):
        if getattr(args, flag):
            argv.append("--" + flag.replace("_", "-"))
    try:
        return replay.main(argv)
    except OSError as exc:
        print(f"sipsans: error: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sipsans",
        description="sipsans: a sans-IO SIP stack. Command-line tools on its asyncio adapter.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="a full call between two sipsans UAs over loopback UDP, as a ladder diagram",
        description="Run a UAC and a UAS in this process, bound to 127.0.0.1 (free ports), make"
        " a call with SDP, hang up, and print the exchange as a ladder diagram.",
    )
    demo.add_argument(
        "--parse", action="store_true", help="instead parse a sample INVITE and show its fields"
    )
    demo.add_argument("-v", "--verbose", action="store_true", help="also print every message")
    replay = commands.add_parser(
        "replay",
        help="feed a pcap capture (or transcript) through an Endpoint in virtual time",
        description="Play one side of a SIP capture through a sipsans Endpoint in virtual time"
        " and print its events or a ladder (a .jsonl transcript is replayed byte for byte).",
    )
    replay.add_argument("file", help="a .pcap/.pcapng capture or a .jsonl transcript")
    replay.add_argument("--as", dest="as_address", metavar="HOST:PORT",
                        help="the side to play (default: who gets the first request)")  # fmt: skip
    replay.add_argument("--check", action="store_true",
                        help="exit 1 on unexpected errors (exceptions, bad input)")  # fmt: skip
    replay.add_argument("--expect-malformed", action="store_true",
                        help="malformed messages are expected (not a --check error)")  # fmt: skip
    replay.add_argument("--ladder", action="store_true", help="print a ladder diagram")
    replay.add_argument("--quiet", action="store_true", help="print only the summary")
    _add_network_commands(commands)
    return parser


def _common(sub: argparse.ArgumentParser, *, listen: str) -> None:
    sub.add_argument(
        "--listen", default=listen, metavar="HOST:PORT", help=f"bind address ({listen})"
    )
    sub.add_argument("--advertise", metavar="HOST:PORT", help="address put in Via/Contact")
    sub.add_argument("--transport", choices=["udp", "tcp", "tls", "ws", "wss"], type=str.lower)
    sub.add_argument("--trace", metavar="FILE", help="append a JSONL transcript to FILE")
    sub.add_argument("--timeout", type=float, default=32.0, help="seconds to wait for an answer")
    sub.add_argument("--cafile", help="CA bundle to verify TLS peers with")
    sub.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    sub.add_argument("--cert", help="TLS certificate chain (PEM) to serve")
    sub.add_argument("--key", help="TLS private key (PEM)")
    sub.add_argument("-v", "--verbose", action="store_true")
    sub.add_argument(
        "--uvloop", action="store_true", help="run on uvloop when it is installed (sipsans[fast])"
    )


def _registration_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--registrar", metavar="URI", help="registrar URI (default: the AOR's domain)")
    sub.add_argument("--expires", type=int, default=3600, help="binding lifetime asked for")
    sub.add_argument("--user", help="digest user name")
    sub.add_argument("--password", help="digest password")


def _add_network_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser("options", help="send OPTIONS and print the answer")
    sub.add_argument("uri")
    _common(sub, listen="0.0.0.0:0")
    sub = commands.add_parser("message", help="send a MESSAGE (RFC 3428) with a text body")
    sub.add_argument("uri")
    sub.add_argument("text")
    _common(sub, listen="0.0.0.0:0")
    sub = commands.add_parser("uas", help="answer calls and OPTIONS")
    _common(sub, listen="127.0.0.1:5060")
    sub.add_argument("--ring", type=float, default=0.0, help="send 180, answer after SECONDS")
    sub.add_argument("--reject", type=int, metavar="CODE", help="reject every call with CODE")
    sub.add_argument("--calls", type=int, default=0, help="exit after N calls (0: never)")
    sub.add_argument(
        "--register",
        metavar="AOR",
        help="register AOR from this UA first (so calls to it arrive here); unregister on exit",
    )
    _registration_options(sub)
    sub = commands.add_parser("call", help="call URI, talk --duration seconds, hang up")
    sub.add_argument("uri")
    _common(sub, listen="0.0.0.0:0")
    sub.add_argument("--duration", type=float, default=5.0)
    sub.add_argument("--user", help="digest user name")
    sub.add_argument("--password", help="digest password")
    sub = commands.add_parser("register", help="register AOR, wait --duration, unregister")
    sub.add_argument("aor", metavar="AOR", help="address of record, e.g. sip:alice@example.com")
    _common(sub, listen="0.0.0.0:0")
    _registration_options(sub)
    sub.add_argument(
        "--duration", type=float, default=0.0, help="stay registered SECONDS before unregistering"
    )
    sub = commands.add_parser(
        "registrar",
        help="accept registrations, with digest authentication for --user NAME:PASSWORD",
        description="A registrar (RFC 3261 §10.3): answers REGISTER, keeps the bindings in"
        " memory, prints each answer. With --user, every REGISTER must authenticate (digest,"
        " RFC 3261 §22) as the AOR's user.",
    )
    _common(sub, listen="127.0.0.1:5060")
    sub.add_argument(
        "--user",
        action="append",
        metavar="NAME:PASSWORD",
        help="a user who may register sip:NAME@... (repeatable)",
    )
    sub.add_argument("--realm", help="digest realm (default: the first --domain, else the host)")
    sub.add_argument("--domain", action="append", help="a domain served (repeatable; default: any)")
    sub.add_argument(
        "--algorithm",
        action="append",
        choices=ALGORITHMS,
        metavar="ALG",
        help="digest algorithm offered (repeatable; default: SHA-256 and MD5)",
    )
    sub.add_argument("--min-expires", type=int, default=60, help="shortest binding (423 below)")
    sub.add_argument("--max-expires", type=int, default=7200, help="longest binding granted")
    sub.add_argument(
        "--requests", type=int, default=0, help="exit after answering N REGISTERs (0: never)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sipsans`` command; returns the process exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.parse:
            return _run_parse_demo(sys.stdout)
        from .demo import run_demo  # noqa: PLC0415 - only the demo needs it

        return run_demo(sys.stdout, verbose=args.verbose)
    if args.command == "replay":
        return _replay(args)
    if args.command in ("options", "message", "uas", "call", "register", "registrar"):
        if args.command == "uas" and args.reject is not None and not 300 <= args.reject <= 699:
            parser.error("--reject takes a final status code 300-699")
        if args.command == "registrar" and not 0 < args.min_expires <= args.max_expires:
            parser.error("need 0 < --min-expires <= --max-expires")
        try:
            return run_command(args)
        except CommandError as exc:
            parser.error(str(exc))
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
