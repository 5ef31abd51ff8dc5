"""sipsans: a sans-IO SIP stack.

The core consumes bytes and timer ticks and produces typed events and outbound
messages; it never touches sockets, clocks or threads. See ``docs/`` for the
user guide and ``DESIGN.md`` for the architecture.
"""

from __future__ import annotations

# The UserAgent layer (issue 5).
from .auth import Credentials
from .config import EndpointConfig, ParserLimits
from .dialog import (
    ClientInviteDialog,
    ClientSubscription,
    DialogId,
    DialogSnapshot,
    DialogState,
    ServerInviteDialog,
    ServerSubscription,
    SubscriptionState,
    TerminatedReason,
)
from .endpoint import Endpoint
from .errors import LocalProtocolError, RemoteProtocolError, SipError
from .events import (
    AuthenticationFailed,
    CancelReceived,
    ConnectionClosed,
    DialogStateChanged,
    DialogTerminated,
    Event,
    IncomingCall,
    IncomingSubscription,
    InDialogRequest,
    MalformedMessage,
    MessageReceived,
    NotifyReceived,
    ReferReceived,
    RequestReceived,
    ResponseReceived,
    SubscriptionStateChanged,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from .fields import CSeq, NameAddr, Via, parse_name_addr, parse_via
from .framing import StreamFramer
from .headers import Headers
from .message import REASON_PHRASES, Message, Request, Response, make_request, make_response
from .parser import parse_message
from .publication import Publication, PublicationDriver, PublicationState, PublicationStateChanged
from .registrar import Binding, LocationService, Registrar
from .registration import (
    Registration,
    RegistrationDriver,
    RegistrationState,
    RegistrationStateChanged,
)
from .replaces import Replaces
from .timers import TimerKind
from .transport import ClientTxn, ConnHandle, ServerTxn, Source, Target, Transmit
from .ua import UAConfig, UserAgent
from .ua_registration import RegistrationHandle
from .uri import URI, AbsoluteURI, SipURI, TelURI, parse_uri

__all__ = [  # noqa: RUF022 - grouped by layer
    "AuthenticationFailed",
    "ClientInviteDialog",
    "Credentials",
    "DialogId",
    "DialogSnapshot",
    "DialogState",
    "DialogStateChanged",
    "DialogTerminated",
    "InDialogRequest",
    "IncomingCall",
    "MessageReceived",
    "ServerInviteDialog",
    "ClientSubscription",
    "ServerSubscription",
    "SubscriptionState",
    "SubscriptionStateChanged",
    "NotifyReceived",
    "IncomingSubscription",
    "ReferReceived",
    "Replaces",
    "TerminatedReason",
    "UAConfig",
    "UserAgent",
    "REASON_PHRASES",
    "URI",
    "AbsoluteURI",
    "CSeq",
    "CancelReceived",
    "ClientTxn",
    "ConnHandle",
    "ConnectionClosed",
    "Endpoint",
    "EndpointConfig",
    "Event",
    "Headers",
    "LocalProtocolError",
    "MalformedMessage",
    "Message",
    "NameAddr",
    "ParserLimits",
    "RemoteProtocolError",
    "Request",
    "RequestReceived",
    "Response",
    "ResponseReceived",
    "ServerTxn",
    "SipError",
    "SipURI",
    "Source",
    "StreamFramer",
    "Target",
    "TelURI",
    "TimerKind",
    "TransactionTerminated",
    "TransactionTimedOut",
    "Transmit",
    "TransportFailed",
    "Via",
    "make_request",
    "make_response",
    "parse_message",
    "parse_name_addr",
    "parse_uri",
    "parse_via",
    "Binding",
    "LocationService",
    "Publication",
    "PublicationDriver",
    "PublicationState",
    "PublicationStateChanged",
    "Registrar",
    "Registration",
    "RegistrationDriver",
    "RegistrationHandle",
    "RegistrationState",
    "RegistrationStateChanged",
]

__version__ = "0.1.0.dev0"
