"""sipsans against baresip 1.0 (Debian package baresip), headless, on 127.0.0.1.

baresip runs with its own config directory: ``net_interface 127.0.0.1``, no sound
devices (the audio source is a silent WAV file read by ``aufile``, the player is an
``aubridge`` device), driven through its ``ctrl_tcp`` module (netstring-framed JSON
commands). Each run is bounded by baresip's own ``-t SECONDS``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import Sipsans, free_port, require_peer

pytestmark = pytest.mark.interop

CONFIG = """\
poll_method\tepoll
sip_listen\t127.0.0.1:{sip}
net_interface\t127.0.0.1
module_path\t/usr/lib/baresip/modules
module\tg711.so
module\taubridge.so
module\taufile.so
module\taccount.so
module\tmenu.so
module_app\tctrl_tcp.so
ctrl_tcp_listen\t127.0.0.1:{ctrl}
audio_player\taubridge,nil
audio_source\taufile,{wav}
audio_alert\taubridge,alert
rtp_ports\t{rtp}-{rtp_end}
"""


class Baresip:
    """baresip with ``config`` (formatted with its ports and files), one ``account``,
    for at most ``lifetime`` seconds."""

    def __init__(
        self, program: str, home: Path, account: str, lifetime: int, config: str = CONFIG
    ) -> None:
        home.mkdir()
        while True:
            self.sip = free_port()
            if _free_tcp(self.sip + 1):  # baresip also binds SIP port + 1 for TLS
                break
        self.ctrl = free_port(socket.SOCK_STREAM)
        rtp = 20000 + (self.sip % 20000)
        wav = home / "silence.wav"
        with wave.open(str(wav), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(b"\0\0" * 8000 * lifetime)
        (home / "config").write_text(
            config.format(sip=self.sip, ctrl=self.ctrl, wav=wav, rtp=rtp, rtp_end=rtp + 20)
        )
        (home / "accounts").write_text(account + "\n")
        self.log = home / "baresip.log"
        self._file = self.log.open("w")
        self.proc = subprocess.Popen(
            [program, "-f", str(home), "-t", str(lifetime)],
            stdout=self._file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.wait_for("baresip is ready")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"baresip never printed {text!r}:\n{self.output()}")

    def command(self, command: str, params: str = "") -> None:
        """One ctrl_tcp command (a netstring holding JSON)."""
        payload = json.dumps({"command": command, "params": params, "token": "t"}).encode()
        with socket.create_connection(("127.0.0.1", self.ctrl), timeout=5) as conn:
            conn.sendall(b"%d:%s," % (len(payload), payload))
            conn.settimeout(2)
            with contextlib.suppress(TimeoutError):
                conn.recv(4096)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._file.close()


def _free_tcp(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        try:
            tcp.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def baresip(tmp_path: Path) -> Iterator[Callable[[str, int], Baresip]]:
    program = require_peer("baresip", "baresip")
    started: list[Baresip] = []

    def start(account: str, lifetime: int = 15) -> Baresip:
        peer = Baresip(program, tmp_path / f"baresip{len(started)}", account, lifetime)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()


def test_sipsans_calls_baresip(
    baresip: Callable[[str, int], Baresip], run_sipsans: Callable[[list[str]], Sipsans]
) -> None:
    peer = baresip("<sip:bob@127.0.0.1>;regint=0;answermode=auto", 15)
    call = run_sipsans(
        ["call", f"sip:bob@127.0.0.1:{peer.sip}", "--duration", "1", "--timeout", "10"]
    )
    assert call.finish(timeout=20) == 0, call.output()
    assert "answered" in call.output() and "hung up" in call.output()
    peer.wait_for("Call established")
    peer.wait_for("terminated")


def test_baresip_calls_sipsans(
    baresip: Callable[[str, int], Baresip],
    run_sipsans: Callable[[list[str]], Sipsans],
    port: int,
) -> None:
    uas = run_sipsans(["uas", "--listen", f"127.0.0.1:{port}", "--calls", "1", "-v"])
    uas.wait_for("listening")
    peer = baresip("<sip:alice@127.0.0.1>;regint=0", 15)
    peer.command("dial", f"sip:service@127.0.0.1:{port}")
    peer.wait_for("Call established")
    time.sleep(0.5)
    peer.command("hangup")
    assert uas.finish(timeout=15) == 0, uas.output() + peer.output()
    assert "1 calls handled" in uas.output()
    assert "UAC_BYE" in uas.output() or "UAS_BYE" in uas.output()
