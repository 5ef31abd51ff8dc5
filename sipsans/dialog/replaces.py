"""The Replaces header field (RFC 3891) and message/sipfrag status lines (RFC 3420).

``Replaces: call-id;to-tag=...;from-tag=...[;early-only]`` names a dialog *as the
recipient of the request sees it*: ``to-tag`` is the recipient's local tag and
``from-tag`` its remote tag (RFC 3891 §3). :func:`replaces_for` builds the value
for a dialog we hold with the recipient-to-be; :func:`match_replaces` applies the
§3 rules on the UAS that receives an INVITE carrying one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import RemoteProtocolError
from ..message.fields import get_param, parse_params
from ..message.grammar import is_digits
from .model import Dialog, DialogId
from .state import DialogState

__all__ = [
    "Replaces",
    "match_replaces",
    "parse_replaces",
    "parse_sipfrag",
    "replaces_for",
    "sipfrag",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Replaces:
    """A parsed Replaces value (RFC 3891 §6.1)."""

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False

    @property
    def dialog_id(self) -> DialogId:
        """The recipient's key of the dialog named: its local tag is ``to-tag``."""
        return DialogId(self.call_id, self.to_tag, self.from_tag)

    def __str__(self) -> str:
        out = f"{self.call_id};to-tag={self.to_tag};from-tag={self.from_tag}"
        return out + ";early-only" if self.early_only else out


def parse_replaces(value: str) -> Replaces:
    """Parse a Replaces value; RemoteProtocolError(400) when it is malformed.

    Replaces = callid *(SEMI replaces-param); to-tag and from-tag are mandatory.
    """
    head, _, tail = value.strip(" \t").partition(";")
    call_id = head.strip(" \t")
    if not call_id or any(c in call_id for c in " \t<>,"):
        raise RemoteProtocolError(
            f"Replaces: bad Call-ID {head!r} (RFC 3891 §6.1)", status_hint=400
        )
    params = parse_params(";" + tail, header="Replaces") if tail else ()
    to_tag = get_param(params, "to-tag")
    from_tag = get_param(params, "from-tag")
    if not to_tag or not from_tag:
        raise RemoteProtocolError(
            "Replaces: to-tag and from-tag are both required (RFC 3891 §6.1)", status_hint=400
        )
    return Replaces(
        call_id=call_id,
        to_tag=to_tag,
        from_tag=from_tag,
        early_only=get_param(params, "early-only") is not None,
    )


def replaces_for(dialog_id: DialogId, *, early_only: bool = False) -> Replaces:
    """The Replaces value that lets the *peer* of our dialog ``dialog_id`` find it:
    its local tag (to-tag) is our remote tag, its remote tag (from-tag) our local one."""
    return Replaces(
        call_id=dialog_id.call_id,
        to_tag=dialog_id.remote_tag,
        from_tag=dialog_id.local_tag,
        early_only=early_only,
    )


def match_replaces(d: Dialog | None, value: Replaces) -> tuple[Dialog | None, int]:
    """RFC 3891 §3 on the UAS, for ``d``, the dialog ``value.dialog_id`` names (None when
    we hold none): the dialog to replace and 0, or (None, the error status).

    481 when nothing matches or the match is an early dialog we did not initiate,
    603 when it already ended, 486 when ``early-only`` names a confirmed dialog.
    """
    if d is None or not d.invite_usage:
        return None, 481
    if d.state is DialogState.TERMINATED:
        return None, 603
    if d.is_early:
        return (d, 0) if d.role == "uac" else (None, 481)
    if value.early_only:
        return None, 486
    return d, 0


# -- message/sipfrag (RFC 3420) as REFER uses it (RFC 3515 §2.4.5) --------------------


def sipfrag(status: int, reason: str) -> bytes:
    """The NOTIFY body for a REFER's progress: just the status line."""
    return f"SIP/2.0 {status} {reason}\r\n".encode()


def parse_sipfrag(body: bytes) -> tuple[int, str] | None:
    """``(status, reason)`` from a message/sipfrag body's status line, None if it has none."""
    line = body.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    if version.upper() != "SIP/2.0" or len(code) != 3 or not is_digits(code):
        return None
    return int(code), reason
