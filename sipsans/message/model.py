"""SIP requests and responses (RFC 3261 §7) and the factories that build them.

A message is a start line, a :class:`~sipsans.message.headers.Headers` list and a body.
Typed views (``vias``, ``from_``, ``to``, ``cseq``, ...) are parsed from the header
text on first access and cached until the headers change, so reading the
transaction fields of a parsed message costs one parse per field.

``bytes(message)`` is the wire form. It is strict on output: one space between
start-line elements, no folding, ``name: value`` lines, and a Content-Length that
always matches the body (RFC 3261 §20.14).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from .._speed import KEY_LENGTH, remember, remember_text, uninitialized
from ..errors import RemoteProtocolError
from .fields import CSeq, NameAddr, Via, ViaList, parse_cseq, parse_name_addr
from .grammar import is_digits
from .headers import Headers, canonical_key, split_list
from .uri import URI, SipURI, parse_uri

__all__ = [
    "REASON_PHRASES",
    "Message",
    "Request",
    "Response",
    "make_request",
    "make_response",
]

# SIP whitespace is SP and HTAB (RFC 3261 §25.1 LWS); str.strip() would also
# remove Unicode spaces that are part of a value.
_WS = " \t"

#: Default reason phrases (RFC 3261 §21 and the extensions that added codes).
REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    412: "Conditional Request Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    417: "Unknown Resource-Priority",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    428: "Use Identity Header",
    429: "Provide Referrer Identity",
    433: "Anonymity Disallowed",
    436: "Bad Identity-Info",
    437: "Unsupported Certificate",
    438: "Invalid Identity Header",
    439: "First Hop Lacks Outbound Support",
    440: "Max-Breadth Exceeded",
    469: "Bad Info Package",
    470: "Consent Needed",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    494: "Security Agreement Required",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    580: "Precondition Failure",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
    607: "Unwanted",
}


def _bad(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(message, status_hint=400)


def _single(headers: Headers, name: str) -> str:
    lines = headers.lines(name)
    if len(lines) == 1:
        return lines[0]
    if not lines:
        raise _bad(f"missing mandatory header {name} (RFC 3261 §8.1.1)")
    if len(lines) > 1 and any(line != lines[0] for line in lines[1:]):
        raise _bad(f"header {name} appears {len(lines)} times with different values; send it once")
    return lines[0]


def _build_vias(headers: Headers) -> ViaList:
    raw: list[str] = []
    for line in headers.lines("via"):
        if "," in line:
            parts = split_list(line)
            if "" in parts:
                raise _bad(f"Via: empty value in {line[:80]!r}; remove the stray ','")
            raw += parts
        else:
            raw.append(line)
    return ViaList(raw)


def _name_addr_list(headers: Headers, name: str) -> list[NameAddr]:
    out: list[NameAddr] = []
    for line in headers.lines(name):
        for part in split_list(line):
            if not part:
                raise _bad(f"{name}: empty value in {line[:80]!r}; remove the stray ','")
            out.append(parse_name_addr(part, header=name))
    return out


def _build_routes(headers: Headers) -> list[NameAddr]:
    return _name_addr_list(headers, "Route")


def _build_record_routes(headers: Headers) -> list[NameAddr]:
    return _name_addr_list(headers, "Record-Route")


def _build_contacts(headers: Headers) -> list[NameAddr]:
    lines = headers.lines("contact")
    if len(lines) == 1 and lines[0] == "*":
        return []
    out: list[NameAddr] = []
    for line in lines:
        for part in split_list(line):
            if not part:
                raise _bad(f"Contact: empty value in {line[:80]!r}; remove the stray ','")
            if part == "*":
                raise _bad("Contact: '*' must be the only Contact value (RFC 3261 §10.2.2)")
            out.append(parse_name_addr(part, header="Contact"))
    return out


def _build_from(headers: Headers) -> NameAddr:
    return parse_name_addr(_single(headers, "from"), header="From")


def _build_to(headers: Headers) -> NameAddr:
    return parse_name_addr(_single(headers, "to"), header="To")


def _build_call_id(headers: Headers) -> str:
    value = _single(headers, "call-id")
    if not value or any(c in value for c in " \t"):
        raise _bad(f"Call-ID: {value!r} must be a single word without whitespace (§20.8)")
    return value


def _build_cseq(headers: Headers) -> CSeq:
    return parse_cseq(_single(headers, "cseq"))


def _build_max_forwards(headers: Headers) -> int | None:
    lines = headers.lines("max-forwards")  # one lookup: read for every request a UA gets
    if not lines:
        return None
    value = lines[0] if len(lines) == 1 else _single(headers, "Max-Forwards")
    if not is_digits(value) or (hops := int(value)) > 255:
        raise _bad(f"Max-Forwards: {value!r} is not an integer from 0 to 255 (§20.22)")
    return hops


def _build_content_length(headers: Headers) -> int | None:
    lines = headers.lines("content-length")
    if not lines:
        return None
    values = {line.strip(_WS) for line in lines}
    if len(values) > 1:
        raise _bad(
            f"Content-Length appears {len(lines)} times with different values "
            f"{sorted(values)}; send exactly one (RFC 4475 mcl01)"
        )
    value = lines[0]
    if not is_digits(value):
        raise _bad(f"Content-Length: {value!r} is not a non-negative integer (§20.14)")
    return int(value)


#: Max-Forwards values accepted without a look at their digits: 0 to 255 as written
#: by everyone (RFC 3261 §20.22; leading zeros go the careful way).
_HOP_COUNTS = frozenset(str(hops) for hops in range(256))
#: One-line Contact values that passed the check of Message.check_contacts: a peer
#: sends the same Contact in every request. Bounded, like the parse memos (sipsans._speed).
_CHECKED_CONTACTS: dict[str, bool] = {}


class Message:
    """What requests and responses share: headers, body and the typed views."""

    __slots__ = ("body", "headers")

    headers: Headers
    body: bytes

    # -- typed views ---------------------------------------------------------

    @property
    def vias(self) -> ViaList:
        """Every Via value, topmost first (comma lists and separate lines alike).

        A sequence whose items are parsed on first access.
        """
        try:  # the cached() lookup, inlined: read for every message
            return self.headers.views["vias"]  # type: ignore[return-value]
        except KeyError:
            return self.headers.cached("vias", _build_vias)

    @property
    def top_via(self) -> Via:
        # Read several times per message (matching, stamping, routing the response):
        # cached in a slot of its own, one lookup instead of three calls.
        via: Via | None = self.headers.views.get("top-via")  # type: ignore[assignment]
        if via is None:
            try:
                via = self.vias[0]
            except IndexError:
                raise _bad("missing mandatory header Via (RFC 3261 §8.1.1.7)") from None
            self.headers.views["top-via"] = via
        return via

    @property
    def from_(self) -> NameAddr:
        try:  # the cached() lookup, inlined: read for every message
            return self.headers.views["from"]  # type: ignore[return-value]
        except KeyError:
            return self.headers.cached("from", _build_from)

    @property
    def to(self) -> NameAddr:
        try:  # the cached() lookup, inlined: read for every message
            return self.headers.views["to"]  # type: ignore[return-value]
        except KeyError:
            return self.headers.cached("to", _build_to)

    @property
    def call_id(self) -> str:
        try:  # the cached() lookup, inlined: read for every message
            return self.headers.views["call-id"]  # type: ignore[return-value]
        except KeyError:
            return self.headers.cached("call-id", _build_call_id)

    @property
    def cseq(self) -> CSeq:
        try:  # the cached() lookup, inlined: read for every message
            return self.headers.views["cseq"]  # type: ignore[return-value]
        except KeyError:
            return self.headers.cached("cseq", _build_cseq)

    @property
    def max_forwards(self) -> int | None:
        return self.headers.cached("max-forwards", _build_max_forwards)

    @property
    def contacts(self) -> list[NameAddr]:
        """Contact values; empty for ``Contact: *`` (see :attr:`contact_is_wildcard`)."""
        return self.headers.cached("contacts", _build_contacts)

    # -- checks without views (for a UAS validating each request it gets) ------------
    # A UAS checks Max-Forwards and Contact in every request, but reads their views
    # in few of them (the Contact of an INVITE, for the remote target). These give the
    # verdict of reading the view (the same RemoteProtocolError) and skip building it
    # for the usual values: each is a pure function of the header's one line.

    def check_max_forwards(self) -> None:
        """Raise as reading :attr:`max_forwards` would."""
        if self.headers.only("max-forwards") not in _HOP_COUNTS:
            self.max_forwards  # noqa: B018  (several lines, or an unusual value)

    def check_contacts(self) -> None:
        """Raise as reading :attr:`contacts` and the URI of each would."""
        value = self.headers.only("contact")
        if value is None or value not in _CHECKED_CONTACTS:
            for contact in self.contacts:
                contact.uri  # noqa: B018
            if value is not None:
                remember_text(_CHECKED_CONTACTS, value, True)

    @property
    def contact_is_wildcard(self) -> bool:
        """True for the ``Contact: *`` of a REGISTER removing every binding (§10.2.2)."""
        return self.headers.lines("contact") == ["*"]

    @property
    def routes(self) -> list[NameAddr]:
        return self.headers.cached("routes", _build_routes)

    @property
    def record_routes(self) -> list[NameAddr]:
        return self.headers.cached("record_routes", _build_record_routes)

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def content_length(self) -> int | None:
        """The declared Content-Length, None when absent."""
        return self.headers.cached("content-length", _build_content_length)

    def validate(self) -> None:
        """Check every header sipsans interprets, beyond what the parser checked.

        :func:`~sipsans.parse_message` checks the start line, framing and the
        transaction fields (Via, From, To tags, Call-ID, CSeq); this also parses the
        From/To URIs, Max-Forwards, Contact, Route and Record-Route (and, for a
        request, the Request-URI). A UAS runs it before acting on a request and
        answers a failure with its ``status_hint``. Raises RemoteProtocolError.
        """
        for via in self.vias:
            via.host  # noqa: B018  (every Via parses)
        self.from_.uri  # noqa: B018
        self.to.uri  # noqa: B018
        self.max_forwards  # noqa: B018
        for value in (*self.contacts, *self.routes, *self.record_routes):
            value.uri  # noqa: B018

    # -- wire form -----------------------------------------------------------

    def _start_line(self) -> str:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        body = self.body
        head = self.headers.wire(self._start_line(), str(len(body)))
        return head.encode("utf-8", "surrogateescape") + body

    # -- comparing and showing ---------------------------------------------------

    def _same_start(self, other: Self) -> bool:
        """True when *other*'s start line says the same (method and Request-URI, or
        status code and reason)."""
        raise NotImplementedError

    def _summary(self) -> str:
        """The start line's two values, for repr."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        """Same kind, same start line, same headers and body."""
        if not isinstance(other, type(self)):
            return NotImplemented
        return self._same_start(other) and self.headers == other.headers and self.body == other.body

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        size = f"{len(self.headers)} headers, {len(self.body)} body bytes"
        return f"<{type(self).__name__} {self._summary()} ({size})>"


class Request(Message):
    """A SIP request: ``method``, ``uri`` (Request-URI), ``headers``, ``body``.

    A parsed request keeps its Request-URI as text until :attr:`uri` is first read
    (or :meth:`validate` runs): a proxy or transaction layer matching the request
    needs only the header fields.
    """

    __slots__ = ("_uri", "_uri_text", "method")

    def __init__(
        self,
        method: str,
        uri: URI | str,
        headers: Headers | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> None:
        self.method = method
        self._uri: URI | None = parse_uri(uri) if isinstance(uri, str) else uri
        self._uri_text = ""
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = bytes(body)

    @classmethod
    def parsed(cls, method: str, uri_text: str, headers: Headers) -> Request:
        """A request as the parser builds it: the Request-URI stays text until read."""
        self = uninitialized(cls)
        self.method = method
        self._uri = None
        self._uri_text = uri_text
        self.headers = headers
        self.body = b""
        return self

    @property
    def uri(self) -> URI:
        """The Request-URI (raises RemoteProtocolError when a received one is invalid)."""
        uri = self._uri
        if uri is None:
            uri = parse_uri(self._uri_text)
            if isinstance(uri, SipURI) and uri.headers:
                # RFC 3261 §19.1.1 Table 1: headers are not allowed in a Request-URI
                # (RFC 4475 escruri); never turn them into header fields.
                raise _bad(
                    f"Request-URI {self._uri_text[:80]!r} carries '?headers', "
                    "which are not allowed there"
                )
            self._uri = uri
        return uri

    @uri.setter
    def uri(self, value: URI) -> None:
        self._uri = value

    @property
    def uri_text(self) -> str:
        """The Request-URI as text: as received (even when it does not parse), or as
        given."""
        return self._uri_text if self._uri is None else str(self._uri)

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} SIP/2.0"

    def validate(self) -> None:
        """Check the Request-URI and every header sipsans interprets (see Message)."""
        self.uri  # noqa: B018
        super().validate()

    def _same_start(self, other: Self) -> bool:
        return self.method == other.method and self.uri == other.uri

    def _summary(self) -> str:
        return f"{self.method} {self.uri}"

    def copy(self) -> Request:
        return Request(self.method, self.uri, self.headers.copy(), self.body)


class Response(Message):
    """A SIP response: ``status_code``, ``reason``, ``headers``, ``body``."""

    __slots__ = ("reason", "status_code")

    def __init__(
        self,
        status_code: int,
        reason: str | None = None,
        headers: Headers | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> None:
        self.status_code = status_code
        self.reason = REASON_PHRASES.get(status_code, "") if reason is None else reason
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = bytes(body)

    @classmethod
    def parsed(cls, status_code: int, reason: str, headers: Headers) -> Response:
        """A response as the parser builds it (the body is set afterwards)."""
        self = uninitialized(cls)
        self.status_code = status_code
        self.reason = reason
        self.headers = headers
        self.body = b""
        return self

    def _start_line(self) -> str:
        return f"SIP/2.0 {self.status_code} {self.reason}"

    @property
    def is_provisional(self) -> bool:
        return self.status_code < 200

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def _same_start(self, other: Self) -> bool:
        return self.status_code == other.status_code and self.reason == other.reason

    def _summary(self) -> str:
        return f"{self.status_code} {self.reason}"

    def copy(self) -> Response:
        return Response(self.status_code, self.reason, self.headers.copy(), self.body)


# -- factories ---------------------------------------------------------------------


def make_request(
    method: str,
    uri: URI | str,
    *,
    from_: NameAddr | str,
    to: NameAddr | str,
    call_id: str,
    cseq: int,
    via: Via | str | None = None,
    max_forwards: int = 70,
    contact: NameAddr | str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Request:
    """Build a request with the mandatory headers of RFC 3261 §8.1.1.

    The Via (with its branch) is normally added by the transaction layer, so
    ``via`` is optional here; Content-Length is always written.
    """
    if body and content_type is None:
        raise ValueError("a request with a body needs content_type= (RFC 3261 §20.15)")
    fields: list[tuple[str, str]] = []
    if via is not None:
        fields.append(("Via", str(via)))
    fields += [
        ("Max-Forwards", str(max_forwards)),
        ("From", str(from_)),
        ("To", str(to)),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {method}"),
    ]
    if contact is not None:
        fields.append(("Contact", str(contact)))
    fields.extend(headers)
    if content_type is not None:
        fields.append(("Content-Type", content_type))
    fields.append(("Content-Length", str(len(body))))
    return Request(method, uri, Headers(fields), body)


#: Typed views a response shares with its request: the lines are the same (To aside).
_SHARED_VIEWS = ("vias", "top-via", "from", "call-id", "cseq")

_Checked = tuple[str, tuple[str, str, str]]
#: Header (name, value) pairs given to make_response -> (canonical key, checked line):
#: the results of a pure function (canonical_key, Headers._line) on immutable strings,
#: memoized and bounded like the parse memos (sipsans._speed), values of at most KEY_LENGTH.
_CHECKED_PAIRS: dict[tuple[str, str], _Checked] = {}


def _check_pair(name: str, value: str) -> _Checked:
    """The key and line of a header given to make_response (raises ValueError if bad)."""
    checked = (canonical_key(name), Headers.make_line(name, value))
    if type(value) is str and type(name) is str and len(value) <= KEY_LENGTH:
        remember(_CHECKED_PAIRS, (name, value), checked)
    return checked


def make_response(
    request: Request,
    status_code: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    """Build a response to ``request`` per RFC 3261 §8.2.6.

    Via (every value, in order), From, To, Call-ID and CSeq are copied; a To tag
    is added when ``to_tag`` is given and the To has none yet; a 100 Trying copies
    Timestamp (§8.2.6.1).
    """
    if not 100 <= status_code <= 699:
        raise ValueError(f"status code {status_code} is outside 100-699 (RFC 3261 §7.2)")
    if body and content_type is None:
        raise ValueError("a response with a body needs content_type= (RFC 3261 §20.15)")
    # Copy the lines themselves (already validated when the request was parsed or
    # built) and the typed views of the request, which stay valid for the copies:
    # a UAS answering thousands of requests a second pays for no re-parsing.
    source = request.headers
    copied = source.transaction_lines()
    if copied is None:  # a header missing or repeated: the careful way
        copied = (
            source.clean_lines(source.positions("via")),
            _single(source, "From"),
            _single(source, "To"),
            _single(source, "Call-ID"),
            _single(source, "CSeq"),
        )
    via_lines, from_value, to_value, call_id, cseq_value = copied
    to = request.to
    if to_tag is not None and to.tag is None:
        # Stripped as every line of a clean Headers is (to_tag comes from the caller).
        to_value = f"{to_value};tag={to_tag}".rstrip(_WS)
        to = to.with_tag(to_tag)
    keys = ["via"] * len(via_lines)
    keys += ("from", "to", "call-id", "cseq")
    lines = [
        *via_lines,
        ("From", ": ", from_value),
        ("To", ": ", to_value),
        ("Call-ID", ": ", call_id),
        ("CSeq", ": ", cseq_value),
    ]
    cache = source.views
    try:  # a parsed request: the parser built every shared view (one dict display)
        views: dict[str, object] = {
            "to": to,
            "vias": cache["vias"],
            "top-via": cache["top-via"],
            "from": cache["from"],
            "call-id": cache["call-id"],
            "cseq": cache["cseq"],
        }
    except KeyError:  # views the request has not built are left to the response
        views = {"to": to}
        for slot in _SHARED_VIEWS:
            if slot in cache:
                views[slot] = cache[slot]
    # The other lines go straight into the lists (one Headers built once, rather than
    # an append per line); what the caller passes is checked as Headers.add checks it.
    if status_code == 100 and "timestamp" in source:
        keys.append("timestamp")
        lines.append(("Timestamp", ": ", source.get("timestamp", "")))
    if content_type is not None:
        headers = (*headers, ("Content-Type", content_type))
    for name, value in headers:
        # A UA adds the same few pairs (Contact, Allow, User-Agent, Content-Type) to
        # every answer: their checked form is memoized, a lookup instead of two calls.
        checked = _CHECKED_PAIRS.get((name, value)) if type(value) is str else None
        if checked is None:
            checked = _check_pair(name, value)
        keys.append(checked[0])
        lines.append(checked[1])
    keys.append("content-length")
    lines.append(("Content-Length", ": ", str(len(body))))
    # Every line is clean (name, ": ", stripped value): bytes() joins them as they are.
    built = Headers.from_parsed(keys, lines, views, clean=True)
    return Response(status_code, reason, built, body)
