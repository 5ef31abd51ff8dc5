"""Challenges and credentials on the wire: WWW-/Proxy-Authenticate, (Proxy-)Authorization.

Grammar (RFC 7235 §2.1 and §4.1, which RFC 7616 §3.3/§3.4 build on, and RFC 3261
§25.1 for SIP)::

    challenge    = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    credentials  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param   = token BWS "=" BWS ( token / quoted-string )
    token68      = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    WWW-Authenticate = 1#challenge        (several challenges may share one line)

Parameter names are case-insensitive (stored lower case); values keep their case.
Because a challenge's parameters and the next challenge are both separated by commas,
an element that is ``token`` followed by whitespace and more text (or a lone token)
starts a new challenge, and ``token = value`` continues the current one.

Leniency: an unquoted value may be any run of characters other than whitespace,
``"``, ``,`` and a leading ``=`` (not only RFC 3261 ``token`` characters): several
deployed clients send ``uri=sip:bob@example.com`` or a base64 nonce unquoted, and
accepting them cannot change how the list is split. Empty list elements (``,,``) are
skipped as RFC 7230 §7 asks.

Unknown schemes (Basic, Bearer, ...) parse like any other and are skipped by the digest
views; malformed text raises :class:`~sipsans.errors.RemoteProtocolError` (400).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import RemoteProtocolError
from ..message.grammar import is_token, quote_string, unquote_string
from .digest import canonical_algorithm

__all__ = [
    "AuthParams",
    "DigestAuthorization",
    "DigestChallenge",
    "parse_auth_header",
    "parse_authorization",
    "parse_digest_challenges",
]

_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_QUOTED = r'"(?:[^"\\\r\n]|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*"'
_BARE = r'[^\s",=][^\s",]*'
_PARAM_RE = re.compile(rf"({_TOKEN})[ \t]*=[ \t]*({_QUOTED}|{_BARE})[ \t]*(?=,|$)")
_NAME_EQ_RE = re.compile(rf"({_TOKEN})[ \t]*=")
_SCHEME_RE = re.compile(rf"({_TOKEN})(?=[ \t,]|$)")
_TOKEN68_RE = re.compile(r"([A-Za-z0-9\-._~+/]+=*)[ \t]*(?=,|$)")
_SKIP_RE = re.compile(r"[ \t,]*")
_WS_RE = re.compile(r"[ \t]*")
_NC_RE = re.compile(r"[0-9A-Fa-f]{8}")
#: request-digest = DQUOTE *LHEX DQUOTE (RFC 7616 §3.4; 32, 64 hex digits in use).
_RESPONSE_RE = re.compile(r"[0-9A-Fa-f]{0,128}")
#: The longest credential parameter value accepted (a URI, a nonce, a username...).
#: Nothing legitimate comes near it; longer ones are refused before any hashing.
MAX_CREDENTIAL_VALUE = 1024


def _bad(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(message, status_hint=400)


@dataclass(frozen=True, slots=True)
class AuthParams:
    """One challenge or one set of credentials: a scheme and its parameters.

    ``params`` holds ``(name, value)`` pairs in order, names lower case and values
    unquoted. ``token68`` is set instead for schemes such as ``Negotiate abc==``.
    """

    scheme: str
    params: tuple[tuple[str, str], ...] = ()
    token68: str | None = None

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"

    def get(self, name: str) -> str | None:
        """The value of parameter *name* (any case), or None."""
        key = name.lower()
        for k, v in self.params:
            if k == key:
                return v
        return None


def _parse_value(raw: str) -> str:
    return unquote_string(raw) if raw.startswith('"') else raw


def parse_auth_header(value: str) -> list[AuthParams]:
    """Parse one header line into its challenges (or its one set of credentials).

    Raises RemoteProtocolError (400) with the offending text on malformed input:
    a parameter before any scheme, a repeated parameter name in one challenge
    (RFC 7235 §2.1), an unterminated quoted-string, or stray text.
    """
    out: list[AuthParams] = []
    scheme: str | None = None
    params: list[tuple[str, str]] = []
    token68: str | None = None

    def finish() -> None:
        if scheme is not None:
            out.append(AuthParams(scheme, tuple(params), token68))

    i = 0
    n = len(value)
    while True:
        i = _SKIP_RE.match(value, i).end()  # type: ignore[union-attr]  # always matches
        if i >= n:
            break
        m = _PARAM_RE.match(value, i)
        if m is not None:
            name = m.group(1).lower()
            if scheme is None:
                raise _bad(f"auth parameter {name!r} before any auth-scheme in {value[:120]!r}")
            if token68 is not None:
                raise _bad(f"auth parameter {name!r} after token68 in {value[:120]!r}")
            if any(k == name for k, _ in params):
                raise _bad(
                    f"parameter {name!r} appears twice in one {scheme} challenge or "
                    f"credentials (RFC 7235 §2.1): {value[:120]!r}"
                )
            params.append((name, _parse_value(m.group(2))))
            i = m.end()
            continue
        bad_param = _NAME_EQ_RE.match(value, i)
        m = _SCHEME_RE.match(value, i)
        if m is None or bad_param is not None:
            if bad_param is not None:
                raise _bad(
                    f"malformed value of auth parameter {bad_param.group(1)!r} in "
                    f"{value[:120]!r} (unterminated quoted-string or stray text?)"
                )
            raise _bad(f"unexpected text {value[i : i + 40]!r} in auth header {value[:120]!r}")
        finish()
        scheme, params, token68 = m.group(1), [], None
        i = _WS_RE.match(value, m.end()).end()  # type: ignore[union-attr]  # always matches
        if i < n and value[i] != ",":
            t = _TOKEN68_RE.match(value, i)
            if t is not None and _PARAM_RE.match(value, i) is None:
                token68 = t.group(1)
                i = t.end()
    finish()
    return out


def _lines(values: str | Iterable[str]) -> list[str]:
    return [values] if isinstance(values, str) else list(values)


def _flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "true"


class _DigestParams:
    """What a Digest challenge and Digest credentials share (RFC 7616 §3.3, §3.4): the
    ``algorithm`` token as sent (``None`` means MD5), the ``userhash`` flag and the
    extension parameters, which both header values end with."""

    __slots__ = ()

    algorithm: str | None
    userhash: bool
    extra: tuple[tuple[str, str], ...]

    @property
    def canonical_algorithm(self) -> str | None:
        """The registry spelling of :attr:`algorithm` (``MD5``, ``SHA-256``...), None
        when unsupported (RFC 7616 §6.1)."""
        return canonical_algorithm(self.algorithm)

    def _header_value(self, parts: list[str]) -> str:
        """``Digest`` and *parts*, then ``userhash`` and the extension parameters."""
        if self.userhash:
            parts.append("userhash=true")
        parts += [f"{k}={_format_extra(v)}" for k, v in self.extra]
        return "Digest " + ", ".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestChallenge(_DigestParams):
    """A Digest challenge (RFC 7616 §3.3, RFC 3261 §22.4).

    ``algorithm`` is the token as sent (``None`` means MD5); :attr:`canonical_algorithm`
    is its registry spelling or None when unsupported. ``qop`` lists the offered
    options lower case (empty: RFC 2069 mode without qop).
    """

    realm: str
    nonce: str
    algorithm: str | None = None
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    userhash: bool = False
    domain: str | None = None
    charset: str | None = None
    extra: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def from_params(cls, params: AuthParams) -> DigestChallenge:
        """Build from a parsed ``Digest`` challenge; RemoteProtocolError if realm or nonce lack."""
        known = {"realm", "nonce", "algorithm", "qop", "opaque", "stale", "userhash"}
        known |= {"domain", "charset"}
        realm = params.get("realm")
        nonce = params.get("nonce")
        if realm is None or nonce is None:
            missing = "realm" if realm is None else "nonce"
            raise _bad(f"Digest challenge without {missing} (RFC 7616 §3.3): {params}")
        qop = params.get("qop")
        return cls(
            realm=realm,
            nonce=nonce,
            algorithm=params.get("algorithm"),
            qop=tuple(q.strip().lower() for q in qop.split(",") if q.strip()) if qop else (),
            opaque=params.get("opaque"),
            stale=_flag(params.get("stale")),
            userhash=_flag(params.get("userhash")),
            domain=params.get("domain"),
            charset=params.get("charset"),
            extra=tuple((k, v) for k, v in params.params if k not in known),
        )

    def __str__(self) -> str:
        """The header value: ``Digest realm="...", nonce="...", ...``."""
        parts = [f"realm={quote_string(self.realm)}"]
        if self.domain is not None:
            parts.append(f"domain={quote_string(self.domain)}")
        parts.append(f"nonce={quote_string(self.nonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={quote_string(self.opaque)}")
        if self.stale:
            parts.append("stale=true")
        if self.algorithm is not None:
            parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f"qop={quote_string(','.join(self.qop))}")
        if self.charset is not None:
            parts.append(f"charset={self.charset}")
        return self._header_value(parts)


def _format_extra(value: str) -> str:
    return value if is_token(value) else quote_string(value)


def parse_digest_challenges(values: str | Iterable[str]) -> list[DigestChallenge]:
    """Every Digest challenge in one or several WWW-/Proxy-Authenticate lines, in order.

    Other schemes are skipped. Raises RemoteProtocolError (400) on malformed text.
    """
    out: list[DigestChallenge] = []
    for line in _lines(values):
        out += [DigestChallenge.from_params(p) for p in parse_auth_header(line) if p.is_digest]
    return out


_EXT_VALUE_RE = re.compile(r"([A-Za-z0-9\-]+)'[^']*'((?:%[0-9A-Fa-f]{2}|[^%\s])*)")


def _decode_ext_value(value: str) -> str:
    # RFC 8187 ext-value = charset "'" [ language ] "'" value-chars (RFC 7616 username*)
    m = _EXT_VALUE_RE.fullmatch(value)
    if m is None or m.group(1).lower() not in ("utf-8", "iso-8859-1"):
        raise _bad(f"username* {value!r} is not an RFC 8187 ext-value in UTF-8 or ISO-8859-1")
    try:
        return urllib.parse.unquote(m.group(2), encoding=m.group(1).lower(), errors="strict")
    except UnicodeDecodeError:
        raise _bad(f"username* {value!r} does not decode as {m.group(1)}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestAuthorization(_DigestParams):
    """Digest credentials of an Authorization / Proxy-Authorization value (RFC 7616 §3.4).

    ``username`` is what was sent: the userhash when ``userhash`` is true, the
    decoded ``username*`` when that form was used.
    """

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str | None = None
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None
    userhash: bool = False
    extra: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def from_params(cls, params: AuthParams) -> DigestAuthorization:
        """Build from parsed ``Digest`` credentials; RemoteProtocolError (400) when invalid."""
        for key, text in params.params:
            _check_value(key, text)
        get = params.get
        username = get("username")
        username_ext = get("username*")
        if username is not None and username_ext is not None:
            raise _bad("Digest credentials carry both username and username* (RFC 7616 §3.4)")
        if username_ext is not None:
            username = _decode_ext_value(username_ext)
            _check_value("username*", username)
        for name, value in (("username", username), *((k, get(k)) for k in _REQUIRED)):
            if value is None:
                raise _bad(f"Digest credentials without {name} (RFC 7616 §3.4): {params}")
        qop = get("qop")
        nc = get("nc")
        cnonce = get("cnonce")
        if qop is not None:
            qop = qop.lower()
            if nc is None or cnonce is None:
                raise _bad(f"Digest credentials with qop={qop} need nc and cnonce (RFC 7616 §3.4)")
        if nc is not None and _NC_RE.fullmatch(nc) is None:
            raise _bad(f"Digest nc={nc[:20]!r} is not 8 hex digits (RFC 7616 §3.4)")
        response = get("response")
        if response is not None and _RESPONSE_RE.fullmatch(response) is None:
            raise _bad(f"Digest response={response[:20]!r} is not hex digits (RFC 7616 §3.4)")
        known = {"username", "username*", "realm", "nonce", "uri", "response", "algorithm"}
        known |= {"qop", "nc", "cnonce", "opaque", "userhash"}
        assert username is not None
        return cls(
            username=username,
            realm=get("realm") or "",
            nonce=get("nonce") or "",
            uri=get("uri") or "",
            response=(get("response") or "").lower(),
            algorithm=get("algorithm"),
            qop=qop,
            nc=nc.lower() if nc is not None else None,
            cnonce=cnonce,
            opaque=get("opaque"),
            userhash=_flag(get("userhash")),
            extra=tuple((k, v) for k, v in params.params if k not in known),
        )

    def __str__(self) -> str:
        """The header value: ``Digest username="...", realm="...", ...``."""
        parts = [
            f"username={quote_string(self.username)}",
            f"realm={quote_string(self.realm)}",
            f"nonce={quote_string(self.nonce)}",
            f"uri={quote_string(self.uri)}",
            f"response={quote_string(self.response)}",
        ]
        if self.algorithm is not None:
            parts.append(f"algorithm={self.algorithm}")
        if self.qop is not None:
            cnonce = quote_string(self.cnonce or "")
            parts += [f"qop={self.qop}", f"nc={self.nc}", f"cnonce={cnonce}"]
        if self.opaque is not None:
            parts.append(f"opaque={quote_string(self.opaque)}")
        return self._header_value(parts)


_REQUIRED = ("realm", "nonce", "uri", "response")


def _check_value(name: str, value: str) -> None:
    """Refuse (400) a credential value that is absurdly long or not text: the digest
    hashes UTF-8 (RFC 7616 §3.4), and a header that did not decode as UTF-8 arrives
    with lone surrogates, which cannot be hashed (or compared in constant time)."""
    if len(value) > MAX_CREDENTIAL_VALUE:
        raise _bad(f"Digest {name} is {len(value)} characters long")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _bad(f"Digest {name} is not UTF-8 text") from None


def parse_authorization(value: str) -> DigestAuthorization | None:
    """Parse one Authorization / Proxy-Authorization line.

    Returns None for another scheme (Basic, Bearer, ...). Raises RemoteProtocolError
    (400) when the line is malformed or holds more than one set of credentials
    (RFC 3261 §7.3.1: these headers are never comma-combined).
    """
    items = parse_auth_header(value)
    if len(items) != 1:
        raise _bad(
            f"an Authorization value holds exactly one set of credentials, found {len(items)}: "
            f"{value[:120]!r}"
        )
    if not items[0].is_digest:
        return None
    return DigestAuthorization.from_params(items[0])
