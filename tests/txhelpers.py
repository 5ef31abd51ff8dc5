"""Small builders shared by the transaction and endpoint tests."""

from __future__ import annotations

import itertools

from sipsans import Request, make_request

_calls = itertools.count(1)


def request(
    method: str = "INVITE",
    *,
    to: str = "sip:bob@192.0.2.2",
    uri: str | None = None,
    cseq: int = 1,
    call_id: str | None = None,
    from_tag: str = "a1",
    to_tag: str | None = None,
    body: bytes = b"",
) -> Request:
    """A request with the mandatory headers but no Via (the Endpoint adds it)."""
    to_value = f"<{to}>" if to_tag is None else f"<{to}>;tag={to_tag}"
    return make_request(
        method,
        uri or to,
        from_=f"<sip:alice@192.0.2.1>;tag={from_tag}",
        to=to_value,
        call_id=call_id or f"call-{next(_calls)}@192.0.2.1",
        cseq=cseq,
        contact="<sip:alice@192.0.2.1>",
        body=body,
        content_type="application/sdp" if body else None,
    )


def first_line(data: bytes) -> str:
    return data.split(b"\r\n", 1)[0].decode()
