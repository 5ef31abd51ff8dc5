"""The ``sipsans`` command line (sipsans_asyncio.cli)."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import CORPUS

import sipsans
from sipsans_asyncio import Listen, Session, cli


def test_sample_invite_is_a_valid_message() -> None:
    msg = sipsans.parse_message(cli.SAMPLE_INVITE)
    assert isinstance(msg, sipsans.Request)
    assert msg.method == "INVITE"
    assert len(msg.body) == int(msg.headers.get("content-length", "-1"))
    assert bytes(msg) == cli.SAMPLE_INVITE


def test_demo_makes_a_call_over_loopback_and_draws_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    start = time.monotonic()
    assert cli.main(["demo"]) == 0
    assert time.monotonic() - start < 3
    out = capsys.readouterr().out
    arrows = [line for line in out.splitlines() if "|" in line and ("-" in line)]
    labels = [
        ("->" if ">|" in line else "<-", label)
        for line in arrows
        for label in ("INVITE", "100 Trying", "180 Ringing", "200 OK", "ACK", "BYE")
        if label in line
    ]
    assert labels == [
        ("->", "INVITE"),
        ("<-", "100 Trying"),
        ("<-", "180 Ringing"),
        ("<-", "200 OK"),
        ("->", "ACK"),
        ("->", "BYE"),
        ("<-", "200 OK"),
    ]
    assert "SDP offer" in arrows[0] and "SDP answer" in arrows[3]
    assert "call ended: UAC_BYE (BYE answered 200)" in out


def test_demo_verbose_prints_the_messages(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "-v"]) == 0
    out = capsys.readouterr().out
    assert "  | INVITE sip:bob@127.0.0.1:" in out
    assert "  | m=audio 49170 RTP/AVP 0 8 101" in out


def test_demo_parse_prints_the_parsed_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--parse"]) == 0
    out = capsys.readouterr().out
    for expected in (
        "INVITE sip:bob@biloxi.example.com SIP/2.0",
        "transport=UDP host=proxy.atlanta.example.com port=5060 branch=z9hG4bK2d4790.1",
        'display name="Alice Liddell" uri=sip:alice@atlanta.example.com tag=9fxced76sl',
        "Call-ID       3848276298220188511@atlanta.example.com",
        "seq=1 method=INVITE",
        "Contact       sip:alice@192.0.2.101:5060;transport=udp",
        "228 bytes of application/sdp",
        "identical to the input",
        "| a=rtpmap:0 PCMU/8000",
    ):
        assert expected in out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "demo" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as excinfo:
        cli.main(["no-such-command"])
    assert excinfo.value.code == 2


def test_console_script_module_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sipsans_asyncio.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "call ended: UAC_BYE" in result.stdout


def test_call_exits_1_when_nobody_answers(capsys: pytest.CaptureFixture[str]) -> None:
    """A peer that only rings: --timeout passes, the call is CANCELled, exit status 1."""
    ready = threading.Event()
    stop = threading.Event()
    seen: list[str] = []
    where: list[int] = []

    async def ringer() -> None:
        def make(addr: tuple[str, int]) -> sipsans.UserAgent:
            cfg = sipsans.EndpointConfig(advertised_host=addr[0], advertised_port=addr[1])
            return sipsans.UserAgent(sipsans.Endpoint(cfg, rng=random.Random(1)))

        async with Session(make, listen=[Listen("udp", "127.0.0.1", 0)]) as peer:
            where.append(peer.addresses["UDP"][1])
            ready.set()
            while not stop.is_set():
                try:
                    event = await asyncio.wait_for(peer.next_event(), 0.1)
                except TimeoutError:
                    continue
                if isinstance(event, sipsans.IncomingCall):
                    await peer.wrap(event.dialog).ringing()
                elif isinstance(event, sipsans.DialogTerminated):
                    seen.append(event.reason.name)

    thread = threading.Thread(target=asyncio.run, args=(ringer(),))
    thread.start()
    try:
        assert ready.wait(5)
        uri = f"sip:bob@127.0.0.1:{where[0]}"
        rc = cli.main(["call", uri, "--timeout", "0.5", "--listen", "127.0.0.1:0"])
        assert rc == 1
        assert "no answer within 0.5 s; cancelled" in capsys.readouterr().out
        for _ in range(100):
            if seen:
                break
            time.sleep(0.02)
        assert seen == ["UAC_CANCEL"]
    finally:
        stop.set()
        thread.join()


def test_replay_wraps_run_replay(capsys: pytest.CaptureFixture[str]) -> None:
    path = CORPUS / "pcap" / "simple_invite_scenario.pcap"
    if not path.exists():
        pytest.skip(f"shared corpus missing: {path}")
    assert cli.main(["replay", str(path), "--check", "--ladder"]) == 0
    out = capsys.readouterr().out
    assert "INVITE" in out and "check: ok" in out
    assert cli.main(["replay", str(path), "--as", "127.0.0.1:5060", "--quiet"]) == 0
    assert "played 127.0.0.1:5060" in capsys.readouterr().out


def test_replay_of_a_missing_file_is_an_error(tmp_path: Path) -> None:
    assert cli.main(["replay", str(tmp_path / "nope.pcap")]) == 2


def test_register_and_unregister(capsys: pytest.CaptureFixture[str]) -> None:
    """`sipsans register` against a minimal registrar that grants what is asked."""
    ready = threading.Event()
    stop = threading.Event()
    expires_seen: list[str] = []
    where: list[int] = []

    async def registrar() -> None:
        session: Session[sipsans.Endpoint]

        def answer(event: object) -> None:
            if isinstance(event, sipsans.RequestReceived) and event.txn is not None:
                request = event.request
                expires = request.headers.get("expires", "3600")
                expires_seen.append(expires)
                contact = request.headers.get("contact", "")
                reply = sipsans.make_response(
                    request,
                    200,
                    to_tag="reg1",
                    headers=[("Contact", f"{contact};expires={expires}")] if contact else [],
                )
                session.command(session.core.send_response, event.txn, reply)

        def make(addr: tuple[str, int]) -> sipsans.Endpoint:
            cfg = sipsans.EndpointConfig(advertised_host=addr[0], advertised_port=addr[1])
            return sipsans.Endpoint(cfg, rng=random.Random(2))

        session = Session(make, listen=[Listen("udp", "127.0.0.1", 0)], on_event=answer)
        async with session:
            where.append(session.addresses["UDP"][1])
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=asyncio.run, args=(registrar(),))
    thread.start()
    try:
        assert ready.wait(5)
        aor = f"sip:alice@127.0.0.1:{where[0]}"
        rc = cli.main(["register", aor, "--expires", "60", "--timeout", "5"])
        out = capsys.readouterr().out
        assert rc == 0, out
        assert "registered sip:alice@127.0.0.1" in out and "for 60 s" in out
        assert "unregistered" in out
        assert expires_seen == ["60", "0"]
    finally:
        stop.set()
        thread.join()
