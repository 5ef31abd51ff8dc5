"""The ordered header container of a SIP message (RFC 3261 §7.3).

:class:`Headers` keeps every header line in arrival order with the name exactly as
the peer spelled it, so that nothing is lost or reordered when a message is
forwarded. Lookups are case-insensitive and understand the compact forms of
RFC 3261 §7.3.3 (and of the extensions that registered one).

Comma-separated lists (§7.3.1) are split by :func:`split_list`, which knows that a
comma inside a quoted string or inside ``<...>`` does not separate values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple, TypeVar, cast, overload

from .._speed import uninitialized
from .grammar import is_token

__all__ = ["COMPACT_FORMS", "LIST_HEADERS", "Headers", "canonical_key", "split_list"]

# SIP whitespace is SP and HTAB (RFC 3261 §25.1 LWS); str.strip() would also
# remove Unicode spaces that are part of a value.
_WS = " \t"

_T = TypeVar("_T")

#: "No view cached yet" (None is a valid view: the Max-Forwards of a message without one).
_MISSING = object()

#: Compact header names (RFC 3261 §7.3.3 and §20; RFC 3265 o/u, RFC 3515 r,
#: RFC 3892 b, RFC 3841 a/j/d, RFC 4028 x, RFC 4474 y/n) -> the long name, lower case.
COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

#: Headers whose grammar is a comma-separated list (RFC 3261 §7.3.1). Only these are
#: split by :meth:`Headers.get_all`; any other header (WWW-Authenticate, Date and
#: every unknown header) is returned line by line, because a comma inside it may
#: not be a separator.
LIST_HEADERS: frozenset[str] = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "alert-info",
        "allow",
        "allow-events",
        "call-info",
        "contact",
        "content-encoding",
        "content-language",
        "error-info",
        "in-reply-to",
        "path",
        "p-asserted-identity",
        "p-preferred-identity",
        "proxy-require",
        "reason",
        "record-route",
        "require",
        "route",
        "security-client",
        "security-server",
        "security-verify",
        "service-route",
        "supported",
        "unsupported",
        "via",
        "warning",
    }
)


def canonical_key(name: str) -> str:
    """The lookup key of a header name: lower case, compact forms expanded."""
    low = name.strip(_WS).lower()
    return COMPACT_FORMS.get(low, low)


def split_list(value: str) -> list[str]:
    """Split a header value at the commas that separate list elements (§7.3.1).

    Commas inside a quoted string (with backslash quoted-pairs) or inside
    ``<...>`` are part of the element. Elements are stripped of surrounding
    whitespace; empty elements are kept so that callers can reject them where
    the grammar forbids them (RFC 4475 badinv01).
    """
    if "," not in value:
        return [value.strip(_WS)]
    if '"' not in value and "<" not in value:
        return [part.strip(_WS) for part in value.split(",")]
    parts: list[str] = []
    start = 0
    in_quotes = False
    in_angle = False
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if in_quotes:
            if ch == "\\":
                i += 1  # skip the escaped character of a quoted-pair
            elif ch == '"':
                in_quotes = False
        elif ch == '"':
            in_quotes = True
        elif in_angle:
            if ch == ">":
                in_angle = False
        elif ch == "<":
            in_angle = True
        elif ch == ",":
            parts.append(value[start:i].strip(_WS))
            start = i + 1
        i += 1
    parts.append(value[start:].strip(_WS))
    return parts


class _Layout(NamedTuple):
    """Where each header is in a list of keys (indexes into the header lines)."""

    #: Every key -> the index of its first line. Shared by the Headers with these keys
    #: (see _layout): never modified.
    first: dict[str, int]
    #: The keys that have more than one line.
    repeated: frozenset[str]
    #: The line of every Via, topmost first.
    vias: tuple[int, ...]
    #: From, To, Call-ID and CSeq, when each is there once (and Via is there), else None.
    mandatory: tuple[int, int, int, int] | None
    #: The keys themselves, in order.
    keys: tuple[str, ...]


def _layout(keys: Sequence[str]) -> _Layout:
    """Where each header of ``keys`` is (the parser memoizes the layouts it makes)."""
    first: dict[str, int] = {}
    repeated: set[str] = set()
    vias: list[int] = []
    for i, key in enumerate(keys):
        if key == "via":
            vias.append(i)
        if key not in first:
            first[key] = i
        else:
            repeated.add(key)
    at = tuple(first.get(key, -1) for key in ("from", "to", "call-id", "cseq"))
    complete = bool(vias) and -1 not in at and repeated.isdisjoint(_MANDATORY)
    mandatory = cast(tuple[int, int, int, int], at) if complete else None
    return _Layout(first, frozenset(repeated), tuple(vias), mandatory, tuple(keys))


_MANDATORY = ("from", "to", "call-id", "cseq")


class Headers:
    """Ordered, case-preserving, case-insensitive header list.

    Iterating yields ``(name, value)`` pairs in order. Values are the unfolded
    field values without surrounding whitespace. Mutating methods keep the order
    of the other lines and drop the cached typed views of the message.

    Internally each line is a ``(name, separator, raw_value)`` triple exactly as
    ``str.partition`` returns it, so the parser stores lines without copying;
    the surrounding whitespace of a value is stripped when it is read. Lines made
    here (and by make_response) are *clean*: ``(name, ": ", stripped value)``, so
    that the wire form of a message built to be sent is one C-level join per line.
    """

    __slots__ = ("_clean", "_keys", "_lines", "views")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        line = self.make_line
        self._lines: list[tuple[str, str, str]] = [line(name, value) for name, value in items]
        #: The canonical key of every line; a parsed message shares its layout's tuple
        #: until the first change (see _own_keys).
        self._keys: list[str] | tuple[str, ...] = [canonical_key(n) for n, _, _ in self._lines]
        #: Typed views by slot name (see :meth:`cached`); emptied by every change. The
        #: message properties read it directly (a speed trick listed in sipsans._speed).
        self.views: dict[str, object] = {}
        #: True when every line is ``(name, ": ", value)`` with ``value`` stripped, so
        #: that ``"".join(line)`` is its wire form (see _wire). Every change keeps it:
        #: each method that stores a line stores a clean one.
        self._clean = True

    # -- internal API of the parser and the message factories ----------------------
    # They build and read the line lists directly: one call instead of a walk through
    # the public methods, on the path of every message.

    @classmethod
    def from_parsed(
        cls,
        keys: list[str] | tuple[str, ...],
        lines: list[tuple[str, str, str]],
        views: dict[str, object] | None = None,
        clean: bool = False,
    ) -> Headers:
        """Adopt lists (and typed views already built from them) without copying.

        ``lines`` are ``(name, separator, raw value)`` triples as ``str.partition``
        returns them; ``keys[i]`` is the canonical key of ``lines[i]``. A tuple of keys
        is shared, not copied: it is replaced by a list on the first change. ``clean``
        says that every line is ``(name, ": ", stripped value)`` (see __init__).
        """
        self = uninitialized(cls)
        self._keys = keys
        self._lines = lines
        self.views = {} if views is None else views
        self._clean = clean
        return self

    def _layout(self) -> _Layout:
        """Where the transaction headers are; cached (slot ``layout``) until a change."""
        cache = self.views
        layout: _Layout | None = cache.get("layout")  # type: ignore[assignment]
        if layout is None:  # a built message, or one changed since: no exception path
            layout = cache["layout"] = _layout(self._keys)
        return layout

    def transaction_lines(self) -> tuple[list[tuple[str, str, str]], str, str, str, str] | None:
        """The Via lines (clean) and the From, To, Call-ID and CSeq values, for a response.

        None unless each of From, To, Call-ID and CSeq is there once (and Via is there).
        """
        layout = self._layout()
        if layout.mandatory is None:
            return None
        lines = self._lines
        at_from, at_to, at_call_id, at_cseq = layout.mandatory
        return (
            [lines[at] for at in layout.vias] if self._clean else self.clean_lines(layout.vias),
            lines[at_from][2].strip(_WS),
            lines[at_to][2].strip(_WS),
            lines[at_call_id][2].strip(_WS),
            lines[at_cseq][2].strip(_WS),
        )

    def clean_lines(self, positions: Iterable[int]) -> list[tuple[str, str, str]]:
        """The lines at ``positions`` as clean triples ``(name, ": ", stripped value)``."""
        lines = self._lines
        return [(lines[at][0], ": ", lines[at][2].strip(_WS)) for at in positions]

    def _first(self, key: str) -> int | None:
        """The index of the first line with canonical ``key``, or None."""
        layout: _Layout | None = self.views.get("layout")  # type: ignore[assignment]
        if layout is not None:  # a parsed message: no scan of the keys
            return layout.first.get(key)
        keys = self._keys
        return keys.index(key) if key in keys else None

    def only(self, key: str) -> str | None:
        """The value of the line with canonical ``key`` when there is exactly one, else None."""
        layout: _Layout | None = self.views.get("layout")  # type: ignore[assignment]
        if layout is not None:  # a parsed message: its layout knows, no scan of the keys
            if key in layout.repeated:
                return None
            at = layout.first.get(key)
        else:
            keys = self._keys
            at = keys.index(key) if keys.count(key) == 1 else None
        return None if at is None else self._lines[at][2].strip(_WS)

    def _append(self, name: str, value: str) -> None:
        """Append a line and keep the typed views: for a header that has none."""
        self._lines.append(self.make_line(name, value))
        self._own_keys().append(canonical_key(name))
        self.views.pop("layout", None)

    def wire(self, start_line: str, content_length: str) -> str:
        """The header section of a message, start line first, ending with the empty line.

        Strict on output: ``name: value`` lines, and exactly one Content-Length, whose
        value is ``content_length`` (RFC 3261 §20.14).
        """
        lines = self._lines
        out = [start_line]
        if self._clean:  # a message built to be sent: one C-level join per line
            out += map("".join, lines)
        else:  # parsed lines may hold ":" and whitespace around the value
            out += [f"{name}: {value.strip(_WS)}" for name, _, value in lines]
        keys = self._keys
        count = keys.count("content-length")
        if not count:
            out.append(f"Content-Length: {content_length}")
        else:
            first = keys.index("content-length")
            out[first + 1] = f"{lines[first][0]}: {content_length}"
            if count > 1:
                for i in reversed(self.positions("content-length")[1:]):
                    del out[i + 1]
        out.append("\r\n")
        return "\r\n".join(out)

    # -- reading -----------------------------------------------------------------

    def positions(self, key: str) -> list[int]:
        layout: _Layout | None = self.views.get("layout")  # type: ignore[assignment]
        if layout is not None and key not in layout.repeated:  # a parsed message
            at = layout.first.get(key)
            return [] if at is None else [at]
        # Messages carry a dozen or two lines, so C-level list scans (count, index)
        # beat building and maintaining a dict index.
        keys = self._keys
        count = keys.count(key)
        if count == 0:
            return []
        first = keys.index(key)
        if count == 1:
            return [first]
        return [i for i in range(first, len(keys)) if keys[i] == key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((name, value.strip(_WS)) for name, _, value in self._lines)

    def __len__(self) -> int:
        return len(self._lines)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = canonical_key(name)
        layout: _Layout | None = self.views.get("layout")  # type: ignore[assignment]
        return key in (self._keys if layout is None else layout.first)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self.items() == other.items()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: _T) -> str | _T: ...
    def get(self, name: str, default: object = None) -> object:
        """The value of the first line named ``name`` (any spelling), or ``default``."""
        at = self._first(canonical_key(name))
        return default if at is None else self._lines[at][2].strip(_WS)

    def lines(self, name: str) -> list[str]:
        """Every line value of ``name``, unsplit, in order."""
        key = canonical_key(name)
        lines = self._lines
        return [lines[i][2].strip(_WS) for i in self.positions(key)]

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in order.

        For list headers (:data:`LIST_HEADERS`) comma-joined values are split and
        empty elements dropped; other headers give one value per line.
        """
        key = canonical_key(name)
        values = self.lines(key)
        if key not in LIST_HEADERS:
            return values
        out: list[str] = []
        for value in values:
            out.extend(part for part in split_list(value) if part)
        return out

    def items(self) -> list[tuple[str, str]]:
        """A copy of the ``(name, value)`` pairs."""
        return [(name, value.strip(_WS)) for name, _, value in self._lines]

    def keys(self) -> list[str]:
        """The canonical key of every line, in order (lower case, compact expanded)."""
        return list(self._keys)

    # -- typed views, cached until the next change -------------------------------

    def cached(self, slot: str, build: Callable[[Headers], _T]) -> _T:
        """Return ``build(self)``, computed once until the headers change."""
        # A sentinel, not try/except KeyError: the first read of every view misses, and
        # raising and catching the KeyError costs more than most views take to build.
        cache = self.views
        value = cache.get(slot, _MISSING)
        if value is _MISSING:
            value = cache[slot] = build(self)
        return value  # type: ignore[return-value]

    # -- changing ----------------------------------------------------------------

    def _own_keys(self) -> list[str]:
        """The keys as a list of this message's own, ready to change."""
        keys = self._keys
        if isinstance(keys, tuple):
            keys = self._keys = list(keys)
        return keys

    def _changed(self) -> None:
        if self.views:
            self.views = {}

    @staticmethod
    def make_line(name: str, value: str) -> tuple[str, str, str]:
        value = str(value).strip(_WS)
        if not is_token(name):
            raise ValueError(f"invalid header name {name!r}: use a token such as 'X-Custom'")
        if "\r" in value or "\n" in value:
            raise ValueError(
                f"header {name} value contains CR or LF; pass one line per value "
                "(sipsans folds nothing on output)"
            )
        return (name, ": ", value)

    def add(self, name: str, value: str) -> None:
        """Append a line at the end."""
        self._lines.append(self.make_line(name, value))
        self._own_keys().append(canonical_key(name))
        self._changed()

    def insert(self, position: int, name: str, value: str) -> None:
        """Insert a line before ``position`` (0 puts it first, as a proxy's Via)."""
        self._lines.insert(position, self.make_line(name, value))
        self._own_keys().insert(position, canonical_key(name))
        self._changed()

    def prepend(self, name: str, value: str) -> None:
        """Insert a line before every line of the same header, or first if none exists.

        This is how a new topmost Via or Route is added (RFC 3261 §16.6).
        """
        positions = self.positions(canonical_key(name))
        self.insert(positions[0] if positions else 0, name, value)

    def set(self, name: str, value: str) -> None:
        """Replace every line of ``name`` by one line at the position of the first."""
        positions = self.positions(canonical_key(name))
        if not positions:
            self.add(name, value)
            return
        line = self.make_line(self._lines[positions[0]][0], value)
        self._lines[positions[0]] = line
        for i in reversed(positions[1:]):
            del self._lines[i], self._own_keys()[i]
        self._changed()

    def remove(self, name: str) -> int:
        """Remove every line of ``name``; returns how many were removed."""
        positions = self.positions(canonical_key(name))
        for i in reversed(positions):
            del self._lines[i], self._own_keys()[i]
        if positions:
            self._changed()
        return len(positions)

    def remove_first(self, name: str) -> str | None:
        """Remove the first value of a header (the top Via, the top Route).

        When that line holds a comma-joined list, only its first element goes.
        """
        key = canonical_key(name)
        positions = self.positions(key)
        if not positions:
            return None
        i = positions[0]
        line_name, _, value = self._lines[i]
        parts = split_list(value) if key in LIST_HEADERS else [value.strip(_WS)]
        first = parts[0]
        rest = [p for p in parts[1:] if p]
        if rest:
            self._lines[i] = (line_name, ": ", ", ".join(rest))
        else:
            del self._lines[i], self._own_keys()[i]
        self._changed()
        return first

    def copy(self) -> Headers:
        """An independent copy (typed views are rebuilt on demand)."""
        return Headers.from_parsed(list(self._keys), list(self._lines), clean=self._clean)
