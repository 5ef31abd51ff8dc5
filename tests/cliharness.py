"""Helpers for the tests of the ``sipsans`` command: commands run in threads (each has
its own event loop) with their output read through capsys, subprocesses, and small
programmable SIP peers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import sipsans
from sipsans_asyncio import Listen, Session, cli


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


class Output:
    """Everything printed so far (from any thread), read through capsys."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self.text = ""
        self.err = ""

    def read(self) -> str:
        captured = self._capsys.readouterr()
        self.text += captured.out
        self.err += captured.err
        return self.text

    def wait_for(self, marker: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while marker not in self.read():
            assert time.monotonic() < deadline, f"never printed {marker!r}:\n{self.text}"
            time.sleep(0.02)


class Command(threading.Thread):
    """``cli.main(argv)`` in a thread (each command runs its own event loop)."""

    def __init__(self, argv: list[str]) -> None:
        super().__init__(daemon=True)
        self.argv = argv
        self.rc: int | None = None
        self.start()

    def run(self) -> None:
        try:
            self.rc = cli.main(self.argv)
        except SystemExit as exc:
            self.rc = int(exc.code or 0)

    def result(self, timeout: float = 20.0) -> int | None:
        self.join(timeout)
        assert not self.is_alive(), f"{self.argv[0]} did not finish within {timeout} s"
        return self.rc


def uas(port: int, *extra: str) -> Command:
    """``sipsans uas`` on 127.0.0.1:port (UDP unless --transport is given)."""
    return Command(["uas", "--listen", f"127.0.0.1:{port}", *extra])


def sipsans_process(
    args: list[str], log: Path, *, stdin: Any = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """``python -m sipsans_asyncio.cli ARGS`` with stdout and stderr in ``log``."""
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "sipsans_asyncio.cli", *args],
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=stdin,
    )


def wait_for_text(path: Path, marker: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if marker in text:
            return text
        time.sleep(0.05)
    raise AssertionError(f"never printed {marker!r}:\n{path.read_text(errors='replace')}")


class Peer(threading.Thread):
    """A SIP peer on its own loop in a thread: a UserAgent (``ua=True``) or an Endpoint
    core, listening on 127.0.0.1 over ``transport``, handing every event to
    ``handler(session, event)`` inside the pump. ``requests`` records every request
    it received."""

    def __init__(
        self,
        handler: Callable[[Any, object], None],
        *,
        ua: bool = True,
        transport: str = "UDP",
        ssl_server: Any = None,
        config: sipsans.UAConfig | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.handler = handler
        self.use_ua = ua
        self.transport = transport
        self.ssl_server = ssl_server
        self.config = config
        self.port = 0
        self.requests: list[sipsans.Request] = []
        self.session: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._up = threading.Event()
        self._halt: asyncio.Event | None = None
        self.start()
        assert self._up.wait(10), "the peer did not start"

    def _core(self, addr: tuple[str, int]) -> Any:
        cfg = sipsans.EndpointConfig(
            advertised_host=addr[0], advertised_port=addr[1], trying_delay=0.0
        )
        endpoint = sipsans.Endpoint(cfg, rng=random.Random(7))
        if not self.use_ua:
            return endpoint
        return sipsans.UserAgent(
            endpoint, identity=f"sip:peer@{addr[0]}", rng=random.Random(8), config=self.config
        )

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._halt = asyncio.Event()

        def on_event(event: object) -> None:
            request = getattr(event, "request", None)
            if isinstance(request, sipsans.Request) and request.method != "ACK":
                self.requests.append(request)
            self.handler(self.session, event)

        self.session = Session(
            self._core,
            listen=[Listen(self.transport, "127.0.0.1", 0)],
            ssl_server=self.ssl_server,
            on_event=on_event,
        )
        async with self.session:
            self.port = self.session.addresses[self.transport.upper()][1]
            self._up.set()
            await self._halt.wait()

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the peer's loop."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self) -> None:
        if self.loop is not None and self._halt is not None:
            self.loop.call_soon_threadsafe(self._halt.set)
        self.join(10)

    def methods(self) -> list[str]:
        return [r.method for r in self.requests]
