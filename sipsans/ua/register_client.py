"""The REGISTER client (RFC 3261 §10.2) as a pure state machine.

:class:`Registration` keeps one address-of-record bound to one or more contacts at a
registrar. It never sends anything itself: every command returns the next request to
send (or None) and the caller hands it to a transaction layer, then feeds back the
final response (:meth:`Registration.on_response`), a transaction failure
(:meth:`Registration.on_timeout`) and timer wake-ups (:meth:`Registration.on_timer` at
:meth:`Registration.next_deadline`). A UserAgent hosts it that way; applications
that only have an :class:`~sipsans.Endpoint` use
:class:`~sipsans.services.registration.RegistrationDriver`. The machine lives in the ua
layer, below the services (DESIGN.md §1), because the UserAgent keeps its registrations
with it.

State table (``status`` / ``reason`` travel in :class:`RegistrationStateChanged`)::

    state          input                                   next state
    -------------  --------------------------------------  ----------------------------------
    UNREGISTERED   start()                                 REGISTERING (REGISTER sent)
    FAILED         start()                                 REGISTERING
    REGISTERING    2xx                                     REGISTERED (expiry granted)
    REGISTERING    401/407 answered, 423 with Min-Expires  REGISTERING (retry sent at once)
    REGISTERING    transient error (408/480/5xx/timeout)   REGISTERING, retry later; the
                                                           max_failures-th one in a row: FAILED
    REGISTERING    any other final response, auth failure  FAILED
    REGISTERED     refresh deadline (on_timer)             REFRESHING (REGISTER sent)
    REFRESHING     2xx                                     REGISTERED
    REFRESHING     binding expired while retrying          REGISTERING
    REFRESHING     errors                                  as in REGISTERING
    any            stop()                                  UNREGISTERING (expires=0 sent; queued
                                                           until a pending REGISTER is answered)
    UNREGISTERING  2xx, or an error (the binding is left   UNREGISTERED
                   to expire at the registrar)
    UNREGISTERING  401/407 answered                        UNREGISTERING (retry sent at once)

Refresh rule: a binding granted ``g`` seconds (counted from when the REGISTER was
*sent*, so the estimate errs early) is refreshed at ``max(g / 2, g - refresh_margin)``
seconds, ``refresh_margin`` defaulting to 300: five minutes before expiry for long
bindings, half-way through for short ones (what common UAs such as PJSIP and
Linphone do in spirit: refresh comfortably before expiry without flooding).

The registrar's grant (§10.2.4): the ``expires`` parameter of *our* contacts in the
200's Contact list (the smallest, when several are ours), else the 200's Expires
header, else what we asked for.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Unpack

from ..auth import AuthFailure
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.fields import NameAddr, parse_name_addr
from ..message.grammar import is_digits
from ..message.model import Request, Response, make_request
from ..message.uri import URI, SipURI, parse_uri
from .refreshing import TRANSIENT_STATUS, ClientOptions, RefreshingClient, StateChange, header_int

__all__ = [
    "Registration",
    "RegistrationState",
    "RegistrationStateChanged",
    "as_name_addr",
]


class RegistrationState(enum.Enum):
    """Where a :class:`~sipsans.Registration` is (the state table above)."""

    UNREGISTERED = "unregistered"
    REGISTERING = "registering"
    REGISTERED = "registered"
    REFRESHING = "refreshing"
    UNREGISTERING = "unregistering"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationStateChanged:
    """A :class:`~sipsans.Registration` changed state (``ua.register`` or a
    RegistrationDriver).

    ``status`` is the response status that caused it (None for a local cause such as
    ``start()`` or a timer); ``reason`` says why in words (for FAILED it names the
    status or the timeout); ``expires`` is the granted interval on REGISTERED.
    """

    aor: str
    state: RegistrationState
    previous: RegistrationState
    status: int | None = None
    reason: str = ""
    expires: int | None = None


def as_name_addr(value: NameAddr | URI | str) -> NameAddr:
    """A contact given as a NameAddr, a URI or text (``"<sip:a@h>;q=0.5"`` or ``"sip:a@h"``)."""
    if isinstance(value, NameAddr):
        return value
    if isinstance(value, str):
        return parse_name_addr(value, header="Contact")
    return NameAddr(value)


class Registration(RefreshingClient[RegistrationState, RegistrationStateChanged]):
    """Keeps *aor* bound to *contacts* at *registrar_uri* (RFC 3261 §10.2).

    ``registrar_uri`` defaults to the AOR's domain (``sip:example.com`` for
    ``sip:alice@example.com``, §10.2 Request-URI). Every REGISTER of one Registration
    shares the Call-ID and the From tag, with a CSeq one higher each time (§10.2.4);
    To is the AOR without a tag. The other keyword arguments (``rng``, ``credentials``,
    ``headers``, ``refresh_margin``, ``max_failures``, ``retry_interval``,
    ``max_retry_interval``) are those of
    :class:`~sipsans.services.client.RefreshingClient`; ``max_failures`` transient
    failures in a row end in FAILED.
    """

    def __init__(
        self,
        aor: SipURI | str,
        registrar_uri: URI | str | None = None,
        contacts: Sequence[NameAddr | URI | str] = (),
        *,
        expires: int = 3600,
        display_name: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        parsed = parse_uri(aor) if isinstance(aor, str) else aor
        if not isinstance(parsed, SipURI):
            raise LocalProtocolError(f"an address-of-record must be a sip/sips URI, not {aor!r}")
        if expires < 0:
            raise LocalProtocolError(f"expires must be >= 0, not {expires}")
        self.aor = parsed
        if registrar_uri is None:
            registrar_uri = SipURI(parsed.host, scheme=parsed.scheme, port=parsed.port)
        self.registrar_uri = (
            parse_uri(registrar_uri) if isinstance(registrar_uri, str) else registrar_uri
        )
        self.contacts = [as_name_addr(c) for c in contacts]
        self.expires = expires  # what we ask for (raised by a 423's Min-Expires)
        super().__init__(**options)
        self.display_name = display_name
        self._state = RegistrationState.UNREGISTERED
        #: Every binding of the AOR listed in the last 2xx (ours and other devices').
        self.bindings: list[NameAddr] = []
        self._queued_stop: bool | None = None  # wildcard flag of a stop() awaiting a response

    # -- bookkeeping ------------------------------------------------------------------

    def _holds_nothing(self, state: RegistrationState) -> bool:
        return state is RegistrationState.UNREGISTERED or state is RegistrationState.FAILED

    def _changed(
        self, **change: Unpack[StateChange[RegistrationState]]
    ) -> RegistrationStateChanged:
        return RegistrationStateChanged(aor=str(self.aor), **change)

    def next_deadline(self) -> float | None:
        """When :meth:`on_timer` wants to run next (absolute, caller's clock), or None.

        None while a REGISTER is in flight: :meth:`on_timer` does nothing then (its answer
        or timeout moves the machine on), and a deadline already passed would otherwise
        be reported, and fired, again and again.
        """
        if self._pending is not None:
            return None
        deadlines = [
            t
            for t in (
                self._retry_at,
                self._refresh_at if self._state is RegistrationState.REGISTERED else None,
                self.expires_at if self._state is RegistrationState.REFRESHING else None,
            )
            if t is not None
        ]
        return min(deadlines) if deadlines else None

    # -- building requests ------------------------------------------------------------

    def _build(self, *, expires: int, wildcard: bool = False, preauth: bool = True) -> Request:
        self.cseq += 1
        fields: list[tuple[str, str]] = []
        if wildcard:
            fields.append(("Contact", "*"))
        else:
            for contact in self.contacts:
                params = tuple(p for p in contact.params if p[0].lower() != "expires")
                fields.append(
                    ("Contact", str(contact.replace(params=(*params, ("expires", str(expires))))))
                )
        fields.append(("Expires", str(expires)))
        fields += self.headers
        request = make_request(
            "REGISTER",
            self.registrar_uri,
            from_=NameAddr(self.aor, self.display_name, (("tag", self.from_tag),)),
            to=NameAddr(self.aor, self.display_name),
            call_id=self.call_id,
            cseq=self.cseq,
            headers=fields,
        )
        return self._preauthorize(request) if preauth else request

    def _register_request(self, now: float, *, preauth: bool = True) -> Request:
        return self._send(self._build(expires=self.expires, preauth=preauth), now)

    # -- commands ---------------------------------------------------------------------

    def start(self, now: float) -> Request:
        """Begin registering: the first REGISTER to send."""
        self._advance(now)
        if self._state not in (RegistrationState.UNREGISTERED, RegistrationState.FAILED):
            raise LocalProtocolError(f"start() in state {self._state.name}; stop() first")
        if not self.contacts:
            raise LocalProtocolError("a Registration needs at least one contact to register")
        self.failures = 0
        self._queued_stop = None
        self._set(RegistrationState.REGISTERING, reason="start()")
        return self._register_request(now)

    def stop(self, now: float, *, wildcard: bool = False) -> Request | None:
        """Remove our bindings (``expires=0`` on each contact, or ``Contact: *``).

        ``Contact: *`` removes every binding of the AOR, other devices' too (§10.2.2).
        When a REGISTER is still awaiting its final response the un-REGISTER is
        queued (a UA must not send a new REGISTER before that, §10.2) and comes back
        from :meth:`on_response`/:meth:`on_timeout`; this returns None then.
        """
        self._advance(now)
        if self._pending is not None and self._state is not RegistrationState.UNREGISTERING:
            self._queued_stop = wildcard
            return None
        return self._unregister(now, wildcard)

    def _unregister(self, now: float, wildcard: bool) -> Request:
        self._queued_stop = None
        self._refresh_at = self._retry_at = None
        self._set(RegistrationState.UNREGISTERING, reason="stop()")
        return self._send(self._build(expires=0, wildcard=wildcard), now)

    def refresh(self, now: float, reason: str = "refresh asked for") -> Request | None:
        """Register again at once, before the refresh deadline (say, over a new flow
        when the one the binding was kept over failed, RFC 5626 §4.2.1): the REGISTER
        to send, or None while one is in flight or nothing is registered."""
        self._advance(now)
        registered = (RegistrationState.REGISTERED, RegistrationState.REFRESHING)
        if self._pending is not None or self._state not in registered:
            return None
        self._refresh_at = self._retry_at = None
        if self._state is RegistrationState.REGISTERED:
            self._set(RegistrationState.REFRESHING, reason=reason)
        return self._register_request(now)

    def on_timer(self, now: float) -> Request | None:
        """The deadline passed: a refresh or a retry to send, or None."""
        self._advance(now)
        if self._pending is not None:
            return None
        if self._retry_at is not None and now >= self._retry_at:
            if self._state is RegistrationState.REFRESHING and self._expired(now):
                self._set(RegistrationState.REGISTERING, reason="binding expired while retrying")
            return self._register_request(now)
        if self._state is RegistrationState.REGISTERED and (
            self._refresh_at is not None and now >= self._refresh_at
        ):
            self._refresh_at = None
            self._set(RegistrationState.REFRESHING, reason="refresh before expiry")
            return self._register_request(now)
        if self._state is RegistrationState.REFRESHING and self._expired(now):
            self.expires_at = None
            self._set(RegistrationState.REGISTERING, reason="binding expired while retrying")
        return None

    def _expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    # -- responses ----------------------------------------------------------------------

    def on_response(self, response: Response, now: float) -> Request | None:
        """A response to our REGISTER: returns the next request to send, if any.

        Provisional responses and responses to older REGISTERs are ignored.
        """
        self._advance(now)
        if response.status_code < 200 or not self._is_ours(response):
            return None
        request = self._pending
        assert request is not None
        self._pending = None
        code = response.status_code
        unregistering = self._state is RegistrationState.UNREGISTERING
        if code in (401, 407):
            retry = self._answer_challenge(request, response, now)
            if retry is not None:
                return retry
            return self._after_final(now)
        if unregistering:
            if 200 <= code < 300:
                self._set(RegistrationState.UNREGISTERED, status=code, reason="unregistered")
            else:
                self._set(
                    RegistrationState.UNREGISTERED,
                    status=code,
                    reason=f"un-REGISTER answered {code} {response.reason}; "
                    "the binding is left to expire",
                )
            return self._after_final(now)
        if 200 <= code < 300:
            self._registered(response, code)
            return self._after_final(now)
        if code == 423:
            minimum = header_int(response, "Min-Expires")
            if minimum is not None and minimum > self.expires:
                self.expires = minimum  # §10.2.8: retry with at least Min-Expires
                if self._queued_stop is not None:
                    return self._after_final(now)
                return self._register_request(now)
            self._fail(code, f"423 {response.reason} without a usable Min-Expires")
            return self._after_final(now)
        if code in TRANSIENT_STATUS:
            self._transient(
                now, code, f"{code} {response.reason}", header_int(response, "Retry-After")
            )
            return self._after_final(now)
        self._fail(code, f"{code} {response.reason}")
        return self._after_final(now)

    def _removal_failed(self, reason: str) -> bool:
        if self._state is not RegistrationState.UNREGISTERING:
            return False
        self._set(
            RegistrationState.UNREGISTERED,
            reason=f"un-REGISTER failed: {reason}; the binding is left to expire",
        )
        return True

    def _after_final(self, now: float) -> Request | None:
        if self._queued_stop is not None:
            return self._unregister(now, self._queued_stop)
        return None

    def _answer_challenge(self, request: Request, response: Response, now: float) -> Request | None:
        code = response.status_code
        if self.digest is None:
            self._finish_auth_failure(code, f"{code} {response.reason}: no credentials configured")
            return None
        result = self.digest.authorize(request, response)
        if isinstance(result, AuthFailure):
            self._finish_auth_failure(code, f"{code} {response.reason}: {result.reason}")
            return None
        retry = self._build(
            expires=0 if self._state is RegistrationState.UNREGISTERING else self.expires,
            wildcard=request.contact_is_wildcard,
            preauth=False,
        )
        return self._send(result.apply(retry), now)

    def _finish_auth_failure(self, code: int, reason: str) -> None:
        if self._state is RegistrationState.UNREGISTERING:
            self._set(RegistrationState.UNREGISTERED, status=code, reason=reason)
        else:
            self._fail(code, reason)

    def _granted(self, response: Response) -> int:
        values: list[int] = []
        try:
            listed = response.contacts
        except RemoteProtocolError:
            listed = []  # lenient: a garbled Contact list still leaves the Expires header
        mine = [c.uri for c in self.contacts]
        for contact in listed:
            try:
                uri = contact.uri
            except RemoteProtocolError:
                continue
            value = contact.param("expires")
            if uri in mine and value is not None and is_digits(value):
                values.append(int(value))
        if values:
            return min(values)
        # Lenient: registrars behind NATs or rewriting contacts may list ours in another
        # form; fall back to the Expires header, then to what we asked for.
        header = header_int(response, "Expires")
        return header if header is not None else self.expires

    def _registered(self, response: Response, code: int) -> None:
        granted = self._granted(response)
        try:
            self.bindings = list(response.contacts)
        except RemoteProtocolError:
            self.bindings = []
        if granted <= 0:
            self._transient(self._now, code, f"{code} {response.reason} granted expires=0", None)
            return
        self._grant(granted)
        self._set(RegistrationState.REGISTERED, status=code, reason="registered", expires=granted)

    def _transient(self, now: float, code: int, reason: str, retry_after: int | None) -> None:
        if not self._back_off(now, retry_after):
            self._fail(code, f"{reason} ({self.failures} consecutive failures)")
            return
        if self._state is RegistrationState.REGISTERED:  # a granted 0 on a refresh
            self._set(RegistrationState.REFRESHING, status=code, reason=reason)

    def _fail(self, code: int | None, reason: str) -> None:
        self._set(RegistrationState.FAILED, status=code, reason=reason)
