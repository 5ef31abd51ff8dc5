"""sipsans: a sans-IO SIP stack.

The core consumes bytes and timer ticks and produces typed events and outbound
messages; it never touches sockets, clocks or threads. See ``docs/`` for the
user guide and ``DESIGN.md`` for the architecture.
"""

from __future__ import annotations

from .auth import Credentials
from .config import EndpointConfig, ParserLimits
from .dialog import (
    DialogId,
    DialogSnapshot,
    DialogState,
    SubscriptionState,
    TerminatedReason,
)
from .dialog.events import DialogChange, DialogChanged, DialogStateChanged, DialogTerminated
from .dialog.replaces import Replaces
from .errors import LocalProtocolError, RemoteProtocolError, SipError
from .message.fields import CSeq, NameAddr, Via, parse_name_addr, parse_via
from .message.framing import StreamFramer
from .message.headers import Headers
from .message.model import REASON_PHRASES, Message, Request, Response, make_request, make_response
from .message.parser import parse_message
from .message.sdp import SessionDescription, make_answer, make_offer, parse_sdp
from .message.uri import URI, AbsoluteURI, SipURI, TelURI, parse_uri
from .services.publication import (
    Publication,
    PublicationDriver,
    PublicationState,
    PublicationStateChanged,
)
from .services.registrar import Binding, LocationService, Registrar
from .services.registration import (
    Registration,
    RegistrationDriver,
    RegistrationState,
    RegistrationStateChanged,
)
from .transaction.endpoint import Endpoint
from .transaction.events import (
    CancelReceived,
    ConnectionClosed,
    MalformedMessage,
    RequestReceived,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from .transaction.timers import TimerKind
from .transaction.transport import ClientTxn, ConnHandle, ServerTxn, Source, Target, Transmit
from .ua.agent import UAConfig, UserAgent
from .ua.events import (
    AuthenticationFailed,
    Event,
    FlowFailed,
    IncomingCall,
    IncomingSubscription,
    InDialogRequest,
    MessageReceived,
    NotifyReceived,
    ProvisionalOffer,
    ReferReceived,
    RestoreRefusal,
    RestoreRefused,
    SessionRefreshed,
    SubscriptionStateChanged,
    TargetFailed,
    TargetsExhausted,
    UnknownDialogRequest,
)
from .ua.handles import (
    ClientInviteDialog,
    ClientSubscription,
    ServerInviteDialog,
    ServerSubscription,
)
from .ua.registrations import RegistrationHandle

__all__ = [  # noqa: RUF022 - grouped by layer
    "AuthenticationFailed",
    "ClientInviteDialog",
    "Credentials",
    "DialogId",
    "DialogSnapshot",
    "DialogState",
    "DialogStateChanged",
    "DialogTerminated",
    "DialogChange",
    "DialogChanged",
    "UnknownDialogRequest",
    "RestoreRefusal",
    "RestoreRefused",
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
    "TargetFailed",
    "TargetsExhausted",
    "FlowFailed",
    "ProvisionalOffer",
    "SessionRefreshed",
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
    "SessionDescription",
    "make_answer",
    "make_offer",
    "parse_sdp",
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
