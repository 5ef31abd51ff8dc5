"""``sipsans uas --workers N``: N processes answering on one port (SO_REUSEPORT)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sipsans_asyncio import cli

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "SO_REUSEPORT") or not hasattr(os, "fork"), reason="needs SO_REUSEPORT"
)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _options(port: int, source: socket.socket, n: int) -> bytes:
    here = source.getsockname()
    return (
        f"OPTIONS sip:uas@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {here[0]}:{here[1]};branch=z9hG4bK-workers-{n}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@127.0.0.1>;tag=p{n}\r\n"
        f"To: <sip:uas@127.0.0.1:{port}>\r\n"
        f"Call-ID: workers-{n}@127.0.0.1\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def test_workers_share_one_port_and_stop_together() -> None:
    """Two workers bind the same port; requests from several sources are all answered,
    whichever worker the kernel picks; SIGTERM to the parent stops both."""
    port = _free_udp_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    command = [sys.executable, "-m", "sipsans_asyncio.cli", "uas"]
    proc = subprocess.Popen(
        [*command, "--listen", f"127.0.0.1:{port}", "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert proc.stdout is not None
        # Each worker prints its own line once bound: both are on the one port.
        lines = [proc.stdout.readline() for _ in range(2)]
        bound = f"sipsans uas listening on UDP 127.0.0.1:{port} "
        assert [line.startswith(bound) for line in lines] == [True, True], lines
        for n in range(8):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind(("127.0.0.1", 0))
                probe.settimeout(10)
                probe.sendto(_options(port, probe, n), ("127.0.0.1", port))
                answer = probe.recv(65535)
            assert answer.startswith(b"SIP/2.0 200 OK\r\n"), answer[:60]
            assert f"branch=z9hG4bK-workers-{n}".encode() in answer
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(("127.0.0.1", port))  # no worker is left holding the port


def test_workers_need_a_fixed_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["uas", "--listen", "127.0.0.1:0", "--workers", "2"])
    assert exit_info.value.code == 2
    assert "--workers needs a fixed --listen port" in capsys.readouterr().err
