"""Transcripts: record what goes into a sipsans core and what comes out, replay it byte for byte.

A transcript is JSON Lines (one JSON object per line, UTF-8). The first line is a header::

    {"format": "sipsans-transcript", "version": 1, "seed": 7, "config": {...}}

``seed`` seeds the ``random.Random`` the core was built with, and ``config`` holds the
fields of its :class:`~sipsans.EndpointConfig` (``dataclasses.asdict``, so ``limits``
is a nested object). Every following line is one record, in the order it happened:

=================  ==========================================================================
``kind``           meaning and fields besides ``t`` (the ``now`` passed, in seconds)
=================  ==========================================================================
``datagram_in``    ``receive_datagram``: ``data``, ``transport``, ``remote``, ``local``
``stream_open``    ``connection_made``: ``transport``, ``remote``, ``local``; ``conn`` is the
                   id of the handle it returned
``stream_in``      ``receive_stream``: ``conn``, ``data`` (empty data is EOF)
``stream_closed``  ``connection_lost``: ``conn``
``transport_error`` ``transport_error``: ``token``
``timer``          ``handle_timer``
``transmit``       one Transmit the core produced: ``data``, ``transport``, ``remote``,
                   ``local``, ``conn``, ``token``, ``close``
``send_request``   command: ``data`` (the request as passed in), ``target``
                   (``[transport, host, port, conn]``), ``result`` (the ClientTxn id)
``send_response``  command: ``txn`` (the ServerTxn id), ``data``
``cancel``         command: ``txn``, ``headers`` (``[[name, value], ...]``, when any);
                   ``result`` is the CANCEL's ClientTxn id or null
``send_stateless`` command: ``data``, ``target`` (or null)
``advertise``      command: ``host``, ``port`` (the address put in Via sent-by from now on)
``reserve_handle`` command: ``result`` (the ClientTxn id reserved for a request sent later)
=================  ==========================================================================

Addresses are ``[host, port]`` or null, ``data`` is base64, ``conn`` an int or null.
Transmits are recorded when the application drains them, so a record's position says
which inputs came before it. Events are not recorded: they follow from the inputs,
and whatever the application did about them shows up as commands.

A :class:`~sipsans.UserAgent` built on a recorded Endpoint (``UserAgent(Recorder(ep,
...))``) is recorded too: everything it does reaches the wire through the Endpoint's
commands, so its transcript replays on a bare Endpoint, byte for byte. Give the
Endpoint its own seeded ``random.Random`` (not the one the UA draws its tags from).

:class:`Recorder` wraps a core (an :class:`~sipsans.Endpoint` or anything with its
pull surface) and records while passing everything through; use it in place of the
core. :func:`replay_transcript` feeds a transcript into a fresh core built from the
header and checks that every transmit comes out byte for byte the same.

This module does no I/O of its own: the recorder hands each line to a ``write``
callable (``file.write`` works) and the replayer takes any iterable of lines (an
open file works) or the whole text.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, Unpack

from ..config import EndpointConfig, ParserLimits
from ..errors import RemoteProtocolError
from ..message.model import Request, Response
from ..message.parser import parse_message
from ..transaction.endpoint import Endpoint
from ..transaction.transport import Address, ClientTxn, ConnHandle, ServerTxn, Target, Transmit

__all__ = [
    "FORMAT",
    "INPUT_KINDS",
    "VERSION",
    "Divergence",
    "Recorder",
    "ReplayResult",
    "TranscriptError",
    "config_from_dict",
    "make_endpoint",
    "replay_transcript",
]

FORMAT = "sipsans-transcript"
VERSION = 1

#: Record kinds that are inputs or commands (everything but ``transmit``).
INPUT_KINDS = frozenset(
    {
        "datagram_in",
        "stream_open",
        "stream_in",
        "stream_closed",
        "transport_error",
        "timer",
        "send_request",
        "send_response",
        "cancel",
        "send_stateless",
        "advertise",
        "reserve_handle",
    }
)

Record = dict[str, Any]
Core = Any


class TranscriptError(ValueError):
    """The transcript itself is unreadable (not JSON, wrong header, unknown record)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _addr(address: Address | None) -> list[object] | None:
    return None if address is None else [address[0], address[1]]


class Origin(TypedDict):
    """Where a datagram came in or a connection was opened: the keywords besides ``now``
    that ``receive_datagram`` takes (``connection_made`` takes them with ``transport``)."""

    remote: Address
    local: NotRequired[Address | None]
    transport: NotRequired[str]


def _path(origin: Origin) -> dict[str, object]:
    """An :class:`Origin` as the ``datagram_in`` and ``stream_open`` records write it."""
    return {
        "transport": origin.get("transport", "UDP"),
        "remote": _addr(origin["remote"]),
        "local": _addr(origin.get("local")),
    }


def _origin(record: Record) -> Origin:
    """The :class:`Origin` a ``datagram_in`` or ``stream_open`` record wrote."""
    remote = _address(record["remote"])
    assert remote is not None
    return {
        "remote": remote,
        "local": _address(record.get("local")),
        "transport": record.get("transport", "UDP"),
    }


def _conn_id(conn: ConnHandle | None) -> int | None:
    return None if conn is None else conn.id


def _config_dict(core: Core) -> dict[str, Any]:
    config = getattr(core, "config", None)
    if config is not None and dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    return {}


def config_from_dict(fields: dict[str, Any]) -> EndpointConfig:
    """The EndpointConfig a transcript header describes (unknown fields are an error)."""
    values = dict(fields)
    limits = values.pop("limits", None)
    try:
        if isinstance(limits, dict):
            return EndpointConfig(**values, limits=ParserLimits(**limits))
        return EndpointConfig(**values)
    except TypeError as exc:
        raise TranscriptError(f"transcript config does not fit EndpointConfig: {exc}") from exc


def make_endpoint(seed: int, config: dict[str, Any]) -> Endpoint:
    """The default core factory: ``Endpoint(config, rng=random.Random(seed))``."""
    return Endpoint(config_from_dict(config), rng=random.Random(seed))


class Recorder:
    """Wraps a core and records every input, command and transmit as transcript records.

    .. code-block:: python

        ep = Endpoint(config, rng=random.Random(7))
        rec = Recorder(ep, seed=7, write=handle.write)   # or keep records in memory only
        rec.receive_datagram(data, remote=peer, local=me, now=t)  # ... use rec as the core

    ``seed`` must be the seed of the ``random.Random`` the core was built with (a
    core on ``SystemRandom`` cannot be replayed). ``write`` gets each line with its
    trailing newline; ``keep=True`` (the default) also keeps them in :attr:`lines`.
    Attributes the recorder does not know (``stats()``, ``config``, ...) pass through
    unrecorded. That includes a UserAgent's own commands (``invite``, ``bye``, ...):
    until they get record kinds of their own, a UserAgent session replays only as far
    as its inputs and Endpoint-level commands determine it.
    """

    def __init__(
        self,
        core: Core,
        *,
        seed: int,
        config: dict[str, Any] | None = None,
        write: Callable[[str], object] | None = None,
        keep: bool = True,
    ) -> None:
        self.core = core
        self.seed = seed
        self._write = write
        self._keep = keep
        #: Every line recorded so far (header first), each without its newline.
        self.lines: list[str] = []
        self._now = 0.0
        header = {
            "format": FORMAT,
            "version": VERSION,
            "seed": seed,
            "config": _config_dict(core) if config is None else config,
        }
        self._emit(header)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.core, name)

    def _emit(self, record: Record) -> None:
        line = json.dumps(record, separators=(",", ":"), sort_keys=False)
        if self._keep:
            self.lines.append(line)
        if self._write is not None:
            self._write(line + "\n")

    def _record(self, kind: str, now: float, **fields: Any) -> None:
        self._now = now
        self._emit({"t": now, "kind": kind, **fields})

    def text(self) -> str:
        """The transcript so far as one string (one record per line)."""
        return "".join(line + "\n" for line in self.lines)

    # -- inputs -----------------------------------------------------------------------

    def receive_datagram(self, data: bytes, *, now: float, **origin: Unpack[Origin]) -> None:
        self._record("datagram_in", now, **_path(origin), data=_b64(bytes(data)))
        self.core.receive_datagram(data, now=now, **origin)

    def connection_made(
        self, *, transport: str, remote: Address, local: Address | None = None, now: float
    ) -> ConnHandle:
        handle: ConnHandle = self.core.connection_made(
            transport=transport, remote=remote, local=local, now=now
        )
        origin: Origin = {"remote": remote, "local": local, "transport": transport}
        self._record("stream_open", now, **_path(origin), conn=handle.id)
        return handle

    def receive_stream(self, conn: ConnHandle, data: bytes, *, now: float) -> None:
        self._record("stream_in", now, conn=conn.id, data=_b64(bytes(data)))
        self.core.receive_stream(conn, data, now=now)

    def connection_lost(self, conn: ConnHandle, *, now: float) -> None:
        self._record("stream_closed", now, conn=conn.id)
        self.core.connection_lost(conn, now=now)

    def transport_error(self, token: int, *, now: float, reason: str | None = None) -> None:
        if reason is None:
            self._record("transport_error", now, token=token)
        else:
            self._record("transport_error", now, token=token, reason=reason)
        self.core.transport_error(token, now=now, reason=reason)

    def handle_timer(self, *, now: float) -> None:
        self._record("timer", now)
        self.core.handle_timer(now=now)

    # -- commands ---------------------------------------------------------------------

    def send_request(self, request: Request, *, target: Target, now: float) -> ClientTxn:
        data = bytes(request)
        txn: ClientTxn = self.core.send_request(request, target=target, now=now)
        self._record(
            "send_request",
            now,
            data=_b64(data),
            target=[target.transport, target.host, target.port, _conn_id(target.conn)],
            result=txn.id,
        )
        return txn

    def send_response(self, txn: ServerTxn, response: Response, *, now: float) -> None:
        data = bytes(response)
        self.core.send_response(txn, response, now=now)
        self._record("send_response", now, txn=txn.id, data=_b64(data))

    def cancel(
        self, txn: ClientTxn, *, headers: Iterable[tuple[str, str]] = (), now: float
    ) -> ClientTxn | None:
        extra = [[name, value] for name, value in headers]
        result: ClientTxn | None = self.core.cancel(txn, headers=extra, now=now)
        fields: dict[str, Any] = {"txn": txn.id, "result": None if result is None else result.id}
        if extra:
            fields["headers"] = extra
        self._record("cancel", now, **fields)
        return result

    def advertise(self, host: str, port: int) -> None:
        self.core.advertise(host, port)
        self._record("advertise", self._now, host=host, port=port)

    def reserve_handle(self) -> ClientTxn:
        handle: ClientTxn = self.core.reserve_handle()
        self._record("reserve_handle", self._now, result=handle.id)
        return handle

    def send_stateless(
        self, message: Request | Response, *, target: Target | None = None, now: float
    ) -> Request | Response:
        data = bytes(message)
        sent: Request | Response = self.core.send_stateless(message, target=target, now=now)
        self._record(
            "send_stateless",
            now,
            data=_b64(data),
            target=None
            if target is None
            else [target.transport, target.host, target.port, _conn_id(target.conn)],
        )
        return sent

    # -- outputs ----------------------------------------------------------------------

    def events(self) -> list[Any]:
        events: list[Any] = self.core.events()
        return events

    def next_event(self) -> Any:
        return self.core.next_event()

    def get_next_timer(self) -> float | None:
        deadline: float | None = self.core.get_next_timer()
        return deadline

    def transmits(self) -> list[Transmit]:
        out: list[Transmit] = self.core.transmits()
        for t in out:
            self._emit(_transmit_record(self._now, t))
        return out


def _transmit_record(now: float, t: Transmit) -> Record:
    return {
        "t": now,
        "kind": "transmit",
        "transport": t.transport,
        "remote": _addr(t.remote),
        "local": _addr(t.local),
        "conn": _conn_id(t.conn),
        "token": t.token,
        "close": t.close,
        "data": _b64(t.data),
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class Divergence:
    """The first place where the replay did not do what the transcript says."""

    #: 1-based line number in the transcript (the header is line 1).
    line: int
    #: What was expected there (a transmit record, or the input that failed).
    expected: Record | None
    #: The transmit the replay produced instead (None: it produced nothing there).
    actual: Record | None
    reason: str

    def describe(self) -> str:
        """A human-readable account, with the first differing byte of the data."""
        parts = [f"line {self.line}: {self.reason}"]
        exp = _unb64(self.expected["data"]) if self.expected and "data" in self.expected else None
        act = _unb64(self.actual["data"]) if self.actual and "data" in self.actual else None
        if exp is not None and act is not None and exp != act:
            offset = next(
                (i for i, (a, b) in enumerate(zip(exp, act, strict=False)) if a != b),
                min(len(exp), len(act)),
            )
            parts.append(
                f"  data differ at byte {offset} (expected {len(exp)} bytes, got {len(act)})"
            )
            parts.append(f"  expected: {exp[max(0, offset - 20) : offset + 40]!r}")
            parts.append(f"  actual:   {act[max(0, offset - 20) : offset + 40]!r}")
        else:
            if self.expected is not None:
                parts.append(f"  expected: {_short(self.expected)}")
            if self.actual is not None:
                parts.append(f"  actual:   {_short(self.actual)}")
        return "\n".join(parts)


def _short(record: Record) -> str:
    shown = dict(record)
    if "data" in shown:
        data = _unb64(shown["data"])
        shown["data"] = data.split(b"\r\n", 1)[0].decode("utf-8", "replace") + (
            f" ... ({len(data)} bytes)" if b"\r\n" in data else ""
        )
    return json.dumps(shown)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayResult:
    """What :func:`replay_transcript` found. True when the replay matched."""

    seed: int
    config: dict[str, Any]
    #: Inputs and commands fed.
    inputs: int
    #: Transmits compared (equal up to the divergence, if any).
    transmits: int
    divergence: Divergence | None

    @property
    def ok(self) -> bool:
        return self.divergence is None

    def __bool__(self) -> bool:
        return self.ok

    def describe(self) -> str:
        if self.divergence is None:
            return f"replay matched: {self.inputs} inputs, {self.transmits} transmits identical"
        return (
            f"replay diverged after {self.inputs} inputs and {self.transmits} identical "
            f"transmits\n{self.divergence.describe()}"
        )


def _lines(source: Iterable[str] | str) -> Iterable[str]:
    if isinstance(source, str):
        return source.splitlines()
    return source


def _target(value: list[Any] | None) -> Target | None:
    if value is None:
        return None
    transport, host, port, conn = value
    return Target(transport, host, port, None if conn is None else ConnHandle(conn))


def _address(value: list[Any] | None) -> Address | None:
    return None if value is None else (str(value[0]), int(value[1]))


#: Put in front of a recorded command message that has no Via, only to satisfy the parser.
_STAND_IN_VIA = b"Via: SIP/2.0/UDP transcript.invalid;branch=z9hG4bK-transcript\r\n"


def _parse(record: Record, line: int) -> Request | Response:
    data = _unb64(record["data"])
    try:
        try:
            return parse_message(data)
        except RemoteProtocolError as exc:
            # Requests handed to send_request have no Via yet (the endpoint adds it), and
            # parse_message insists on one: parse with a stand-in, then take it out again.
            if "Via" not in str(exc) or b"\r\n" not in data:
                raise
            start, rest = data.split(b"\r\n", 1)
            message = parse_message(start + b"\r\n" + _STAND_IN_VIA + rest)
            message.headers.remove_first("via")
            return message
    except RemoteProtocolError as exc:
        raise TranscriptError(f"line {line}: the recorded message does not parse: {exc}") from exc


def _feed(core: Core, record: Record, line: int) -> object:
    """Apply one input or command record to ``core``; returns what the call returned."""
    kind = record["kind"]
    now = float(record["t"])
    if kind == "datagram_in":
        return core.receive_datagram(_unb64(record["data"]), now=now, **_origin(record))
    if kind == "stream_open":
        handle: ConnHandle = core.connection_made(now=now, **_origin(record))
        return handle.id
    if kind == "stream_in":
        return core.receive_stream(ConnHandle(record["conn"]), _unb64(record["data"]), now=now)
    if kind == "stream_closed":
        return core.connection_lost(ConnHandle(record["conn"]), now=now)
    if kind == "transport_error":
        reason = record.get("reason")
        return core.transport_error(
            int(record["token"]), now=now, reason=reason if isinstance(reason, str) else None
        )
    if kind == "timer":
        return core.handle_timer(now=now)
    if kind == "send_request":
        request = _parse(record, line)
        target = _target(record["target"])
        if not isinstance(request, Request) or target is None:
            raise TranscriptError(f"line {line}: send_request needs a request and a target")
        txn: ClientTxn = core.send_request(request, target=target, now=now)
        return txn.id
    if kind == "send_response":
        response = _parse(record, line)
        if not isinstance(response, Response):
            raise TranscriptError(f"line {line}: send_response needs a response")
        return core.send_response(ServerTxn(record["txn"]), response, now=now)
    if kind == "cancel":
        headers = [(str(name), str(value)) for name, value in record.get("headers") or ()]
        result: ClientTxn | None = core.cancel(ClientTxn(record["txn"]), headers=headers, now=now)
        return None if result is None else result.id
    if kind == "send_stateless":
        core.send_stateless(_parse(record, line), target=_target(record.get("target")), now=now)
        return None
    if kind == "advertise":
        return core.advertise(str(record["host"]), int(record["port"]))
    if kind == "reserve_handle":
        reserved: ClientTxn = core.reserve_handle()
        return reserved.id
    raise TranscriptError(f"line {line}: unknown record kind {kind!r}")


#: Record kinds whose call returns a handle, which must be the recorded one.
_RETURNS_HANDLE = frozenset({"send_request", "cancel", "stream_open", "reserve_handle"})

#: Fields of a transmit record that must match (``t`` is the drain time, informative only).
_COMPARED = ("data", "transport", "remote", "local", "conn", "token", "close")


def replay_transcript(
    source: Iterable[str] | str,
    *,
    make_core: Callable[[int, dict[str, Any]], Core] = make_endpoint,
) -> ReplayResult:
    """Feed a transcript into a fresh core and compare every transmit byte for byte.

    ``source`` is the transcript text or any iterable of its lines (an open file
    works). ``make_core(seed, config)`` builds the core from the header; the default
    builds an Endpoint. Returns at the first divergence: a transmit that differs, one
    the replay did not produce, one it produced that the transcript does not have, a
    command whose returned handle differs, or an input that raised. Raises
    :class:`TranscriptError` when the transcript itself is unreadable.
    """
    records = _records(source)
    try:
        number, header = next(records)
    except StopIteration:
        raise TranscriptError("empty transcript") from None
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise TranscriptError(
            f"line {number}: not a {FORMAT} version {VERSION} header: {json.dumps(header)[:200]}"
        )
    if not isinstance(header.get("seed"), int):
        raise TranscriptError(
            f"line {number}: the header has no integer seed (the core was not built on a "
            "seeded random.Random), so its identifiers cannot be reproduced"
        )
    seed = int(header["seed"])
    config = dict(header.get("config") or {})
    core = make_core(seed, config)
    pending: list[Record] = []
    inputs = 0
    compared = 0
    last_t = 0.0

    def result(divergence: Divergence | None) -> ReplayResult:
        return ReplayResult(
            seed=seed, config=config, inputs=inputs, transmits=compared, divergence=divergence
        )

    for number, record in records:
        kind = record.get("kind")
        if kind == "transmit":
            if not pending:
                pending = [_transmit_record(last_t, t) for t in core.transmits()]
            if not pending:
                return result(
                    Divergence(
                        line=number,
                        expected=record,
                        actual=None,
                        reason="the replay sent nothing here",
                    )
                )
            actual = pending.pop(0)
            different = [f for f in _COMPARED if record.get(f) != actual.get(f)]
            if different:
                reason = f"transmit differs in {', '.join(different)}"
                return result(
                    Divergence(line=number, expected=record, actual=actual, reason=reason)
                )
            compared += 1
            continue
        if kind not in INPUT_KINDS:
            raise TranscriptError(f"line {number}: unknown record kind {kind!r}")
        # The recorder drains everything queued; what is left of the replay's drain is extra.
        if pending:
            return result(
                Divergence(
                    line=number,
                    expected=None,
                    actual=pending[0],
                    reason="the replay sent a message the transcript does not have",
                )
            )
        last_t = float(record["t"])
        try:
            returned = _feed(core, record, number)
        except TranscriptError:
            raise
        except Exception as exc:
            return result(
                Divergence(
                    line=number,
                    expected=record,
                    actual=None,
                    reason=f"{kind} raised {type(exc).__name__}: {exc}",
                )
            )
        inputs += 1
        want = record.get("result", record.get("conn")) if kind != "stream_in" else None
        if kind in _RETURNS_HANDLE and returned != want:
            return result(
                Divergence(
                    line=number,
                    expected=record,
                    actual=None,
                    reason=f"{kind} returned handle {returned}, recorded {want}",
                )
            )
    extra = pending or [_transmit_record(last_t, t) for t in core.transmits()]
    if extra:
        return result(
            Divergence(
                line=number + 1,
                expected=None,
                actual=extra[0],
                reason="the replay sent a message after the transcript ended",
            )
        )
    return result(None)


def _records(source: Iterable[str] | str) -> Iterator[tuple[int, Record]]:
    for number, line in enumerate(_lines(source), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TranscriptError(f"line {number}: not JSON: {exc}") from exc
        if not isinstance(record, dict):
            raise TranscriptError(f"line {number}: a record must be a JSON object")
        yield number, record
