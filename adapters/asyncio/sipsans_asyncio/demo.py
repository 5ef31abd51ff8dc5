"""``sipsans demo``: a UAC and a UAS in one process, calling each other over loopback UDP.

Both are ``sipsans.UserAgent`` cores on their own :class:`~sipsans_asyncio.Session`
(each bound to 127.0.0.1 port 0). Alice calls Bob with an SDP offer, Bob rings and
answers with SDP, Alice hangs up after a moment. Alice's session records its I/O in
a transcript (the ``trace=`` option, kept in memory); every datagram in that transcript
becomes an arrow of the ladder diagram printed at the end (:mod:`sipsans.tools.ladder`).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any, TextIO

import sipsans
from sipsans.tools.ladder import Arrow, message_label, render_ladder

from .calls import CallFailed
from .rng import BufferedSystemRandom
from .session import Listen, Session

__all__ = ["OFFER_SDP", "run_demo"]

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
