"""What a session lets in over TCP, TLS and WebSocket: limits against exhaustion.

A stream connection costs a file descriptor, buffers and a task; a peer that opens
them by the thousand, or keeps each one open by sending a byte now and then, would
take a server's file descriptors and memory. The session applies three rules
(DESIGN.md §6), the same on every adapter:

- **At most** :data:`MAX_CONNECTIONS` **connections per listener** and
  :data:`MAX_CONNECTIONS_PER_SOURCE` **per source address** (over all listeners), counted
  from the accept, before any TLS or WebSocket handshake. One past either limit is closed
  at once. (The second default lets an office behind one NAT address connect its
  phones, while a single host can take no more than a sixteenth of a listener.)
- **An idle timeout that counts messages, not bytes**: a connection is idle when no
  complete SIP message (or keep-alive) came in for ``idle_timeout`` seconds, however many
  bytes of an unfinished one arrive; a handshake (TLS, WebSocket) must be over within
  ``connect_timeout``. (The core reports what it acted on; the session keeps the time.)
- **Out of file descriptors** (EMFILE, ENFILE; ENOBUFS, ENOMEM), a listener stops
  accepting, logs it at most once a second with the count of failed accepts, tries again
  every :data:`ACCEPT_RETRY_DELAY` seconds, and logs once when it accepts again (the
  failures as errors, the recovery as a warning).

:class:`Admission` keeps the counts and the throttled logs; the adapters call it from
their accept loops. It does no I/O and holds no SIP logic.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "ACCEPT_RETRY_DELAY",
    "MAX_CONNECTIONS",
    "MAX_CONNECTIONS_PER_SOURCE",
    "OUT_OF_RESOURCES",
    "Admission",
    "Throttled",
    "Ticket",
]

log = logging.getLogger("sipsans.adapter")

#: Default most connections accepted on one listener at once.
MAX_CONNECTIONS = 1024
#: Default most connections accepted from one source address (IP) at once, all listeners.
MAX_CONNECTIONS_PER_SOURCE = 64
#: Seconds a listener waits before accepting again when the process (or the system) ran
#: out of file descriptors or buffers.
ACCEPT_RETRY_DELAY = 0.5
#: The errors of ``accept()`` that mean "out of resources, try later" (not the peer's).
OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass(slots=True)
class Throttled:
    """A warning logged at most once per ``interval`` seconds of ``clock``; the times it
    was held back meanwhile are counted into the next line."""

    message: str
    clock: Callable[[], float]
    interval: float = 1.0
    level: int = logging.WARNING
    _last: float = float("-inf")
    _held: int = field(default=0)

    def __call__(self, *args: object) -> None:
        now = self.clock()
        if now - self._last < self.interval:
            self._held += 1
            return
        held, self._held, self._last = self._held, 0, now
        suffix = f" (and {held} more since the last report)" if held else ""
        log.log(self.level, self.message + suffix, *args)


class Ticket:
    """One admitted connection's place in the counts; :meth:`release` (idempotent) gives
    it back when the connection closes."""

    __slots__ = ("_admission", "host", "listener")

    def __init__(self, admission: Admission, listener: object, host: str) -> None:
        self._admission: Admission | None = admission
        self.listener = listener
        self.host = host

    def release(self) -> None:
        admission, self._admission = self._admission, None
        if admission is not None:
            admission.release(self.listener, self.host)


class Admission:
    """The connection counts of one session and its throttled reports.

    ``max_per_listener`` and ``max_per_source`` are the limits (None: no limit);
    ``clock`` is the loop's (for the once-a-second logs). A listener is named by any
    hashable key its adapter chooses (its index)."""

    __slots__ = (
        "_by_listener",
        "_by_source",
        "_out_of_fds",
        "_paused",
        "_refused",
        "max_per_listener",
        "max_per_source",
    )

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        max_per_listener: int | None = MAX_CONNECTIONS,
        max_per_source: int | None = MAX_CONNECTIONS_PER_SOURCE,
    ) -> None:
        for name, value in (
            ("max_connections", max_per_listener),
            ("max_connections_per_source", max_per_source),
        ):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or None for no limit)")
        self.max_per_listener = max_per_listener
        self.max_per_source = max_per_source
        self._by_listener: dict[object, int] = {}
        self._by_source: dict[str, int] = {}
        self._paused: set[object] = set()
        self._refused = Throttled(
            "refused a %s connection from %s: %s (connection limits, DESIGN.md §6)", clock
        )
        # An error, not a warning: no new peer gets in until connections close (the
        # `sipsans` command shows errors without -v).
        self._out_of_fds = Throttled(
            "cannot accept on %s: %s; retrying every %.1f s until connections close",
            clock,
            level=logging.ERROR,
        )

    def stats(self) -> dict[str, int]:
        """Connections accepted and open now, and distinct sources among them."""
        return {
            "accepted_connections": sum(self._by_listener.values()),
            "accepted_sources": len(self._by_source),
        }

    def admit(self, listener: object, name: str, host: str) -> Ticket | None:
        """Count a connection just accepted on ``listener`` from ``host``: its
        :class:`Ticket`, or None (and a throttled warning) when it is one too many:
        close it at once."""
        on_listener = self._by_listener.get(listener, 0)
        from_source = self._by_source.get(host, 0)
        if self.max_per_listener is not None and on_listener >= self.max_per_listener:
            self._refused(name, host, f"{on_listener} open on the listener (max_connections)")
            return None
        if self.max_per_source is not None and from_source >= self.max_per_source:
            self._refused(
                name, host, f"{from_source} open from that address (max_connections_per_source)"
            )
            return None
        self._by_listener[listener] = on_listener + 1
        self._by_source[host] = from_source + 1
        return Ticket(self, listener, host)

    def release(self, listener: object, host: str) -> None:
        """A connection :meth:`admit` counted is closed (its :meth:`Ticket.release`)."""
        left = self._by_listener.get(listener, 0) - 1
        if left > 0:
            self._by_listener[listener] = left
        else:
            self._by_listener.pop(listener, None)
        left = self._by_source.get(host, 0) - 1
        if left > 0:
            self._by_source[host] = left
        else:
            self._by_source.pop(host, None)

    def accept_failed(self, listener: object, where: str, exc: OSError) -> bool:
        """``accept()`` on ``listener`` (described by ``where``) raised ``exc``. True when
        it is a lack of resources (the listener should wait :data:`ACCEPT_RETRY_DELAY`
        and try again; reported at most once a second); False for any other error."""
        if exc.errno not in OUT_OF_RESOURCES:
            return False
        self._paused.add(listener)
        self._out_of_fds(where, exc.strerror or exc, ACCEPT_RETRY_DELAY)
        return True

    def accepted(self, listener: object, where: str) -> None:
        """``accept()`` on ``listener`` worked: if it had run out of resources, say that it
        accepts again (once)."""
        if self._paused and listener in self._paused:
            self._paused.discard(listener)
            log.warning("accepting on %s again", where)
