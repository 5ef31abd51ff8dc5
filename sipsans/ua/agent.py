"""The UserAgent: dialogs on top of the Endpoint (RFC 3261 §8, §10.2, §12-§15, §22;
RFC 6665, RFC 3515, RFC 3891).

Layered on :class:`~sipsans.Endpoint` like HTTP/3 on QUIC: the UA consumes the
endpoint's transaction events and emits its own (``IncomingCall``,
``DialogStateChanged``, ``InDialogRequest``, ``DialogTerminated``,
``AuthenticationFailed``, ``MessageReceived``, ``RegistrationStateChanged``,
``SubscriptionStateChanged``, ``NotifyReceived``, ``IncomingSubscription``,
``ReferReceived``), passing through the transaction events it does not consume.
Same pull surface as the Endpoint::

    ua.receive_datagram(data, remote=addr, now=now)
    for event in ua.events(): ...          # app commands: ua.invite(...), dialog.accept(...)
    for t in ua.transmits(): ...           # send them
    deadline = ua.get_next_timer()         # wake up then: ua.handle_timer(now=...)

What the UA consumes and what passes through is tabulated in docs/dialogs.md.
Incoming requests are handled by :mod:`sipsans.ua.server`, responses by
:mod:`sipsans.ua.client`, registrations by :mod:`sipsans.ua.registrations`,
subscriptions by :mod:`sipsans.ua.subscriptions`, REFER and Replaces by
:mod:`sipsans.ua.refer`; this module holds the state, the commands and the timers.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from ..auth import Credentials, DigestClient
from ..config import EndpointConfig
from ..dialog.events import DialogStateChanged, DialogTerminated
from ..dialog.model import (
    Dialog,
    DialogId,
    DialogSnapshot,
    build_request,
    restore,
    snapshot,
    target_for,
)
from ..dialog.replaces import Replaces
from ..dialog.state import DIALOG_TABLE, DialogInput, DialogState, TerminatedReason
from ..dialog.subscription import Subscription, SubscriptionState
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.fields import NameAddr, parse_name_addr
from ..message.model import Request, Response, make_request
from ..message.uri import URI, SipURI, parse_uri
from ..services.registration import Registration, as_name_addr
from ..transaction.endpoint import Endpoint
from ..transaction.transport import Address, ClientTxn, ConnHandle, ServerTxn, Target, Transmit
from . import client as ua_client
from . import refer as ua_refer
from . import registrations as ua_registration
from . import server as ua_server
from . import subscriptions as ua_subscriptions
from .events import Event
from .handles import (
    ClientInviteDialog,
    ClientSubscription,
    ServerInviteDialog,
    ServerSubscription,
)
from .records import Hdrs, Timer, _Call, _In, _Out
from .registrations import RegistrationHandle

__all__ = ["UAConfig", "UserAgent"]

#: URI header fields (§19.1.5) the UA never copies into a request it builds.
_URI_HEADER_DENY = frozenset(
    {
        "from", "to", "call-id", "cseq", "via", "contact", "max-forwards", "route",
        "record-route", "content-length", "content-type", "body", "require",
    }
)  # fmt: skip


# The Enum members every call goes through, read once (see ua_server: in Python 3.11 a
# read of a member off its class is a slow generic attribute lookup).
_TERMINATED = DialogState.TERMINATED
_ANSWERABLE = frozenset({DialogState.TRYING, DialogState.EARLY})  # an INVITE to answer
_ENDED, _FAILED = DialogInput.ENDED, DialogInput.FAILED


@dataclass(frozen=True, slots=True, kw_only=True)
class UAConfig:
    """Settings of a :class:`UserAgent`."""

    #: Methods we accept (the Allow header); others known to SIP get 405 (§8.2.1).
    allow: tuple[str, ...] = (
        "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "UPDATE", "INFO", "MESSAGE", "NOTIFY",
    )  # fmt: skip
    #: Option tags we support; a Require naming another gets 420 (§8.2.2.3). The
    #: UA implements Replaces (RFC 3891) and norefersub (RFC 4488).
    supported: tuple[str, ...] = ("replaces", "norefersub")
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
    #: offer in a re-INVITE/UPDATE, 200 for an UPDATE without one).
    answer_timeout: float = 5.0
    #: Seconds an incoming call may stay unanswered before the UA rejects it with 480.
    ring_timeout: float = 180.0
    #: Most dialogs (early and confirmed) at once; past it new INVITEs get 503.
    max_dialogs: int = 10_000
    #: Retry-After seconds for 500 (CSeq out of order, §12.2.2) and 503.
    retry_after: int = 1
    #: Most 401/407 retries for one request (a safety net; the digest client already
    #: stops when the same credentials are rejected).
    max_auth_retries: int = 3
    #: The User-Agent header value, or None for none.
    user_agent: str | None = "sipsans"


class UserAgent:
    """A SIP user agent: calls, dialogs, in-dialog requests, digest authentication.

    ``identity`` is our address of record (the From of our requests, unless
    ``from_=`` is given); ``credentials`` answer 401/407 challenges; ``rng`` makes
    tags, Call-IDs, CSeqs, cnonces and §14.1 back-offs (default
    ``random.SystemRandom()``).
    """

    def __init__(
        self,
        endpoint: Endpoint | None = None,
        identity: str | NameAddr = "sip:anonymous@anonymous.invalid",
        credentials: Credentials | Iterable[Credentials] | None = None,
        *,
        config: UAConfig | None = None,
        rng: random.Random | None = None,
        contact: str | None = None,
    ) -> None:
        self.endpoint = endpoint if endpoint is not None else Endpoint(rng=rng)
        self.config = config if config is not None else UAConfig()
        allow = list(self.config.allow)
        if self.config.event_packages and "SUBSCRIBE" not in allow:
            allow.append("SUBSCRIBE")
        if self.config.refer and "REFER" not in allow:
            allow.append("REFER")
        #: The methods we accept (the Allow header): UAConfig.allow plus what the
        #: subscription and REFER settings enable.
        self._allow = tuple(allow)
        #: Built once, sent in every answer and dialog-creating request.
        self._allow_value = ", ".join(allow)
        user_agent = self.config.user_agent
        self._common: Hdrs = (("User-Agent", user_agent),) if user_agent else ()
        #: Our Contact with ``transport=`` per (Contact, transport), built on first use.
        self._contacts: dict[tuple[str, str], str] = {}
        self._rng = rng if rng is not None else random.SystemRandom()
        self.identity = (
            identity if isinstance(identity, NameAddr) else parse_name_addr(identity, header="From")
        )
        self.digest = DigestClient(credentials or (), rng=self._rng)
        ep_config: EndpointConfig = self.endpoint.config
        uri = self.identity.uri
        user = uri.user if isinstance(uri, SipURI) else None
        host = ep_config.advertised_host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        at = f"{user}@" if user else ""
        self.contact = contact or f"<sip:{at}{host}:{ep_config.advertised_port}>"
        self._now = float("-inf")
        self._events: deque[Event] = deque()
        self._dialogs: dict[DialogId, Dialog] = {}
        self._calls: dict[int, _Call] = {}  # ICT id -> call
        self._call_keys: dict[tuple[str, str], _Call] = {}  # (Call-ID, From tag) -> call
        self._out: dict[int, _Out] = {}  # client txn id -> request record
        self._pending: dict[int, _In] = {}  # server txn id -> unanswered request
        self._app_txns: set[int] = set()  # server txns whose Terminated the app sees
        #: A heap of [deadline, seq, kind, key]; a disarmed entry has kind "" (see _disarm).
        self._timers: list[Timer] = []
        self._disarmed = 0  # disarmed entries still in the heap
        self._seq = itertools.count()
        #: Original handle of a re-INVITE waiting for its §14.1 retry, per dialog.
        self._glare_origin: dict[DialogId, ClientTxn] = {}
        #: BYEs asked for before our 2xx was ACKed (§15), per dialog: their headers,
        #: Reason and the handle ``bye()`` returned (see ua_server.defer_bye).
        self._deferred_bye: dict[DialogId, tuple[Hdrs, str | None, ClientTxn]] = {}
        #: Registrations kept up (``register``), by handle key; idle ones are dropped.
        self._registrations: dict[int, RegistrationHandle] = {}
        #: REGISTER client transactions -> their registration.
        self._reg_txns: dict[int, RegistrationHandle] = {}
        self._reg_keys = itertools.count(1)
        #: Live subscriptions (both roles), by key.
        self._subs: dict[int, Subscription] = {}
        #: Our initial SUBSCRIBEs by (Call-ID, From tag): where NOTIFYs that create a
        #: dialog (forks included) find their subscription (RFC 6665 §4.1.4).
        self._sub_calls: dict[tuple[str, str], Subscription] = {}
        self._sub_keys = itertools.count(1)

    # -- pull surface ---------------------------------------------------------------

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def events(self) -> list[Event]:
        if not self._events:
            return []  # the usual answer: an adapter asks after every input until empty
        out = list(self._events)
        self._events.clear()
        return out

    def transmits(self) -> list[Transmit]:
        return self.endpoint.transmits()

    def get_next_timer(self) -> float | None:
        timers = self._timers
        if timers and not timers[0][2]:  # (asked after every input: call only if needed)
            self._next_deadline()  # drops the disarmed entries on top, in place
        ours: float | None = timers[0][0] if timers else None
        theirs = self.endpoint.get_next_timer()
        if ours is None:
            return theirs
        return ours if theirs is None else min(ours, theirs)

    def stats(self) -> dict[str, int]:
        """Sizes of the UA's tables (all zero when idle) and the endpoint's."""
        return {
            "dialogs": len(self._dialogs),
            "calls": len(self._calls),
            "call_keys": len(self._call_keys),
            "requests": len(self._out),
            "pending_answers": len(self._pending),
            "app_txns": len(self._app_txns),
            "ua_timers": len(self._timers) - self._disarmed,
            "glare_retries": len(self._glare_origin),
            "deferred_byes": len(self._deferred_bye),
            "registrations": len(self._registrations),
            "register_txns": len(self._reg_txns),
            "subscriptions": len(self._subs),
            "subscribe_calls": len(self._sub_calls),
            **self.endpoint.stats(),
        }

    # -- inputs (pass-through) -------------------------------------------------------

    def _advance(self, now: float) -> None:
        if now < self._now:
            raise LocalProtocolError(f"now={now} is earlier than the previous now={self._now}")
        self._now = now

    def receive_datagram(
        self,
        data: bytes,
        *,
        remote: Address,
        local: Address | None = None,
        transport: str = "UDP",
        now: float,
    ) -> None:
        if now < self._now:  # = _advance(), inline: every datagram comes this way
            raise LocalProtocolError(f"now={now} is earlier than the previous now={self._now}")
        self._now = now
        self.endpoint.receive_datagram(
            data, remote=remote, local=local, transport=transport, now=now
        )
        self._drain()

    def connection_made(
        self, *, transport: str, remote: Address, local: Address | None = None, now: float
    ) -> ConnHandle:
        self._advance(now)
        return self.endpoint.connection_made(
            transport=transport, remote=remote, local=local, now=now
        )

    def receive_stream(self, conn: ConnHandle, data: bytes, *, now: float) -> None:
        self._advance(now)
        self.endpoint.receive_stream(conn, data, now=now)
        self._drain()

    def connection_lost(self, conn: ConnHandle, *, now: float) -> None:
        self._advance(now)
        self.endpoint.connection_lost(conn, now=now)
        self._drain()

    def transport_error(self, token: int, *, now: float) -> None:
        self._advance(now)
        self.endpoint.transport_error(token, now=now)
        self._drain()

    def handle_timer(self, *, now: float) -> None:
        """Fire the endpoint's and the UA's overdue timers, in deadline order.

        Each UA timer acts at its own deadline (so retransmission intervals stay on
        schedule after a late wake-up); commands to the endpoint use the latest
        clock value seen, which never goes backwards.
        """
        if now < self._now:
            raise LocalProtocolError(f"now={now} is earlier than the previous now={self._now}")
        ep = self.endpoint
        while True:
            mine = self._next_deadline()
            if mine is not None and mine > now:
                mine = None
            theirs = ep.get_next_timer()
            if theirs is not None and theirs > now:
                theirs = None
            if theirs is not None and (mine is None or theirs <= mine):
                self._now = max(self._now, theirs)
                ep.handle_timer(now=self._now)
            elif mine is not None:
                entry = heapq.heappop(self._timers)
                deadline, _, kind, key = entry
                entry[2] = ""  # fired: disarming it later does nothing
                self._now = max(self._now, deadline)
                self._fire(kind, key, deadline)
            else:
                break
            self._drain()
        self._now = now

    # -- internal plumbing ------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        # (The per-call events, DialogStateChanged and DialogTerminated, are appended
        # to the queue directly: a Python call less each, several times per call.)
        self._events.append(event)

    def _drain(self) -> None:
        """Consume the endpoint's events: dialogs react, the rest passes through."""
        # The endpoint's queue itself, as next_event() reads it (one at a time, so that
        # a command issued while dispatching sees the rest in order) without a method
        # call per event: this runs after every input.
        queue = self.endpoint._events
        dispatch = ua_server.dispatch
        while queue:
            dispatch(self, queue.popleft())

    def _at(self, deadline: float, kind: str, key: object) -> Timer:
        """Arm a timer; keep the entry to :meth:`_disarm` it."""
        entry: Timer = [deadline, next(self._seq), kind, key]
        heapq.heappush(self._timers, entry)
        return entry

    def _disarm(self, entry: Timer | None) -> None:
        """Cancel a timer whose purpose is gone (a ring or answer timer once the request
        is answered, a 2xx retransmission once the ACK came).

        The entry stays in the heap, skipped when it comes up, until disarmed entries are
        over half the heap: then they are all dropped at once (amortised O(1) each). So the
        heap holds about twice the live timers at most (plus a few dozen), not every call's
        180 s ring timer (call rate x ring_timeout).
        """
        if entry is None or not entry[2]:
            return
        entry[2], entry[3] = "", None
        self._disarmed += 1
        if self._disarmed > 32 and 2 * self._disarmed > len(self._timers):
            self._timers = [e for e in self._timers if e[2]]
            heapq.heapify(self._timers)
            self._disarmed = 0

    def _unpend(self, txn_id: int) -> _In | None:
        """Forget the request of server transaction ``txn_id`` once it is answered (or
        cancelled, or its transaction is gone), disarming its answer or ring timer."""
        pending = self._pending.pop(txn_id, None)
        if pending is not None:
            self._disarm(pending.timer)
        return pending

    def _stop_retransmit(self, d: Dialog) -> None:
        """The 2xx needs no more retransmissions (ACKed, or the dialog ended)."""
        if d.retrans is not None:
            self._disarm(d.retrans[4])
            d.retrans = None

    def _next_deadline(self) -> float | None:
        """The earliest armed timer's deadline (disarmed entries on top are dropped)."""
        timers = self._timers
        while timers and not timers[0][2]:
            heapq.heappop(timers)
            self._disarmed -= 1
        return timers[0][0] if timers else None

    def _fire(self, kind: str, key: object, at: float) -> None:
        if kind == "retransmit":
            assert isinstance(key, DialogId)
            ua_server.retransmit_2xx(self, key, at)
        elif kind == "answer":
            assert isinstance(key, int)
            ua_server.default_answer(self, key, at)
        elif kind == "ring":
            assert isinstance(key, int)
            ua_server.ring_timeout(self, key, at)
        elif kind == "glare":
            assert isinstance(key, DialogId)
            d = self._dialogs.get(key)
            if d is not None and d.glare_retry is not None and d.state is DialogState.CONFIRMED:
                body, ctype, headers = d.glare_retry
                d.glare_retry = None
                origin = self._glare_origin.pop(key, None)
                self._send_reinvite(d, body, ctype, headers, at, origin)
            elif d is not None:
                d.glare_retry = None
                self._glare_origin.pop(key, None)
        elif kind == "subscription":
            assert isinstance(key, int)
            ua_subscriptions.fire(self, key, at)
        elif kind == "register":
            assert isinstance(key, int)
            ua_registration.fire(self, key, at)
        elif kind == "late":
            assert isinstance(key, DialogId)
            d = self._dialogs.get(key)
            if d is not None and d.late_offer is not None:
                # The app never answered the offer of the 2xx: ACK without an answer
                # and end the session (RFC 3264 §5 leaves no valid alternative).
                self._late_ack(d, b"", None, at)
                if d.state is DialogState.CONFIRMED:
                    self._send_bye(d, (), "SIP;cause=488", at, TerminatedReason.UAC_OTHER)

    def _new_tag(self) -> str:
        """A tag (§19.3): 48 random bits (the RFC asks for at least 32), in hex."""
        return f"{self._rng.getrandbits(48):012x}"

    def _new_local(self) -> tuple[str, int]:
        """A new dialog's local tag (as :meth:`_new_tag`) and initial CSeq (1 to 2**15;
        §8.1.1.5 asks for less than 2**31), from one draw: with the default
        SystemRandom every draw is a system call."""
        bits = self._rng.getrandbits(63)
        return f"{bits & 0xFFFF_FFFF_FFFF:012x}", (bits >> 48) + 1

    def _local_contact(self, transport: str) -> str:
        contact = self.contact
        if transport == "UDP" or transport.upper() == "UDP":
            return contact
        key = (contact, transport)
        found = self._contacts.get(key)
        if found is None:
            addr = parse_name_addr(contact, header="Contact")
            uri = addr.uri
            found = contact
            if isinstance(uri, SipURI) and uri.transport is None:
                found = str(addr.replace(uri=uri.with_param("transport", transport.lower())))
            self._contacts[key] = found
        return found

    def _set_state(
        self, d: Dialog, inp: DialogInput, message: Request | Response | None = None
    ) -> bool:
        """Feed ``inp`` to the dialog table; emit DialogStateChanged. True if it moved."""
        row = DIALOG_TABLE.get((d.state, inp))  # = transition(), without a call per input
        if row is None:
            return False
        nxt = row[0]
        previous = d.state
        d.state = nxt
        if nxt is not previous:
            self._events.append(  # = _emit()
                DialogStateChanged(dialog_id=d.id, previous=previous, state=nxt, message=message)
            )
        return True

    def _terminate(
        self,
        d: Dialog,
        inp: DialogInput,
        reason: TerminatedReason,
        status: int | None = None,
        message: Request | Response | None = None,
    ) -> None:
        if d.state is _TERMINATED:
            return
        was_early = d.is_early
        row = DIALOG_TABLE.get((d.state, inp))  # = transition(), without the call
        if row is None or row[0] is not _TERMINATED:
            inp = _ENDED if was_early else _FAILED
        d.reason, d.status = reason, status
        self._set_state(d, inp, message)
        if d.retrans is not None:  # (an ACKed dialog has none: no call for nothing)
            self._stop_retransmit(d)
        d.late_offer = None
        d.glare_retry = None
        if self._glare_origin:
            self._glare_origin.pop(d.id, None)
        if was_early and d.role == "uas" and d.server_invite is not None:
            # The early dialog failed (e.g. our request in it timed out, §12.2.1.2) with
            # the INVITE unanswered: it still needs a final response (§13.3.1.3), or its
            # transaction and the UA's record of it never end.
            code = status if status is not None and 300 <= status <= 699 else 500
            ua_server.end_pending_invite(self, d, code)
        self._events.append(DialogTerminated(dialog_id=d.id, reason=reason, status=status))
        # (Each call below only when it has something to do: a BYE held for this dialog
        # before its ACK, an INVITE of ours still running. Most dialogs have neither.)
        if self._deferred_bye:
            ua_server.drop_deferred_bye(self, d)  # ended some other way before its ACK came
        if d.uac_reinvite or (was_early and d.call is not None):
            self._cancel_orphaned_invites(d, was_early)
        self._maybe_free(d)

    def _cancel_orphaned_invites(self, d: Dialog, was_early: bool) -> None:
        """No INVITE of ours may outlive its dialog waiting for a final response that
        may never come (a Proceeding INVITE client transaction has no timer, §17.1.1.2):
        CANCEL a pending re-INVITE (§14.1), and the call's INVITE once its last early
        dialog ended (§9.1). The CANCEL bounds the wait to 64*T1 (§9.1) even if the peer
        never answers; an INVITE already answered has nothing to cancel."""
        if d.uac_reinvite:
            self.endpoint.cancel(ClientTxn(d.uac_reinvite), now=self._now)
        call = d.call
        if (
            was_early
            and isinstance(call, _Call)
            and not call.cancelling
            and call.confirmed is None
            and not any(other.is_early for other in ua_client._call_dialogs(call))
        ):
            cancel = self.endpoint.cancel(ClientTxn(call.txn), now=self._now)
            call.cancelling = cancel is not None

    def _maybe_free(self, d: Dialog) -> None:
        """Forget a terminated dialog once nothing of it runs any more."""
        free = d.state is _TERMINATED and not d.txns and d.call is None and not d.subs
        if free and self._dialogs.get(d.id) is d:
            del self._dialogs[d.id]

    def _resolve(self, key: DialogId, cached: object) -> Dialog:
        """The record behind a view: a UAC view follows its call to the fork that
        answered; every view keeps its record so a freed dialog still reads."""
        if isinstance(cached, _Call):
            return cached.confirmed or cached.primary
        if isinstance(cached, Dialog):
            return cached
        d = self._dialogs.get(key)
        if d is None:
            raise LocalProtocolError(f"no dialog {key}")
        return d

    def _role_reason(
        self, d: Dialog, *, local: bool, uac: TerminatedReason, uas: TerminatedReason
    ) -> TerminatedReason:
        """The UAC_*/UAS_* reason for an act by us (``local``) or by the peer."""
        we_are_uac = d.role == "uac"
        return uac if we_are_uac == local else uas

    # -- commands: calls ------------------------------------------------------------------

    def invite(
        self,
        to: str | NameAddr | SipURI,
        *,
        from_: str | NameAddr | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        credentials: Credentials | Iterable[Credentials] | None = None,
        target: Target | None = None,
        now: float,
    ) -> ClientInviteDialog:
        """Start a call (§13.2.1). The request goes to ``target`` or, by default, to
        the first Route given in ``headers`` or else to the host, port and
        ``transport=`` of the To URI."""
        self._advance(now)
        if len(self._dialogs) >= self.config.max_dialogs:
            raise LocalProtocolError(f"{len(self._dialogs)} dialogs, UAConfig.max_dialogs reached")
        to_addr = (
            to
            if isinstance(to, NameAddr)
            else NameAddr(to)
            if isinstance(to, SipURI)
            else _name_addr_arg(to, "To")
        )
        ruri = to_addr.uri
        uri_headers: list[tuple[str, str]] = []
        if isinstance(ruri, SipURI):
            # §19.1.5: header fields in the URI go into the request, except those the
            # UA builds itself (a Refer-To with Replaces, RFC 3891 §4, arrives so).
            uri_headers = [(n, v) for n, v in ruri.headers if n.lower() not in _URI_HEADER_DENY]
            if any(n.lower() == "replaces" for n, _ in uri_headers):
                uri_headers.append(("Require", "replaces"))
            ruri = ruri.without_headers()
        local = (
            self.identity
            if from_ is None
            else from_
            if isinstance(from_, NameAddr)
            else _name_addr_arg(from_, "From")
        )
        if local.params:
            local = local.replace(params=tuple(p for p in local.params if p[0].lower() != "tag"))
        remote = to_addr
        if remote.params:
            remote = remote.replace(params=tuple(p for p in remote.params if p[0].lower() != "tag"))
        local_text, remote_text = str(local), str(remote)
        extra = tuple(headers)
        # §12.2.1.1: in-dialog requests go to the remote target through the route set;
        # only a target the caller names (an outbound proxy) stays fixed for the dialog.
        fixed_target = target
        if target is None:
            routes = [v for k, v in extra if k.lower() == "route"]
            hop = _name_addr_arg(routes[0], "Route").uri if routes else ruri
            target = target_for(hop)
        local_tag, cseq = self._new_local()
        call_id = f"{self._rng.getrandbits(96):024x}@{self.endpoint.config.advertised_host}"
        if body and content_type is None:
            content_type = "application/sdp"
        contact = self._local_contact(target.transport)
        request = make_request(
            "INVITE",
            ruri,
            from_=f"{local_text};tag={local_tag}",  # = str(local.with_tag(...)): no tag in local
            to=remote_text,
            call_id=call_id,
            cseq=cseq,
            contact=contact,
            headers=[
                ("Allow", self._allow_value),
                *self._common,
                *uri_headers,
                *extra,
            ],
            body=body,
            content_type=content_type,
        )
        d = Dialog(
            role="uac",
            call_id=call_id,
            local_tag=local_tag,
            remote_tag="",
            local_uri=local_text,
            remote_uri=remote_text,
            local_contact=contact,
            remote_target=str(ruri),
            route_set=(),
            local_cseq=cseq,
            remote_cseq=None,
            state=DialogState.CALLING,
            target=fixed_target,
            secure=isinstance(ruri, SipURI) and ruri.secure,
        )
        d.invite_cseq = cseq
        creds = (credentials,) if isinstance(credentials, Credentials) else tuple(credentials or ())
        call = _Call(request, target, d, creds)
        d.call = call
        txn = self.endpoint.send_request(request, target=target, now=now)
        call.txn, call.origin = txn.id, txn
        self._calls[txn.id] = call
        self._call_keys[(call_id, local_tag)] = call
        self._dialogs[d.id] = d
        self._drain()
        view = ClientInviteDialog(self, d.id)
        view._last = call
        return view

    # -- commands: registration -----------------------------------------------------------

    def register(
        self,
        registrar: str | URI | None = None,
        *,
        aor: str | SipURI | None = None,
        contacts: Iterable[str | NameAddr | URI] | None = None,
        expires: int = 3600,
        credentials: Credentials | Iterable[Credentials] | None = None,
        headers: Iterable[tuple[str, str]] = (),
        target: Target | None = None,
        refresh_margin: float = 300.0,
        max_failures: int = 3,
        retry_interval: float = 30.0,
        max_retry_interval: float = 600.0,
        now: float,
    ) -> RegistrationHandle:
        """Register ``aor`` (default: our identity) at ``registrar`` and keep it
        registered (RFC 3261 §10.2) until ``handle.stop()`` or :meth:`unregister`.

        ``registrar`` is the Request-URI (default: the AOR's domain); REGISTERs go to
        ``target`` or else to its host, port and ``transport=``. ``contacts`` default
        to our Contact. ``credentials`` answer 401/407 (default: the UA's). The UA
        refreshes before expiry, retries with Min-Expires after 423, retries
        transient failures and ends in FAILED after ``max_failures`` of them in a row.
        The other options are those of :class:`~sipsans.services.registration.Registration`.
        Progress arrives as ``RegistrationStateChanged`` events.
        """
        self._advance(now)
        aor_uri = aor if aor is not None else self.identity.uri
        if not isinstance(aor_uri, SipURI | str):
            raise LocalProtocolError(
                f"cannot register the identity {aor_uri}: an address-of-record is a sip: "
                "or sips: URI; pass aor="
            )
        try:
            registrar_uri = parse_uri(registrar) if isinstance(registrar, str) else registrar
            machine = Registration(
                aor_uri,
                registrar_uri,
                expires=expires,
                rng=self._rng,
                credentials=self.digest if credentials is None else credentials,
                headers=(*self._common, *headers),
                display_name=self.identity.display_name if aor is None else None,
                refresh_margin=refresh_margin,
                max_failures=max_failures,
                retry_interval=retry_interval,
                max_retry_interval=max_retry_interval,
            )
        except RemoteProtocolError as exc:  # a URI we were given does not parse
            raise LocalProtocolError(f"register(): {exc}") from None
        if target is None:
            target = target_for(machine.registrar_uri)
        if contacts is None:
            contacts = (self._local_contact(target.transport),)
        machine.contacts = [as_name_addr(c) for c in contacts]
        handle = RegistrationHandle(self, machine, target, next(self._reg_keys))
        handle.start(now=now)
        return handle

    def unregister(
        self, handle: RegistrationHandle | None = None, *, wildcard: bool = False, now: float
    ) -> None:
        """Remove the bindings of ``handle``, or of every registration when None (for a
        clean shutdown: drive the UA until ``RegistrationStateChanged`` says UNREGISTERED)."""
        self._advance(now)
        for h in [handle] if handle is not None else list(self._registrations.values()):
            h.stop(wildcard=wildcard, now=now)

    @property
    def registrations(self) -> list[RegistrationHandle]:
        """The registrations the UA is keeping up or removing right now."""
        return list(self._registrations.values())

    # -- commands: subscriptions (RFC 6665) ---------------------------------------------

    def subscribe(
        self,
        to: str | NameAddr | URI,
        event: str,
        *,
        expires: int = 3600,
        accept: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        from_: str | NameAddr | None = None,
        target: Target | None = None,
        now: float,
    ) -> ClientSubscription:
        """Subscribe to ``event`` (``"presence"``, ``"dialog;id=7"``, ...) of ``to``
        (RFC 6665 §4.1.2). The request goes to ``target``, else to the first Route in
        ``headers``, else to the To URI's host, port and ``transport=``.

        The UA refreshes before expiry and reports ``SubscriptionStateChanged`` and
        ``NotifyReceived``; every NOTIFY From tag of a forked SUBSCRIBE becomes its
        own subscription. ``expires=0`` fetches the state once."""
        self._advance(now)
        sub = ua_subscriptions.subscribe(
            self, to, event, expires, accept, tuple(headers), body, content_type, from_, target,
            now,
        )  # fmt: skip
        self._drain()
        return sub

    @property
    def subscriptions(self) -> list[ClientSubscription | ServerSubscription]:
        """Every live subscription, both roles (for a clean shutdown)."""
        return [ua_subscriptions.view(self, rec) for rec in self._subs.values()]

    def _subscribe_in(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
        self,
        d: Dialog,
        event: str,
        expires: int,
        accept: str | None,
        headers: Hdrs,
        body: bytes,
        content_type: str | None,
        now: float,
    ) -> ClientSubscription:
        self._advance(now)
        sub = ua_subscriptions.subscribe_in(
            self, d, event, expires, accept, headers, body, content_type, now
        )
        self._drain()
        return sub

    def _sub_refresh(self, rec: Subscription, expires: int | None, now: float) -> None:
        self._advance(now)
        ua_subscriptions.refresh(self, rec, expires, now)
        self._drain()

    def _sub_unsubscribe(self, rec: Subscription, now: float) -> None:
        self._advance(now)
        ua_subscriptions.unsubscribe(self, rec, now)
        self._drain()

    def _sub_accept(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
        self,
        rec: Subscription,
        state: SubscriptionState | str,
        body: bytes,
        content_type: str | None,
        expires: int | None,
        headers: Hdrs,
        now: float,
    ) -> None:
        self._advance(now)
        ua_subscriptions.accept(self, rec, state, body, content_type, expires, headers, now)
        self._drain()

    def _sub_reject(
        self, rec: Subscription, status: int, reason: str | None, headers: Hdrs, now: float
    ) -> None:
        self._advance(now)
        ua_subscriptions.reject(self, rec, status, reason, headers, now)
        self._drain()

    def _sub_notify(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
        self,
        rec: Subscription,
        body: bytes | None,
        content_type: str | None,
        state: SubscriptionState | str | None,
        reason: str | None,
        retry_after: int | None,
        headers: Hdrs,
        now: float,
    ) -> ClientTxn:
        self._advance(now)
        txn = ua_subscriptions.send_notify(
            self, rec, body, content_type, state, reason, retry_after, headers, now
        )
        self._drain()
        return txn

    # -- commands: REFER (RFC 3515) --------------------------------------------------------

    def _refer(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
        self,
        d: Dialog,
        refer_to: str | NameAddr | URI,
        referred_by: str | NameAddr | None,
        refer_sub: bool,
        replaces: DialogId | Replaces | None,
        headers: Hdrs,
        now: float,
    ) -> ClientTxn:
        self._advance(now)
        txn = ua_refer.refer(self, d, refer_to, referred_by, refer_sub, replaces, headers, now)
        self._drain()
        return txn

    def _notify_refer(
        self,
        d: Dialog,
        status: int,
        sub_state: SubscriptionState | str | None,
        reason: str | None,
        now: float,
    ) -> ClientTxn:
        self._advance(now)
        txn = ua_refer.notify_refer(self, d, status, sub_state, reason, now)
        self._drain()
        return txn

    def _as_subscription(self, d: Dialog) -> ClientSubscription | ServerSubscription:
        return ua_refer.as_subscription(self, d)

    def snapshot(self, dialog_id: DialogId) -> DialogSnapshot:
        """The JSON-able state of a confirmed dialog (format: docs/dialogs.md)."""
        d = self._dialogs.get(dialog_id)
        if d is None:
            raise LocalProtocolError(f"no dialog {dialog_id}")
        return snapshot(d)

    def restore(
        self, data: DialogSnapshot, *, now: float
    ) -> ClientInviteDialog | ServerInviteDialog:
        """Resume a confirmed dialog from :meth:`snapshot` (in this or another process)."""
        self._advance(now)
        d = restore(data)
        if d.id in self._dialogs:
            raise LocalProtocolError(f"dialog {d.id} already exists")
        self._dialogs[d.id] = d
        return ClientInviteDialog(self, d.id) if d.role == "uac" else ServerInviteDialog(self, d.id)

    def dialog(self, dialog_id: DialogId) -> ClientInviteDialog | ServerInviteDialog:
        """A view of a known dialog (for ids from events)."""
        d = self._dialogs.get(dialog_id)
        if d is None:
            raise LocalProtocolError(f"no dialog {dialog_id}")
        return ClientInviteDialog(self, d.id) if d.role == "uac" else ServerInviteDialog(self, d.id)

    def respond(
        self,
        txn: ServerTxn,
        status: int,
        *,
        reason: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        now: float,
    ) -> None:
        """Answer a request delivered as InDialogRequest, MessageReceived or
        RequestReceived. Provisional answers may be followed by a final one."""
        self._advance(now)
        ua_server.respond(self, txn, status, reason, tuple(headers), body, content_type, now)
        self._drain()

    # -- commands used by the dialog views ---------------------------------------------

    def _send_in_dialog(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
        self,
        d: Dialog,
        method: str,
        body: bytes | None,
        content_type: str | None,
        headers: Hdrs,
        now: float,
        origin: ClientTxn | None = None,
    ) -> tuple[ClientTxn, ClientTxn]:
        """Send a request within ``d``; returns (its transaction, the app's handle)."""
        d.local_cseq += 1
        if body and content_type is None:
            content_type = "application/sdp"
        request, hop = build_request(
            d,
            method,
            d.local_cseq,
            headers=(*self._common, *headers),
            body=body or b"",
            content_type=content_type if body else None,
        )
        target = target_for(hop, d.target)
        txn = self.endpoint.send_request(request, target=target, now=now)
        out = _Out(d, request, target, origin or txn, body, content_type, headers)
        self._out[txn.id] = out
        out.live += 1
        d.txns[txn.id] = None
        return txn, out.origin

    def _in_dialog(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
        self,
        d: Dialog,
        method: str,
        body: bytes | None,
        content_type: str | None,
        headers: Hdrs,
        now: float,
    ) -> ClientTxn:
        self._advance(now)
        method = method.upper()
        if method in ("ACK", "CANCEL", "BYE", "INVITE"):
            raise LocalProtocolError(
                f"use the dialog's {method.lower()}() / reinvite() / hangup() for {method}"
            )
        if method == "SUBSCRIBE":
            # A SUBSCRIBE the UA does not track would get its NOTIFYs answered 481 by
            # this very UA (RFC 6665 §4.1.3).
            raise LocalProtocolError("use the dialog's subscribe() to SUBSCRIBE within it")
        if d.state not in (DialogState.EARLY, DialogState.WAIT_ACK, DialogState.CONFIRMED):
            raise LocalProtocolError(f"dialog {d.id} is {d.state.value}: no requests within it")
        _, origin = self._send_in_dialog(d, method, body, content_type, headers, now)
        self._drain()
        return origin

    def _reinvite(
        self, d: Dialog, body: bytes | None, content_type: str | None, headers: Hdrs, now: float
    ) -> ClientTxn:
        self._advance(now)
        if d.state is not DialogState.CONFIRMED:
            raise LocalProtocolError(
                f"re-INVITE needs a confirmed dialog; {d.id} is {d.state.value}"
            )
        if d.uac_reinvite or d.glare_retry is not None:
            raise LocalProtocolError("a re-INVITE is already in progress on this dialog (§14.1)")
        if d.late_offer is not None:
            # §14.1: the initial INVITE is not over until its ACK, and its offer is still
            # unanswered (RFC 3264 §4 allows no new offer before the answer).
            raise LocalProtocolError(
                "the 2xx's offer is waiting for its answer: call ack(body=...) before reinvite()"
            )
        txn = self._send_reinvite(d, body, content_type, headers, now, None)
        self._drain()
        return txn

    def _send_reinvite(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
        self,
        d: Dialog,
        body: bytes | None,
        content_type: str | None,
        headers: Hdrs,
        now: float,
        origin: ClientTxn | None,
    ) -> ClientTxn:
        txn, origin = self._send_in_dialog(d, "INVITE", body, content_type, headers, now, origin)
        d.uac_reinvite = txn.id
        return origin

    def _glare(self, d: Dialog, out: _Out, now: float) -> None:
        """§14.1: after a 491, retry at a random time: 2.1-4 s when we own the
        Call-ID (we were the UAC), 0-2 s otherwise, in units of 10 ms."""
        if d.role == "uac":
            wait = self._rng.randint(210, 400) / 100
        else:
            wait = self._rng.randint(0, 200) / 100
        d.glare_retry = (out.body, out.content_type, out.headers)
        self._glare_origin[d.id] = out.origin
        self._at(now + wait, "glare", d.id)

    def _bye(self, d: Dialog, headers: Hdrs, reason: str | None, now: float) -> ClientTxn:
        self._advance(now)
        if d.state is DialogState.WAIT_ACK:
            d.glare_retry = None
            return ua_server.defer_bye(self, d, headers, reason)
        if d.state is not DialogState.CONFIRMED:
            raise LocalProtocolError(
                f"BYE needs a confirmed dialog; {d.id} is {d.state.value} (use hangup())"
            )
        local = self._role_reason(
            d, local=True, uac=TerminatedReason.UAC_BYE, uas=TerminatedReason.UAS_BYE
        )
        txn = self._send_bye(d, headers, reason, now, local)
        self._drain()
        return txn

    def _send_bye(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
        self,
        d: Dialog,
        headers: Hdrs,
        reason: str | None,
        now: float,
        why: TerminatedReason,
        status: int | None = None,
        origin: ClientTxn | None = None,
    ) -> ClientTxn:
        extra = (*headers, ("Reason", reason)) if reason else headers
        _, txn = self._send_in_dialog(d, "BYE", None, None, extra, now, origin)
        self._terminate(d, DialogInput.BYE_SENT, why, status)
        return txn

    def _hangup(self, d: Dialog, headers: Hdrs, reason: str | None, now: float) -> ClientTxn | None:
        self._advance(now)
        if d.state is DialogState.TERMINATED:
            return None
        if d.state in (DialogState.CONFIRMED, DialogState.WAIT_ACK):
            return self._bye(d, headers, reason, now)
        if d.role == "uac":
            return self._cancel(d, headers, reason, now)
        # An unanswered incoming call: decline it.
        self._answer_invite(d, 603, None, headers, b"", None, now)
        return None

    def _cancel(self, d: Dialog, headers: Hdrs, reason: str | None, now: float) -> ClientTxn | None:
        self._advance(now)
        call = d.call
        if not isinstance(call, _Call) or not d.is_early:
            return None
        call.cancelling = True
        extra = list(headers)
        if reason is not None:
            extra.append(("Reason", reason))
        txn = self.endpoint.cancel(ClientTxn(call.txn), headers=extra, now=now)
        self._drain()
        return txn

    def _late_ack(self, d: Dialog, body: bytes, content_type: str | None, now: float) -> None:
        self._advance(now)
        if d.late_offer is None:
            raise LocalProtocolError("no 2xx with an offer is waiting for an ACK on this dialog")
        d.late_offer = None
        ua_client.send_ack(self, d, body, content_type, now)
        self._drain()

    def _answer_invite(  # noqa: PLR0917 - internal command plumbing, mirrors the public signature
        self,
        d: Dialog,
        status: int,
        reason: str | None,
        headers: Hdrs,
        body: bytes,
        content_type: str | None,
        now: float,
    ) -> None:
        self._advance(now)
        if d.role != "uas" or d.server_invite is None or d.state not in _ANSWERABLE:
            raise LocalProtocolError(f"dialog {d.id} has no INVITE waiting for an answer")
        ua_server.answer_invite(self, d, status, reason, headers, body, content_type, now)
        self._drain()


def _name_addr_arg(value: str, header: str) -> NameAddr:
    """A name-addr the application passed in: a bad one is misuse (DESIGN.md §4)."""
    try:
        addr = parse_name_addr(value, header=header)
        addr.uri  # noqa: B018 - the URI is parsed lazily; check it now
    except RemoteProtocolError as exc:
        raise LocalProtocolError(f"invalid {header} argument {value!r}: {exc}") from None
    return addr
