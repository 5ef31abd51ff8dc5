"""What the transaction layer builds itself: ACK for a non-2xx, CANCEL, our Via.

ACK and CANCEL copy header lines from the original request as written, so that every field a
peer compares (From tag, Call-ID, Request-URI, top Via) is byte-identical.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..message.fields import Via
from ..message.headers import Headers
from ..message.model import Request, Response

__all__ = ["build_cancel", "build_non2xx_ack", "our_via"]


def our_via(transport: str, host: str, port: int, branch: str) -> Via:
    """The Via of a request we send (§8.1.1.7); RFC 3581 §3: an empty rport asks the
    server to answer to our source port."""
    return Via(transport, host, port, (("branch", branch), ("rport", None)))


def _common(original: Request, method: str, to_line: str) -> Headers:
    source = original.headers
    headers = Headers()
    # §17.1.1.3 and §9.1: exactly one Via, equal to the original's top Via.
    headers.add("Via", str(original.top_via))
    for route in source.lines("route"):
        headers.add("Route", route)  # same Route set as the original request
    headers.add("Max-Forwards", "70")
    headers.add("From", source.get("from", ""))
    headers.add("To", to_line)
    headers.add("Call-ID", source.get("call-id", ""))
    headers.add("CSeq", f"{original.cseq.seq} {method}")
    headers.add("Content-Length", "0")
    return headers


def build_non2xx_ack(original: Request, response: Response) -> Request:
    """The ACK an INVITE client transaction sends for a 300-699 (§17.1.1.3).

    Request-URI, Call-ID, From, CSeq number and Route come from the INVITE; To
    (with its tag) from the response.
    """
    to_line = response.headers.get("to", "")
    return Request("ACK", original.uri, _common(original, "ACK", to_line))


def build_cancel(original: Request, extra: Iterable[tuple[str, str]] = ()) -> Request:
    """The CANCEL for ``original`` (§9.1): same Request-URI, Call-ID, To, From, CSeq
    number, top Via (hence branch) and Route; method CANCEL.

    ``extra`` headers (a Reason, RFC 3326) go before Content-Length.
    """
    to_line = original.headers.get("to", "")
    headers = _common(original, "CANCEL", to_line)
    headers.remove("content-length")
    for name, value in extra:
        headers.add(name, value)
    headers.add("Content-Length", "0")
    return Request("CANCEL", original.uri, headers)
