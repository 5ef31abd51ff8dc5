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


def raw(
    method: str = "INVITE",
    *,
    branch: str | None = "z9hG4bKabc1",
    via: str = "192.0.2.1:5060",
    via_params: str = "",
    transport: str = "UDP",
    uri: str = "sip:bob@192.0.2.2",
    from_tag: str = "a1",
    to_tag: str | None = None,
    call_id: str = "c1@192.0.2.1",
    cseq: int = 1,
    cseq_method: str | None = None,
    extra: tuple[str, ...] = (),
    body: bytes = b"",
) -> bytes:
    """A request exactly as a peer would send it."""
    branch_param = f";branch={branch}" if branch is not None else ""
    to = "<sip:bob@192.0.2.2>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport} {via}{branch_param}{via_params}",
        "Max-Forwards: 70",
        f"From: <sip:alice@192.0.2.1>;tag={from_tag}",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {cseq_method or method}",
        *extra,
        f"Content-Length: {len(body)}",
        "",
        "",
    ]
    return "\r\n".join(lines).encode() + body
