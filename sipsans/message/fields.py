"""Typed values of the headers every transaction needs (RFC 3261 §20, grammar §25.1).

Each class is an immutable ``NamedTuple``: cheap to build on the parser's hot path,
hashable, and comparable. Parsing functions raise
:class:`~sipsans.errors.RemoteProtocolError` with status hint 400 and a message
that names the header and the offending text.

Generic parameters are kept in order as ``(name, value)`` pairs, with the name
as written and the value as written (quoted strings keep their quotes, so that
re-emitting a parameter never changes it); lookups ignore the name's case.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence
from typing import NamedTuple, overload

from .._speed import remember, remember_text, uninitialized
from ..errors import RemoteProtocolError
from .grammar import (
    HOSTNAME_PATTERN,
    IPV4_PATTERN,
    is_digits,
    is_token,
    quote_string,
    unquote_string,
)
from .uri import URI, parse_uri

__all__ = [
    "CSeq",
    "NameAddr",
    "Params",
    "Via",
    "ViaList",
    "format_params",
    "get_param",
    "parse_cseq",
    "parse_name_addr",
    "parse_params",
    "parse_via",
]

# SIP whitespace is SP and HTAB (RFC 3261 §25.1 LWS); str.strip() would also
# remove Unicode spaces that are part of a value.
_WS = " \t"

Params = tuple[tuple[str, str | None], ...]

_MAX_CSEQ = 2**32 - 1  # RFC 3261 §8.1.1.5: the sequence number is a 32-bit unsigned integer


def _bad(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(message, status_hint=400)


def get_param(params: Params, name: str) -> str | None:
    """The value of parameter ``name`` (case-insensitive); ``""`` for a flag, None if absent."""
    for key, value in params:
        if key == name or key.lower() == name:
            return "" if value is None else value
    return None


def format_params(params: Params) -> str:
    """Wire form ``;a=b;flag`` of a parameter list."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)


def _split_semicolons(text: str) -> list[str]:
    if '"' not in text:
        return text.split(";")
    parts: list[str] = []
    start = 0
    in_quotes = False
    i = 0
    while i < len(text):
        ch = text[i]
        if in_quotes:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_quotes = False
        elif ch == '"':
            in_quotes = True
        elif ch == ";":
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if in_quotes:
        raise _bad(f"unterminated quoted string in parameters {text!r}")
    parts.append(text[start:])
    return parts


# The common case: no whitespace, no quotes, every parameter a token with an
# optional plain value. Anything else takes the general path below.
_PARAMS_FAST = re.compile(r"(?:;[A-Za-z0-9\-.!%*_+`'~]+(?:=[^;\s\"=]+)?)+")
# The same without the leading ';' (what follows the first ';' of a value).
_PARAMS_TAIL = re.compile(
    r"[A-Za-z0-9\-.!%*_+`'~]+(?:=[^;\s\"=]+)?(?:;[A-Za-z0-9\-.!%*_+`'~]+(?:=[^;\s\"=]+)?)*"
)


def parse_params(text: str, *, header: str) -> Params:
    """Parse ``;name[=value]...`` (RFC 3261 §25.1 generic-param), LWS allowed around ``;`` ``=``.

    ``text`` must be empty or start with ``;`` (after whitespace). Empty parameters
    (``;;``) are rejected as RFC 4475 badinv01 requires.
    """
    if _PARAMS_FAST.fullmatch(text):
        return tuple(
            [(n, v if eq else None) for n, eq, v in (p.partition("=") for p in text[1:].split(";"))]
        )
    text = text.strip(_WS)
    if not text:
        return ()
    if text[0] != ";":
        raise _bad(f"{header}: expected ';' before parameters, got {text[:40]!r}")
    out: list[tuple[str, str | None]] = []
    for raw in _split_semicolons(text[1:]):
        name, eq, value = raw.partition("=")
        name = name.strip(_WS)
        if not is_token(name):
            raise _bad(
                f"{header}: empty or invalid parameter name {raw.strip(_WS)!r}; "
                "remove the stray ';' (RFC 3261 §25.1 generic-param)"
            )
        if eq:
            value = value.strip(_WS)
            if not value:
                raise _bad(f"{header}: parameter {name!r} has '=' but no value")
            if value[0] == '"':
                unquote_string(value)  # validates the quoted string
            elif any(c in value for c in " \t\r\n"):
                # gen-value (§25.1) is a token, host or quoted-string: no LWS, no CR/LF.
                raise _bad(f"{header}: whitespace inside the value of parameter {name!r}")
            out.append((name, value))
        else:
            out.append((name, None))
    return tuple(out)


_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_FAST_PARAMS = rf"((?:;{_TOKEN}(?:=[^;\s\"=<>,]+)?)*)"


# -- Via (RFC 3261 §20.42) --------------------------------------------------------

# via-parm = sent-protocol LWS sent-by *( SEMI via-params )
# sent-protocol = protocol-name SLASH protocol-version SLASH transport
# sent-by = host [ COLON port ]     (SLASH, COLON and SEMI allow LWS around them)
_VIA_FAST = re.compile(
    r"SIP/2\.0/([A-Za-z0-9.!%*_+`'~-]+) "
    rf"({IPV4_PATTERN}|{HOSTNAME_PATTERN}|\[[0-9A-Fa-f:.]+\])"
    rf"(?::([0-9]{{1,5}}))?{_FAST_PARAMS}\Z"
)
_VIA_SLOW = re.compile(
    r"([A-Za-z0-9.!%*_+`'~-]+)\s*/\s*([A-Za-z0-9.!%*_+`'~-]+)\s*/\s*([A-Za-z0-9.!%*_+`'~-]+)"
    r"\s+([^\s;:\[\]]+|\[[0-9A-Fa-f:.]+\])(?:[ \t]*:[ \t]*([0-9]{1,5}))?[ \t]*(;.*)?\Z",
    re.DOTALL,
)


#: An rport with a value, whose digits the careful path checks (parameter names are
#: case-insensitive, §7.3.1: ``RPort=x`` is an rport too).
_RPORT_VALUE = re.compile("rport=", re.IGNORECASE)


class Via(NamedTuple):
    """One Via value: ``SIP/2.0/<transport> <host>[:<port>];params``."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    @property
    def branch(self) -> str | None:
        """The branch parameter (RFC 3261 §8.1.1.7), or None."""
        return get_param(self.params, "branch")

    @property
    def received(self) -> str | None:
        """The ``received`` parameter added by the server (§18.2.1)."""
        return get_param(self.params, "received")

    @property
    def rport(self) -> int | None:
        """The ``rport`` value filled in by the server (RFC 3581), None if empty or absent."""
        value = get_param(self.params, "rport")
        return int(value) if value else None

    @property
    def has_rport(self) -> bool:
        """True when the client asked for symmetric response routing (RFC 3581 §3)."""
        return get_param(self.params, "rport") is not None

    @property
    def maddr(self) -> str | None:
        return get_param(self.params, "maddr")

    @property
    def sent_by(self) -> tuple[str, int | None]:
        return (self.host, self.port)

    @property
    def is_rfc3261_branch(self) -> bool:
        """True when the branch starts with the magic cookie ``z9hG4bK`` (§8.1.1.7)."""
        branch = self.branch
        return branch is not None and branch.startswith("z9hG4bK")

    def with_param(self, name: str, value: str | None = None) -> Via:
        """A copy with ``name`` set to ``value`` (replacing an existing one)."""
        low = name.lower()
        params = tuple(p for p in self.params if p[0].lower() != low)
        return self._replace(params=(*params, (name, value)))

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"SIP/2.0/{self.transport} {self.host}{port}{format_params(self.params)}"


def _check_host(host: str, value: str) -> str:
    if host.startswith("["):
        return host
    if host.count(".") == 3 and is_digits(host.replace(".", "")):
        if not _IPV4.fullmatch(host):
            raise _bad(f"Via: IPv4 address {host!r} out of range in {value!r}")
        return host
    for label in host.split("."):
        if label and not label.replace("-", "").isalnum():
            raise _bad(f"Via: invalid host {host!r} in {value!r}")
    return host


_VIA_BARE_IPV6 = re.compile(
    r"[ \t]*(SIP)\s*/\s*(2\.0)\s*/\s*([A-Za-z0-9.!%*_+`'~-]+)\s+([0-9A-Fa-f:.]+)\s*(;.*)?\Z",
    re.DOTALL,
)


def _bare_ipv6_via(value: str) -> re.Match[str] | None:
    """Leniency: an IPv6 sent-by without brackets, e.g. ``fe80:0:0:0:1:2:3:4:5060``.

    RFC 5118 §4 requires brackets, but deployed phones (see the shared capture
    ``sip_ipv6_udp.pcap``) send them bare. A full address is taken as the host; one
    extra trailing group that makes it invalid is taken as the port.
    """
    m = _VIA_BARE_IPV6.match(value)
    if m is None:
        return None
    address = m.group(4)
    if address.count(":") < 2:  # not IPv6 (the colons were in the parameters)
        return None
    for host, port in ((address, None), tuple(address.rsplit(":", 1))):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            continue
        if port is not None and not is_digits(port):
            continue
        text = f"SIP/2.0/{m.group(3)} [{host}]" + (f":{port}" if port else "") + (m.group(5) or "")
        return _VIA_SLOW.match(text)
    return None


_IPV4 = re.compile(IPV4_PATTERN)
_VIA_HOST = re.compile(rf"(?:{IPV4_PATTERN}|{HOSTNAME_PATTERN})\Z")
_SIMPLE_HOST = re.compile(r"[A-Za-z0-9.-]+\Z")
_TRANSPORTS = {"SIP/2.0/UDP": "UDP", "SIP/2.0/TCP": "TCP", "SIP/2.0/TLS": "TLS"}
_TRANSPORTS |= {"SIP/2.0/SCTP": "SCTP", "SIP/2.0/WS": "WS", "SIP/2.0/WSS": "WSS"}


# Memo tables of the hot paths below hold the results of pure functions of their key,
# as urllib.parse caches split URLs, so they change no result (bounded: see sipsans._speed).
#: Checked sent-protocols and sent-bys (``SIP/2.0/UDP host:port``) -> (transport, host,
#: port): a peer's sent-by repeats in every message it sends.
_SENT_BY: dict[str, tuple[str, str, int | None]] = {}
# A lone Via parameter (nearly always ``branch=...``): a token and a token value.
_LONE_PARAM = re.compile(rf"({_TOKEN})(?:=({_TOKEN}))?\Z")


def _sent_by(text: str) -> tuple[str, str, int | None] | None:
    """``(transport, host, port)`` of ``SIP/2.0/UDP host[:port]``, or None if unusual.

    Memoized in ``_SENT_BY`` when found.
    """
    protocol, _, sent_by = text.partition(" ")
    transport = _TRANSPORTS.get(protocol)
    if transport is None:
        return None
    host, colon, port = sent_by.partition(":")
    if not _VIA_HOST.match(host):
        return None
    port_number: int | None = None
    if colon:
        if not (port.isascii() and port.isdigit()) or len(port) > 5:
            return None
        port_number = int(port)
        if port_number > 65535:
            return None
    return remember_text(_SENT_BY, text, (transport, host, port_number))


def _simple_params(params: str) -> Params | None:
    """Parameters of the common shape (tokens with plain values, no ``rport=``), or None."""
    if not params:
        return ()
    if not _PARAMS_TAIL.fullmatch(params) or _RPORT_VALUE.search(params):
        return None  # rport=<value>: the general path checks that it is a port
    return tuple(
        [(n, v if eq else None) for n, eq, v in (p.partition("=") for p in params.split(";"))]
    )


def parse_via(value: str) -> Via:
    """Parse one Via value (already split from a comma list)."""
    # The shape nearly every Via has: ``SIP/2.0/UDP host[:port];k=v;flag``, most
    # often with a lone branch parameter. Anything unusual takes the general path.
    head, _, params = value.partition(";")
    sent_by = _SENT_BY.get(head) or _sent_by(head)
    if sent_by is not None:
        transport, host, port = sent_by
        m = _LONE_PARAM.match(params)
        if m is not None:
            name, param_value = m.groups()
            if param_value is None or len(name) != 5 or name.lower() != "rport":
                return Via(transport, host, port, ((name, param_value),))
        else:
            parsed = _simple_params(params)
            if parsed is not None:
                return Via(transport, host, port, parsed)
    return _parse_via_general(value)


def _parse_via_general(value: str) -> Via:
    """Every other Via shape: LWS around the separators, IPv6 references, odd case."""
    m = _VIA_FAST.match(value)
    if m is not None:
        # The pattern has validated every part: only the port range and rport are left.
        transport, host, port, rest = m.groups()
        if (port is None or len(port) < 5 or int(port) <= 65535) and not _RPORT_VALUE.search(rest):
            return Via(
                transport if transport.isupper() else transport.upper(),
                host,
                None if port is None else int(port),
                _split_fast_params(rest) if rest else (),
            )
    else:
        m = _VIA_SLOW.match(value.strip(_WS)) or _bare_ipv6_via(value)
        if m is None:
            raise _bad(
                f"Via: cannot parse {value[:80]!r}; expected 'SIP/2.0/UDP host[:port];branch=...'"
                " (RFC 3261 §20.42)"
            )
        name, version, transport, host, port, rest = m.groups()
        if name.upper() != "SIP" or version != "2.0":
            raise RemoteProtocolError(
                f"Via: unsupported protocol {name}/{version}; only SIP/2.0 is spoken",
                status_hint=505 if name.upper() == "SIP" else 400,
            )
        _check_host(host, value)
    port_number: int | None = None
    if port is not None:
        port_number = int(port)
        if port_number > 65535:
            raise _bad(f"Via: port {port} out of range (0-65535)")
    params = parse_params(rest, header="Via") if rest else ()
    for key, param_value in params:
        low = key.lower()
        if low == "rport" and param_value is not None and not is_digits(param_value):
            raise _bad(f"Via: rport value {param_value!r} is not a port number (RFC 3581)")
        if low == "branch" and not param_value:
            raise _bad("Via: branch parameter has no value (RFC 3261 §8.1.1.7)")
    return Via(transport.upper(), host, port_number, params)


class ViaList(Sequence[Via]):
    """The Via values of a message, topmost first, each parsed on first access.

    Routing a response or matching a transaction reads only the top Via, so the
    others stay text until somebody indexes them (a proxy forwarding a response,
    or :meth:`~sipsans.message.Message.validate`).
    """

    __slots__ = ("_parsed", "_raw")

    def __init__(self, raw: list[str], top: Via | None = None) -> None:
        """``raw`` are the Via values as text; ``top``, when given, is ``raw[0]`` parsed."""
        self._raw = raw
        self._parsed: list[Via | None] = [None] * len(raw)
        if top is not None:
            self._parsed[0] = top

    def __len__(self) -> int:
        return len(self._raw)

    def __iter__(self) -> Iterator[Via]:
        # Sequence.__iter__ would go through __getitem__ (and its slice check) per item.
        parsed = self._parsed
        for i, cached in enumerate(parsed):
            if cached is None:
                cached = parsed[i] = parse_via(self._raw[i])  # noqa: PLW2901 - fill the cache
            yield cached

    def parse_all(self) -> None:
        """Parse every value not parsed yet, topmost first (what iterating does).

        A UAS validating a request calls this: its one Via is nearly always parsed
        already (the transaction layer read it), and a C-level scan for a hole costs
        far less than driving the generator of ``__iter__``.
        """
        parsed = self._parsed
        if None in parsed:
            for _ in self:
                pass

    @overload
    def __getitem__(self, index: int) -> Via: ...
    @overload
    def __getitem__(self, index: slice) -> list[Via]: ...
    def __getitem__(self, index: int | slice) -> Via | list[Via]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._raw)))]
        via = self._parsed[index]
        if via is None:
            via = self._parsed[index] = parse_via(self._raw[index])
        return via

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ViaList({self._raw!r})"

    def with_top(self, via: Via) -> ViaList:
        """A copy whose topmost value is ``via``; the others stay as they are, unparsed
        (stamping ``received`` on a request must not fail on a bad lower Via, §18.2.1)."""
        copy = ViaList([str(via), *self._raw[1:]])
        copy._parsed = [via, *self._parsed[1:]]
        return copy


# -- name-addr / addr-spec (RFC 3261 §20.10, §20.20, §20.39, §25.1) ---------------


def _tag_of(params: Params) -> str | None:
    """The value of the first ``tag`` parameter (names are case-insensitive), or None.

    Not :func:`get_param`, which reads a valueless ``;tag`` as ``""``: a To or From
    without a tag value has no tag (None), as the matching code expects."""
    for key, value in params:
        if key == "tag" or key.lower() == "tag":
            return value
    return None


class _Keep:
    """Marker for "leave this part unchanged" in :meth:`NameAddr.replace`."""


_KEEP = _Keep()


class NameAddr:
    """A From, To, Contact, Route or Record-Route value.

    ``display_name`` is unquoted (None when absent); ``params`` are the header
    parameters outside the URI (``tag``, ``expires``, ``q``, ...). A parsed value
    keeps its URI as text until :attr:`uri` is first read: matching a transaction
    needs only the tags, so the URI is parsed (and validated) on demand.

    A value is immutable (use :meth:`with_tag` or :meth:`replace` for a changed
    copy): :func:`parse_name_addr` hands the same instance to every message carrying
    the same text, as the From of a call's requests.
    """

    __slots__ = ("_uri", "_uri_text", "display_name", "params", "tag")

    #: The ``tag`` parameter (RFC 3261 §19.3), or None: found in ``params`` when the
    #: value is made and kept in a slot, because matching transactions and dialogs
    #: reads it a dozen times a call.
    tag: str | None

    def __init__(self, uri: URI | str, display_name: str | None = None, params: Params = ()):
        if isinstance(uri, str):
            self._uri: URI | None = None
            self._uri_text = uri
        else:
            self._uri = uri
            self._uri_text = ""
        self.display_name = display_name
        self.params = params
        self.tag = _tag_of(params)

    @property
    def uri(self) -> URI:
        """The URI, parsed on first access (raises RemoteProtocolError if invalid)."""
        uri = self._uri
        if uri is None:
            uri = self._uri = parse_uri(self._uri_text)
        return uri

    def param(self, name: str) -> str | None:
        """Header parameter ``name`` (case-insensitive): "" for a flag, None if absent."""
        return get_param(self.params, name.lower())

    def with_tag(self, tag: str) -> NameAddr:
        """A copy carrying ``tag`` (replacing an existing tag)."""
        params = self.params
        if params:
            params = tuple([p for p in params if p[0].lower() != "tag"])
        new = uninitialized(NameAddr)
        new._uri, new._uri_text, new.display_name = self._uri, self._uri_text, self.display_name
        new.params = (*params, ("tag", tag))
        new.tag = tag
        return new

    def replace(
        self,
        *,
        uri: URI | None = None,
        display_name: str | _Keep | None = _KEEP,
        params: Params | None = None,
    ) -> NameAddr:
        """A copy with the given parts changed."""
        new = uninitialized(NameAddr)
        if uri is None:
            new._uri, new._uri_text = self._uri, self._uri_text
        else:
            new._uri, new._uri_text = uri, ""
        new.display_name = self.display_name if isinstance(display_name, _Keep) else display_name
        if params is None:
            new.params, new.tag = self.params, self.tag
        else:
            new.params, new.tag = params, _tag_of(params)
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NameAddr):
            return NotImplemented
        return (
            self.display_name == other.display_name
            and self.params == other.params
            and self._comparable_uri() == other._comparable_uri()
        )

    def _comparable_uri(self) -> object:
        # An unparseable received URI compares (and hashes) by its text instead of raising.
        try:
            return self.uri
        except RemoteProtocolError:
            return ("unparsed", self._uri_text)

    def __hash__(self) -> int:
        return hash((self.display_name, self.params, self._comparable_uri()))

    def __repr__(self) -> str:
        return f"NameAddr({str(self)!r})"

    def __str__(self) -> str:
        uri = self._uri_text if self._uri is None else str(self._uri)
        if self.display_name is None:
            head = f"<{uri}>"
        elif all(is_token(word) for word in self.display_name.split(" ")):
            head = f"{self.display_name} <{uri}>"
        else:
            head = f"{quote_string(self.display_name)} <{uri}>"
        return head + format_params(self.params)


def _display_tokens(text: str, value: str, header: str) -> str:
    # display-name = *(token LWS) / quoted-string
    words = [word for word in re.split(r"[ \t]+", text) if word]
    if not all(is_token(w) for w in words):
        raise _bad(
            f"{header}: display name {text!r} must be quoted when it contains characters "
            f"other than token characters (RFC 3261 §25.1), in {value[:80]!r}"
        )
    return " ".join(words)


#   sip:user@host;params    (addr-spec: the parameters belong to the header)
_ADDR_SPEC_FAST = re.compile(rf"([A-Za-z][A-Za-z0-9+.\-]*:[^\s;<>\",?]+){_FAST_PARAMS}\Z")


def _split_fast_params(text: str) -> Params:
    # Only for text a fast pattern accepted: tokens with plain values.
    if text.count(";") == 1:  # one parameter, typically ";tag=..." or ";lr"
        name, eq, value = text[1:].partition("=")
        return ((name, value if eq else None),)
    return tuple(
        [(n, v if eq else None) for n, eq, v in (p.partition("=") for p in text[1:].split(";"))]
    )


def _new_name_addr(uri_text: str, display: str | None, params: Params) -> NameAddr:
    value = uninitialized(NameAddr)
    value._uri = None
    value._uri_text = uri_text
    value.display_name = display
    value.params = params
    value.tag = _tag_of(params)
    return value


# The hot path, for the From and To of every message: ``[display] <uri>[;params]``
# without escapes or odd spacing. What precedes the ``>`` (the head) and what follows
# it (the parameters) are checked on their own. Whitespace or quotes inside <...> go
# the careful way (RFC 4475 badaspec); any other bad character in the URI is caught
# when it is parsed (lazily, or by validate()).
_NAME_ADDR_HEAD = re.compile(
    rf'(?:"([^"\\\r\n]*)"[ \t]*|({_TOKEN}(?:[ \t]+{_TOKEN})*)[ \t]*)?<([^ \t<>"]+)\Z'
)
_NAME_ADDR_PARAMS = re.compile(rf"(?:;tag=({_TOKEN})|((?:;{_TOKEN}(?:=[^;\s\"=]+)?)+))\Z")
#: Heads read by the hot path -> (display name, URI text), memoized (see _SENT_BY): the
#: From and To of a dialog repeat in each of its requests, a peer's in each dialog.
_HEADS: dict[str, tuple[str | None, str]] = {}
#: Whole values read by the hot path -> their NameAddr (immutable, so shared): the
#: From of a call repeats in each of its requests, its To in each after the answer,
#: a peer's Contact in each of its requests. Found in one lookup, not a parse.
_NAME_ADDRS: dict[str, NameAddr] = {}


def _read_head(head: str) -> tuple[str | None, str] | None:
    m = _NAME_ADDR_HEAD.match(head)
    if m is None:
        return None
    quoted, words, uri_text = m.groups()
    return remember_text(_HEADS, head, (words if quoted is None else quoted, uri_text))


def parse_name_addr(value: str, *, header: str = "header") -> NameAddr:
    """Parse ``[display-name] <URI> *(;param)`` or ``addr-spec *(;param)``.

    In the addr-spec form the URI ends at the first ``;`` so those parameters
    belong to the header, not to the URI (RFC 3261 §20, RFC 4475 cparam01).
    """
    known_value = _NAME_ADDRS.get(value)
    if known_value is not None:
        return known_value
    head, gt, rest = value.partition(">")
    if gt:
        known = _HEADS.get(head) or _read_head(head)
        if known is not None:
            params: Params = ()
            tag: str | None = None
            if rest[:5] == ";tag=" and (tag := rest[5:]).isalnum() and tag.isascii():
                params = (("tag", tag),)  # the usual lone tag: a token without a regex
            elif rest:
                m = _NAME_ADDR_PARAMS.match(rest)
                if m is None:
                    return _parse_name_addr_slow(value, header)
                tag, others = m.groups()
                if tag is None:
                    params = _split_fast_params(others)
                    tag = _tag_of(params)
                else:
                    params = (("tag", tag),)
            result = uninitialized(NameAddr)
            result._uri = None
            result.display_name, result._uri_text = known
            result.params = params
            result.tag = tag
            return remember_text(_NAME_ADDRS, value, result)
    elif "<" not in value:
        m = _ADDR_SPEC_FAST.match(value)
        if m is not None:
            uri_text, params_text = m.groups()
            params = _split_fast_params(params_text) if params_text else ()
            return remember_text(_NAME_ADDRS, value, _new_name_addr(uri_text, None, params))
    return _parse_name_addr_slow(value, header)


def _parse_name_addr_slow(value: str, header: str) -> NameAddr:
    text = value.strip(_WS)
    display: str | None = None
    if text.startswith('"'):
        end = _closing_quote(text, header)
        display = unquote_string(text[: end + 1])
        text = text[end + 1 :].lstrip(_WS)
        if not text.startswith("<"):
            raise _bad(f"{header}: expected '<URI>' after the quoted display name in {value!r}")
    lt = text.find("<")
    if lt > 0 and display is None and ";" in text[:lt]:
        # addr-spec form whose header parameters hold a '<' (in a quoted value):
        # the URI ends at the first ';' (RFC 3261 §20), so there is no name-addr.
        lt = -1
    if lt >= 0:
        if display is None and lt > 0:
            display = _display_tokens(text[:lt], value, header)
        gt = text.find(">", lt)
        if gt < 0:
            raise _bad(f"{header}: '<' without a matching '>' in {value[:80]!r}")
        uri_text = text[lt + 1 : gt]
        if uri_text != uri_text.strip(_WS):
            raise _bad(
                f"{header}: whitespace inside '<...>' around the URI in {value!r}; "
                "write '<sip:...>' (RFC 4475 badaspec)"
            )
        rest = text[gt + 1 :]
    else:
        uri_text, semi, rest = text.partition(";")
        rest = semi + rest
        uri_text = uri_text.strip(_WS)
        if any(c in uri_text for c in ",?"):
            raise _bad(
                f"{header}: URI {uri_text!r} contains ',' or '?', so it must be enclosed in "
                "'<...>' (RFC 3261 §20)"
            )
        if " " in uri_text or "\t" in uri_text:
            raise _bad(
                f"{header}: unquoted display name or whitespace in {value[:80]!r}; "
                "use '\"Name\" <sip:...>'"
            )
    if not uri_text:
        raise _bad(f"{header}: empty URI in {value!r}")
    params = parse_params(rest, header=header) if rest else ()
    return NameAddr(uri_text, display, params)


def _closing_quote(text: str, header: str) -> int:
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i
        i += 1
    raise _bad(f"{header}: unterminated quoted display name in {text[:80]!r} (RFC 4475 quotbal)")


# -- CSeq (RFC 3261 §20.16) -------------------------------------------------------


class CSeq(NamedTuple):
    """``CSeq: <seq> <method>``."""

    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


_KNOWN_METHODS = frozenset(
    [
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "INFO",
        "REFER",
        "MESSAGE",
        "UPDATE",
    ]
)


#: CSeq values read by the hot path (see _SENT_BY): most dialogs start at 1, so
#: ``1 INVITE``, ``1 ACK`` and ``2 BYE`` repeat from call to call.
_CSEQS: dict[str, CSeq] = {}


def parse_cseq(value: str) -> CSeq:
    """Parse a CSeq value; the number must fit 32 bits (RFC 4475 scalar02)."""
    cseq = _CSEQS.get(value)
    if cseq is not None:
        return cseq
    number, _, method = value.partition(" ")
    if method in _KNOWN_METHODS and number.isdigit() and number.isascii() and len(number) < 10:
        return remember(_CSEQS, value, CSeq(int(number), method))
    parts = value.replace("\t", " ").split(" ")
    parts = [part for part in parts if part]
    if len(parts) != 2 or not is_digits(parts[0]) or not is_token(parts[1]):
        raise _bad(f"CSeq: expected '<number> <METHOD>', got {value!r} (RFC 3261 §20.16)")
    seq = int(parts[0])
    if seq > _MAX_CSEQ:
        raise _bad(f"CSeq: sequence number {parts[0]} exceeds 2**32-1 (RFC 3261 §8.1.1.5)")
    return CSeq(seq, parts[1])
