"""``sipsans demo``: a UAC and a UAS in one process, calling each other over loopback UDP.

Both are ``sipsans.UserAgent`` cores on their own :class:`~sipsans_asyncio.Session`
(each bound to 127.0.0.1 port 0). Alice calls Bob with an SDP offer, Bob rings and
answers with SDP, Alice hangs up after a moment. Alice's session records its I/O in
a transcript (the ``trace=`` option, kept in memory); every datagram in that transcript
becomes an arrow of the ladder diagram printed at the end (:mod:`sipsans.tools.ladder`).

``demo --parse`` instead parses a realistic INVITE (:data:`SAMPLE_INVITE`) with
:func:`sipsans.parse_message`, prints what the parser understood and the message
serialised again.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import sipsans
from sipsans.tools.ladder import Arrow, message_label, render_ladder
from sipsans_session import BufferedSystemRandom, CallFailed, Listen

from ..session import Session
from .common import Subparsers, add_subcommand, version

__all__ = ["NAME", "OFFER_SDP", "SAMPLE_INVITE", "add_parser", "run", "run_demo"]

NAME = "demo"

#: Alice's offer: audio, PCMU/PCMA and DTMF events (no media actually flows).
OFFER_SDP = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
)
#: Bob's answer.
ANSWER_SDP = (
    b"v=0\r\n"
    b"o=bob 2808844564 2808844564 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 3456 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)

Address = tuple[str, int]


def add_parser(commands: Subparsers) -> None:
    demo = add_subcommand(
        commands,
        NAME,
        help="a full call between two sipsans UAs over loopback UDP, as a ladder diagram",
        description="Run a UAC and a UAS in this process, bound to 127.0.0.1 (free ports),"
        " make a call with SDP, hang up, and print the exchange as a ladder diagram.\n\n"
        "exit status: 0 the call went through; 1 it did not",
    )
    demo.add_argument(
        "--parse", action="store_true", help="instead parse a sample INVITE and show its fields"
    )
    demo.add_argument("-v", "--verbose", action="store_true", help="also print every message")


def run(args: argparse.Namespace) -> int:
    if args.parse:
        return run_parse_demo(sys.stdout)
    return run_demo(sys.stdout, verbose=args.verbose)


def _user_agent(name: str) -> Any:
    def make(addr: Address) -> sipsans.UserAgent:
        # trying_delay=0: the INVITE server transaction sends 100 Trying at once (it
        # would otherwise wait 200 ms for the application's own provisional answer).
        config = sipsans.EndpointConfig(
            advertised_host=addr[0], advertised_port=addr[1], trying_delay=0.0
        )
        rng = BufferedSystemRandom()  # (cryptographic: RFC 3261 §19.3)
        endpoint = sipsans.Endpoint(config, rng=rng)
        return sipsans.UserAgent(endpoint, identity=f"sip:{name}@{addr[0]}", rng=rng)

    return make


async def _bob(bob: Session[Any], ring: float) -> None:
    async for event in bob:
        if isinstance(event, sipsans.IncomingCall):
            call = bob.wrap(event.dialog)
            await call.ringing()
            await asyncio.sleep(ring)
            await call.accept(body=ANSWER_SDP, wait=False)


def _note(data: bytes) -> str:
    try:
        message = sipsans.parse_message(data)
    except sipsans.RemoteProtocolError:
        return ""
    if message.body:
        kind = "offer" if isinstance(message, sipsans.Request) else "answer"
        return f"SDP {kind} ({len(message.body)} bytes)"
    return ""


def _arrows(transcript: str, verbose: list[bytes] | None) -> list[Arrow]:
    arrows: list[Arrow] = []
    for line in transcript.splitlines():
        record = json.loads(line)
        kind = record.get("kind")
        if kind not in ("transmit", "datagram_in"):
            continue
        data = base64.b64decode(record["data"])
        src, dst = (0, 1) if kind == "transmit" else (1, 0)
        arrows.append(Arrow(float(record["t"]), src, dst, message_label(data), _note(data)))
        if verbose is not None:
            verbose.append(data)
    return arrows


async def _demo(out: TextIO, *, talk: float, ring: float, verbose: bool) -> int:
    transcript = io.StringIO()
    udp = [Listen("udp", "127.0.0.1", 0)]
    outcome = ""
    status = 0
    async with (
        Session(_user_agent("bob"), listen=udp) as bob,
        Session(_user_agent("alice"), listen=udp, trace=transcript) as alice,
    ):
        a_host, a_port = alice.addresses["UDP"]
        b_host, b_port = bob.addresses["UDP"]
        print(
            f"alice (UDP {a_host}:{a_port}) calls bob (UDP {b_host}:{b_port}) over loopback;"
            f" bob rings {ring:g} s, answers, alice hangs up after {talk:g} s",
            file=out,
        )
        answering = asyncio.create_task(_bob(bob, ring))
        try:
            async with asyncio.timeout(10):
                dialog = await alice.invite(f"sip:bob@{b_host}:{b_port}", body=OFFER_SDP)
                await asyncio.sleep(talk)
                response = await dialog.bye(reason='Q.850;cause=16;text="Normal call clearing"')
            code = response.status_code if response is not None else "none"
            reason = dialog.terminated_reason
            outcome = f"call ended: {reason.name if reason else '?'} (BYE answered {code})"
        except CallFailed as exc:
            outcome, status = str(exc), 1
        except TimeoutError:
            outcome, status = "the demo call timed out", 1
        finally:
            answering.cancel()
    wire: list[bytes] | None = [] if verbose else None
    arrows = _arrows(transcript.getvalue(), wire)
    print(file=out)
    print(render_ladder([f"alice :{a_port}", f"bob :{b_port}"], arrows), end="", file=out)
    print(file=out)
    print(outcome, file=out)
    for data in wire or ():
        print(file=out)
        for text in data.decode("utf-8", "backslashreplace").split("\r\n"):
            print(f"  | {text}", file=out)
    return status


def run_demo(out: TextIO, *, talk: float = 0.3, ring: float = 0.2, verbose: bool = False) -> int:
    """Run the demo call and print its ladder to ``out``; returns the exit status."""
    return asyncio.run(_demo(out, talk=talk, ring=ring, verbose=verbose))


# -- demo --parse -------------------------------------------------------------------------

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


def run_parse_demo(out: TextIO) -> int:
    """Parse :data:`SAMPLE_INVITE`, print its fields and its wire form again."""
    print(f"sipsans {version()} demo --parse: parse one INVITE and write it back.", file=out)
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
