"""What a UAS checks in a request before it acts on it (RFC 3261 §8.2): the fields
sipsans interprets, validated once, and which header fields the checks ask about by
presence."""

from __future__ import annotations

from collections.abc import Collection

from ..message.model import Request

__all__ = ["EXTENSION_HEADERS", "PROBED", "check_request"]

#: The header fields through which an INVITE speaks of 100rel and session timers.
EXTENSION_HEADERS = frozenset({"supported", "require", "session-expires"})
#: Every header field whose mere presence the checks of a request ask about. The server
#: side gives them ``PROBED.intersection(request.headers.keys())``: one pass over the
#: request's header names (in C), after which each question is a set look-up, much
#: cheaper than scanning the names (or asking ``request.headers``) each time. A name
#: asked about must be here, or it is never found.
PROBED = frozenset(
    {"max-forwards", "contact", "route", "record-route", "replaces", *EXTENSION_HEADERS}
)


def check_request(request: Request, present: Collection[str] | None = None) -> None:
    """Validate, once, what sipsans interprets in a request beyond the fields
    ``parse_message`` already checked (§8.2: a UAS answers 400 rather than act on a
    malformed request). Raises RemoteProtocolError.

    The same verdict as :meth:`Request.validate` (tests/ua/test_ua_efficiency.py holds them
    equal), without reading the parser's fields again or building the empty views of
    headers the request does not carry: the Request-URI, every Via, the From and To
    URIs, then Max-Forwards, Contact, Route and Record-Route when present.
    ``present`` holds the request's header names (canonical), or at least those of
    Max-Forwards, Contact, Route and Record-Route it has, when the caller has them.
    """
    request.uri  # noqa: B018
    request.vias.parse_all()  # each Via parses on first access; the top one already did
    request.from_.uri  # noqa: B018
    request.to.uri  # noqa: B018
    if present is None:
        present = request.headers.keys()
    # Max-Forwards and Contact are checked without building the views nobody may read
    # (the same verdict: see Message.check_max_forwards).
    if "max-forwards" in present:
        request.check_max_forwards()
    if "contact" in present:
        request.check_contacts()
    if "route" in present:
        for value in request.routes:
            value.uri  # noqa: B018
    if "record-route" in present:
        for value in request.record_routes:
            value.uri  # noqa: B018
