"""Matching messages to transactions (RFC 3261 §17.1.3, §17.2.3, §9.2, §8.2.2.2).

Keys are plain tuples so that each lookup is one dict access.

* Client side (§17.1.3): the top Via branch plus the CSeq method, so the CANCEL
  for an INVITE (same branch) is a transaction of its own.
* Server side, RFC 3261 branch (magic cookie ``z9hG4bK``, §17.2.3): the branch and
  the sent-by of the top Via. The method is checked after the lookup: an ACK
  belongs to the INVITE with its branch, a CANCEL is looked up in a separate map,
  and anything else must have the transaction's method.
* Server side, RFC 2543 peers (no magic cookie, §17.2.3): Request-URI, From tag,
  Call-ID, CSeq number and the whole top Via. The To tag is compared after the
  lookup: an INVITE retransmission carries the INVITE's To tag, an ACK carries the
  tag of the response the transaction sent.

Computing a key never raises for a message the parser accepted: the parser has
validated the top Via, From, To, Call-ID and CSeq, and the Request-URI (parsed
lazily) is keyed by its text when it is invalid.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ..errors import RemoteProtocolError
from ..message.model import Request, Response

if TYPE_CHECKING:
    from ..message.fields import Via

__all__ = ["MAGIC_COOKIE", "client_key", "merge_key", "server_key", "uses_rfc3261_branch"]

#: §8.1.1.7: branches of RFC 3261 clients start with this.
MAGIC_COOKIE = "z9hG4bK"


def client_key(message: Request | Response) -> tuple[str, str] | None:
    """``(branch, CSeq method)`` of a request we send or a response we receive."""
    branch = message.top_via.branch
    if branch is None:
        return None
    return (branch, message.cseq.method)


def uses_rfc3261_branch(request: Request) -> bool:
    branch = request.top_via.branch
    return branch is not None and branch.startswith(MAGIC_COOKIE)


def server_key(request: Request, via: Via | None = None) -> tuple[object, ...]:
    """The key of the server transaction ``request`` belongs to (without the method).

    ``via`` is the request's top Via when the caller holds it already: reading the
    property again costs about a thousand machine instructions, for every request.
    """
    if via is None:
        via = request.top_via
    branch = via.branch
    if branch is not None and branch.startswith(MAGIC_COOKIE):
        # §17.2.3: branch and sent-by; host names compare case-insensitively (§19.1.4).
        # The host is interned: a peer's transactions share one copy in their keys.
        return (branch, sys.intern(via.host.lower()), via.port)
    return (
        _uri_key(request),
        request.from_.tag,
        request.call_id,
        request.cseq.seq,
        str(via),
    )


def _uri_key(request: Request) -> str:
    """The Request-URI as matched by §17.2.3, or its raw text when it is invalid.

    Leniency: an invalid Request-URI keys its transaction by its text, as it would
    under an RFC 3261 branch (where the URI plays no part in matching); the TU answers
    400 when it validates the request (§8.2.2 is the TU's job, not the transaction's).
    """
    try:
        return str(request.uri)
    except RemoteProtocolError:
        return request.uri_text


def merge_key(request: Request) -> tuple[object, ...] | None:
    """§8.2.2.2: (From tag, Call-ID, CSeq) of a request without To tag, else None."""
    if request.to.tag is not None:
        return None
    cseq = request.cseq
    # Interned method: the key lives as long as the transaction (see server_key).
    return (request.from_.tag, request.call_id, cseq.seq, sys.intern(cseq.method))
