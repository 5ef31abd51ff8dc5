"""The collector tuning of ``sipsans uas`` (sipsans_asyncio.run): ``keep_frozen`` takes the
objects that survive out of the collector's reach, which is only sound if serving calls
makes no reference cycles (a cycle among frozen objects is never collected). These tests
hold the adapter's UAS path to that, and check that ``run(..., tune_gc=True)`` freezes."""

from __future__ import annotations

import asyncio
import gc
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from sipsans_asyncio.cli.main import build_parser
from sipsans_asyncio.cli.stack import Stack, make_session
from sipsans_asyncio.cli.uas import UasHandler


def _sipp_like(n: int, method: str, port: int, to_tag: str = "") -> bytes:
    """A request of sipp's uac scenario (INVITE with SDP, ACK, BYE) for call ``n``."""
    body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    body = body if method == "INVITE" else b""
    lines = [
        f"{method} sip:service@127.0.0.1:{port} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{n}-{method};rport",
        f"From: sipp <sip:sipp@127.0.0.1:5061>;tag={n}",
        f"To: <sip:service@127.0.0.1:{port}>" + (f";tag={to_tag}" if to_tag else ""),
        f"Call-ID: {n}-gc@127.0.0.1",
        f"CSeq: {2 if method == 'BYE' else 1} {method}",
        "Contact: <sip:sipp@127.0.0.1:5061>",
        "Max-Forwards: 70",
        *(["Content-Type: application/sdp"] if body else []),
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
def no_automatic_collection() -> Iterator[None]:
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds stays in gc.garbage
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


async def _reply(client: socket.socket) -> bytes:
    for _ in range(100_000):
        try:
            return client.recv(65536)
        except BlockingIOError:
            await asyncio.sleep(0)  # let the session's reader run
    raise AssertionError("no answer from the UAS")


@pytest.mark.usefixtures("no_automatic_collection")
def test_calls_answered_by_sipsans_uas_leave_no_reference_cycles() -> None:
    args = build_parser().parse_args(["uas", "--listen", "127.0.0.1:0"])

    async def main() -> int:
        session = make_session(args, Stack(args).user_agent, transport="UDP", server=True)
        session.on_event = UasHandler(session, args, media_port=40000).on_event
        answered = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.bind(("127.0.0.1", 0))
            client.setblocking(False)
            async with session:
                address = session.addresses["UDP"]
                client.connect(address)
                port = address[1]
                for n in range(60):
                    if n == 10:  # warmed up (first-use imports, caches): count from here
                        gc.set_debug(0)
                        gc.garbage.clear()
                        gc.collect()  # (what the start-up left is freed, not saved)
                        gc.set_debug(gc.DEBUG_SAVEALL)
                    client.send(_sipp_like(n, "INVITE", port))
                    ok = await _reply(client)
                    assert ok.startswith(b"SIP/2.0 200"), ok[:40]
                    tag = ok.split(b";tag=", 2)[2].split(b"\r\n", 1)[0].decode()
                    client.send(_sipp_like(n, "ACK", port, tag))
                    client.send(_sipp_like(n, "BYE", port, tag))
                    assert (await _reply(client)).startswith(b"SIP/2.0 200")
                    answered += 1
                found = gc.collect()
                assert found == 0, [type(o) for o in gc.garbage][:20]
        return answered

    assert asyncio.run(main()) == 60


def test_run_tuned_for_a_server_freezes_what_survives_every_second() -> None:
    # Process-wide settings: checked in a fresh interpreter.
    code = (
        "import asyncio, gc\n"
        "from sipsans_asyncio.run import FREEZE_INTERVAL, run\n"
        "kept = []\n"
        "async def main():\n"
        "    start = gc.get_freeze_count()\n"
        "    kept.extend([] for _ in range(1000))  # survivors made after start-up\n"
        "    await asyncio.sleep(FREEZE_INTERVAL * 1.5)\n"
        "    return start, gc.get_freeze_count()\n"
        "start, later = run(main(), tune_gc=True)\n"
        "assert later >= start + 1000, (start, later)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
