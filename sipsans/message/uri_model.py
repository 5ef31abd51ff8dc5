"""The URI model: SIP, SIPS, tel and other URIs, their canonical output and comparison.

* :class:`SipURI` -- ``sip:`` and ``sips:`` (RFC 3261 §19.1, ABNF in §25.1), IPv6 hosts
  per RFC 5118; equality per RFC 3261 §19.1.4.
* :class:`TelURI` -- ``tel:`` (RFC 3966); equality per RFC 3966 §4.
* :class:`AbsoluteURI` -- any other scheme, kept opaque (RFC 3261 ``absoluteURI``).

Text becomes one of these through :func:`sipsans.message.uri.parse_uri` (the parser,
which also re-exports these names). All three types are immutable and hashable.
``str(uri)`` is the canonical wire form: components are re-escaped as RFC 3261 §25
requires, so ``parse_uri(str(u)) == u`` always holds; the text need not be
byte-identical to what was parsed.
Components built from ``escaped`` (user, password, parameter names and values, header
names and values) are stored percent-DECODED, exactly once (RFC 4475 §3.1.1.3 esc01:
``n%61me=v%61lue%25%34%31`` is the parameter ``name`` with value ``value%41``).

Deliberate choices, each with its reason:

* Equality compares the decoded components. RFC 3261 §19.1.4 makes a *reserved*
  character differ from its escape (``;`` vs ``%3B`` in a user part); a decoded model
  cannot tell them apart, and no deployed peer relies on the difference.
* URI headers (``?name=value``) are compared as a multiset: names case-insensitively,
  values exactly (after decoding). §19.1.4 defers to each header's own §20 rules, which
  a URI cannot apply; exact values can only make more URIs unequal, never fewer.
* Duplicate URI parameters are accepted (RFC 3261 does not forbid them outright);
  lookups and comparison use the first occurrence, output keeps all of them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from operator import attrgetter
from typing import Any, Final, Protocol, TypeAlias, TypeVar

from .._speed import uninitialized
from ..errors import LocalProtocolError, RemoteProtocolError
from .grammar import (
    HEADER_CHARS,
    PARAM_CHARS,
    PASSWORD_CHARS,
    TEL_PARAM_NAME_CHARS,
    URIC,
    USER_CHARS,
    canonical_host,
    is_global_number,
    is_hostname,
    is_local_number,
    is_phonedigits,
    parse_host,
    pct_decode,
    pct_encode,
    strip_visual_separators,
)

__all__ = ["URI", "AbsoluteURI", "Header", "Param", "SipURI", "TelURI"]

# scheme  =  ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# Characters allowed after "scheme:" in an absoluteURI: uric (RFC 3261 §25.1), '%'
# for escapes, and (leniency) '[' ']' for IPv6 hosts as in http://[2001:db8::1]/,
# which RFC 3986 allows and the older RFC 2396 grammar predates.
_URIC_OPAQUE: Final = URIC | frozenset("%[]")


def _check_opaque(rest: str) -> str | None:
    if not rest:
        return "nothing after the scheme"
    for c in rest:
        if c not in _URIC_OPAQUE:
            return (
                f"character {c!r} is not allowed in a URI; escape it as "
                f"{pct_encode(c, frozenset())} (RFC 3261 §25.1 uric)"
            )
    try:
        pct_decode(rest)
    except RemoteProtocolError as exc:
        return str(exc)
    return None


Param: TypeAlias = tuple[str, str | None]
Header: TypeAlias = tuple[str, str]

# Characters written unescaped on output, per component (RFC 3261 §25.1).
_USER_SAFE: Final = USER_CHARS
_PASSWORD_SAFE: Final = PASSWORD_CHARS
_PARAM_SAFE: Final = PARAM_CHARS
_HEADER_SAFE: Final = HEADER_CHARS

# Parameters that must match whenever either URI has them (RFC 3261 §19.1.4:
# transport, ttl, user and method "never match" when only one URI has them, and a
# URI with maddr does not match one without).
_STRICT_PARAMS: Final = ("maddr", "method", "transport", "ttl", "user")


_T_co = TypeVar("_T_co", covariant=True)


class _Field(Protocol[_T_co]):
    """A read-only component of a URI, as mypy sees a :func:`_field` property."""

    def __get__(self, uri: object, owner: object = None, /) -> _T_co: ...


def _field(slot: str, doc: str) -> _Field[Any]:
    """A read-only property that returns the URI's private ``slot``.

    The getter is :func:`operator.attrgetter`, not a Python function: a component is
    read for every URI the stack routes or compares, and this costs no Python frame.
    """
    return property(attrgetter(slot), doc=doc)  # type: ignore[return-value]  # a _Field


class _Unset(enum.Enum):
    UNSET = enum.auto()


_UNSET: Final = _Unset.UNSET


def _normalize_text(v: str) -> str:
    """Check that *v* can be written as UTF-8 escapes and return its canonical form.

    Lone surrogates U+DC80-U+DCFF stand for raw bytes (``surrogateescape``, as
    :func:`~sipsans.message.grammar.pct_decode` produces them); a run of them that forms valid
    UTF-8 is the same bytes as the character it encodes, so it is folded into that
    character, as parsing the output would. Other lone surrogates have no encoding.
    """
    if v.isascii():
        return v
    try:
        return v.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise LocalProtocolError(
            f"URI component {v!r} contains a lone surrogate that has no UTF-8 "
            "encoding; pass real text (or bytes decoded with surrogateescape)"
        ) from None


def _find_param(params: tuple[Param, ...], name: str) -> str | None:
    """The value of the first parameter *name* (case-insensitive); None if absent or valueless."""
    name = name.lower()
    for n, v in params:
        if n.lower() == name:
            return v
    return None


def _has_param(params: tuple[Param, ...], name: str) -> bool:
    name = name.lower()
    return any(n.lower() == name for n, _ in params)


class SipURI:
    """A ``sip:`` or ``sips:`` URI (RFC 3261 §19.1).

    Immutable; build changed copies with :meth:`replace`, :meth:`with_param`,
    :meth:`without_param` and :meth:`without_headers`.

    ``user``, ``password``, parameter and header names/values are percent-decoded.
    ``host`` is kept as written (IPv6 with its brackets, e.g. ``"[2001:db8::10]"``);
    hosts compare case-insensitively. ``port`` is None when the URI has none, which is
    different from an explicit 5060 (RFC 3261 §19.1.4).
    """

    __slots__ = (
        "_cmp",
        "_hash",
        "_headers",
        "_host",
        "_params",
        "_password",
        "_port",
        "_scheme",
        "_str",
        "_user",
    )

    _scheme: str
    _user: str | None
    _password: str | None
    _host: str
    _port: int | None
    _params: tuple[Param, ...]
    _headers: tuple[Header, ...]
    _str: str | None
    # _hash and _cmp are computed on first use; they stay unset until then.
    _hash: int
    _cmp: tuple[object, ...]

    def __init__(
        self,
        host: str,
        *,
        scheme: str = "sip",
        user: str | None = None,
        password: str | None = None,
        port: int | None = None,
        params: Iterable[Param] = (),
        headers: Iterable[Header] = (),
    ) -> None:
        """Build a URI from decoded components; they are escaped on output.

        Raises :class:`~sipsans.errors.LocalProtocolError` for an unknown scheme, an
        invalid host (IPv6 must be bracketed), a port outside 0-65535, an empty user,
        or an empty parameter or header name.
        """
        scheme_l = scheme.lower()
        if scheme_l not in ("sip", "sips"):
            raise LocalProtocolError(f"SipURI scheme must be 'sip' or 'sips', not {scheme!r}")
        try:
            host = parse_host(host)
        except RemoteProtocolError as exc:
            raise LocalProtocolError(str(exc)) from None
        if port is not None and not (
            isinstance(port, int) and not isinstance(port, bool) and 0 <= port <= 65535
        ):
            raise LocalProtocolError(f"port must be an int 0-65535 or None, not {port!r}")
        if user == "":
            raise LocalProtocolError("user must be None or non-empty (RFC 3261: user = 1*...)")
        if password is not None and user is None:
            raise LocalProtocolError("a password needs a user (RFC 3261 userinfo)")
        norm = _normalize_text
        params_t = tuple((norm(n), None if v is None else norm(v)) for n, v in params)
        headers_t = tuple((norm(n), norm(v)) for n, v in headers)
        for n, _ in params_t:
            if not n:
                raise LocalProtocolError("URI parameter names must be non-empty")
        for n, _ in headers_t:
            if not n:
                raise LocalProtocolError("URI header names must be non-empty")
        if user is not None:
            user = norm(user)
        if password is not None:
            password = norm(password)
        self._scheme = scheme_l
        self._user = user
        self._password = password
        self._host = host
        self._port = port
        self._params = params_t
        self._headers = headers_t
        self._str = None

    @classmethod
    def parsed(  # noqa: PLR0917 - the parser's constructor: every component, in order
        cls,
        scheme: str,
        user: str | None,
        password: str | None,
        host: str,
        port: int | None,
        params: tuple[Param, ...],
        headers: tuple[Header, ...],
        text: str | None,
    ) -> SipURI:
        """A URI from components the parser has already checked and decoded.

        ``text`` is the wire form when the received text already is canonical (the
        scheme in lower case, no leading zeros in the port), else None.
        """
        self = uninitialized(cls)
        self._scheme = scheme
        self._user = user
        self._password = password
        self._host = host
        self._port = port
        self._params = params
        self._headers = headers
        self._str = text
        return self

    # -- plain components ---------------------------------------------------------
    scheme: _Field[str] = _field("_scheme", '``"sip"`` or ``"sips"`` (lower case).')
    user: _Field[str | None] = _field("_user", "The user part, percent-decoded, or None.")
    password: _Field[str | None] = _field(
        "_password", "The password, percent-decoded, or None (RFC 3261 §19.1.1 discourages it)."
    )
    host: _Field[str] = _field("_host", "The host as written; IPv6 references keep their brackets.")
    port: _Field[int | None] = _field("_port", "The explicit port, or None.")
    params: _Field[tuple[Param, ...]] = _field(
        "_params", "URI parameters ``(name, value-or-None)`` in order, decoded."
    )
    headers: _Field[tuple[Header, ...]] = _field(
        "_headers", "URI headers ``(name, value)`` in order, decoded."
    )

    # -- conveniences ------------------------------------------------------------
    @property
    def secure(self) -> bool:
        """True for ``sips:`` (RFC 3261 §19.1: TLS on every hop)."""
        return self._scheme == "sips"

    @property
    def host_port(self) -> tuple[str, int | None]:
        """``(host, port)``."""
        return self._host, self._port

    def has_param(self, name: str) -> bool:
        """True if the parameter *name* (case-insensitive) is present, with or without value."""
        return _has_param(self._params, name)

    def param(self, name: str) -> str | None:
        """The value of the first parameter *name* (case-insensitive); None if absent/valueless."""
        return _find_param(self._params, name)

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter in lower case, or None."""
        v = self.param("transport")
        return None if v is None else v.lower()

    @property
    def lr(self) -> bool:
        """True if the ``lr`` parameter is present (RFC 3261 §19.1.1 loose routing)."""
        return self.has_param("lr")

    @property
    def maddr(self) -> str | None:
        """The ``maddr`` parameter, or None."""
        return self.param("maddr")

    @property
    def user_param(self) -> str | None:
        """The ``user`` parameter (``phone``, ``ip``, ...) in lower case, or None."""
        v = self.param("user")
        return None if v is None else v.lower()

    @property
    def method(self) -> str | None:
        """The ``method`` parameter as written (methods are case-sensitive), or None."""
        return self.param("method")

    @property
    def ttl(self) -> int | None:
        """The ``ttl`` parameter as an int, or None if absent.

        ``ttl = 1*3DIGIT ; 0 to 255`` (RFC 3261 §25.1); any other value raises
        :class:`~sipsans.errors.RemoteProtocolError` (400) here, on access.
        """
        v = self.param("ttl")
        if v is None:
            if self.has_param("ttl"):
                raise RemoteProtocolError("URI parameter ttl has no value; expected 0-255")
            return None
        if not (1 <= len(v) <= 3 and v.isascii() and v.isdigit()) or int(v) > 255:
            raise RemoteProtocolError(f"invalid URI ttl parameter {v!r}; expected 0-255")
        return int(v)

    # -- copies ------------------------------------------------------------------
    def replace(
        self,
        *,
        scheme: str | _Unset = _UNSET,
        user: str | _Unset | None = _UNSET,
        password: str | _Unset | None = _UNSET,
        host: str | _Unset = _UNSET,
        port: int | _Unset | None = _UNSET,
        params: Iterable[Param] | _Unset = _UNSET,
        headers: Iterable[Header] | _Unset = _UNSET,
    ) -> SipURI:
        """Return a copy with the given components replaced (decoded values)."""
        return SipURI(
            self._host if isinstance(host, _Unset) else host,
            scheme=self._scheme if isinstance(scheme, _Unset) else scheme,
            user=self._user if isinstance(user, _Unset) else user,
            password=self._password if isinstance(password, _Unset) else password,
            port=self._port if isinstance(port, _Unset) else port,
            params=self._params if isinstance(params, _Unset) else params,
            headers=self._headers if isinstance(headers, _Unset) else headers,
        )

    def with_param(self, name: str, value: str | None = None) -> SipURI:
        """Return a copy with parameter *name* set to *value*.

        An existing parameter of that name (case-insensitive) is replaced in place
        (further duplicates are dropped); otherwise it is appended.
        """
        key = name.lower()
        out: list[Param] = []
        done = False
        for n, v in self._params:
            if n.lower() == key:
                if not done:
                    out.append((name, value))
                    done = True
            else:
                out.append((n, v))
        if not done:
            out.append((name, value))
        return self.replace(params=out)

    def without_param(self, name: str) -> SipURI:
        """Return a copy without any parameter named *name* (case-insensitive)."""
        key = name.lower()
        return self.replace(params=[(n, v) for n, v in self._params if n.lower() != key])

    def without_headers(self) -> SipURI:
        """Return a copy without the ``?headers`` part (as in a Request-URI, RFC 3261 §19.1.5)."""
        if not self._headers:
            return self
        return self.replace(headers=())

    # -- output ------------------------------------------------------------------
    def __str__(self) -> str:
        s = self._str
        if s is None:
            s = self._render()
            self._str = s
        return s

    def _render(self) -> str:
        parts = [self._scheme, ":"]
        if self._user is not None:
            parts.append(pct_encode(self._user, _USER_SAFE))
            if self._password is not None:
                parts += (":", pct_encode(self._password, _PASSWORD_SAFE))
            parts.append("@")
        parts.append(self._host)
        if self._port is not None:
            parts += (":", str(self._port))
        for n, v in self._params:
            parts += (";", pct_encode(n, _PARAM_SAFE))
            if v is not None:
                parts += ("=", pct_encode(v, _PARAM_SAFE))
        sep = "?"
        for n, hv in self._headers:
            parts += (sep, pct_encode(n, _HEADER_SAFE), "=", pct_encode(hv, _HEADER_SAFE))
            sep = "&"
        return "".join(parts)

    def __repr__(self) -> str:
        return f"SipURI({str(self)!r})"

    # -- comparison (RFC 3261 §19.1.4) --------------------------------------------
    def _key(self) -> tuple[object, ...]:
        """The components that must match exactly; also what the hash covers."""
        try:
            return self._cmp
        except AttributeError:
            pass
        strict: list[tuple[str, str | None]] = []
        seen: set[str] = set()
        for n, v in self._params:
            nl = n.lower()
            if nl in _STRICT_PARAMS and nl not in seen:
                seen.add(nl)
                strict.append((nl, None if v is None else v.lower()))
        strict.sort()
        k = (
            self._scheme,
            self._user,
            self._password,
            canonical_host(self._host),
            self._port,
            tuple(strict),
            tuple(sorted((n.lower(), v) for n, v in self._headers)),
        )
        self._cmp = k
        return k

    def _other_params(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for n, v in self._params:
            nl = n.lower()
            if nl not in _STRICT_PARAMS and nl not in out:
                out[nl] = None if v is None else v.lower()
        return out

    def __eq__(self, other: object) -> bool:
        """RFC 3261 §19.1.4 equivalence.

        Scheme, user and password (case-sensitive), host (case-insensitive), port
        (absent != 5060), the transport/user/method/ttl/maddr parameters (present in one
        only => unequal) and the headers must all match. Other parameters must match
        only when both URIs have them, so this relation is not transitive (the RFC's own
        ``security=on`` example).
        """
        if not isinstance(other, SipURI):
            return NotImplemented
        if self is other:
            return True
        if self._key() != other._key():
            return False
        if not self._params or not other._params:
            return True
        mine = self._other_params()
        if not mine:
            return True
        theirs = other._other_params()
        return all(theirs.get(n, v) == v for n, v in mine.items())

    def __hash__(self) -> int:
        try:
            return self._hash
        except AttributeError:
            h = self._hash = hash(self._key())
            return h


# ---------------------------------------------------------------------------
# tel: (RFC 3966)
# ---------------------------------------------------------------------------
class TelURI:
    """A ``tel:`` URI (RFC 3966).

    ``number`` is the global (``+1-201-555-0123``) or local (``7042``) number as
    written, visual separators included; ``params`` are ``(name, value-or-None)`` pairs,
    decoded, in order. A local number requires ``phone-context`` (RFC 3966 §5.1.5).
    """

    __slots__ = ("_hash", "_key_cache", "_number", "_params", "_str")

    _number: str
    _params: tuple[Param, ...]
    _str: str | None
    _hash: int | None
    _key_cache: tuple[object, ...] | None

    def __init__(self, number: str, params: Iterable[Param] = ()) -> None:
        """Build a tel URI; raises :class:`~sipsans.errors.LocalProtocolError` if invalid."""
        self._number, self._params = _check_tel(
            number,
            tuple((n, None if v is None else _normalize_text(v)) for n, v in params),
            LocalProtocolError,
        )
        self._str = None
        self._hash = None
        self._key_cache = None

    @classmethod
    def parsed(cls, number: str, params: tuple[Param, ...]) -> TelURI:
        """A tel URI from a number and parameters the parser has already checked."""
        self = uninitialized(cls)
        self._number = number
        self._params = params
        self._str = None
        self._hash = None
        self._key_cache = None
        return self

    number: _Field[str] = _field(
        "_number", "The number as written (``+`` and visual separators included)."
    )

    params: _Field[tuple[Param, ...]] = _field(
        "_params", "Parameters ``(name, value-or-None)`` in order, decoded."
    )

    @property
    def is_global(self) -> bool:
        """True for a global number (starts with ``+``, RFC 3966 §5.1.4)."""
        return self._number.startswith("+")

    @property
    def digits(self) -> str:
        """The number without visual separators (``+12015550123``)."""
        return strip_visual_separators(self._number)

    def param(self, name: str) -> str | None:
        """The value of parameter *name* (case-insensitive), or None."""
        return _find_param(self._params, name)

    def has_param(self, name: str) -> bool:
        """True if parameter *name* (case-insensitive) is present."""
        return _has_param(self._params, name)

    @property
    def phone_context(self) -> str | None:
        """The ``phone-context`` parameter, or None."""
        return self.param("phone-context")

    @property
    def ext(self) -> str | None:
        """The ``ext`` (extension) parameter, or None."""
        return self.param("ext")

    @property
    def isub(self) -> str | None:
        """The ``isub`` (ISDN subaddress) parameter, or None."""
        return self.param("isub")

    def __str__(self) -> str:
        s = self._str
        if s is None:
            parts = ["tel:", self._number]
            for n, v in self._params:
                parts += (";", n)
                if v is not None:
                    parts += ("=", pct_encode(v, _PARAM_SAFE))
            s = "".join(parts)
            self._str = s
        return s

    def __repr__(self) -> str:
        return f"TelURI({str(self)!r})"

    def _key(self) -> tuple[object, ...]:
        # RFC 3966 §4: both global or both local; numbers equal after removing visual
        # separators; parameters compared by name regardless of order, a name present
        # in only one URI makes them unequal; everything case-insensitive.
        # phone-context is compared as a host name (domainname) or digit by digit.
        k = self._key_cache
        if k is None:
            params: list[tuple[str, str | None]] = []
            for n, v in self._params:
                nl = n.lower()
                vl = None if v is None else v.lower()
                if vl is not None and (nl == "ext" or (nl == "phone-context" and vl[:1] == "+")):
                    vl = strip_visual_separators(vl)
                params.append((nl, vl))
            k = (self.digits.lower(), frozenset(params))
            self._key_cache = k
        return k

    def __eq__(self, other: object) -> bool:
        """RFC 3966 §4 equivalence (separators ignored, params unordered, case-insensitive)."""
        if not isinstance(other, TelURI):
            return NotImplemented
        return self is other or self._key() == other._key()

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash(self._key())
            self._hash = h
        return h


def _check_tel(
    number: str,
    params: tuple[Param, ...],
    err: type[LocalProtocolError] | type[RemoteProtocolError],
) -> tuple[str, tuple[Param, ...]]:
    if number.startswith("+"):
        if not is_global_number(number):
            raise err(
                f"invalid global number {number!r} in tel URI: expected '+' then digits "
                "and visual separators -.() (RFC 3966 §3 global-number-digits)"
            )
    elif not is_local_number(number):
        raise err(
            f"invalid tel number {number!r}: expected '+digits' or local hex digits, "
            "'*', '#' and visual separators (RFC 3966 §3)"
        )
    seen: set[str] = set()
    for n, v in params:
        nl = n.lower()
        if not n or not TEL_PARAM_NAME_CHARS.issuperset(n):
            raise err(
                f"invalid tel URI parameter name {n!r}: use letters, digits and '-' "
                "(RFC 3966 §3 pname)"
            )
        if nl in seen:
            raise err(f"tel URI parameter {n!r} appears twice; each may appear once (RFC 3966 §3)")
        seen.add(nl)
        if nl == "phone-context":
            if not v or not (is_global_number(v) or is_hostname(v)):
                raise err(
                    f"invalid phone-context {v!r}: expected a domain name or '+digits' "
                    "(RFC 3966 §3 descriptor)"
                )
        elif nl == "ext":
            if not v or not is_phonedigits(v):
                raise err(f"invalid tel extension {v!r}: expected digits (RFC 3966 §3)")
        elif nl == "isub" and not v:
            raise err("tel isub parameter needs a value (RFC 3966 §3 isdn-subaddress)")
    if not number.startswith("+") and "phone-context" not in seen:
        raise err(
            f"local tel number {number!r} has no phone-context parameter; add "
            "';phone-context=<domain or +digits>' or use a global '+' number (RFC 3966 §5.1.5)"
        )
    return number, params


# ---------------------------------------------------------------------------
# any other scheme
# ---------------------------------------------------------------------------
class AbsoluteURI:
    """A URI with a scheme other than sip, sips or tel, kept opaque.

    RFC 3261 §25.1 ``absoluteURI = scheme ":" ( hier-part / opaque-part )``. ``scheme``
    is kept as written; equality compares it case-insensitively and the rest exactly.
    """

    __slots__ = ("_opaque", "_scheme")

    _scheme: str
    _opaque: str

    def __init__(self, scheme: str, opaque: str) -> None:
        """Build from *scheme* and the text after the colon; both are validated."""
        if _SCHEME_RE.fullmatch(scheme) is None:
            raise LocalProtocolError(
                f"invalid URI scheme {scheme!r}: ALPHA *( ALPHA / DIGIT / '+' / '-' / '.' )"
            )
        problem = _check_opaque(opaque)
        if problem is not None:
            raise LocalProtocolError(problem)
        self._scheme = scheme
        self._opaque = opaque

    @classmethod
    def parsed(cls, scheme: str, opaque: str) -> AbsoluteURI:
        """A URI whose scheme and opaque part the parser has already checked."""
        self = uninitialized(cls)
        self._scheme = scheme
        self._opaque = opaque
        return self

    scheme: _Field[str] = _field("_scheme", "The scheme as written.")

    opaque: _Field[str] = _field("_opaque", "Everything after ``scheme:``, unmodified.")

    def __str__(self) -> str:
        return f"{self._scheme}:{self._opaque}"

    def __repr__(self) -> str:
        return f"AbsoluteURI({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AbsoluteURI):
            return NotImplemented
        return self._scheme.lower() == other._scheme.lower() and self._opaque == other._opaque

    def __hash__(self) -> int:
        return hash((self._scheme.lower(), self._opaque))


URI: TypeAlias = SipURI | TelURI | AbsoluteURI
