"""Sending a request of ours again when its failure can be answered, for the parts of
the UserAgent that send requests (:mod:`sipsans.ua.calls`, :mod:`sipsans.ua.client`):
with credentials for a 401/407 (RFC 3261 §22.2), with the Min-SE a 422 asks for (RFC
4028 §7.4), or to the next target after a 503, time-out or transport error (RFC 3263
§4.3). The caller sends what these return, with the CSeq or the transaction it needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from ..auth import AuthFailure, Credentials
from ..dialog.model import Dialog
from ..locate.failover import Failover
from ..message.model import Request, Response
from ..transaction.transport import ClientTxn, Target
from .context import UAContext
from .events import AuthenticationFailed
from .failover import Failure, leave_target, with_contact_for

__all__ = ["Challenged", "Failure", "Walking", "answer_challenge", "next_target", "retry_of"]


class Challenged(Protocol):
    """A request of ours that may meet 401/407: an INVITE's Call or an Outgoing."""

    request: Request
    origin: ClientTxn
    auth_tries: int


class Walking(Protocol):
    """A request of ours that walks down several targets: an INVITE's Call or an Outgoing."""

    request: Request
    target: Target
    origin: ClientTxn


class _SessionTimers(Protocol):  # sipsans.ua.session_timers.SessionTimers (RFC 4028)
    def after_422(self, request: Request, response: Response) -> Request | None: ...


def answer_challenge(
    ctx: UAContext,
    d: Dialog | None,
    sent: Challenged,
    resp: Response,
    credentials: Iterable[Credentials] | None = None,
) -> Request | None:
    """§22.2: ``sent``'s request again with credentials for the 401/407 ``resp``, once
    per challenge; None, with AuthenticationFailed reported, when there are none to give
    (too many retries, or no credentials for the realm)."""
    if sent.auth_tries >= ctx.config.max_auth_retries:
        why, realm = "too many authentication retries", None
    else:
        result = ctx.digest.authorize(sent.request, resp, credentials=credentials)
        if not isinstance(result, AuthFailure):
            sent.auth_tries += 1
            return result.apply(sent.request)
        why, realm = result.reason, result.realm
    ctx.events.append(
        AuthenticationFailed(
            dialog_id=d.id if d is not None else None,
            txn=sent.origin,
            response=resp,
            reason=why,
            realm=realm,
        )
    )
    return None


def retry_of(
    ctx: UAContext,
    timers: _SessionTimers,
    d: Dialog | None,
    sent: Challenged,
    resp: Response,
    *,
    credentials: Iterable[Credentials] | None = None,
) -> Request | None:
    """``sent``'s request again for its 401/407 or 422 ``resp``: with credentials (§22.2,
    once per challenge), or asking for the 422's Min-SE (RFC 4028 §7.4). None when it
    cannot be answered. The caller sends it with the next CSeq (§8.1.3.5)."""
    if resp.status_code == 422:
        return timers.after_422(sent.request, resp)
    return answer_challenge(ctx, d, sent, resp, credentials)


def next_target(
    ctx: UAContext, walk: Failover, sent: Walking, failure: Failure, d: Dialog | None = None
) -> tuple[Request, Target] | None:
    """RFC 3263 §4.3: ``sent``'s request failed at its target (reported, and the target
    backed off); the request to send in a new transaction and the next target to send it
    to (its Contact changed with the transport, §19.1.1), or None when none is left."""
    following = leave_target(
        ctx,
        walk,
        sent.target,
        failure,
        txn=sent.origin,
        request=sent.request,
        dialog_id=d.id if d is not None else None,
    )
    if following is None:
        return None
    return with_contact_for(ctx, sent.request, sent.target, following), following
