"""The failures a session reports, and the one-line reason of a connection that failed.

:class:`TransportError` (and :class:`RequestDropped`) and :class:`RequestTimeout` end
the wait for a request's final response; :class:`RegistrationFailed` ends
``await session.register(...)``. The failures of a call or a subscription carry their
handle and live beside it (:class:`~sipsans_session.dialogs.CallFailed`,
:class:`~sipsans_session.subscriptions.SubscriptionFailed`).
"""

from __future__ import annotations

import ssl

from sipsans import RegistrationHandle, RegistrationStateChanged

__all__ = [
    "RegistrationFailed",
    "RequestDropped",
    "RequestTimeout",
    "StoreUnavailable",
    "TransportError",
    "describe_connect_error",
]


class TransportError(Exception):
    """A request could not be sent (refused connection, TLS verification, no socket)."""


class RequestDropped(TransportError):
    """The core dropped a request without ever sending it: its dialog (or the INVITE it
    was to cancel) ended first. A BYE held for the ACK of our 2xx (RFC 3261 §15) is
    dropped when the peer's BYE ends the dialog; a CANCEL held for a provisional (§9.1)
    when the INVITE's final response comes. ``bye()``, ``hangup()`` and ``cancel()``
    return None then (the call ended all the same); other requests raise it."""


class RequestTimeout(Exception):
    """No final response arrived before the transaction timed out (Timer B or F)."""


class RegistrationFailed(Exception):
    """``await ua.register(...)`` ended in FAILED (or UNREGISTERED) instead of
    REGISTERED: ``status`` and ``reason`` come from the last
    ``RegistrationStateChanged`` (e.g. 403, or the timeout after ``max_failures``
    tries); ``handle`` is the core's ``RegistrationHandle`` (``handle.start()``
    registers again)."""

    def __init__(self, handle: RegistrationHandle, event: RegistrationStateChanged | None) -> None:
        self.handle = handle
        self.status: int | None = event.status if event is not None else None
        self.reason: str = event.reason if event is not None else handle.state.name.lower()
        why = f": {self.reason}" if self.reason else ""
        super().__init__(f"registration of {handle.aor} failed{why}")


class StoreUnavailable(ConnectionError):
    """A store of shared dialogs could not be reached, or did not answer in time
    (:mod:`sipsans_session.store`)."""


def describe_connect_error(transport: str, host: str, port: int, exc: BaseException) -> str:
    """A one-line explanation of why a connection could not be opened."""
    where = f"{transport} connection to {host}:{port}"
    # anyio wraps the per-address failures: explain the underlying one.
    while exc.__cause__ is not None and not isinstance(
        exc, ssl.SSLError | ConnectionRefusedError | TimeoutError
    ):
        exc = exc.__cause__
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"{where}: TLS certificate verification failed ({exc.verify_message}); trust the"
            " peer's CA in the client SSL context (or disable verification for tests only)"
        )
    if isinstance(exc, ssl.SSLError):
        return f"{where}: TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where} refused (nothing listening there?)"
    if isinstance(exc, TimeoutError):
        return f"{where} timed out"
    return f"{where} failed: {exc}"
