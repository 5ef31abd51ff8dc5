"""What the ``sipsans`` subcommands share: the shape of a subcommand module, the exit
statuses, the argument types and common flags, addresses and URIs.

Exit status of every subcommand (:class:`Exit`, docs/cli.md):

====  ===========================================================================
0     done: the call was answered, the request got a 2xx, the registration held
1     refused: the far end answered no (a final 3xx-6xx, a call rejected or never
      answered, a registration or subscription refused, a transfer that failed);
      ``replay --check``: the capture or transcript showed problems
2     usage or set-up error: bad arguments, a missing extra, an address that cannot
      be listened on, a URI whose servers DNS cannot locate, an unreadable file
3     no answer: nothing answered within ``--timeout``, the peer is unreachable
      (ICMP port unreachable, connection refused), TLS failed
130   interrupted by SIGINT (Ctrl-C), 143 terminated by SIGTERM: in both cases after
      hanging up the calls, removing the registrations and closing the transcript
141   standard output was closed early (``sipsans demo | head``), quietly
====  ===========================================================================
"""

from __future__ import annotations

import argparse
import enum
import importlib.util
import socket
from collections.abc import Callable
from importlib import metadata
from typing import Protocol, TypeAlias

import sipsans
from sipsans.dialog.model import target_for

__all__ = [
    "CommandError",
    "Exit",
    "HelpFormatter",
    "Subcommand",
    "Subparsers",
    "add_identity_options",
    "add_network_options",
    "add_subcommand",
    "count",
    "need_extra",
    "parse_hostport",
    "resolve_listen",
    "seconds",
    "sip_uri",
    "target_of",
    "version",
]


class Exit(enum.IntEnum):
    """The exit statuses of the ``sipsans`` command (see the module docstring)."""

    OK = 0
    REFUSED = 1
    USAGE = 2
    NO_ANSWER = 3
    BROKEN_PIPE = 141
    INTERRUPTED = 130
    TERMINATED = 143


#: What ``parser.add_subparsers()`` returns (argparse's type is not subscriptable at run time).
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class Subcommand(Protocol):
    """A subcommand module: its name, its parser, and what it runs."""

    NAME: str

    def add_parser(self, commands: Subparsers) -> None:
        """Add the subcommand's parser (named :attr:`NAME`) and its arguments."""

    def run(self, args: argparse.Namespace) -> int:
        """Run the subcommand; returns the exit status (CommandError: a usage error)."""


class CommandError(Exception):
    """A usage or setup error, printed as ``sipsans: error: ...`` with exit status 2."""


def version() -> str:
    try:
        return metadata.version("sipsans")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def need_extra(module: str, extra: str, what: str) -> None:
    """Raise CommandError naming the extra that installs ``module`` when it is missing:
    one line, never an ImportError's traceback."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # (a module set to None in sys.modules, as tests do)
        found = False
    if not found:
        raise CommandError(f"{what} needs {module}: pip install 'sipsans[{extra}]'")


# -- argument types ----------------------------------------------------------------------------


def seconds(text: str) -> float:
    """An argparse type: a number of seconds, zero or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0 or value == float("inf"):  # (also refuses NaN)
        raise argparse.ArgumentTypeError(f"must be zero or more seconds, not {text}")
    return value


def count(text: str) -> int:
    """An argparse type: a whole number, zero or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, not {text}")
    return value


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written (paragraphs kept) and every default shown: an option
    whose help does not mention its default gets ``(default: ...)``."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" not in text
            and default is not None
            and default is not False
            and default is not argparse.SUPPRESS
            and (action.option_strings or action.nargs in ("?", "*"))
        ):
            text += " (default: %(default)s)"
        return text


def add_subcommand(
    commands: Subparsers, name: str, *, help: str, description: str
) -> argparse.ArgumentParser:
    """The parser of one subcommand: its one-line ``help`` in ``sipsans --help``, its
    ``description`` and every default in ``sipsans NAME --help``."""
    return commands.add_parser(
        name, help=help, description=description, formatter_class=HelpFormatter
    )


# -- flags -----------------------------------------------------------------------------------


def add_network_options(
    sub: argparse.ArgumentParser, *, listen: str, timeout: float = 32.0
) -> None:
    """The flags of every network subcommand (``listen``: the default bind address)."""
    net = sub.add_argument_group("network")
    net.add_argument(
        "--listen",
        default=listen,
        metavar="HOST[:PORT]",
        help="address to bind; HOST alone keeps the default port, and a name is resolved"
        " (or refused) at once",
    )
    net.add_argument(
        "--advertise", metavar="HOST:PORT", help="address put in Via and Contact instead"
    )
    net.add_argument(
        "--transport",
        choices=["udp", "tcp", "tls", "ws", "wss"],
        type=str.lower,
        help="transport (default: the URI's transport= parameter, else udp; tls for sips:)",
    )
    net.add_argument(
        "--timeout",
        type=seconds,
        default=timeout,
        metavar="SECONDS",
        help="seconds to wait for an answer",
    )
    net.add_argument("--cafile", help="CA bundle to verify TLS peers with")
    net.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    net.add_argument("--cert", help="TLS certificate chain (PEM) to serve TLS and WSS with")
    net.add_argument("--key", help="TLS private key (PEM)")
    out = sub.add_argument_group("output")
    out.add_argument(
        "--trace",
        metavar="FILE",
        help="write a JSONL transcript to FILE (replay it: sipsans replay FILE --check)",
    )
    out.add_argument(
        "-v", "--verbose", action="store_true", help="print a live ladder of every message"
    )
    out.add_argument(
        "--uvloop", action="store_true", help="run on uvloop (needs the fast extra: sipsans[fast])"
    )


def add_identity_options(sub: argparse.ArgumentParser, *, from_: bool = True) -> None:
    """Who a client subcommand is: ``--from`` and the digest credentials."""
    who = sub.add_argument_group("identity")
    if from_:
        who.add_argument(
            "--from",
            dest="from_uri",
            metavar="URI",
            help="our address of record, the From of our requests (default:"
            " sip:sipsans@<advertised host>); a proxy that authenticates us may insist"
            " that its user is --user",
        )
    who.add_argument("--user", help="digest user name, to answer 401/407 challenges")
    who.add_argument("--password", help="digest password")


# -- addresses and URIs ------------------------------------------------------------------------


def parse_hostport(text: str, *, default_port: int) -> tuple[str, int]:
    """``HOST:PORT``, ``HOST``, ``[V6]:PORT``, ``[V6]`` -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ("" if not rest else "x")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""  # a host name, an IPv4 address or a bare IPv6 address
    if not port:
        port = str(default_port)
    if not host or not port.isascii() or not port.isdigit() or not 0 <= int(port) < 65536:
        raise CommandError(f"bad address {text!r}: expected HOST, HOST:PORT or [IPv6]:PORT")
    return host, int(port)


def resolve_listen(text: str, *, default_port: int) -> tuple[str, int]:
    """``--listen``: the address to bind, its host name resolved now (a name that does
    not resolve is a usage error, not a surprise later) and its port the subcommand's
    default when none is given."""
    host, port = parse_hostport(text, default_port=default_port)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        raise CommandError(f"--listen {text}: cannot resolve {host!r} ({exc})") from None
    return str(infos[0][4][0]), port


def sip_uri(text: str, *, option: str = "") -> sipsans.SipURI:
    """``text`` as a sip: or sips: URI (CommandError otherwise)."""
    where = f"{option} " if option else ""
    try:
        uri = sipsans.parse_uri(text)
    except sipsans.RemoteProtocolError as exc:
        raise CommandError(f"bad URI {where}{text!r}: {exc}") from None
    if not isinstance(uri, sipsans.SipURI):
        raise CommandError(f"{where}{text!r} is not a sip: or sips: URI")
    return uri


def target_of(uri: sipsans.SipURI, transport: str | None) -> sipsans.Target:
    """Where to send a request for ``uri``: its host, port and ``transport=``
    (RFC 3263 without DNS; sips: means TLS), ``--transport`` applied when the URI
    names none."""
    target = target_for(uri)
    if transport and uri.transport is None:
        target = sipsans.Target(transport.upper(), target.host, target.port)
    return target


#: A function of the parsed arguments that checks them (CommandError when wrong).
Check = Callable[[argparse.Namespace], None]
