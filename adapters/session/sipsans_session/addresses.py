"""Addresses and transports as the sessions name them: what to listen on, and the sets of
SIP transports (RFC 3261 §18; WebSocket, RFC 7118) each part of a session tells apart.

Plain values and helpers, shared by every adapter; nothing here opens a socket.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SECURE_TRANSPORTS",
    "STREAM_TRANSPORTS",
    "TRANSPORTS",
    "UDP_RECEIVE_BUFFER",
    "WS_TRANSPORTS",
    "Address",
    "Listen",
    "is_ip",
    "set_receive_buffer",
]

log = logging.getLogger("sipsans.adapter")

#: ``(host, port)``: an IPv6 host is written without brackets on sockets.
Address = tuple[str, int]

TRANSPORTS = ("UDP", "TCP", "TLS", "WS", "WSS")
STREAM_TRANSPORTS = frozenset({"TCP", "TLS", "WS", "WSS"})
SECURE_TRANSPORTS = frozenset({"TLS", "WSS"})
WS_TRANSPORTS = frozenset({"WS", "WSS"})

#: Bytes of kernel receive buffer asked for each UDP socket (the kernel caps it at
#: ``net.core.rmem_max``). Linux's default (``rmem_default``, 208 KiB) holds only about
#: 160 SIP datagrams, as each costs some 1.3 KiB of buffer: a burst, a collection or a
#: moment without the CPU fills it in a tenth of a second at 500 calls/s, and every
#: datagram dropped there is a request the peer retransmits half a second later.
UDP_RECEIVE_BUFFER = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Listen:
    """A listening socket: ``Listen("udp", "0.0.0.0", 5060)``; port 0 picks a free one."""

    transport: str = "UDP"
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if self.transport.upper() not in TRANSPORTS:
            raise ValueError(f"unknown transport {self.transport!r}; use one of {TRANSPORTS}")


@functools.lru_cache(maxsize=1024)
def is_ip(host: str) -> bool:
    """True for an IP literal (cached: it is asked for every datagram sent)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def set_receive_buffer(sock: socket.socket | Any, size: int | None) -> None:
    """Ask for ``size`` bytes of receive buffer on ``sock`` (best effort: a refusal
    leaves the system default, which works, only with less slack)."""
    if size is None:
        return
    try:
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < size:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    except (OSError, AttributeError) as exc:
        log.debug("cannot set SO_RCVBUF to %d: %s", size, exc)
