"""Settings of a :class:`~sipsans.UserAgent`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..config import bounded, check_settings

__all__ = ["UAConfig"]

#: RFC 4028 §4: the least session interval anybody may ask for.
MIN_SESSION_INTERVAL = 90


@dataclass(frozen=True, slots=True, kw_only=True)
class UAConfig:
    """Settings of a :class:`UserAgent`."""

    #: Methods we accept (the Allow header); others known to SIP get 405 (§8.2.1).
    #: PRACK is added unless :attr:`rel100` is disabled.
    allow: tuple[str, ...] = (
        "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "UPDATE", "INFO", "MESSAGE", "NOTIFY",
    )  # fmt: skip
    #: Option tags we support besides ``100rel`` and ``timer`` (which the two settings
    #: below add); a Require naming another gets 420 (§8.2.2.3). The UA implements
    #: Replaces (RFC 3891) and norefersub (RFC 4488).
    supported: tuple[str, ...] = ("replaces", "norefersub")
    #: Reliable provisional responses (RFC 3262). ``"supported"``: our INVITEs carry
    #: ``Supported: 100rel``, a reliable 1xx we receive is PRACKed, and our 1xx are
    #: reliable when the caller requires it (or when ``ringing()``/``progress()`` ask,
    #: if the caller supports it). ``"required"``: our INVITEs carry ``Require:
    #: 100rel``, every 1xx we send is reliable and an INVITE that does not support
    #: 100rel gets 421. ``"disabled"``: none of it (a ``Require: 100rel`` gets 420).
    rel100: Literal["disabled", "supported", "required"] = field(
        default="supported", metadata=bounded(one_of=("disabled", "supported", "required"))
    )
    #: Session timers (RFC 4028). ``"supported"``: ``Supported: timer``; our INVITEs
    #: ask for :attr:`session_expires`, and as callee we run the timer a caller asks
    #: for. ``"always"``: also impose :attr:`session_expires` on a caller that did not
    #: ask (refreshing ourselves when it has no timer support). ``"disabled"``: none
    #: of it (a ``Require: timer`` gets 420, a Session-Expires is ignored).
    session_timer: Literal["disabled", "supported", "always"] = field(
        default="supported", metadata=bounded(one_of=("disabled", "supported", "always"))
    )
    #: The session interval we ask for (RFC 4028 §4 recommends 1800 s); as callee, the
    #: most we grant (a larger request is reduced to it, never below its Min-SE).
    session_expires: int = field(default=1800, metadata=bounded(at_least="min_se"))
    #: The least session interval we accept (Min-SE, RFC 4028 §5; at least 90 s): a
    #: smaller Session-Expires gets 422.
    min_se: int = field(
        default=MIN_SESSION_INTERVAL,
        metadata=bounded(at_least=MIN_SESSION_INTERVAL, why="RFC 4028 §4"),
    )
    #: Who we would like to refresh: ``"uac"`` (the caller) or ``"uas"`` (the callee).
    #: As caller it is the ``refresher`` we ask for; as callee the one we choose when the
    #: caller supports timers and leaves it open. None: the caller asks for nothing and
    #: the callee chooses the caller (RFC 4028 §9).
    session_refresher: Literal["uac", "uas"] | None = field(
        default=None, metadata=bounded(one_of=(None, "uac", "uas"))
    )
    #: Event packages we act as notifier for (RFC 6665 §4.2): a SUBSCRIBE for one of
    #: them becomes IncomingSubscription, others get 489; non-empty adds SUBSCRIBE
    #: to Allow. (Subscribing needs nothing here.)
    event_packages: tuple[str, ...] = ()
    #: Accept REFER within dialogs (RFC 3515): adds REFER to Allow; when False a
    #: REFER gets 405.
    refer: bool = True
    #: The longest subscription we grant as notifier, and the default when a
    #: SUBSCRIBE has no Expires (RFC 6665 §4.2.1.1).
    subscription_expires: int = 3600
    #: Duration of a REFER's implicit subscription (RFC 3515 §2.4.4); the notifier
    #: sends ``terminated;reason=timeout`` if no final status was reported by then.
    refer_expires: int = 300
    #: Seconds the application has to answer a request before the UA sends the
    #: default (docs/dialogs.md: 200 for OPTIONS/INFO/MESSAGE/NOTIFY, 488 for an
    #: offer in a re-INVITE/UPDATE/PRACK, 200 for an UPDATE without one).
    answer_timeout: float = 5.0
    #: Seconds an incoming call may stay unanswered before the UA rejects it with 480.
    ring_timeout: float = 180.0
    #: Most dialogs (early and confirmed) at once; past it new INVITEs get 503.
    max_dialogs: int = 10_000
    #: Retry-After seconds for 500 (CSeq out of order, §12.2.2) and 503.
    retry_after: int = 1
    #: Most §14.1 retries of a re-INVITE that met 491 (glare); after as many 491s the
    #: last one is the re-INVITE's outcome.
    glare_retries: int = 3
    #: Most 401/407 retries for one request (a safety net; the digest client already
    #: stops when the same credentials are rejected).
    max_auth_retries: int = 3
    #: The User-Agent header value, or None for none.
    user_agent: str | None = "sipsans"
    #: Seconds a request within a dialog this UA does not hold waits for the application
    #: to restore the dialog from a shared store (``UnknownDialogRequest``, answered
    #: with ``ua.resume``); then it gets 481. None: 481 at once (§12.2.2), nothing asked.
    restore_wait: float | None = None
    #: Most dialogs awaiting restoration at once (each holds at most
    #: ``MAX_HELD_PER_DIALOG`` requests); a request beyond gets 481 at once.
    max_restores: int = 1024
    #: Report every change of what a confirmed dialog's snapshot holds as
    #: ``DialogChanged`` (for a store of snapshots, DESIGN.md §10).
    report_changes: bool = False
    #: RFC 3263 §4.3 failover (requests given several ``targets=``): seconds a target
    #: that failed a request (503, time-out, transport error) is tried after the others
    #: by every later request; a 503's Retry-After sets it instead, up to
    #: ``failover_max_backoff``.
    failover_backoff: float = field(
        default=30.0, metadata=bounded(at_least=0, at_most="failover_max_backoff")
    )
    failover_max_backoff: float = 600.0
    #: SIP outbound (RFC 5626): our Contact carries ``;ob`` (§4.3, §5.4), and
    #: registrations carry ``reg-id`` and ``+sip.instance`` (§4.2), ask for
    #: ``Supported: outbound``, keep their flow alive with CRLF pings (§4.4.1) and
    #: register again over a new flow when it fails. ``register(outbound=)`` chooses per
    #: registration.
    outbound: bool = False
    #: Our instance id (RFC 5626 §4.1), a ``urn:uuid:...`` URN stable across restarts;
    #: None draws one per UserAgent from its rng.
    instance_id: str | None = None
    #: Seconds between CRLF keep-alive pings on the stream connection (TCP, TLS, WS) a
    #: registration is kept over (RFC 5626 §4.4.1; a registrar's Flow-Timer wins).
    #: None: only outbound registrations send them, every 120 s.
    keepalive_interval: float | None = field(default=None, metadata=bounded(above=0, optional=True))

    def __post_init__(self) -> None:
        check_settings(self)
