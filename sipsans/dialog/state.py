"""The INVITE dialog state machine as one table (RFC 3261 §12, §13, §15).

:data:`DIALOG_TABLE` maps ``(state, input) -> (next state, RFC reference)``; nothing
else in sipsans decides a dialog's next state (``Dialog.advance`` applies a row, and
the UserAgent's dialog table, its only caller, reports each change). A pair that is
not in the table is absorbed (the state does not change): a peer can never make the
UA raise, and the UserAgent checks the caller's commands against the state before
feeding them.

States follow rsipstack's naming (DESIGN.md §3): a UAC dialog goes Calling ->
Trying (100) -> Early (1xx with a To tag) -> Confirmed (2xx, ACK sent at once); a
UAS dialog starts in Trying (the INVITE arrived) -> Early (1xx sent) -> WaitAck (2xx
sent) -> Confirmed (ACK received). In-dialog requests are events, not states.
"""

from __future__ import annotations

from .._speed import IdentityHashedEnum

__all__ = [
    "DIALOG_TABLE",
    "DialogInput",
    "DialogState",
    "TerminatedReason",
    "reason_for_rejection",
    "reason_for_status",
    "transition",
]


class DialogState(IdentityHashedEnum):
    CALLING = "Calling"
    TRYING = "Trying"
    EARLY = "Early"
    WAIT_ACK = "WaitAck"
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


class TerminatedReason(IdentityHashedEnum):
    """Why a dialog ended. ``UAC_*``/``UAS_*`` name the party that ended it, seen the
    same way on both ends: the UAC is whoever sent the initial INVITE."""

    TIMEOUT = "timeout"
    UAC_CANCEL = "uac-cancel"
    UAC_BYE = "uac-bye"
    UAS_BYE = "uas-bye"
    UAC_BUSY = "uac-busy"
    UAS_BUSY = "uas-busy"
    UAS_DECLINE = "uas-decline"
    PROXY_ERROR = "proxy-error"
    PROXY_AUTH_REQUIRED = "proxy-auth-required"
    UAC_OTHER = "uac-other"
    UAS_OTHER = "uas-other"
    #: UAC: a 2xx from a second fork of our INVITE; we keep the first and end this one
    #: with ACK and BYE (§13.2.2.4).
    FORK_LOST = "fork-lost"
    #: The session timer ran out without a refresh (RFC 4028 §10): the UA sent BYE.
    SESSION_EXPIRED = "session-expired"


class DialogInput(IdentityHashedEnum):
    # UAC side
    INVITE_SENT = "INVITE sent"
    RECV_100 = "100 received"
    RECV_1XX = "1xx with To tag received"
    RECV_2XX = "2xx received (ACK sent)"
    RECV_FAILURE = "3xx-6xx received"
    # UAS side
    INVITE_RECEIVED = "INVITE received"
    SENT_1XX = "1xx sent"
    SENT_2XX = "2xx sent"
    SENT_FAILURE = "3xx-6xx sent"
    RECV_ACK = "ACK received"
    CANCEL_RECEIVED = "CANCEL received"
    # both
    BYE_SENT = "BYE sent"
    BYE_RECEIVED = "BYE received"
    #: A transaction timeout or transport failure, no ACK within 64*T1 (§13.3.1.4),
    #: or a 408/481 to an in-dialog request (§12.2.1.2).
    FAILED = "timeout / 408 / 481"
    #: The INVITE transaction ended and this early dialog never got its 2xx (§13.2.2.4),
    #: or the UA dropped it (auth retry, local limits).
    ENDED = "INVITE transaction ended"
    #: UAS: the 2xx was retransmitted for 64*T1 without an ACK: "the dialog is
    #: confirmed, but the session SHOULD be terminated" (§13.3.1.4), with a BYE.
    ACK_TIMEOUT = "no ACK within 64*T1"
    #: A dialog without an INVITE usage lost its last subscription usage (RFC 5057 §5).
    USAGES_ENDED = "last usage ended"


_S = DialogState
_I = DialogInput

#: Where a dialog starts for each creating input.
INITIAL: dict[DialogInput, DialogState] = {
    _I.INVITE_SENT: _S.CALLING,  # §13.2.1
    _I.INVITE_RECEIVED: _S.TRYING,  # §13.3.1
}

_PRE = (_S.CALLING, _S.TRYING, _S.EARLY)

DIALOG_TABLE: dict[tuple[DialogState, DialogInput], tuple[DialogState, str]] = {
    (_S.CALLING, _I.RECV_100): (_S.TRYING, "§17.1.1.2"),
    **{(s, _I.RECV_1XX): (_S.EARLY, "§12.1.2, §13.2.2.1") for s in _PRE},
    **{(s, _I.RECV_2XX): (_S.CONFIRMED, "§12.1.2, §13.2.2.4") for s in _PRE},
    # A 2xx retransmission (or another fork's 2xx merged here) changes nothing (§13.2.2.4).
    (_S.CONFIRMED, _I.RECV_2XX): (_S.CONFIRMED, "§13.2.2.4"),
    **{(s, _I.RECV_FAILURE): (_S.TERMINATED, "§12.3, §13.2.2.3") for s in _PRE},
    **{(s, _I.FAILED): (_S.TERMINATED, "§8.1.3.1, §12.2.1.2") for s in _PRE},
    **{(s, _I.ENDED): (_S.TERMINATED, "§12.3, §13.2.2.4") for s in _PRE},
    (_S.TRYING, _I.SENT_1XX): (_S.EARLY, "§12.1.1, §13.3.1.1"),
    (_S.EARLY, _I.SENT_1XX): (_S.EARLY, "§13.3.1.1"),
    (_S.TRYING, _I.SENT_2XX): (_S.WAIT_ACK, "§13.3.1.4"),
    (_S.EARLY, _I.SENT_2XX): (_S.WAIT_ACK, "§13.3.1.4"),
    (_S.TRYING, _I.SENT_FAILURE): (_S.TERMINATED, "§13.3.1.3"),
    (_S.EARLY, _I.SENT_FAILURE): (_S.TERMINATED, "§13.3.1.3"),
    (_S.TRYING, _I.CANCEL_RECEIVED): (_S.TERMINATED, "§9.2"),
    (_S.EARLY, _I.CANCEL_RECEIVED): (_S.TERMINATED, "§9.2"),
    (_S.WAIT_ACK, _I.RECV_ACK): (_S.CONFIRMED, "§13.3.1.4"),
    # §13.3.1.4: no ACK within 64*T1: confirmed, and at once ended with a BYE.
    (_S.WAIT_ACK, _I.ACK_TIMEOUT): (_S.CONFIRMED, "§13.3.1.4"),
    (_S.WAIT_ACK, _I.FAILED): (_S.TERMINATED, "§13.3.1.4"),
    (_S.CONFIRMED, _I.RECV_ACK): (_S.CONFIRMED, "§13.3.1.4 (ACK retransmission)"),
    (_S.CONFIRMED, _I.FAILED): (_S.TERMINATED, "§12.2.1.2"),
    # §15: BYE ends a confirmed dialog; a UAS may also BYE once it sent its 2xx (§15),
    # and the callee's BYE may overtake the ACK (§15.1.2).
    (_S.CONFIRMED, _I.BYE_SENT): (_S.TERMINATED, "§15.1.1"),
    (_S.WAIT_ACK, _I.BYE_SENT): (_S.TERMINATED, "§15"),
    (_S.CONFIRMED, _I.BYE_RECEIVED): (_S.TERMINATED, "§15.1.2"),
    (_S.WAIT_ACK, _I.BYE_RECEIVED): (_S.TERMINATED, "§15.1.2"),
    # §15: a caller ends an early dialog with CANCEL, but a BYE it receives there
    # (a callee leaving an early dialog) ends it too.
    (_S.EARLY, _I.BYE_RECEIVED): (_S.TERMINATED, "§15"),
    (_S.CONFIRMED, _I.USAGES_ENDED): (_S.TERMINATED, "RFC 5057 §5"),
}


def transition(state: DialogState, inp: DialogInput) -> DialogState | None:
    """The next state, or None when the table absorbs ``inp`` in ``state``."""
    row = DIALOG_TABLE.get((state, inp))
    return row[0] if row is not None else None


#: Statuses only routing elements produce (RFC 3261 §21); see docs/dialogs.md.
PROXY_STATUSES = frozenset({305, 404, 410, 414, 416, 482, 483, 484, 485, 502, 503, 504, 505, 513})


def reason_for_rejection(status: int) -> TerminatedReason:
    """The reason a UAS's INVITE dialog ends with the 3xx-6xx it sent: 486/600 busy,
    603/607 decline, anything else UAS_OTHER (docs/dialogs.md)."""
    if status in (486, 600):
        return TerminatedReason.UAS_BUSY
    if status in (603, 607):
        return TerminatedReason.UAS_DECLINE
    return TerminatedReason.UAS_OTHER


def reason_for_status(status: int, *, cancelled: bool = False) -> TerminatedReason:
    """The reason a UAC's INVITE dialog ends with the final response ``status``.

    The mapping (documented in docs/dialogs.md): 486/600 busy, 603/607 decline,
    408 timeout, 407 unresolved proxy auth, 487 cancel (when we cancelled),
    statuses only proxies generate -> PROXY_ERROR, everything else UAS_OTHER.
    """
    if status in (486, 600):
        return TerminatedReason.UAS_BUSY
    if status in (603, 607):
        return TerminatedReason.UAS_DECLINE
    if status == 408:
        return TerminatedReason.TIMEOUT
    if status == 407:
        return TerminatedReason.PROXY_AUTH_REQUIRED
    if status == 487 and cancelled:
        return TerminatedReason.UAC_CANCEL
    if status in PROXY_STATUSES:
        return TerminatedReason.PROXY_ERROR
    return TerminatedReason.UAS_OTHER


def render_table() -> str:
    """Markdown for docs/dialogs.md: a Mermaid diagram and the rows."""
    lines = ["```mermaid", "stateDiagram-v2"]
    for inp, state in INITIAL.items():
        lines.append(f"    [*] --> {state.value} : {inp.value}")
    for (state, inp), (nxt, _ref) in DIALOG_TABLE.items():
        lines.append(f"    {state.value} --> {nxt.value} : {inp.value}")
    lines += [f"    {_S.TERMINATED.value} --> [*]", "```", ""]
    lines += ["| State | Input | Next | RFC |", "|---|---|---|---|"]
    order = {s: i for i, s in enumerate(DialogState)}
    for (state, inp), (nxt, ref) in sorted(DIALOG_TABLE.items(), key=lambda kv: order[kv[0][0]]):
        lines.append(f"| {state.value} | {inp.value} | {nxt.value} | {ref} |")
    return "\n".join(lines)
