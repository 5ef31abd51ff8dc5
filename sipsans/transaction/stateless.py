"""Responses sent outside any transaction (RFC 3261 §8.2, §18.2.2, §21.5.4).

An Endpoint answers some requests without keeping a transaction: a request it could
not parse completely (400, 505, 513, ... as the error's ``status_hint`` says), and any
request while it holds no more transactions (503). It can only do so when the
request's Via, From, To, Call-ID and CSeq are readable; the response then goes where
§18.2.2 says a response goes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.model import Request, Response, make_response
from .transport import (
    Address,
    ConnHandle,
    Source,
    Target,
    Transmit,
    replace_top_via,
    response_address,
    stamp_via,
)

__all__ = ["stateless_reply", "stateless_route"]


def stateless_reply(
    request: Request,
    status: int,
    source: Source,
    *,
    new_tag: Callable[[], str],
    conn_open: bool,
    headers: Iterable[tuple[str, str]] = (),
) -> Transmit | None:
    """The Transmit of a ``status`` response to ``request``, which came from ``source``,
    or None when the request lacks what a response copies.

    ``new_tag`` makes the To tag when the request has none; ``conn_open`` says whether
    the connection it came on (if any) is still open, in which case the response goes
    back on it (§18.2.2). A status outside 300-699 is sent as 400: a stateless answer
    is always final and never a success.
    """
    try:
        via = request.top_via
        request.from_  # noqa: B018
        to = request.to
        request.call_id  # noqa: B018
        request.cseq  # noqa: B018
        stamped = stamp_via(via, source.remote)
        if stamped is not via:
            replace_top_via(request, stamped)
        tag = None if to.tag is not None else new_tag()
        status = status if 300 <= status <= 699 else 400
        data = bytes(make_response(request, status, to_tag=tag, headers=headers))
    except (RemoteProtocolError, ValueError):
        return None
    transport = source.transport
    conn = source.conn if conn_open else None
    if conn is not None:
        remote = source.remote
    else:
        remote = response_address(stamped, transport, source.remote)
    return Transmit(data, transport, remote, source.local, conn)


def stateless_route(
    message: Request | Response, target: Target | None
) -> tuple[str, Address, ConnHandle | None]:
    """Where ``Endpoint.send_stateless`` sends ``message``: its transport, the remote
    address and the connection to write to (None: the Endpoint picks or the adapter
    opens one). A request goes to ``target``, which it needs; a response to ``target``
    when given, else where its top Via says (§18.2.2)."""
    if target is not None:
        return target.transport.upper(), target.address, target.conn
    if isinstance(message, Request):
        raise LocalProtocolError("send_stateless needs target= for a request")
    try:
        via = message.top_via
    except RemoteProtocolError as exc:
        raise LocalProtocolError(f"cannot route this response: {exc}") from exc
    return via.transport, response_address(via, via.transport, None), None
