"""What every part of a UserAgent shares: the clock, the event queue, the alarms, the
identifiers it draws, the addresses it gives out, its credentials and its views.

The parts of a :class:`~sipsans.ua.agent.UserAgent` (client side, server side,
subscriptions, REFER, registrations) each own their tables; they share one
:class:`UAContext`, which owns nothing of theirs. Each public command of a part
starts with :meth:`UAContext.advance` (the caller's clock) and ends with
:meth:`UAContext.drain` (the UserAgent then consumes what the command made the
Endpoint report).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from ..auth import DigestClient
from ..errors import LocalProtocolError
from ..locate.failover import Backoffs
from ..message.fields import NameAddr, parse_name_addr
from ..message.model import Request, make_response
from ..message.uri import SipURI
from ..transaction.events import (
    ResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from ..transaction.surface import EndpointLike
from ..transaction.transport import ServerTxn
from .alarms import Alarms
from .config import UAConfig
from .handles import Views
from .records import Hdrs

__all__ = ["ClientTxnOwner", "UAContext"]


class ClientTxnOwner(Protocol):
    """A part that sends requests in client transactions of its own (§17.1) and takes
    what becomes of each: its responses, its failure, its end."""

    def on_response(self, event: ResponseReceived) -> None: ...

    def on_failure(self, event: TransactionTimedOut | TransportFailed) -> None: ...

    def on_terminated(self, event: TransactionTerminated) -> None: ...


def _nothing() -> None:
    return None


class UAContext:
    """The clock, events, alarms, identifiers and addresses the parts of one UA share."""

    __slots__ = (
        "_contacts",
        "_given_contact",
        "alarms",
        "allow",
        "allow_value",
        "backoffs",
        "client_txns",
        "common",
        "config",
        "contact",
        "digest",
        "drain",
        "endpoint",
        "events",
        "identity",
        "now",
        "rng",
        "supported",
        "supported_value",
        "views",
    )

    #: Makes the dialog and subscription handles the application is handed and carries
    #: their commands to the parts: set by the UserAgent once its parts exist (they
    #: reach it only while they run, never while they are made).
    views: Views

    def __init__(
        self,
        endpoint: EndpointLike,
        *,
        config: UAConfig,
        rng: random.Random,
        identity: NameAddr,
        contact: str | None,
        digest: DigestClient,
    ) -> None:
        self.endpoint = endpoint
        self.config = config
        self.rng = rng
        self.identity = identity
        #: Answers 401/407 challenges with the UA's credentials (§22.2).
        self.digest = digest
        #: The latest ``now`` seen; it never goes backwards.
        self.now = float("-inf")
        #: The UA's events, in order, until the application takes them (the parts
        #: append theirs).
        self.events: deque[Any] = deque()
        self.alarms = Alarms()
        #: The part that sent each client transaction still alive, by the transaction's
        #: id: a part enters its own as it sends them; the UserAgent hands each event of
        #: one to its part and removes it when the transaction ends.
        self.client_txns: dict[int, ClientTxnOwner] = {}
        #: When each target that failed a request may be tried first again (RFC 3263
        #: §4.3), shared by every request the UA sends with several targets.
        self.backoffs = Backoffs(
            backoff=config.failover_backoff, max_backoff=config.failover_max_backoff
        )
        allow = list(config.allow)
        if config.event_packages and "SUBSCRIBE" not in allow:
            allow.append("SUBSCRIBE")
        if config.refer and "REFER" not in allow:
            allow.append("REFER")
        if config.rel100 != "disabled" and "PRACK" not in allow:
            allow.append("PRACK")  # RFC 3262 §3: the method that acknowledges a reliable 1xx
        #: The methods we accept (the Allow header): UAConfig.allow plus what the
        #: subscription and REFER settings enable.
        self.allow = tuple(allow)
        #: Built once, sent in every answer and dialog-creating request.
        self.allow_value = ", ".join(allow)
        tags = ["100rel"] if config.rel100 != "disabled" else []
        if config.session_timer != "disabled":
            tags.append("timer")
        tags += [tag for tag in config.supported if tag not in tags]
        #: The option tags we support (§8.2.2.3: a Require naming another gets 420):
        #: UAConfig.supported plus ``100rel`` and ``timer`` unless disabled.
        self.supported = frozenset(tags)
        #: Our Supported header value (§20.37), for the requests that make or refresh a
        #: session and our answers to OPTIONS.
        self.supported_value = ", ".join(tags)
        #: Header fields every request and answer of ours carries (User-Agent).
        self.common: Hdrs = (("User-Agent", config.user_agent),) if config.user_agent else ()
        self._given_contact = contact
        #: Our Contact (§8.1.1.8) for UDP; :meth:`local_contact` adds ``transport=``.
        self.contact = ""
        self._contacts: dict[tuple[str, str, bool], str] = {}
        self.readvertise()
        #: Set by the UserAgent: consume what the Endpoint reported (see the module doc).
        self.drain: Callable[[], None] = _nothing

    def given_contact(self, contact: str) -> None:
        """From now on our Contact is ``contact`` (the application's)."""
        self._given_contact = contact

    def readvertise(self) -> None:
        """Take our Contact from the endpoint's advertised address (unless a Contact was
        given): at start, and when the address changes (``ua.advertise``)."""
        if self._given_contact:
            self.contact = self._given_contact
        else:
            ep_config = self.endpoint.config
            uri = self.identity.uri
            user = uri.user if isinstance(uri, SipURI) else None
            host = ep_config.advertised_host
            if ":" in host and not host.startswith("["):
                host = f"[{host}]"
            at = f"{user}@" if user else ""
            ob = ";ob" if self.config.outbound else ""  # RFC 5626 §4.3: we use outbound
            self.contact = f"<sip:{at}{host}:{ep_config.advertised_port}{ob}>"
        self._contacts.clear()

    # -- the clock and the events ---------------------------------------------------

    def advance(self, now: float) -> None:
        """Take the caller's clock; it must not go backwards (DESIGN.md §2)."""
        if now < self.now:
            raise LocalProtocolError(f"now={now} is earlier than the previous now={self.now}")
        self.now = now

    # -- identifiers --------------------------------------------------------------------

    def new_tag(self) -> str:
        """A tag (§19.3): 48 random bits (the RFC asks for at least 32), in hex."""
        return f"{self.rng.getrandbits(48):012x}"

    def new_local(self) -> tuple[str, int]:
        """A new dialog's local tag (as :meth:`new_tag`) and initial CSeq (1 to 2**15;
        §8.1.1.5 asks for less than 2**31), from one draw: with the default
        SystemRandom every draw is a system call."""
        bits = self.rng.getrandbits(63)
        return f"{bits & 0xFFFF_FFFF_FFFF:012x}", (bits >> 48) + 1

    def new_call_id(self) -> str:
        """A Call-ID (§8.1.1.4): 96 random bits at our advertised host."""
        return f"{self.rng.getrandbits(96):024x}@{self.endpoint.config.advertised_host}"

    def local_contact(self, transport: str, *, secure: bool = False) -> str:
        """Our Contact for requests and answers over ``transport`` (``transport=`` added
        for anything but UDP, §19.1.1). ``secure``: a SIPS URI, as §8.1.1.8 (a request
        whose Request-URI or top Route is SIPS) and §12.1.1 (the answer to one) ask,
        without the ``transport=tls`` that SIPS implies (RFC 5630 §3.1.3)."""
        contact = self.contact
        if not secure and (transport == "UDP" or transport.upper() == "UDP"):
            return contact
        key = (contact, transport, secure)
        found = self._contacts.get(key)
        if found is None:
            addr = parse_name_addr(contact, header="Contact")
            uri = addr.uri
            found = contact
            if isinstance(uri, SipURI):
                if secure:
                    uri = uri.replace(scheme="sips")
                name = transport.upper()
                if uri.transport is None and name != "UDP" and not (secure and name == "TLS"):
                    uri = uri.with_param("transport", transport.lower())
                found = str(addr.replace(uri=uri))
            self._contacts[key] = found
        return found

    # -- answers the UA sends on its own ------------------------------------------------

    def reply(
        self,
        txn: ServerTxn,
        request: Request,
        status: int,
        headers: Hdrs = (),
        to_tag: str | None = None,
    ) -> None:
        """Answer ``request`` on ``txn`` with ``status`` (a new To tag unless given)."""
        tag = to_tag if to_tag is not None else self.new_tag()
        response = make_response(request, status, to_tag=tag, headers=headers)
        self.endpoint.send_response(txn, response, now=self.now)

    def retry_after(self) -> Hdrs:
        """Retry-After for a 500 (CSeq out of order, §12.2.2, §14.2) or a 503."""
        return (("Retry-After", str(self.config.retry_after)),)
