"""The ``sipsans`` command as a process: SIGTERM and SIGINT, a closed pipe, a missing
extra, and ``--help`` (issue: SIGTERM left the trace empty, sent no BYE and kept the
binding; ``sipsans demo | head`` ended in a traceback; a missing extra gave a traceback;
``--help`` showed neither descriptions nor defaults)."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cliharness import free_port, sipsans_process, wait_for_text

from sipsans_asyncio.cli.main import COMMANDS, build_parser


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_hangs_up_unregisters_and_flushes_the_trace(
    signum: signal.Signals, status: int, tmp_path: Path
) -> None:
    """SIGTERM exactly as SIGINT: the call gets its BYE, ``uas --register`` removes its
    binding, the transcript is complete (it replays), all within a bounded time."""
    registrar_port, uas_port = free_port(), free_port()
    registrar = sipsans_process(
        ["registrar", "--listen", f"127.0.0.1:{registrar_port}"], tmp_path / "registrar.log"
    )
    procs = [registrar]
    try:
        wait_for_text(tmp_path / "registrar.log", "listening")
        aor = f"sip:alice@127.0.0.1:{registrar_port}"
        server = sipsans_process(
            ["uas", "--listen", f"127.0.0.1:{uas_port}", "--register", aor],
            tmp_path / "uas.log",
        )
        procs.append(server)
        wait_for_text(tmp_path / "uas.log", f"registered {aor}")
        trace = tmp_path / "call.jsonl"
        caller = sipsans_process(
            ["call", f"sip:alice@127.0.0.1:{uas_port}", "--duration", "60", "--trace", str(trace)],
            tmp_path / "call.log",
        )
        procs.append(caller)
        wait_for_text(tmp_path / "call.log", "talking for 60 s")
        start = time.monotonic()
        caller.send_signal(signum)
        assert caller.wait(10) == status
        server.send_signal(signum)
        assert server.wait(10) == status
        assert time.monotonic() - start < 8  # bounded: the close waits 2 s at most
        call_log = (tmp_path / "call.log").read_text()
        assert "interrupted, hanging up" in call_log
        uas_log = wait_for_text(tmp_path / "uas.log", "unregistered")
        assert "ended UAC_BYE" in uas_log  # the BYE reached the far end
        assert "calls handled" in uas_log
        registrar_log = wait_for_text(tmp_path / "registrar.log", "REGISTER", 5)
        assert registrar_log.count("-> 200 OK") == 2  # registered, then unregistered
        replay = subprocess.run(
            [sys.executable, "-m", "sipsans_asyncio.cli", "replay", str(trace), "--check"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert replay.returncode == 0, replay.stdout + replay.stderr
        assert "replay matched" in replay.stdout
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("command", ["demo -v", "replay TRACE --ladder"])
def test_quiet_on_a_closed_pipe(command: str, tmp_path: Path) -> None:
    """``sipsans demo -v | head -1``: no BrokenPipeError traceback; status 141."""
    trace = tmp_path / "t.jsonl"
    if "TRACE" in command:
        options = [sys.executable, "-m", "sipsans_asyncio.cli", "options"]
        options += [f"sip:x@127.0.0.1:{free_port()}", "--timeout", "1", "--trace", str(trace)]
        subprocess.run(options, capture_output=True, timeout=30, check=False)
        # (a long ladder: the same transcript several times over is still one)
        command = command.replace("TRACE", str(trace))
    result = subprocess.run(
        f"{sys.executable} -m sipsans_asyncio.cli {command} | head -1; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stderr == ""
    assert result.returncode in (0, 141)  # 0: it all fitted in the pipe before head left
    if command.startswith("demo"):
        assert result.returncode == 141
        assert result.stdout.startswith("alice (UDP 127.0.0.1:")


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["call", "sip:x@127.0.0.1;transport=ws"], "sipsans[ws]"),
        (["options", "sip:x@127.0.0.1", "--transport", "wss", "--insecure"], "sipsans[ws]"),
        (["replay", "CAPTURE"], "sipsans[pcap]"),
        (["uas", "--uvloop", "--listen", "127.0.0.1:0"], "sipsans[fast]"),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(argv: list[str], extra: str, tmp_path: Path) -> None:
    capture = tmp_path / "empty.pcap"  # (a classic pcap header and no packets)
    capture.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    argv = [str(capture) if a == "CAPTURE" else a for a in argv]
    hide = "import sys; [sys.modules.__setitem__(m, None) for m in ('wsproto', 'dpkt', 'uvloop')]"
    run = f"{hide}; from sipsans_asyncio.cli import main; sys.exit(main({argv!r}))"
    result = subprocess.run(
        [sys.executable, "-c", run], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and extra in lines[0], result.stderr


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


@pytest.mark.parametrize("name", [command.NAME for command in COMMANDS])
def test_every_subcommand_help_has_a_description_and_its_defaults(name: str) -> None:
    sub = _subparsers(build_parser())[name]
    assert sub.description and len(sub.description) > 40, name
    text = sub.format_help()
    assert "exit status" in (sub.description or ""), f"{name}: say what it exits with"
    for action in sub._actions:
        default = action.default
        if (
            not action.option_strings
            or default is None
            or default is False
            or default is argparse.SUPPRESS
        ):
            continue
        help_text = action.help or ""
        assert help_text, f"{name} {action.option_strings[0]} has no help"
        shown = "default" in help_text or str(default) in text
        assert shown, f"{name} {action.option_strings[0]}: default {default!r} not shown"
    assert "(default: " in text or name in ("demo", "replay")
