"""Locating the server of a client subcommand's URI (RFC 3263): ``--dns-server``.

Every client subcommand takes the flag (:func:`add_dns_options`) and sends to the
targets :func:`locate` finds, failing over between them (RFC 3263 §4.3): NAPTR, SRV and
A/AAAA records through dnspython (``pip install sipsans[dns]``) from ``--dns-server``
or the system's resolver configuration; without dnspython, the A/AAAA records
``getaddrinfo`` gives. A numeric host, or a URI with a port, needs no DNS (§4.2).
``--transport`` acts as the URI's ``transport=`` parameter would.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import socket
import time

import sipsans
from sipsans.locate import DEFAULT_TRANSPORTS, LocateError
from sipsans_session.resolve import DNS_EXTRA, Resolver, dnspython_available

from .common import CommandError, parse_hostport

__all__ = ["add_dns_options", "locate", "resolver"]


def add_dns_options(sub: argparse.ArgumentParser) -> None:
    """``--dns-server HOST:PORT``: the DNS server to ask for the URI's NAPTR, SRV and
    address records."""
    sub.add_argument(
        "--dns-server",
        metavar="HOST:PORT",
        help="DNS server for the RFC 3263 lookups of the URI's domain (NAPTR, SRV, A/AAAA; "
        "needs sipsans[dns]); default: the system's resolver",
    )


async def _addresses(host: str, family: str) -> list[str]:
    kind = socket.AF_INET6 if family == "AAAA" else socket.AF_INET
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, None, family=kind, type=socket.SOCK_DGRAM
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def resolver(args: argparse.Namespace) -> Resolver:
    """The resolver ``--dns-server`` asks for (CommandError without dnspython)."""
    text = getattr(args, "dns_server", None)
    server = parse_hostport(text, default_port=53) if text else None
    if server is not None and not dnspython_available():
        raise CommandError(f"--dns-server needs dnspython: {DNS_EXTRA}")
    # (WebSocket too when wsproto is there to speak it: RFC 7118 §7 SRV and NAPTR)
    websocket = ("WSS", "WS") if importlib.util.find_spec("wsproto") is not None else ()
    return Resolver(
        server=server,
        getaddrinfo=_addresses,
        clock=time.monotonic,
        transports=(*DEFAULT_TRANSPORTS, *websocket),
    )


async def locate(
    args: argparse.Namespace, uri: sipsans.SipURI, dns: Resolver
) -> list[sipsans.Target]:
    """The targets of ``uri`` (``--transport`` applied), in RFC 3263 order; CommandError
    when DNS gives none (its message says why: no records, a NAPTR loop, a "."
    SRV target, malformed answers, a silent server)."""
    transport = getattr(args, "transport", None)
    if transport and uri.transport is None:
        uri = uri.with_param("transport", transport)
    try:
        return await dns.targets(uri.without_headers())
    except LocateError as exc:
        raise CommandError(f"cannot locate {uri}: {exc}") from None
