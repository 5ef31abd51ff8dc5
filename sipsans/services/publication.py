"""PUBLISH client, an Event State Compositor's peer (RFC 3903) as a pure state machine.

:class:`Publication` publishes one piece of event state (``Event: presence`` with a
PIDF body, for instance) for an entity and keeps it alive. It is driven like
:class:`~sipsans.services.registration.Registration`: commands return the next request to
send, :meth:`Publication.on_response` / :meth:`Publication.on_timeout` take the
outcome, :meth:`Publication.on_timer` runs at :meth:`Publication.next_deadline`, and
:class:`PublicationDriver` runs it over an Endpoint.

The four kinds of PUBLISH (RFC 3903 §4.1, Table 1)::

    kind      SIP-If-Match  body  Expires
    initial   no            yes   > 0
    refresh   yes           no    > 0
    modify    yes           yes   > 0
    remove    yes           no    0

State table::

    state        input                                 next state
    -----------  ------------------------------------  ------------------------------------
    UNPUBLISHED  publish()                             PUBLISHING (initial PUBLISH)
    PUBLISHING   2xx with SIP-ETag                     PUBLISHED (entity-tag stored)
    PUBLISHED    refresh deadline                      REFRESHING (refresh PUBLISH)
    PUBLISHED    modify()                              PUBLISHING (modify PUBLISH)
    REFRESHING   2xx with SIP-ETag                     PUBLISHED
    any active   412 Conditional Request Failed        PUBLISHING (initial PUBLISH again, §4.1.2)
    any active   423 with Min-Expires                  same (retry with the minimum, §4.1.3?)
    any active   401/407 answered                      same (retry with credentials)
    any active   transient errors (408/480/5xx/timer)  same, retry later; max_failures-th: FAILED
    any active   489 Bad Event, other errors           FAILED
    any          remove()                              REMOVING (queued while a PUBLISH pends)
    REMOVING     2xx, 412, or an error                 UNPUBLISHED

Only one PUBLISH is in flight at a time (§4.1: a new one waits for the final
response to the previous one); a modify() or remove() issued meanwhile is queued and
comes back from on_response/on_timeout. Refreshes follow the Registration rule,
``max(g / 2, g - refresh_margin)`` after sending for a grant of ``g`` seconds.
"""

from __future__ import annotations

from typing import Unpack

from ..auth import AuthFailure
from ..errors import LocalProtocolError
from ..message.fields import NameAddr
from ..message.model import Request, Response, make_request
from ..message.uri import URI, SipURI, parse_uri
from ..ua.refreshing import (
    TRANSIENT_STATUS,
    ClientOptions,
    RefreshingClient,
    StateChange,
    header_int,
)
from .events import PublicationState, PublicationStateChanged
from .registration import RegistrationDriver

__all__ = [
    "Publication",
    "PublicationDriver",
    "PublicationState",
    "PublicationStateChanged",
]


_ACTIVE = (PublicationState.PUBLISHING, PublicationState.PUBLISHED, PublicationState.REFRESHING)


class Publication(RefreshingClient[PublicationState, PublicationStateChanged]):
    """Publishes *body* of *content_type* for *entity_uri* under the *event* package.

    ``target_uri`` (the Request-URI) defaults to the entity URI (RFC 3903 §4.1).
    The other keyword arguments are those of
    :class:`~sipsans.services.client.RefreshingClient`.
    """

    def __init__(
        self,
        entity_uri: SipURI | str,
        event: str,
        body: bytes,
        content_type: str,
        *,
        expires: int = 3600,
        target_uri: URI | str | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        entity = parse_uri(entity_uri) if isinstance(entity_uri, str) else entity_uri
        if not isinstance(entity, SipURI):
            raise LocalProtocolError(f"a presentity must be a sip/sips URI, not {entity_uri!r}")
        if expires <= 0:
            raise LocalProtocolError("expires must be > 0; remove() ends a publication")
        self.entity = entity
        self.event = event
        self.body = bytes(body)
        self.content_type = content_type
        self.expires = expires
        target = target_uri if target_uri is not None else entity
        self.target_uri = parse_uri(target) if isinstance(target, str) else target
        super().__init__(**options)
        #: The entity-tag of the published state (SIP-ETag of the last 2xx, §4.1.1).
        self.etag: str | None = None
        self._state = PublicationState.UNPUBLISHED
        self._sent_body: bytes | None = None
        self._dirty = False  # the body changed; the next PUBLISH carries it
        self._queued_remove = False

    # -- bookkeeping ----------------------------------------------------------------------

    def _holds_nothing(self, state: PublicationState) -> bool:
        return state is PublicationState.UNPUBLISHED or state is PublicationState.FAILED

    def _forget(self) -> None:
        self.etag = None
        super()._forget()

    def _changed(self, **change: Unpack[StateChange[PublicationState]]) -> PublicationStateChanged:
        return PublicationStateChanged(
            entity=str(self.entity), event=self.event, etag=self.etag, **change
        )

    def next_deadline(self) -> float | None:
        if self._pending is not None:
            return None
        if self._retry_at is not None:
            return self._retry_at
        if self._state is PublicationState.PUBLISHED:
            return self._refresh_at
        return None

    # -- requests -------------------------------------------------------------------------

    def _build(self, *, expires: int, with_body: bool, preauth: bool = True) -> Request:
        self.cseq += 1
        fields = [("Event", self.event), ("Expires", str(expires))]
        if self.etag is not None:
            fields.append(("SIP-If-Match", self.etag))
        fields += self.headers
        request = make_request(
            "PUBLISH",
            self.target_uri,
            from_=NameAddr(self.entity, None, (("tag", self.from_tag),)),
            to=NameAddr(self.entity),
            call_id=self.call_id,
            cseq=self.cseq,
            headers=fields,
            body=self.body if with_body else b"",
            content_type=self.content_type if with_body else None,
        )
        return self._preauthorize(request) if preauth else request

    def _publish(self, now: float, *, preauth: bool = True) -> Request:
        # initial (no etag) and modify carry the body; a refresh does not (§4.1, Table 1).
        with_body = self.etag is None or self._dirty
        request = self._build(expires=self.expires, with_body=with_body, preauth=preauth)
        return self._send(request, now)

    def _send(self, request: Request, now: float) -> Request:
        self._sent_body = request.body if request.body else None
        return super()._send(request, now)

    # -- commands -------------------------------------------------------------------------

    def publish(self, now: float) -> Request:
        """The initial PUBLISH (from UNPUBLISHED or FAILED)."""
        self._advance(now)
        if self._state not in (PublicationState.UNPUBLISHED, PublicationState.FAILED):
            raise LocalProtocolError(f"publish() in state {self._state.name}")
        self.failures = 0
        self._queued_remove = False
        self._set(PublicationState.PUBLISHING, reason="publish()")
        return self._publish(now)

    start = publish  # the Registration-shaped name

    def modify(self, body: bytes, now: float, *, content_type: str | None = None) -> Request | None:
        """Replace the published state with *body* (a modify PUBLISH, or queued)."""
        self._advance(now)
        if self._state not in _ACTIVE:
            raise LocalProtocolError(f"modify() in state {self._state.name}; publish() first")
        self.body = bytes(body)
        if content_type is not None:
            self.content_type = content_type
        self._dirty = True
        if self._pending is not None:
            return None  # sent once the pending PUBLISH is answered
        self._set(PublicationState.PUBLISHING, reason="modify()")
        return self._publish(now)

    def remove(self, now: float) -> Request | None:
        """Remove the published state (``Expires: 0`` with SIP-If-Match, §4.5)."""
        self._advance(now)
        if self._pending is not None and self._state is not PublicationState.REMOVING:
            self._queued_remove = True
            return None
        return self._remove(now)

    stop = remove

    def _remove(self, now: float) -> Request | None:
        self._queued_remove = False
        if self.etag is None:
            self._set(PublicationState.UNPUBLISHED, reason="nothing published")
            return None
        self._set(PublicationState.REMOVING, reason="remove()")
        self._refresh_at = self._retry_at = None
        return self._send(self._build(expires=0, with_body=False), now)

    def on_timer(self, now: float) -> Request | None:
        self._advance(now)
        if self._pending is not None:
            return None
        if self._retry_at is not None and now >= self._retry_at:
            return self._publish(now)
        if self._state is PublicationState.PUBLISHED and (
            self._refresh_at is not None and now >= self._refresh_at
        ):
            self._set(PublicationState.REFRESHING, reason="refresh before expiry")
            return self._publish(now)
        return None

    # -- responses ------------------------------------------------------------------------

    def on_response(self, response: Response, now: float) -> Request | None:
        """A response to our PUBLISH: returns the next request to send, if any."""
        self._advance(now)
        pending = self._pending
        if response.status_code < 200 or pending is None or not self._is_ours(response):
            return None
        self._pending = None
        code = response.status_code
        if code in (401, 407):
            retry = self._challenge(pending, response, now)
            if retry is not None:
                return retry
        elif self._state is PublicationState.REMOVING:
            reason = "removed" if 200 <= code < 300 else f"remove answered {code} {response.reason}"
            self._set(PublicationState.UNPUBLISHED, status=code, reason=reason)
        elif 200 <= code < 300:
            self._published(response, code)
        elif code == 412:
            # §4.1.2 / §6 step 3: the ESC lost our entity-tag; publish afresh.
            self.etag = None
            self._set(PublicationState.PUBLISHING, status=code, reason="412: publishing afresh")
            if not self._queued_remove:
                return self._publish(now)
        elif code == 423:
            minimum = header_int(response, "Min-Expires")
            if minimum is not None and minimum > self.expires:
                self.expires = minimum
                if not self._queued_remove:
                    return self._publish(now)
            else:
                self._set(
                    PublicationState.FAILED,
                    status=code,
                    reason=f"423 {response.reason} without a usable Min-Expires",
                )
        elif code in TRANSIENT_STATUS:
            self._transient(
                now, code, f"{code} {response.reason}", header_int(response, "Retry-After")
            )
        else:  # 489 Bad Event, 403, 404, ...
            self._set(PublicationState.FAILED, status=code, reason=f"{code} {response.reason}")
        return self._after_final(now)

    def _removal_failed(self, reason: str) -> bool:
        if self._state is not PublicationState.REMOVING:
            return False
        self._set(PublicationState.UNPUBLISHED, reason=f"remove failed: {reason}")
        return True

    def _after_final(self, now: float) -> Request | None:
        if self._queued_remove:
            return self._remove(now)
        if self._dirty and self._state is PublicationState.PUBLISHED:
            self._set(PublicationState.PUBLISHING, reason="modify()")
            return self._publish(now)
        return None

    def _challenge(self, request: Request, response: Response, now: float) -> Request | None:
        code = response.status_code
        result = (
            self.digest.authorize(request, response)
            if self.digest is not None
            else AuthFailure("no credentials configured")
        )
        if isinstance(result, AuthFailure):
            state = (
                PublicationState.UNPUBLISHED
                if self._state is PublicationState.REMOVING
                else PublicationState.FAILED
            )
            self._set(state, status=code, reason=f"{code} {response.reason}: {result.reason}")
            return None
        retry = self._build(
            expires=header_int(request, "Expires") or 0,
            with_body=bool(request.body),
            preauth=False,
        )
        return self._send(result.apply(retry), now)

    def _published(self, response: Response, code: int) -> None:
        etag = response.headers.get("SIP-ETag")
        if not etag:
            self._set(
                PublicationState.FAILED, status=code, reason=f"{code} without SIP-ETag (§11.3.1)"
            )
            return
        self.etag = etag.strip(" \t")
        granted = header_int(response, "Expires")
        granted = granted if granted is not None else self.expires
        if self._dirty and self._sent_body == self.body:
            self._dirty = False  # the modification arrived
        self._grant(granted)
        self._set(PublicationState.PUBLISHED, status=code, reason="published", expires=granted)

    def _transient(self, now: float, code: int, reason: str, retry_after: int | None) -> None:
        if not self._back_off(now, retry_after):
            self._set(
                PublicationState.FAILED,
                status=code,
                reason=f"{reason} ({self.failures} consecutive failures)",
            )


class PublicationDriver(RegistrationDriver):
    """Runs a :class:`Publication` over an Endpoint (see :class:`RegistrationDriver`)."""
