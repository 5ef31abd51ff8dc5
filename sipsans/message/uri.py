"""Parsing URIs: text to a :class:`SipURI`, :class:`TelURI` or :class:`AbsoluteURI`.

:func:`parse_uri` turns text into one of the types of :mod:`sipsans.message.uri_model`
(re-exported here, where users import them from) or raises
:class:`~sipsans.errors.RemoteProtocolError` with ``status_hint=400`` and a message that
names the problem and the RFC rule. A fast path reads the usual SIP URI with one
regular expression; everything else takes the general path, which accepts the same
language plus escapes, IPv6 references and the leniencies noted below.
"""

from __future__ import annotations

import re
from typing import Final

from .._speed import remember
from ..errors import RemoteProtocolError
from .grammar import (
    ALPHANUM,
    HEADER_CHARS,
    HOSTNAME_PATTERN,
    IPV4_PATTERN,
    PARAM_CHARS,
    PASSWORD_CHARS,
    URIC,
    USER_CHARS,
    pct_decode,
    pct_encode,
    split_host_port,
)
from .uri_model import (
    _SCHEME_RE,
    URI,
    AbsoluteURI,
    Header,
    Param,
    SipURI,
    TelURI,
    _check_opaque,
    _check_tel,
)

__all__ = ["URI", "AbsoluteURI", "SipURI", "TelURI", "parse_uri"]

_UN = r"A-Za-z0-9\-_.!~*'()"  # unreserved
_PC = _UN + r"\[\]/:&+$"  # paramchar without escaped
_HC = _UN + r"\[\]/?:+$"  # hname/hvalue characters without escaped
# The fast path: a SIP URI whose components need no decoding and no diagnosis.
#   SIP-URI  =  "sip:" [ userinfo ] hostport uri-parameters [ headers ]
#   userinfo =  ( user / telephone-subscriber ) [ ":" password ] "@"
# IPv6 references, escapes, empty parameter values and anything unusual take the
# general path, which accepts the same language plus those and explains errors.
# Possessive quantifiers keep it linear: no component's characters include the
# delimiter that ends it.
_FAST_SIP_RE = re.compile(
    r"([sS][iI][pP][sS]?):"
    r"(?:([" + _UN + r"&=+$,;?/]++)(?::([" + _UN + r"&=+$,]*+))?@)?"
    r"(" + IPV4_PATTERN + "|" + HOSTNAME_PATTERN + r")"
    r"(?::([0-9]{1,5}))?"
    r"((?:;[" + _PC + r"]++(?:=[" + _PC + r"]++)?+)*+)"
    r"(?:\?([" + _HC + r"]++=[" + _HC + r"]*+(?:&[" + _HC + r"]++=[" + _HC + r"]*+)*+))?"
)
_BAD_CHAR_RE = re.compile(r"[\x00-\x20\x7f]")

# Two small bounded caches (cleared when full, so they never grow past their limit).
# Parsed URIs are immutable, so sharing them is safe. The same URIs recur in every
# message of a dialog (Request-URI, From, To, Contact) and the same parameter strings
# (";transport=tcp", ";lr") recur everywhere; a hit costs one dict lookup.
_CACHE_MAX: Final = 512
_uri_cache: dict[str, URI] = {}


def _split_params(params_s: str) -> tuple[Param, ...]:
    # Only for text the fast regex accepted: no escapes, no empty names or values.
    return tuple(
        [
            (n, v if eq else None)
            for n, eq, v in (item.partition("=") for item in params_s[1:].split(";"))
        ]
    )


def parse_uri(text: str) -> URI:
    """Parse a URI as found in a Request-URI or a name-addr/addr-spec.

    Returns a :class:`SipURI` for sip/sips (scheme case-insensitive), a
    :class:`TelURI` for tel, and an :class:`AbsoluteURI` for any other scheme
    (RFC 4475 §3.3.2 unkscm, §3.3.3 novelsc, §3.3.4 unksm2). Raises
    :class:`~sipsans.errors.RemoteProtocolError` (``status_hint=400``) naming the
    problem for: empty text, whitespace inside (RFC 4475 §3.1.2.8 lwsruri), ``<...>``
    around it (§3.1.2.7 ltgtruri), a bad host or an unbracketed IPv6 address (RFC 5118
    §4.2), a bad port, or a malformed ``%`` escape.
    """
    u: URI | None = _uri_cache.get(text)
    if u is not None:
        return u
    m = _FAST_SIP_RE.fullmatch(text)
    if m is not None:
        scheme, user, password, host, port_s, params_s, headers_s = m.groups()
        port = None if port_s is None else int(port_s)
        if port is None or port <= 65535:
            # The text is already canonical unless the scheme has capitals or the
            # port leading zeros; then str() renders it afresh.
            canonical = (scheme == "sip" or scheme == "sips") and (  # noqa: PLR1714 - faster than a set
                port_s is None or port_s[0] != "0" or port_s == "0"
            )
            u = SipURI.parsed(
                scheme if canonical else scheme.lower(),
                user,
                password,
                host,
                port,
                _split_params(params_s) if params_s else (),
                ()
                if headers_s is None
                else tuple(
                    [(n, v) for n, _, v in (h.partition("=") for h in headers_s.split("&"))]
                ),
                text if canonical else None,
            )
    if u is None:
        u = _parse_slow(text)
    return remember(_uri_cache, text, u, _CACHE_MAX)


def _fail(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(message, status_hint=400)


def _parse_slow(text: str) -> URI:
    if not text:
        raise _fail("empty URI; a URI such as sip:user@example.com is required")
    if text[0] == "<":
        raise _fail(
            f"URI {text!r} is enclosed in '<' '>'; angle brackets belong to a name-addr "
            "header value, not to a bare URI such as the Request-URI (RFC 3261 §25.1; "
            "RFC 4475 §3.1.2.7 ltgtruri)"
        )
    bad = _BAD_CHAR_RE.search(text)
    if bad is not None:
        c = bad.group()
        what = "whitespace" if c in " \t" else "control character"
        raise _fail(
            f"{what} {c!r} at offset {bad.start()} inside URI {text!r}; a URI contains "
            "no whitespace: remove it or escape it as %20 (RFC 3261 §25.1; RFC 4475 "
            "§3.1.2.8 lwsruri)"
        )
    if not text.isascii():
        raise _fail(
            f"non-ASCII character in URI {text!r}; percent-encode its UTF-8 bytes "
            "(RFC 3261 §25.1 escaped)"
        )
    colon = text.find(":")
    if colon <= 0 or _SCHEME_RE.fullmatch(text, 0, colon) is None:
        raise _fail(
            f"URI {text!r} has no valid scheme; expected e.g. 'sip:', 'sips:' or 'tel:' "
            "(scheme = ALPHA *( ALPHA / DIGIT / '+' / '-' / '.' ))"
        )
    scheme = text[:colon].lower()
    rest = text[colon + 1 :]
    if scheme in ("sip", "sips"):
        return _parse_sip(text, scheme, rest)
    if scheme == "tel":
        return _parse_tel(text, rest)
    problem = _check_opaque(rest)
    if problem is not None:
        raise _fail(f"{problem} in URI {text!r}")
    return AbsoluteURI.parsed(text[:colon], rest)


def _component(value: str, allowed: frozenset[str], what: str, text: str) -> str:
    """Validate one ``escaped``-built component and return it decoded."""
    if not allowed.issuperset(value):
        for c in value:
            if c not in allowed and c != "%":
                raise _fail(
                    f"character {c!r} is not allowed in the {what} of URI {text!r}; "
                    f"escape it as {pct_encode(c, frozenset())} (RFC 3261 §25.1)"
                )
    try:
        return pct_decode(value)
    except RemoteProtocolError as exc:
        raise _fail(f"{exc} (in the {what} of URI {text!r})") from None


# Leniency: '#' is accepted unescaped in a user part. RFC 3261 requires %23, but
# phones send feature codes such as sip:*21#@pbx raw; '#' is no delimiter in a SIP
# URI, so accepting it is unambiguous. It is re-escaped as %23 on output.
_USER_IN: Final = USER_CHARS | frozenset("#")
# Leniency: '=' is accepted inside a parameter value (e.g. base64 padding). It is not
# paramchar, but only the first '=' separates name from value, so the rest is
# unambiguous; it is re-escaped as %3D on output.
_PVALUE_IN: Final = PARAM_CHARS | frozenset("=")


def _parse_sip(text: str, scheme: str, rest: str) -> SipURI:
    # userinfo ends at the first '@': no other component may contain a raw '@'
    # (RFC 3261 §25.1), while ';' and '?' may appear in the user part (user-unreserved;
    # RFC 4475 §3.1.1.9 semiuri).
    user: str | None = None
    password: str | None = None
    at = rest.find("@")
    if at >= 0:
        userinfo = rest[:at]
        rest = rest[at + 1 :]
        if "@" in rest:
            raise _fail(
                f"more than one '@' in URI {text!r}; escape an '@' inside a user part, "
                "parameter or header as %40"
            )
        user_raw, colon, pw_raw = userinfo.partition(":")
        if not user_raw:
            raise _fail(f"empty user part before '@' in URI {text!r}; omit the '@' or add a user")
        user = _component(user_raw, _USER_IN, "user part", text)
        if colon:
            password = _component(pw_raw, PASSWORD_CHARS, "password", text)
    # hostport ends at the first ';' or '?'.
    end = len(rest)
    for delim in (";", "?"):
        i = rest.find(delim)
        if 0 <= i < end:
            end = i
    hostport = rest[:end]
    if not hostport:
        raise _fail(f"URI {text!r} has no host; expected sip:[user@]host[:port]")
    try:
        host, port = split_host_port(hostport)
    except RemoteProtocolError as exc:
        raise _fail(f"{exc} (in URI {text!r})") from None
    rest = rest[end:]
    params: list[Param] = []
    headers: list[Header] = []
    q = rest.find("?")
    params_s = rest if q < 0 else rest[:q]
    if params_s:
        for item in params_s[1:].split(";"):
            if not item:
                raise _fail(f"empty URI parameter (';;' or a trailing ';') in URI {text!r}")
            name_raw, eq, value_raw = item.partition("=")
            if not name_raw:
                raise _fail(f"URI parameter {item!r} has no name in URI {text!r}")
            name = _component(name_raw, PARAM_CHARS, "parameter name", text)
            # Leniency: ';name=' with an empty value is kept as "" (RFC 3261 pvalue
            # is 1*paramchar); it is unambiguous and some peers send it.
            value = _component(value_raw, _PVALUE_IN, f"parameter {name!r}", text) if eq else None
            params.append((name, value))
    if q >= 0:
        headers_s = rest[q + 1 :]
        if not headers_s:
            raise _fail(f"empty header part after '?' in URI {text!r}")
        for item in headers_s.split("&"):
            name_raw, eq, value_raw = item.partition("=")
            if not name_raw or not eq:
                raise _fail(
                    f"URI header {item!r} in URI {text!r} is not of the form name=value "
                    "(RFC 3261 §25.1 header)"
                )
            hname = _component(name_raw, HEADER_CHARS, "header name", text)
            hvalue = _component(value_raw, HEADER_CHARS, f"header {hname!r}", text)
            headers.append((hname, hvalue))
    return SipURI.parsed(scheme, user, password, host, port, tuple(params), tuple(headers), None)


def _parse_tel(text: str, rest: str) -> TelURI:
    # telephone-uri = "tel:" telephone-subscriber   (RFC 3966 §3)
    number, _, params_s = rest.partition(";")
    params: list[Param] = []
    if params_s:
        for item in params_s.split(";"):
            if not item:
                raise _fail(f"empty parameter (';;' or a trailing ';') in tel URI {text!r}")
            name, eq, value_raw = item.partition("=")
            if not name or not ALPHANUM.issuperset(name.replace("-", "")):
                raise _fail(
                    f"invalid parameter name {name!r} in tel URI {text!r}: use letters, "
                    "digits and '-' (RFC 3966 §3 pname)"
                )
            # isub is 1*uric (RFC 3966 §3 isdn-subaddress); everything else paramchar.
            allowed = URIC if name.lower() == "isub" else PARAM_CHARS
            value = _component(value_raw, allowed, f"parameter {name!r}", text) if eq else None
            params.append((name, value))
    try:
        num, params_t = _check_tel(number, tuple(params), RemoteProtocolError)
    except RemoteProtocolError as exc:
        raise _fail(f"{exc} (in URI {text!r})") from None
    return TelURI.parsed(num, params_t)
