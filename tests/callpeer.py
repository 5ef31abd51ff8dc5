"""A scripted peer for the call-feature tests (100rel, session timers, UPDATE): raw
requests from 192.0.2.1 to the UA of :class:`uaharness.Harness` (192.0.2.10), and raw
answers to what the UA sent."""

from __future__ import annotations

from uaharness import SDP, Harness

from sipsans import IncomingCall, Request, ServerInviteDialog, make_response

__all__ = ["ANSWER", "CALL_ID", "SDP", "Peer"]

CALL_ID = "peer-call@192.0.2.1"
#: The UA's answer to the peer's SDP.
ANSWER = SDP.replace(b"192.0.2.1", b"192.0.2.10").replace(b"4000", b"4010")


class Peer:
    """The far end of one call with the UA of ``h``: the caller (its From tag ``p1``)."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.cseq = 1
        self.branches = 0
        #: The UA's tag once known (its To tag).
        self.ua_tag: str | None = None

    def request(
        self,
        method: str,
        *,
        cseq: int | None = None,
        extra: tuple[str, ...] = (),
        body: bytes = b"",
        in_dialog: bool = True,
        branch: str | None = None,
    ) -> bytes:
        """A request from the peer (within the dialog once the UA's tag is known)."""
        if cseq is None:
            self.cseq += 1 if method not in ("ACK", "CANCEL") else 0
            cseq = self.cseq
        self.branches += 1
        to_tag = f";tag={self.ua_tag}" if in_dialog and self.ua_tag else ""
        lines = [
            f"{method} sip:alice@192.0.2.10 SIP/2.0",
            f"Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch or f'z9hG4bKp{self.branches}'}",
            "Max-Forwards: 70",
            "From: <sip:bob@192.0.2.1>;tag=p1",
            f"To: <sip:alice@192.0.2.10>{to_tag}",
            f"Call-ID: {CALL_ID}",
            f"CSeq: {cseq} {method}",
            "Contact: <sip:bob@192.0.2.1:5060>",
            *extra,
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def send(self, method: str, **kw: object) -> None:
        self.h.receive(self.request(method, **kw))  # type: ignore[arg-type]

    def invite(self, *extra: str, body: bytes = SDP) -> ServerInviteDialog:
        """Send the initial INVITE (CSeq 1); the UA's dialog."""
        self.cseq = 1
        self.h.receive(self.request("INVITE", cseq=1, extra=extra, body=body, branch="z9hG4bKinv"))
        call = next(e for e in self.h.events if isinstance(e, IncomingCall))
        self.ua_tag = call.dialog.id.local_tag
        return call.dialog

    def answer(
        self, request: Request, status: int, *extra: tuple[str, str], body: bytes = b""
    ) -> None:
        """The peer's response to a request the UA sent."""
        response = make_response(
            request,
            status,
            to_tag="p1" if request.to.tag is None else None,
            headers=[("Contact", "<sip:bob@192.0.2.1:5060>"), *extra],
            body=body,
            content_type="application/sdp" if body else None,
        )
        self.h.receive(bytes(response))
