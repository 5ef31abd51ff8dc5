"""Grammar pieces of RFC 3261 §25 (plus RFC 3966 and RFC 5118) shared by the parsers.

Everything here is a pure function over ``str`` or a constant character set. The ABNF
each piece implements is quoted in a comment next to it, so the code can be checked
against the RFC line by line.

Percent-decoding policy
-----------------------
Only URI components whose ABNF is built from ``escaped`` (user, password, URI
parameter names and values, URI header names and values, tel parameters) are ever
decoded, and they are decoded exactly once. A ``%`` anywhere else (a method, a Via
branch, a display name, a Call-ID) is an ordinary character: RFC 4475 §3.1.1.5
(esc02) has ``RE%47IST%45R`` as a method and ``"%Z%45"`` as a display name, and
neither may be decoded.

:func:`pct_decode` is strict: a ``%`` not followed by two hex digits inside an
``escaped`` component is a syntax error (RFC 3261 §25.1), reported as
:class:`~sipsans.errors.RemoteProtocolError` with status hint 400, and
:func:`~sipsans.message.uri.parse_uri` uses it. :func:`pct_decode_lenient` leaves such a ``%``
literal instead; it exists for best-effort display and logging and is used nowhere in
the parsing path.
"""

from __future__ import annotations

import ipaddress
import re
import string

from sipsans.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "ALPHANUM",
    "HEADER_CHARS",
    "HEXDIG",
    "HNV_UNRESERVED",
    "HOSTNAME_PATTERN",
    "IPV4_PATTERN",
    "MARK",
    "PARAM_CHARS",
    "PARAM_UNRESERVED",
    "PASSWORD_CHARS",
    "RESERVED",
    "TEL_PARAM_NAME_CHARS",
    "TOKEN_CHARS",
    "UNRESERVED",
    "URIC",
    "USER_CHARS",
    "USER_UNRESERVED",
    "canonical_host",
    "is_digits",
    "is_global_number",
    "is_hostname",
    "is_ipv4",
    "is_ipv6_reference",
    "is_local_number",
    "is_phonedigits",
    "is_token",
    "parse_host",
    "parse_port",
    "pct_decode",
    "pct_decode_lenient",
    "pct_encode",
    "quote_string",
    "split_host_port",
    "strip_visual_separators",
    "unquote_string",
]

# ---------------------------------------------------------------------------
# Character sets (RFC 3261 §25.1)
# ---------------------------------------------------------------------------

# alphanum  =  ALPHA / DIGIT
ALPHANUM: frozenset[str] = frozenset(string.ascii_letters + string.digits)
# HEXDIG (RFC 2234 core rule; case-insensitive like every ABNF literal)
HEXDIG: frozenset[str] = frozenset(string.hexdigits)
# mark        =  "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"
MARK: frozenset[str] = frozenset("-_.!~*'()")
# unreserved  =  alphanum / mark
UNRESERVED: frozenset[str] = ALPHANUM | MARK
# reserved    =  ";" / "/" / "?" / ":" / "@" / "&" / "=" / "+" / "$" / ","
RESERVED: frozenset[str] = frozenset(";/?:@&=+$,")
# uric        =  reserved / unreserved / escaped   (escaped handled separately)
URIC: frozenset[str] = RESERVED | UNRESERVED
# user-unreserved  =  "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
USER_UNRESERVED: frozenset[str] = frozenset("&=+$,;?/")
# user             =  1*( unreserved / escaped / user-unreserved )
USER_CHARS: frozenset[str] = UNRESERVED | USER_UNRESERVED
# password         =  *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
PASSWORD_CHARS: frozenset[str] = UNRESERVED | frozenset("&=+$,")
# param-unreserved  =  "[" / "]" / "/" / ":" / "&" / "+" / "$"
PARAM_UNRESERVED: frozenset[str] = frozenset("[]/:&+$")
# paramchar         =  param-unreserved / unreserved / escaped
# (RFC 3966 §3 defines tel's paramchar with the very same characters.)
PARAM_CHARS: frozenset[str] = UNRESERVED | PARAM_UNRESERVED
# hnv-unreserved  =  "[" / "]" / "/" / "?" / ":" / "+" / "$"
HNV_UNRESERVED: frozenset[str] = frozenset("[]/?:+$")
# hname  =  1*( hnv-unreserved / unreserved / escaped )
# hvalue =  *( hnv-unreserved / unreserved / escaped )
HEADER_CHARS: frozenset[str] = UNRESERVED | HNV_UNRESERVED
# RFC 3966 §3: pname = 1*( alphanum / "-" )
TEL_PARAM_NAME_CHARS: frozenset[str] = ALPHANUM | frozenset("-")
# token  =  1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )
TOKEN_CHARS: frozenset[str] = ALPHANUM | frozenset("-.!%*_+`'~")

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")


def is_digits(s: str) -> bool:
    """True for a non-empty run of ASCII digits (``str.isdigit`` also accepts '²', '١')."""
    return s.isascii() and s.isdigit()


def is_token(s: str) -> bool:
    """Return True if *s* is an RFC 3261 §25.1 ``token`` (non-empty, token chars only)."""
    return _TOKEN_RE.fullmatch(s) is not None


# ---------------------------------------------------------------------------
# quoted-string (RFC 3261 §25.1)
# ---------------------------------------------------------------------------
# quoted-string  =  SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE
# qdtext         =  LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
# quoted-pair    =  "\" (%x00-09 / %x0B-0C / %x0E-7F)
#
# Leniency: qdtext excludes raw control characters other than HTAB; they may only be
# sent as quoted-pairs (RFC 4475 §3.1.1.2 intmeth does that for NUL, BEL and DEL).
# On input any raw character except CR and LF is accepted inside the quotes: it is
# unambiguous there, and rejecting a whole request over a control character in a
# display name helps nobody. CR and LF stay errors (they would mean an unfolded line
# break or header injection). quote_string() always escapes controls on output.
_QUOTED_RE = re.compile(r'"((?:[^"\\\r\n]|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*)"')
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
_NEEDS_QUOTED_PAIR_RE = re.compile(r'["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')


def quote_string(s: str) -> str:
    """Return *s* as an RFC 3261 §25.1 ``quoted-string``.

    ``"`` and ``\\`` and the control characters that ``qdtext`` excludes (everything
    below 0x20 except HTAB, and DEL) are written as quoted-pairs. CR and LF cannot be
    carried by a quoted-string at all (``quoted-pair`` excludes them), so they raise
    :class:`~sipsans.errors.LocalProtocolError`.
    """
    if "\r" in s or "\n" in s:
        raise LocalProtocolError(
            f"cannot quote {s!r}: CR and LF cannot appear in a SIP quoted-string "
            "(RFC 3261 §25.1 quoted-pair excludes them); remove them first"
        )
    return '"' + _NEEDS_QUOTED_PAIR_RE.sub(r"\\\g<0>", s) + '"'


def unquote_string(s: str) -> str:
    """Return the content of the ``quoted-string`` *s* with quoted-pairs resolved.

    *s* is the whole quoted string including both double quotes (leading and trailing
    whitespace is the caller's business). Raises
    :class:`~sipsans.errors.RemoteProtocolError` (400) if it is unterminated (RFC 4475
    §3.1.2.6 quotbal), has text after the closing quote, contains a raw CR or LF, or
    a quoted-pair escapes a character outside 0x00-0x7F (CR and LF included). Other
    raw control characters are tolerated (see the comment above).
    """
    m = _QUOTED_RE.fullmatch(s)
    if m is None:
        raise RemoteProtocolError(_diagnose_quoted(s), status_hint=400)
    content = m.group(1)
    if "\\" in content:
        return _QUOTED_PAIR_RE.sub(r"\1", content)
    return content


def _diagnose_quoted(s: str) -> str:
    if not s.startswith('"'):
        return f"quoted-string {s!r} does not start with a double quote"
    i = 1
    n = len(s)
    while i < n:
        c = s[i]
        if c == '"':
            return (
                f"text {s[i + 1 :]!r} after the closing quote of quoted-string {s!r}; "
                'escape inner quotes as \\"'
            )
        if c == "\\":
            if i + 1 >= n:
                break
            e = s[i + 1]
            if e in "\r\n" or ord(e) > 0x7F:
                return (
                    f"invalid quoted-pair \\{e!r} in quoted-string {s!r}: a quoted-pair "
                    "escapes only 0x00-0x7F except CR and LF (RFC 3261 §25.1)"
                )
            i += 2
            continue
        if c in "\r\n":
            return (
                f"raw line break {c!r} in quoted-string {s!r}; a quoted-string cannot "
                "carry CR or LF (RFC 3261 §25.1)"
            )
        i += 1
    return f"unterminated quoted-string {s!r}: the closing double quote is missing"


# ---------------------------------------------------------------------------
# escaped  =  "%" HEXDIG HEXDIG   (RFC 3261 §25.1)
# ---------------------------------------------------------------------------
_BAD_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ESCAPE_RE = re.compile(r"((?:%[0-9A-Fa-f]{2})+)")


def _decode_run(m: re.Match[str]) -> str:
    # A run of consecutive escapes is one UTF-8 byte sequence: %C3%A9 -> "é".
    # Bytes that are not UTF-8 survive as lone surrogates (surrogateescape), so
    # pct_encode() restores them byte for byte.
    return bytes.fromhex(m.group(1).replace("%", "")).decode("utf-8", "surrogateescape")


def pct_decode(s: str) -> str:
    """Decode the ``escaped`` sequences (``%HH``) of one URI component.

    Consecutive escapes are decoded together as UTF-8 (``%C3%A9`` -> ``é``); byte
    sequences that are not UTF-8 become lone surrogates (``surrogateescape``) so that
    :func:`pct_encode` gives the same bytes back. ``%00`` decodes to NUL and is kept
    (RFC 4475 §3.1.1.4 escnull). A ``%`` not followed by two hex digits raises
    :class:`~sipsans.errors.RemoteProtocolError` (400).

    Call this only on components that RFC 3261 defines with ``escaped``.
    """
    if "%" not in s:
        return s
    bad = _BAD_ESCAPE_RE.search(s)
    if bad is not None:
        at = bad.start()
        raise RemoteProtocolError(
            f"invalid escape {s[at : at + 3]!r} in {s!r}: '%' must be followed by two hex "
            "digits (RFC 3261 §25.1 escaped); send a literal '%' as %25",
            status_hint=400,
        )
    return _ESCAPE_RE.sub(_decode_run, s)


def pct_decode_lenient(s: str) -> str:
    """Like :func:`pct_decode`, but a ``%`` that starts no valid escape stays literal.

    For best-effort display of broken input only; the URI parser uses the strict
    :func:`pct_decode`.
    """
    if "%" not in s:
        return s
    return _ESCAPE_RE.sub(_decode_run, s)


def pct_encode(s: str, safe: frozenset[str]) -> str:
    """Escape every character of *s* not in *safe* as ``%HH`` (upper-case hex).

    Non-ASCII characters are escaped as their UTF-8 bytes; lone surrogates produced
    by :func:`pct_decode` (``surrogateescape``) become the original byte again.
    ``%`` itself must not be in *safe* if the result is to decode back to *s*.
    """
    if safe.issuperset(s):
        return s
    out: list[str] = []
    for c in s:
        if c in safe:
            out.append(c)
        else:
            out.extend(f"%{b:02X}" for b in c.encode("utf-8", "surrogateescape"))
    return "".join(out)


# ---------------------------------------------------------------------------
# host, port, hostport (RFC 3261 §25.1, RFC 5118)
# ---------------------------------------------------------------------------
# hostname     =  *( domainlabel "." ) toplabel [ "." ]
# domainlabel  =  alphanum / alphanum *( alphanum / "-" ) alphanum
# toplabel     =  ALPHA / ALPHA *( alphanum / "-" ) alphanum
#
# Leniency: "_" is accepted wherever alphanum is (except as the first character of
# the toplabel). RFC 3261 excludes it, but container and cloud host names carry it in
# practice and it is not a delimiter anywhere in a SIP URI, so accepting it cannot
# change how the rest of the URI is split.
# Written with possessive quantifiers (Python 3.11) so that matching never
# backtracks inside a label: a label is alphanumeric runs joined by hyphen runs.
_LABEL = r"[A-Za-z0-9_]++(?:-++[A-Za-z0-9_]++)*+"
_TOPLABEL = r"[A-Za-z][A-Za-z0-9_]*+(?:-++[A-Za-z0-9_]++)*+"
HOSTNAME_PATTERN = rf"(?:{_LABEL}\.)*{_TOPLABEL}\.?"
# IPv4address  =  1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT
# The ABNF allows 999; only 0-255 is an address, so larger octets are rejected.
IPV4_PATTERN = (
    r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])"
)
_HOSTNAME_RE = re.compile(HOSTNAME_PATTERN)
_IPV4_RE = re.compile(IPV4_PATTERN)
# IPv6reference  =  "[" IPv6address "]"
# IPv6address    =  hexpart [ ":" IPv4address ]
# hexpart        =  hexseq / hexseq "::" [ hexseq ] / "::" [ hexseq ]
# hexseq         =  hex4 *( ":" hex4)
# hex4           =  1*4HEXDIG
# The ABNF is loose (it does not count groups), so the address is checked with
# RFC 4291 rules through the ipaddress module.
_IPV6_CHARS_RE = re.compile(r"[0-9A-Fa-f:.]+")
# port  =  1*DIGIT
_PORT_RE = re.compile(r"[0-9]+")


def is_hostname(s: str) -> bool:
    """True if *s* is an RFC 3261 ``hostname`` (with the ``_`` leniency documented above)."""
    return _HOSTNAME_RE.fullmatch(s) is not None


def is_ipv4(s: str) -> bool:
    """True if *s* is a dotted-quad IPv4 address with octets 0-255."""
    return _IPV4_RE.fullmatch(s) is not None


def _ipv6_address(inner: str) -> ipaddress.IPv6Address | None:
    if _IPV6_CHARS_RE.fullmatch(inner) is None:
        return None
    try:
        return ipaddress.IPv6Address(inner)
    except ValueError:
        pass
    # Leniency (RFC 5118 §4.10): the RFC 3261 ABNF admits "2001:db8:::192.0.2.1"
    # (hexseq "::" followed by ":" IPv4address), which RFC 4291 does not. RFC 5118 asks
    # parsers to tolerate it; it means the same address as "2001:db8::192.0.2.1".
    if ":::" in inner and inner.count(":::") == 1 and "." in inner:
        head, _, tail = inner.partition(":::")
        if "::" not in head and "::" not in tail and is_ipv4(tail):
            try:
                return ipaddress.IPv6Address(head + "::" + tail)
            except ValueError:
                return None
    return None


def is_ipv6_reference(s: str) -> bool:
    """True if *s* is ``[IPv6address]`` (RFC 3261 IPv6reference; RFC 5118 §4.10 3-colon form)."""
    return len(s) > 2 and s[0] == "[" and s[-1] == "]" and _ipv6_address(s[1:-1]) is not None


def canonical_host(host: str) -> str:
    """The comparison form of a host: lower case; IPv6 references in RFC 5952 form.

    Host names compare case-insensitively (RFC 3261 §19.1.4). Two spellings of one
    IPv6 address (``[2001:DB8:0::10]`` and ``[2001:db8::10]``) denote the same host, so
    they are compared by value; this is not a DNS lookup, which §19.1.4 forbids.
    """
    if host[:1] == "[":
        addr = _ipv6_address(host[1:-1])
        if addr is not None:
            return f"[{addr.compressed}]"
    return host.lower()


def parse_host(text: str, *, allow_bare_ipv6: bool = False) -> str:
    """Validate an RFC 3261 ``host`` and return it as written.

    ``host = hostname / IPv4address / IPv6reference``. IPv6 addresses must be in
    brackets (RFC 5118 §4.2 ipv6-bad); with ``allow_bare_ipv6=True`` (for places like
    the Via ``received`` parameter, RFC 5118 §4.5, where RFC 3261 has no brackets) a
    bare IPv6 address is accepted and returned with brackets added.
    Raises :class:`~sipsans.errors.RemoteProtocolError` (400).
    """
    if not text:
        raise RemoteProtocolError("empty host; a host name or IP address is required")
    if text[0] == "[":
        if is_ipv6_reference(text):
            return text
        raise RemoteProtocolError(
            f"invalid IPv6 reference {text!r}: expected '[' IPv6address ']' "
            "(RFC 3261 §25.1, RFC 5118)"
        )
    if _HOSTNAME_RE.fullmatch(text) is not None or _IPV4_RE.fullmatch(text) is not None:
        return text
    if ":" in text and _ipv6_address(text) is not None:
        if allow_bare_ipv6:
            return f"[{text}]"
        raise RemoteProtocolError(
            f"IPv6 address {text!r} must be enclosed in brackets: write [{text}] "
            "(RFC 3261 §25.1 IPv6reference, RFC 5118 §4.2)"
        )
    if _IPV4_LIKE_RE.fullmatch(text) is not None:
        raise RemoteProtocolError(f"invalid IPv4 address {text!r}: each octet must be 0-255")
    raise RemoteProtocolError(
        f"invalid host {text!r}: expected a host name (letters, digits, '-', dots), "
        "an IPv4 address or a bracketed IPv6 address (RFC 3261 §25.1 host)"
    )


_IPV4_LIKE_RE = re.compile(r"[0-9]+(?:\.[0-9]+){3}")


def parse_port(text: str) -> int:
    """Parse an RFC 3261 ``port`` (``1*DIGIT``) and check it is 0-65535."""
    if _PORT_RE.fullmatch(text) is None:
        raise RemoteProtocolError(
            f"invalid port {text!r}: a port is 1 to 5 decimal digits (RFC 3261 §25.1)"
        )
    port = int(text)
    if port > 65535:
        raise RemoteProtocolError(f"port {text} is out of range: it must be 0-65535")
    return port


def split_host_port(text: str, *, allow_bare_ipv6: bool = False) -> tuple[str, int | None]:
    """Split and validate an RFC 3261 ``hostport`` (``host [ ":" port ]``).

    IPv6 references keep their brackets: ``"[2001:db8::10]:5070"`` gives
    ``("[2001:db8::10]", 5070)``, while ``"[2001:db8::10:5070]"`` is a host with no
    port (RFC 5118 §4.3): the port is only ever looked for after the ``]``. The
    3-colon form ``[2001:db8:::192.0.2.1]`` is tolerated (RFC 5118 §4.10).
    With ``allow_bare_ipv6=True`` a text with more than one colon and no brackets is
    taken as a bare IPv6 address without a port (returned bracketed); see
    :func:`parse_host`. Raises :class:`~sipsans.errors.RemoteProtocolError` (400).
    """
    if text[:1] == "[":
        end = text.find("]")
        if end < 0:
            raise RemoteProtocolError(
                f"unterminated IPv6 reference in {text!r}: the closing ']' is missing"
            )
        host = parse_host(text[: end + 1])
        rest = text[end + 1 :]
        if not rest:
            return host, None
        if rest[0] != ":":
            raise RemoteProtocolError(
                f"unexpected {rest!r} after IPv6 reference {host!r} in {text!r}; "
                "only ':' port may follow"
            )
        return host, parse_port(rest[1:])
    colons = text.count(":")
    if colons == 0:
        return parse_host(text), None
    if colons == 1:
        host, _, port = text.partition(":")
        return parse_host(host), parse_port(port)
    return parse_host(text, allow_bare_ipv6=allow_bare_ipv6), None


# ---------------------------------------------------------------------------
# tel numbers (RFC 3966 §3)
# ---------------------------------------------------------------------------
# global-number-digits = "+" *phonedigit DIGIT *phonedigit
# local-number-digits  = *phonedigit-hex (HEXDIG / "*" / "#") *phonedigit-hex
# phonedigit           = DIGIT / [ visual-separator ]
# phonedigit-hex       = HEXDIG / "*" / "#" / [ visual-separator ]
# visual-separator     = "-" / "." / "(" / ")"
# extension            = ";ext=" 1*phonedigit
_GLOBAL_NUMBER_RE = re.compile(r"\+[0-9\-.()]*[0-9][0-9\-.()]*")
_LOCAL_NUMBER_RE = re.compile(r"[0-9A-Fa-f*#\-.()]*[0-9A-Fa-f*#][0-9A-Fa-f*#\-.()]*")
_PHONEDIGITS_RE = re.compile(r"[0-9\-.()]+")
_VISUAL_SEPARATORS = str.maketrans("", "", "-.()")


def is_global_number(s: str) -> bool:
    """True if *s* is RFC 3966 ``global-number-digits`` (``+1-201-555-0123``)."""
    return _GLOBAL_NUMBER_RE.fullmatch(s) is not None


def is_local_number(s: str) -> bool:
    """True if *s* is RFC 3966 ``local-number-digits`` (``7042``, ``*21#``, ``ABCD``)."""
    return _LOCAL_NUMBER_RE.fullmatch(s) is not None


def is_phonedigits(s: str) -> bool:
    """True if *s* is ``1*phonedigit`` (digits and visual separators; RFC 3966 ext)."""
    return _PHONEDIGITS_RE.fullmatch(s) is not None


def strip_visual_separators(s: str) -> str:
    """Remove RFC 3966 visual separators ``-.()``; numbers compare without them (§4)."""
    return s.translate(_VISUAL_SEPARATORS)
