"""Interop fixtures: real SIP peers (Debian packages) on 127.0.0.1, bounded runs.

A missing peer skips the test with a reason on a developer machine and fails it under
``CI=true`` (where ``make peers`` installs them first).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_peer(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        message = f"{program} not found (Debian package {package}; `make peers` installs it in CI)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def sipp() -> str:
    return require_peer("sipp", "sip-tester")


def sipp_stats(screen: Path) -> dict[str, int]:
    """Successful/failed call counts from sipp's final statistics screen (-1: not shown)."""
    text = screen.read_text(errors="replace")
    out = {}
    for key in ("Successful call", "Failed call"):
        found = re.findall(rf"{key}\s*\|\s*\d+\s*\|\s*(\d+)", text)
        out[key] = int(found[-1]) if found else -1
    return out


def sipp_scenario(name: str, *steps: str) -> str:
    """A sipp scenario file made of *steps* (``<send>``, ``<recv>``, ... elements)."""
    return (
        f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="{name}">\n'
        + "".join(steps)
        + "</scenario>\n"
    )


def sipp_command(sipp: str, args: list[str], screen: Path) -> list[str]:
    """A sipp command line that never reads stdin and writes its final screen to *screen*."""
    return [sipp, *args, "-nostdin", "-trace_screen", "-screen_file", str(screen)]


def run_sipp(sipp: str, args: list[str], screen: Path, timeout: float) -> int:
    """Run sipp to completion (killed after *timeout* seconds); its exit status."""
    result = subprocess.run(
        sipp_command(sipp, args, screen),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return result.returncode


@contextlib.contextmanager
def sipp_in_background(
    sipp: str, args: list[str], screen: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """sipp running while the block runs (a UAS waiting for sipsans); killed if still
    running when the block ends. Give sipp its own ``-timeout`` and wait for it with one."""
    peer = subprocess.Popen(
        sipp_command(sipp, args, screen), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    try:
        yield peer
    finally:
        if peer.poll() is None:
            peer.kill()
            peer.wait()


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (closed again; small race accepted)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


@pytest.fixture
def port() -> int:
    return free_port()


class Sipsans:
    """A `sipsans` command running in a subprocess."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self._file = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sipsans_asyncio.cli", *args],
            stdout=self._file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def wait_for(self, text: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"sipsans never printed {text!r}:\n{self.log.read_text()}")

    def finish(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._file.close()

    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
def run_sipsans(tmp_path: Path) -> Iterator[Callable[[list[str]], Sipsans]]:
    started: list[Sipsans] = []

    def start(args: list[str]) -> Sipsans:
        item = Sipsans(args, tmp_path / f"sipsans-{len(started)}.log")
        started.append(item)
        return item

    yield start
    for item in started:
        if item.proc.poll() is None:
            item.proc.kill()
            item.proc.wait()


# -- DNS: dnsmasq serving a test domain ------------------------------------------------------


@pytest.fixture
def dnsmasq() -> str:
    path = shutil.which("dnsmasq") or shutil.which("dnsmasq", path="/usr/sbin:/sbin")
    if path is None:
        return require_peer("dnsmasq", "dnsmasq-base")
    return path


@contextlib.contextmanager
def dns_server(dnsmasq: str, records: list[str], workdir: Path) -> Iterator[tuple[str, int]]:
    """dnsmasq answering for ``sipsans.test`` on 127.0.0.1 (a free UDP port) from
    *records* (``--naptr-record=...``, ``--srv-host=...``, ``--host-record=...``) while
    the block runs; names it does not list get NXDOMAIN (``--local``), nothing is asked
    upstream (``--no-resolv``) or read from /etc/hosts. Yields (host, port)."""
    port = free_port()
    log = workdir / "dnsmasq.log"
    args = [
        dnsmasq,
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--listen-address=127.0.0.1",
        f"--port={port}",
        f"--pid-file={workdir / 'dnsmasq.pid'}",
        f"--user={pwd.getpwuid(os.getuid()).pw_name}",
        f"--log-facility={log}",
        "--log-queries",
        "--local=/sipsans.test/",
        *records,
    ]
    server = subprocess.Popen(args, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not (log.exists() and "started" in log.read_text(errors="replace")):
            if server.poll() is not None or time.monotonic() > deadline:
                err = server.stderr.read().decode(errors="replace") if server.stderr else ""
                raise AssertionError(f"dnsmasq did not start: {err}")
            time.sleep(0.05)
        yield ("127.0.0.1", port)
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
