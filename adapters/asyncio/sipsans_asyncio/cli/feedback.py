"""What the client subcommands print while they run: ``-v``'s live ladder of every
message, the responses to our INVITE as they arrive, and why a request failed.

:class:`Watcher` is the :class:`~.wire.Wire`'s listener. It parses each message once
(a client sees a handful), prints its ladder line under ``-v`` and hands it to the
subcommand's own listeners; it keeps the reason of each transport error (refused,
TLS verification failed, ICMP port unreachable) that the session recorded.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import sipsans
from sipsans.tools.ladder import live_arrow, message_label

from .wire import Seen

__all__ = ["Watcher", "describe"]

#: Called with each message seen and its parsed form (None: it does not parse).
Listener = Callable[[Seen, sipsans.Request | sipsans.Response | None], None]


def describe(message: sipsans.Request | sipsans.Response | None) -> str:
    """The marks of a ladder line: Call-ID (shortened), CSeq and SDP."""
    if message is None:
        return "(does not parse)"
    try:
        call_id = message.call_id
        cseq = message.cseq
    except sipsans.RemoteProtocolError:
        return ""
    short = call_id if len(call_id) <= 12 else call_id[:11] + "~"
    marks = f"Call-ID {short}  CSeq {cseq.seq} {cseq.method}"
    content_type = (message.headers.get("content-type") or "").lower()
    if message.body and content_type.startswith("application/sdp"):
        marks += "  SDP"
    return marks


def _peer(seen: Seen) -> str:
    host, port = seen.remote
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port} {seen.transport}"


class Watcher:
    """The Wire's listener for one subcommand (see the module docstring)."""

    def __init__(self, *, verbose: bool) -> None:
        self.verbose = verbose
        #: Set once the session exists: its driver knows why a send failed.
        self.session: Any = None
        self.listeners: list[Listener] = []
        #: When the first message passed (the ladder's time origin).
        self.origin: float | None = None
        #: Anything came back from the far end.
        self.heard = False
        #: The reason of the last transport error.
        self.last_error: str | None = None

    def on_message(self, seen: Seen) -> None:
        if self.origin is None:
            self.origin = seen.t
        if not seen.outgoing:
            self.heard = True
        message: sipsans.Request | sipsans.Response | None
        try:
            message = sipsans.parse_message(seen.data)
        except sipsans.RemoteProtocolError:
            message = None
        if self.verbose:
            label = message_label(seen.data)
            line = live_arrow(
                seen.t - self.origin,
                label,
                outgoing=seen.outgoing,
                peer=_peer(seen),
                note=describe(message),
            )
            print(line, flush=True)
        for listener in self.listeners:
            listener(seen, message)

    def on_transport_error(self, token: int) -> None:
        detail = None
        if self.session is not None:
            detail = self.session.driver.send_errors.get(token)
        self.last_error = detail or "transport failure"
        if self.verbose:
            print(f"transport error: {self.last_error}", file=sys.stderr, flush=True)
