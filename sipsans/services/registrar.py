"""Registrar: a location service and REGISTER processing (RFC 3261 §10.3).

:class:`LocationService` stores bindings (address-of-record -> contacts with expiry);
:class:`Registrar` turns a REGISTER into a response, applying the steps of §10.3 in
order and committing binding changes only when every one of them succeeds. Both are
pure: time is the caller's ``now``, the response is returned for the caller to send
with ``Endpoint.send_response``.

.. code-block:: python

    registrar = Registrar(LocationService(), domains=["example.com"])
    response = registrar.handle_register(request, now=now)
    endpoint.send_response(txn, response, now=now)
    registrar.location.lookup("sip:alice@example.com", now=now)  # best q first

Expired bindings vanish on their own: every read takes ``now`` and drops the ones
whose time is up.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from ..auth import DigestServer
from ..errors import LocalProtocolError, RemoteProtocolError
from ..message.fields import NameAddr
from ..message.grammar import is_digits
from ..message.headers import split_list
from ..message.model import Request, Response, make_response
from ..message.uri import URI, SipURI, parse_uri
from ..transaction.transport import Source
from ..ua.refreshing import seconds_left

__all__ = [
    "Binding",
    "LocationService",
    "Registrar",
    "aor_key",
    "http_date",
    "seconds_left",
]

_WS = " \t"


def aor_key(uri: URI) -> str:
    """The canonical form of an address-of-record (§10.3 step 5).

    URI parameters and headers are dropped, escapes are already decoded by the URI
    parser, the host is lowercased. ``sips:`` and ``sip:`` AORs name the same
    resource (RFC 5630 §3.1.1), so both map to ``sip:user@host[:port]``.
    """
    if not isinstance(uri, SipURI):
        raise LocalProtocolError(f"an address-of-record must be a sip/sips URI: {uri}")
    user = f"{uri.user}@" if uri.user is not None else ""
    port = f":{uri.port}" if uri.port is not None else ""
    return f"sip:{user}{uri.host.lower()}{port}"


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(unix_time: float) -> str:
    """RFC 1123 date in GMT for a Unix time (the SIP-date of RFC 3261 §20.17).

    Computed by hand (days-from-civil inverted, H. Hinnant's algorithm) so the core
    needs neither the clock nor the time module.
    """
    seconds = int(unix_time // 1)
    days, rest = divmod(seconds, 86400)
    weekday = _DAYS[(days + 3) % 7]  # 1970-01-01 was a Thursday
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    hh, rest = divmod(rest, 3600)
    mm, ss = divmod(rest, 60)
    return f"{weekday}, {day:02d} {_MONTHS[month - 1]} {year:04d} {hh:02d}:{mm:02d}:{ss:02d} GMT"


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """One contact bound to an address-of-record (§10.3 step 7).

    ``contact`` is the Contact value as registered minus its ``expires`` parameter;
    ``instance_id`` and ``reg_id`` are the RFC 5626 ``+sip.instance`` and ``reg-id``
    parameters, ``path`` the Path header values (RFC 3327), ``source`` where the
    REGISTER came from (for NAT traversal), all stored for the proxy to use.
    """

    aor: str
    contact: NameAddr
    expires_at: float
    q: float = 1.0
    call_id: str
    cseq: int
    registered_at: float
    instance_id: str | None = None
    reg_id: int | None = None
    path: tuple[str, ...] = ()
    source: Source | None = None

    @property
    def uri(self) -> URI:
        return self.contact.uri

    def remaining(self, now: float) -> int:
        """Whole seconds left (see :func:`seconds_left`)."""
        return seconds_left(self.expires_at, now)

    def same_binding(self, other: Binding) -> bool:
        """Do both name one binding? By instance-id and reg-id when given (RFC 5626
        §6), else by contact URI equality (§10.3 step 7, §19.1.4)."""
        if self.instance_id is not None or other.instance_id is not None:
            return (self.instance_id, self.reg_id) == (other.instance_id, other.reg_id)
        return self.uri == other.uri


class LocationService:
    """Bindings per address-of-record, with expiry on the caller's clock."""

    def __init__(self) -> None:
        self._bindings: dict[str, list[Binding]] = {}

    @staticmethod
    def _key(aor: URI | str) -> str:
        if isinstance(aor, str):
            aor = parse_uri(aor)
        return aor_key(aor)

    def lookup(self, aor: URI | str, now: float) -> list[Binding]:
        """The live bindings of *aor*, highest ``q`` first (ties: oldest first)."""
        key = self._key(aor)
        live = self._live(key, now)
        return sorted(live, key=lambda b: -b.q)

    def _live(self, key: str, now: float) -> list[Binding]:
        current = self._bindings.get(key, [])
        live = [b for b in current if b.expires_at > now]
        if len(live) != len(current):
            if live:
                self._bindings[key] = live
            else:
                del self._bindings[key]
        return live

    def replace(self, aor: URI | str, bindings: Iterable[Binding]) -> None:
        """Set the bindings of *aor* (an empty list removes it)."""
        key = self._key(aor)
        new = list(bindings)
        if new:
            self._bindings[key] = new
        else:
            self._bindings.pop(key, None)

    def add(self, binding: Binding) -> None:
        """Add or update one binding (matched by :meth:`Binding.same_binding`)."""
        current = [b for b in self._bindings.get(binding.aor, []) if not b.same_binding(binding)]
        self._bindings[binding.aor] = [*current, binding]

    def remove(self, aor: URI | str) -> None:
        """Remove every binding of *aor*."""
        self._bindings.pop(self._key(aor), None)

    def purge(self, now: float) -> int:
        """Drop every expired binding; returns how many were dropped."""
        dropped = 0
        for key in list(self._bindings):
            before = len(self._bindings[key])
            dropped += before - len(self._live(key, now))
        return dropped

    def aors(self, now: float) -> list[str]:
        """The canonical AORs that have live bindings."""
        self.purge(now)
        return sorted(self._bindings)

    def __len__(self) -> int:
        return sum(len(v) for v in self._bindings.values())


#: password(username, realm) -> password, or None for an unknown user
PasswordLookup = Callable[[str, str], "str | None"]
#: authorize(username, aor) -> may this authenticated user register this AOR?
AuthorizeHook = Callable[[str, SipURI], bool]


class _Reject(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class Registrar:
    """Processes REGISTER requests into responses (RFC 3261 §10.3).

    ``domains``: the domains this registrar is responsible for (None: any);
    ``authenticator`` and ``password_lookup`` enable digest authentication
    (§10.3 step 3); ``authorize`` decides whether an authenticated user may
    register an AOR (default: the username equals the AOR's user part, step 4);
    ``known_aor`` says whether an AOR exists (default: every AOR in ``domains``,
    step 5); ``epoch_offset`` turns ``now`` into Unix time for the Date header
    (``now + epoch_offset``; None leaves the Date header out, since ``now`` has no
    known origin); ``supported`` are the option tags accepted in Require.
    """

    def __init__(
        self,
        location: LocationService | None = None,
        *,
        domains: Iterable[str] | None = None,
        min_expires: int = 60,
        max_expires: int = 7200,
        default_expires: int = 3600,
        authenticator: DigestServer | None = None,
        password_lookup: PasswordLookup | None = None,
        authorize: AuthorizeHook | None = None,
        known_aor: Callable[[SipURI], bool] | None = None,
        epoch_offset: float | None = None,
        supported: Iterable[str] = ("path",),
        rng: random.Random | None = None,
    ) -> None:
        if authenticator is not None and password_lookup is None:
            raise LocalProtocolError("a Registrar with an authenticator needs password_lookup=")
        if not 0 < min_expires <= default_expires <= max_expires:
            raise LocalProtocolError("need 0 < min_expires <= default_expires <= max_expires")
        self.location = location if location is not None else LocationService()
        self.domains = frozenset(d.lower() for d in domains) if domains is not None else None
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self.authenticator = authenticator
        self.password_lookup = password_lookup
        self.authorize = authorize if authorize is not None else _same_user
        self.known_aor = known_aor
        self.epoch_offset = epoch_offset
        self.supported = frozenset(s.lower() for s in supported)
        self._rng = rng if rng is not None else random.SystemRandom()

    def stats(self, now: float) -> dict[str, int]:
        """Sizes of the registrar's tables: live bindings, and the authenticator's
        nonces and failure tables (all bounded, see docs/auth.md)."""
        self.location.purge(now)
        auth = self.authenticator.stats() if self.authenticator is not None else {}
        return {"bindings": len(self.location), **auth}

    def _respond(
        self,
        request: Request,
        code: int,
        reason: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> Response:
        tag = f"{self._rng.getrandbits(64):016x}"
        return make_response(request, code, reason, to_tag=tag, headers=headers)

    def handle_register(
        self, request: Request, *, now: float, source: Source | None = None
    ) -> Response:
        """The final response to *request*, after applying §10.3 in order.

        Binding changes are committed only when the response is a 200.
        """
        if request.method != "REGISTER":
            raise LocalProtocolError(f"handle_register() needs a REGISTER, not {request.method}")
        try:
            return self._process(request, now, source)
        except _Reject as reject:
            return reject.response
        except RemoteProtocolError as exc:
            return self._respond(request, exc.status_hint or 400, _reason(exc))

    def _process(self, request: Request, now: float, source: Source | None) -> Response:
        request.validate()  # malformed headers -> RemoteProtocolError -> 400
        # Step 1: the Request-URI names a domain we serve (a pure registrar does not
        # forward, so anything else is 404).
        uri = request.uri
        if not isinstance(uri, SipURI):
            return self._respond(request, 416)
        if not self._ours(uri.host):
            return self._respond(request, 404, "Domain Not Served Here")
        # Step 2: every option tag in Require must be understood (§8.2.2.3).
        unknown = [
            tag
            for line in request.headers.lines("require")
            for tag in split_list(line)
            if tag and tag.lower() not in self.supported
        ]
        if unknown:
            return self._respond(request, 420, headers=[("Unsupported", ", ".join(unknown))])
        # Step 3: authenticate. Failures count per source host and per user; past the
        # authenticator's limits the answer is 503 with Retry-After (or 403).
        username: str | None = None
        if self.authenticator is not None:
            assert self.password_lookup is not None
            verdict = self.authenticator.verify(
                request,
                now=now,
                password=self.password_lookup,
                source=source.remote[0] if source is not None else None,
            )
            if not verdict.ok:
                return self.authenticator.refusal(
                    request, verdict, now=now, to_tag=f"{self._rng.getrandbits(64):016x}"
                )
            username = verdict.username
        # Step 5 (its scheme part first, the authorization hook needs a SIP AOR): the
        # To URI is the AOR; a non-SIP one cannot be registered (RFC 4475 unksm2 -> 400).
        aor = request.to.uri
        if not isinstance(aor, SipURI):
            scheme = str(aor).split(":", 1)[0]
            return self._respond(request, 400, f"Unsupported AOR Scheme {scheme}")
        # Step 4: the authenticated user may register this AOR.
        if username is not None and not self.authorize(username, aor):
            return self._respond(request, 403)
        # Step 5: the AOR is valid for the domain.
        if not self._ours(aor.host) or (self.known_aor is not None and not self.known_aor(aor)):
            return self._respond(request, 404)
        key = aor_key(aor)
        # Steps 6 and 7: the Contact list, checked whole before anything is committed.
        current = self.location.lookup(key, now)
        if request.contact_is_wildcard:
            bindings = self._wildcard(request, current)
        elif request.headers.lines("contact"):
            bindings = self._contacts(request, key, current, now, source)
        else:
            bindings = current  # a query: no Contact, list the bindings (§10.2.3)
        self.location.replace(key, bindings)
        # Step 8: 200 with every current binding.
        return self._ok(request, self.location.lookup(key, now), now)

    def _ours(self, host: str) -> bool:
        return self.domains is None or host.lower() in self.domains

    def _wildcard(self, request: Request, current: list[Binding]) -> list[Binding]:
        # Step 6: "*" only alone and only with Expires: 0.
        if len(request.headers.lines("contact")) != 1:
            raise _Reject(self._respond(request, 400, "Wildcard Contact Must Be Alone"))
        if _header_expires(request) != 0:
            raise _Reject(self._respond(request, 400, "Wildcard Contact Needs Expires 0"))
        for binding in current:
            self._check_order(request, binding)
        return []

    def _check_order(self, request: Request, binding: Binding) -> None:
        # Same Call-ID: the CSeq must be higher, else the request is out of order
        # and the whole update fails (§10.3 steps 6 and 7).
        if binding.call_id == request.call_id and request.cseq.seq <= binding.cseq:
            raise _Reject(
                self._respond(
                    request,
                    500,
                    "Out Of Order",
                    headers=[("Retry-After", "1")],
                )
            )

    def _contacts(
        self,
        request: Request,
        key: str,
        current: list[Binding],
        now: float,
        source: Source | None,
    ) -> list[Binding]:
        header = _header_expires(request)
        path = tuple(v for line in request.headers.lines("path") for v in split_list(line) if v)
        result = list(current)
        for contact in request.contacts:
            expires = _param_expires(contact)
            if expires is None:
                expires = header if header is not None else self.default_expires
            if 0 < expires < self.min_expires:
                # §10.3 step 7 / §10.2.8: too brief -> 423 with our minimum.
                raise _Reject(
                    self._respond(request, 423, headers=[("Min-Expires", str(self.min_expires))])
                )
            expires = min(expires, self.max_expires)
            binding = Binding(
                aor=key,
                contact=contact.replace(
                    params=tuple(p for p in contact.params if p[0].lower() != "expires")
                ),
                expires_at=now + expires,
                q=_q(request, contact),
                call_id=request.call_id,
                cseq=request.cseq.seq,
                registered_at=now,
                instance_id=contact.param("+sip.instance"),
                reg_id=_reg_id(contact),
                path=path,
                source=source,
            )
            existing = [b for b in current if b.same_binding(binding)]
            for old in existing:
                self._check_order(request, old)
            result = [b for b in result if not b.same_binding(binding)]
            if expires > 0:
                if existing:  # keep the first registration time of a refreshed binding
                    binding = replace(binding, registered_at=existing[0].registered_at)
                result.append(binding)
        return result

    def _ok(self, request: Request, bindings: list[Binding], now: float) -> Response:
        headers: list[tuple[str, str]] = []
        for binding in bindings:
            params = (*binding.contact.params, ("expires", str(binding.remaining(now))))
            headers.append(("Contact", str(binding.contact.replace(params=params))))
        if self.epoch_offset is not None:
            headers.append(("Date", http_date(now + self.epoch_offset)))
        if bindings and "path" in self.supported:
            headers += [("Path", p) for p in bindings[-1].path]  # RFC 3327 §5.3 echo
        return self._respond(request, 200, headers=headers)


def _same_user(username: str, aor: SipURI) -> bool:
    return aor.user is not None and username == aor.user


def _reason(exc: RemoteProtocolError) -> str:
    text = str(exc).splitlines()[0] if str(exc) else "Bad Request"
    # A reason phrase is TEXT-UTF8 without CR/LF (§25.1); keep it short.
    return text[:120]


def _whole_number(value: str | None, shown: str, meaning: str) -> int | None:
    """``value`` (a header's or a Contact parameter's; None when absent) as an integer.

    Anything but digits is a 400 naming it (``shown`` then the value, then what it
    should be). Lenient: delta-seconds beyond 2**32-1 "SHOULD be treated as 2**32-1"
    (§10.2.1.1 refers to §20.19); the max_expires cap makes any large value the same.
    """
    if value is None:
        return None
    if not is_digits(value):
        raise RemoteProtocolError(f"{shown}{value!r} is not {meaning}", status_hint=400)
    return int(value)


def _header_expires(request: Request) -> int | None:
    value = request.headers.get("expires")
    value = None if value is None else value.strip(_WS)
    return _whole_number(value, "Expires: ", "delta-seconds (§20.19)")


def _param_expires(contact: NameAddr) -> int | None:
    return _whole_number(contact.param("expires"), "Contact expires=", "delta-seconds (§20.10)")


def _q(request: Request, contact: NameAddr) -> float:
    value = contact.param("q")
    if value is None:
        return 1.0
    try:
        q = float(value)
    except ValueError:
        q = -1.0
    if not 0.0 <= q <= 1.0 or not value.replace(".", "", 1).isdigit():
        raise RemoteProtocolError(
            f"Contact q={value!r} is not a qvalue 0..1 (§20.10)", status_hint=400
        )
    return q


def _reg_id(contact: NameAddr) -> int | None:
    return _whole_number(contact.param("reg-id"), "reg-id=", "a number (RFC 5626 §4.2)")
