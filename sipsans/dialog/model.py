"""Dialog data and the rules for building in-dialog requests (RFC 3261 §12).

:class:`Dialog` is the record of one dialog: identifiers, route set, sequence
numbers, remote target (§12.1) and its state. :func:`contact_target` reads the remote
target a message gives; :func:`build_request` makes a request within a dialog per
§12.2.1.1 (loose and strict routing); :func:`target_for` picks where to send it.
:func:`snapshot` / :func:`restore` turn a confirmed dialog into a JSON-able dict
and back (format in docs/dialogs.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple, TypedDict

from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.fields import NameAddr, parse_name_addr
from ..message.model import Request, Response, make_request
from ..message.uri import URI, SipURI, parse_uri
from ..transaction.transport import Target
from .session_timer import SessionTimer
from .state import DIALOG_TABLE, DialogInput, DialogState, TerminatedReason

__all__ = [
    "SNAPSHOT_VERSION",
    "Dialog",
    "DialogId",
    "DialogSnapshot",
    "build_request",
    "contact_target",
    "restore",
    "route_set_from",
    "sips_contact",
    "snapshot",
    "target_for",
]

Role = Literal["uac", "uas"]
#: Built once: reading an Enum member off its class is slow, and this runs per message.
_EARLY_STATES = frozenset({DialogState.CALLING, DialogState.TRYING, DialogState.EARLY})
SNAPSHOT_VERSION = 1


class DialogId(NamedTuple):
    """A dialog's key (§12): Call-ID, local tag, remote tag, from *our* side.

    The UAC's local tag is its From tag; the UAS's is its To tag, so the two ends
    of one dialog hold mirrored ids. ``remote_tag`` is "" while a UAC has no
    response with a To tag yet.

    A named tuple rather than a frozen dataclass: the UA builds, hashes and compares
    these keys several times per message, and a tuple hashes and compares in C.
    """

    call_id: str
    local_tag: str
    remote_tag: str


class Dialog:
    """The dialog state of RFC 3261 §12.1 for one dialog, early or confirmed.

    Identifiers, From/To values, route set, sequence numbers, remote target, and the
    state, which changes only through :meth:`advance` (the :data:`DIALOG_TABLE` row);
    the UserAgent's dialog table (:class:`sipsans.ua.dialogs.DialogTable`) is its only
    caller. What the UserAgent's parts track while transactions run on a dialog (an
    INVITE awaiting its ACK, a re-INVITE of ours, subscription usages) they keep in
    tables of their own, keyed by the dialog; what lasts as long as a confirmed dialog
    and runs on nearly every one (its session timer, the parts watching for its end)
    it holds in slots of its own, which cost less than a table entry each.
    """

    __slots__ = (
        "__weakref__",
        "_local",
        "_remote",
        "_remote_tag",
        "call_id",
        "holds",
        "id",
        "invite_usage",
        "local_contact",
        "local_cseq",
        "local_tag",
        "reason",
        "remote_cseq",
        "remote_target",
        "role",
        "route_set",
        "secure",
        "session_timer",
        "state",
        "status",
        "target",
        "watchers",
    )

    # Positional-or-keyword: the UAS path builds one per call positionally (a class
    # call with keywords packs them into a dict on CPython 3.11); others name them.
    def __init__(  # noqa: PLR0917
        self,
        role: Role,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local_uri: str | NameAddr,
        remote_uri: str | NameAddr,
        local_contact: str,
        remote_target: str,
        route_set: tuple[str, ...],
        local_cseq: int,
        remote_cseq: int | None,
        state: DialogState,
        target: Target | None = None,
        secure: bool = False,
    ) -> None:
        self.role: Role = role
        self.call_id = call_id
        self.local_tag = local_tag
        self._remote_tag = remote_tag
        #: The dialog's key, kept rather than rebuilt on every look-up: it changes
        #: only when a UAC learns the remote tag (see :attr:`remote_tag`).
        self.id = DialogId(call_id, local_tag, remote_tag)
        # Our and the peer's From/To values: the text without the tag, or the value as
        # received or parsed (a NameAddr, tag and all). Text is parsed once, when the
        # first request within the dialog needs the value (and then kept parsed); a
        # value is rendered as text only when read as :attr:`local_uri`/:attr:`remote_uri`
        # (seldom: snapshots, forks), so a UAS call that never sends a request within
        # its dialog never renders them. One slot each, not a text and a parsed form.
        self._local = local_uri
        self._remote = remote_uri
        self.local_contact = local_contact
        self.remote_target = remote_target
        self.route_set = route_set
        self.local_cseq = local_cseq
        self.remote_cseq = remote_cseq
        #: Where the dialog is. It starts in an INITIAL state of the table (CONFIRMED for
        #: a dialog a subscription created or a snapshot restored) and moves only
        #: through :meth:`advance` (tests/project/test_state_owners.py holds every module to it).
        self.state = state
        #: A fixed next hop (outbound proxy) given to invite(target=...), else None.
        self.target = target
        self.secure = secure
        self.reason: TerminatedReason | None = None
        self.status: int | None = None
        #: False for a dialog made by a subscription alone (RFC 5057: it has no INVITE
        #: usage; it ends with its last subscription, without dialog events).
        self.invite_usage = True
        #: How many things of the UserAgent still run on this dialog (its transactions,
        #: the call's INVITE, subscription usages): a terminated dialog is forgotten
        #: once none does (see DialogTable.release).
        self.holds = 0
        #: The RFC 4028 session timer running on the dialog, if any (kept by the
        #: UserAgent's session-timer part).
        self.session_timer: SessionTimer | None = None
        #: Told once when the dialog ends: the UserAgent's parts that keep something for
        #: this dialog only (see DialogTable.watch).
        self.watchers: tuple[Callable[[Dialog, bool], None], ...] = ()

    def advance(self, inp: DialogInput) -> DialogState | None:
        """Feed ``inp`` to :data:`DIALOG_TABLE`: the next state, or None when the table
        absorbs ``inp`` in this state (nothing changes)."""
        row = DIALOG_TABLE.get((self.state, inp))
        if row is None:
            return None
        self.state = row[0]
        return row[0]

    @property
    def remote_tag(self) -> str:
        """The peer's tag; "" while a UAC has no response with a To tag yet."""
        return self._remote_tag

    @remote_tag.setter
    def remote_tag(self, tag: str) -> None:
        self._remote_tag = tag
        self.id = DialogId(self.call_id, self.local_tag, tag)

    @property
    def is_early(self) -> bool:
        return self.state in _EARLY_STATES

    @property
    def local_uri(self) -> str:
        """Our From/To value without its tag (display name and URI), as text."""
        value = self._local
        return value if isinstance(value, str) else _untagged(value)

    @property
    def remote_uri(self) -> str:
        """The peer's From/To value without its tag (display name and URI), as text."""
        value = self._remote
        return value if isinstance(value, str) else _untagged(value)

    def local_name_addr(self) -> str:
        """Our From/To value with our tag, for a request within the dialog."""
        addr = self._local
        if isinstance(addr, str):
            addr = self._local = parse_name_addr(addr, header="From")
        return str(addr.with_tag(self.local_tag))

    def remote_name_addr(self) -> str:
        """The peer's From/To value with its tag (none while a UAC has no remote tag)."""
        if not self.remote_tag:
            return self.remote_uri
        addr = self._remote
        if isinstance(addr, str):
            addr = self._remote = parse_name_addr(addr, header="To")
        return str(addr.with_tag(self.remote_tag))

    def refresh_target(self, message: Request | Response) -> None:
        """§12.2.1.2 / §12.2.2: a target refresh (or the message creating the dialog)
        replaces the remote target with its Contact; a missing or broken Contact leaves
        the target as it was."""
        target = contact_target(message)
        if target is not None:
            self.remote_target = target


def _untagged(addr: NameAddr) -> str:
    """``addr`` as text without its ``tag`` parameter."""
    if addr.params:
        addr = addr.replace(params=tuple([p for p in addr.params if p[0].lower() != "tag"]))
    return str(addr)


def _uri(text: str) -> URI:
    try:
        return parse_uri(text)
    except RemoteProtocolError as exc:  # pragma: no cover - values were validated on receipt
        raise LocalProtocolError(f"unusable URI {text!r} in dialog: {exc}") from exc


def _is_loose(route: str) -> bool:
    uri = parse_name_addr(route, header="Route").uri
    return isinstance(uri, SipURI) and uri.lr


def build_request(
    d: Dialog,
    method: str,
    cseq: int,
    *,
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> tuple[Request, URI]:
    """A request within dialog ``d`` (§12.2.1.1) and its next-hop URI.

    With an empty route set the Request-URI is the remote target. When the first
    route is a loose router (``lr``) the Request-URI is the remote target and the
    route set becomes the Route headers; otherwise (a strict router, RFC 2543) the
    first route goes into the Request-URI, its headers stripped, and the remote
    target is appended as the last Route.
    """
    remote = _uri(d.remote_target)
    routes = list(d.route_set)
    if routes and not _is_loose(routes[0]):
        first = parse_name_addr(routes[0], header="Route").uri
        ruri: URI = first.without_headers() if isinstance(first, SipURI) else first
        route_values = [*routes[1:], f"<{remote}>"]
        next_hop: URI = ruri
    else:
        ruri = remote
        route_values = routes
        next_hop = parse_name_addr(routes[0], header="Route").uri if routes else remote
    fields = [("Route", value) for value in route_values]
    contact = d.local_contact if method in _CONTACT_METHODS else None
    request = make_request(
        method,
        ruri,
        from_=d.local_name_addr(),
        to=d.remote_name_addr(),
        call_id=d.call_id,
        cseq=cseq,
        contact=contact,
        headers=[*fields, *headers],
        body=body,
        content_type=content_type,
    )
    return request, next_hop


#: Methods whose requests carry our Contact (target refresh and dialog-creating ones).
_CONTACT_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})


def target_for(uri: URI, fixed: Target | None = None) -> Target:
    """Where to send a request whose next hop is ``uri`` (RFC 3263 without DNS:
    the URI's host, port and ``transport=``; sips means TLS)."""
    if fixed is not None:
        return fixed
    if not isinstance(uri, SipURI):
        raise LocalProtocolError(f"cannot route to {uri}: only sip: and sips: URIs have a host")
    transport = (uri.transport or ("TLS" if uri.secure else "UDP")).upper()
    host = uri.maddr or uri.host
    return Target(transport, host, uri.port)


def contact_target(message: Request | Response) -> str | None:
    """The URI of the first Contact of ``message`` as text: the remote target it gives
    (§12.1.1, §12.1.2). None without a Contact, when it is broken, or when it is not a
    SIP or SIPS URI (§8.1.1.8: a dialog's remote target must be one, a ``tel:`` URI or
    ``*`` cannot be where in-dialog requests go)."""
    # One line of one value is what requests and answers carry: it is read as that value,
    # without building the Contact view (the list split and the calls that build it cost
    # more than reading the value). Anything else takes the view: the same result.
    value = message.headers.only("contact")
    try:
        if value is not None and "," not in value and value != "*":
            uri: URI | None = parse_name_addr(value, header="Contact").uri
        else:
            contacts = message.contacts
            uri = contacts[0].uri if contacts else None
    except RemoteProtocolError:
        return None
    return str(uri) if isinstance(uri, SipURI) else None


def route_set_from(record_routes: list[NameAddr], *, reverse: bool) -> tuple[str, ...]:
    """§12.1.1/§12.1.2: the route set is the Record-Route list (reversed by the UAC)."""
    values = [str(rr) for rr in record_routes]
    return tuple(reversed(values) if reverse else values)


class DialogSnapshot(TypedDict):
    """The JSON-able form of a confirmed dialog (``ua.snapshot``); see docs/dialogs.md."""

    version: int
    role: str
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str
    remote_uri: str
    local_contact: str
    remote_target: str
    route_set: list[str]
    local_cseq: int
    remote_cseq: int | None
    secure: bool
    target: list[object] | None


def snapshot(d: Dialog) -> DialogSnapshot:
    if d.state is not DialogState.CONFIRMED:
        raise LocalProtocolError(f"only confirmed dialogs can be snapshotted; {d.id} is {d.state}")
    target = d.target
    return {
        "version": SNAPSHOT_VERSION,
        "role": d.role,
        "call_id": d.call_id,
        "local_tag": d.local_tag,
        "remote_tag": d.remote_tag,
        "local_uri": d.local_uri,
        "remote_uri": d.remote_uri,
        "local_contact": d.local_contact,
        "remote_target": d.remote_target,
        "route_set": list(d.route_set),
        "local_cseq": d.local_cseq,
        "remote_cseq": d.remote_cseq,
        "secure": d.secure,
        "target": None if target is None else [target.transport, target.host, target.port],
    }


def restore(data: DialogSnapshot) -> Dialog:
    """A confirmed Dialog from :func:`snapshot` output (LocalProtocolError if invalid).

    Every field is checked before anything is built (type, range, URIs that parse), so a
    snapshot read back from a shared store is either taken whole or refused whole.
    """
    try:
        if not isinstance(data, dict):
            raise LocalProtocolError("a dialog snapshot is a JSON object")
        if data["version"] != SNAPSHOT_VERSION:
            raise LocalProtocolError(f"unsupported dialog snapshot version {data['version']!r}")
        role = data["role"]
        if role not in ("uac", "uas"):
            raise LocalProtocolError(f"bad role {role!r} in dialog snapshot")
        raw_target = data["target"]
        target = None
        if raw_target is not None:
            transport, host, port = raw_target
            assert isinstance(transport, str) and isinstance(host, str)
            assert port is None or (isinstance(port, int) and _is_int(port, 1, 65535))
            target = Target(transport, host, port)
        routes = data["route_set"]
        assert isinstance(routes, list) and all(isinstance(r, str) for r in routes)
        assert _is_int(data["local_cseq"], 0, _MAX_CSEQ)
        remote_cseq = data["remote_cseq"]
        assert remote_cseq is None or _is_int(remote_cseq, 0, _MAX_CSEQ)
        assert isinstance(data["secure"], bool)
        d = Dialog(
            role="uac" if role == "uac" else "uas",
            call_id=_text(data, "call_id"),
            local_tag=_text(data, "local_tag"),
            remote_tag=_text(data, "remote_tag"),
            local_uri=_text(data, "local_uri"),
            remote_uri=_text(data, "remote_uri"),
            local_contact=_text(data, "local_contact"),
            remote_target=_text(data, "remote_target"),
            route_set=tuple(routes),
            local_cseq=data["local_cseq"],
            remote_cseq=remote_cseq,
            state=DialogState.CONFIRMED,
            target=target,
            secure=data["secure"],
        )
        # Validate every stored URI now rather than on the first request.
        parse_uri(d.remote_target)
        parse_name_addr(d.local_uri, header="From")
        parse_name_addr(d.remote_uri, header="To")
        parse_name_addr(d.local_contact, header="Contact")
        for route in d.route_set:
            parse_name_addr(route, header="Route")
    except (KeyError, TypeError, ValueError, AssertionError, RemoteProtocolError) as exc:
        raise LocalProtocolError(f"invalid dialog snapshot: {exc!r}") from exc
    return d


def sips_contact(
    request: Request, record_routes: list[NameAddr], remote_target: str, transport: str
) -> bool:
    """§12.1.1: our Contact in the answer that creates a dialog must be a SIPS URI when
    the request's Request-URI is one, or its top Record-Route, or (without Record-Route)
    its Contact: the remote target (already rendered, so no Contact view is built). Never
    over UDP: SIPS means TLS on every hop, the last one included (RFC 5630 §3.1.3), and
    so a UDP call costs one comparison."""
    if transport == "UDP":
        return False
    uri = request.uri
    if isinstance(uri, SipURI) and uri.secure:
        return True
    if record_routes:
        first = record_routes[0].uri
        return isinstance(first, SipURI) and first.secure
    return remote_target[:5].lower() == "sips:"


#: §8.1.1.5: a CSeq number is below 2**31.
_MAX_CSEQ = 2**31 - 1


def _is_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _text(data: DialogSnapshot, key: str) -> str:
    """The string ``data[key]``; a Call-ID or tag must not be empty either."""
    value = data[key]  # type: ignore[literal-required]
    if not isinstance(value, str) or (not value and key in ("call_id", "local_tag")):
        raise ValueError(f"{key} must be a non-empty string, not {value!r}")
    return value
