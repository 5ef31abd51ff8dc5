"""Transcripts of a live session, in the JSONL format of :mod:`sipsans.tools.trace`.

A session started with ``trace=FILE`` writes one JSON object per line. When the core
is an Endpoint (it has ``send_response``), the session wraps it in
:class:`sipsans.tools.trace.Recorder`, which also records the commands the application
issues, so that :func:`sipsans.tools.trace.replay_transcript` can replay the file byte for
byte (give the Endpoint a seeded ``random.Random`` and the same ``trace_seed``).
For any other core (a UserAgent) the session records at the I/O boundary with this
module's :class:`TraceWriter`: the same header and the same record kinds for inputs
(``datagram_in``, ``stream_open``, ``stream_in``, ``stream_closed``,
``transport_error``, ``timer``) and outputs (``transmit``), without commands.
See docs/adapters.md.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, TextIO

from sipsans import Transmit
from sipsans.tools.trace import FORMAT, VERSION

from .addresses import Address

__all__ = ["TraceSink", "TraceWriter"]


class TraceSink:
    """A line sink: a path (opened for appending, closed by :meth:`close`) or a text file."""

    def __init__(self, target: str | Path | TextIO) -> None:
        if isinstance(target, str | Path):
            self._file: TextIO = Path(target).open("a", encoding="utf-8")  # noqa: SIM115
            self._owned = True
        else:
            self._file = target
            self._owned = False

    def write(self, line: str) -> None:
        self._file.write(line)

    def close(self) -> None:
        self._file.flush()
        if self._owned:
            self._file.close()


def _addr(address: Address | None) -> list[object] | None:
    return None if address is None else [address[0], address[1]]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class TraceWriter:
    """Records adapter I/O as transcript records (header first)."""

    def __init__(
        self,
        target: str | Path | TextIO | TraceSink,
        *,
        seed: int | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.sink = target if isinstance(target, TraceSink) else TraceSink(target)
        self._emit({"format": FORMAT, "version": VERSION, "seed": seed, "config": config or {}})

    def _emit(self, record: dict[str, Any]) -> None:
        self.sink.write(json.dumps(record, separators=(",", ":")) + "\n")

    def datagram_in(self, t: float, data: bytes, transport: str, remote: Address,
                    local: Address | None) -> None:  # fmt: skip
        self._emit({"t": t, "kind": "datagram_in", "transport": transport,
                    "remote": _addr(remote), "local": _addr(local),
                    "data": _b64(data)})  # fmt: skip

    def stream_open(self, t: float, conn: int, transport: str, remote: Address,
                    local: Address | None) -> None:  # fmt: skip
        self._emit({"t": t, "kind": "stream_open", "transport": transport,
                    "remote": _addr(remote), "local": _addr(local), "conn": conn})  # fmt: skip

    def stream_in(self, t: float, conn: int, data: bytes) -> None:
        self._emit({"t": t, "kind": "stream_in", "conn": conn, "data": _b64(data)})

    def stream_closed(self, t: float, conn: int) -> None:
        self._emit({"t": t, "kind": "stream_closed", "conn": conn})

    def transport_error(self, t: float, token: int, reason: str) -> None:
        self._emit({"t": t, "kind": "transport_error", "token": token, "reason": reason})

    def timer(self, t: float) -> None:
        self._emit({"t": t, "kind": "timer"})

    def transmit(self, t: float, transmit: Transmit) -> None:
        self._emit({
            "t": t, "kind": "transmit", "transport": transmit.transport,
            "remote": _addr(transmit.remote), "local": _addr(transmit.local),
            "conn": transmit.conn.id if transmit.conn is not None else None,
            "token": transmit.token, "close": transmit.close, "data": _b64(transmit.data),
        })  # fmt: skip

    def close(self) -> None:
        self.sink.close()
