"""What the asyncio and anyio sessions share: everything that does not touch the loop.

:class:`SessionBase` is the public face of a session, the same on every loop: its
settings, its life cycle (bind, advertise, make the core, close), ``async for event``,
``await session.request(...)`` and, with a ``sipsans.UserAgent`` core, the awaitable
calls, subscriptions and registrations. It does that work with parts of its own:

- a :class:`~sipsans_session.driver.Driver`, the pump around the core (``session.now``,
  ``session.command`` and ``session.pump`` are the driver's own methods);
- a :class:`~sipsans_session.routing.Router`, the driver's ``send``: transmit routing
  and the connection tables;
- :class:`~sipsans_session.waits.Waits`: the waits for responses and states, which the
  handles (:class:`~sipsans_session.dialogs.AsyncDialog`,
  :class:`~sipsans_session.subscriptions.AsyncSubscription`) await through.

A session class subclasses it once and supplies the loop's part: binding, dialling,
writing, sleeping, a one-shot :class:`~sipsans_session.waits.Waiter`, and the driver's
clock and wake-up. Like the driver, it holds no SIP logic.
"""

from __future__ import annotations

import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any, Generic, Self, TextIO, Unpack, cast, overload

from sipsans import (
    URI,
    ClientSubscription,
    ClientTxn,
    DialogId,
    DialogState,
    DialogStateChanged,
    DialogTerminated,
    IncomingCall,
    LocalProtocolError,
    NameAddr,
    NotifyReceived,
    RegistrationHandle,
    RegistrationState,
    RegistrationStateChanged,
    Request,
    Response,
    ServerSubscription,
    ServerTxn,
    SipURI,
    SubscriptionStateChanged,
    Target,
    Transmit,
    UserAgent,
    parse_name_addr,
    parse_uri,
)
from sipsans.dialog.model import target_for
from sipsans.tools.trace import Recorder

from .addresses import SECURE_TRANSPORTS, UDP_RECEIVE_BUFFER, Address, Listen
from .dialogs import AsyncDialog, CallFailed, DialogKey, dialog_key
from .driver import TIMER_RESOLUTION, CoreT, Driver
from .errors import RegistrationFailed
from .limits import MAX_CONNECTIONS, MAX_CONNECTIONS_PER_SOURCE, Admission
from .options import Answer, RegisterOptions, Request_, SubscribeOptions, SubView, View
from .resolve import Resolver
from .routing import ConnKey, ConnT, Dial, Router
from .sent import Sent
from .subscriptions import AsyncSubscription, SubscriptionFailed, subscription_key
from .tracing import TraceSink, TraceWriter
from .waits import Waiter, Waits

__all__ = ["SessionBase"]


def _uri_of(value: Any) -> Any:
    """The URI of a ``to`` argument (text, NameAddr or URI); None when it is no URI."""
    if isinstance(value, NameAddr):
        return value.uri
    if isinstance(value, str):
        try:
            return parse_name_addr(value, header="To").uri
        except Exception:
            return None
    return value


#: The watcher key re-checked at every RegistrationStateChanged.
_REGISTRATIONS = "registrations"
_IDLE = (RegistrationState.UNREGISTERED, RegistrationState.FAILED)


class SessionBase(Generic[CoreT, ConnT]):
    """A sans-IO core (``sipsans.Endpoint`` or ``sipsans.UserAgent``) on some loop.

    ``core`` is the core itself, or a factory called with the advertised address once
    the listeners are bound (handy with port 0). ``advertise`` overrides the address
    put in Via/Contact (bind and advertised addresses are separate settings); by default
    it is the first listener's bound address (127.0.0.1 for a wildcard bind). A core
    handed in ready-made is told that address once the listeners are bound
    (``core.advertise(host, port)``: ``UserAgent.advertise``, ``Endpoint.advertise``), so
    that its Via and Contact reach this session whatever its configuration said; a
    factory makes its core with it.
    ``ssl_server`` is needed to listen on TLS/WSS; ``ssl_client`` defaults to
    ``ssl.create_default_context()`` (certificates verified). ``trace`` is a path or
    text file receiving the JSONL transcript (:mod:`sipsans.tools.trace` format; an Endpoint
    core is wrapped in ``sipsans.tools.trace.Recorder``, so ``session.core`` is then that
    recorder, and ``trace_seed`` should be the seed of the Endpoint's rng). With
    ``on_event`` every event is passed to that callback synchronously inside the pump;
    otherwise it is queued for ``async for event in session`` / :meth:`next_event`.
    Stream connections over which no complete message came for ``idle_timeout``
    seconds are closed (bytes of a message never finished do not count), and a
    listener accepts at most ``max_connections`` connections at once, at most
    ``max_connections_per_source`` from one address (None: no limit;
    :mod:`sipsans_session.limits` has the defaults and the rules). Each UDP socket
    asks for ``udp_receive_buffer`` bytes of kernel receive buffer
    (:data:`~sipsans_session.addresses.UDP_RECEIVE_BUFFER`; None keeps the system
    default). Timers fire up to ``timer_resolution`` seconds late, grouped
    (:data:`~sipsans_session.driver.TIMER_RESOLUTION`).

    With a ``sipsans.UserAgent`` core the session also offers ``await session.invite()``,
    ``session.wrap(dialog)`` and awaitable dialogs (:mod:`sipsans_session.dialogs`),
    subscriptions and registrations, and closing it hangs up every dialog first.
    """

    # Slots: the pump reaches the session for every event (its dispatch), and CPython
    # 3.11 specialises attribute look-ups best on a slotted instance. (A session class
    # declares none: its few attributes, and any a user adds, go in a small dict.)
    __slots__ = (
        "_admission",
        "_advertise",
        "_connect_timeout",
        "_dns",
        "_events",
        "_factory",
        "_listen",
        "_live",
        "_readers",
        "_router",
        "_sink",
        "_ssl_server",
        "_started",
        "_trace_seed",
        "_udp_receive_buffer",
        "_unwrapped",
        "_unwrapped_confirmed",
        "_waits",
        "addresses",
        "advertised",
        "close_timeout",
        "command",
        "driver",
        "now",
        "on_event",
        "pump",
        "resolver",
    )

    #: The driver's clock, never going backwards: ``now(at_least=None)``.
    now: Callable[..., float]
    #: The driver's ``command(fn, *args, **kwargs)``: call a core command with ``now=``
    #: filled in, then pump; returns its result.
    command: Callable[..., Any]
    #: The driver's pump: deliver events, send transmits, re-arm the wake-up (returns
    #: whether there was anything to deliver or send).
    pump: Callable[[], bool]

    def __init__(
        self,
        core: CoreT | Callable[[Address], CoreT],
        *,
        listen: Iterable[Listen] = (Listen(),),
        advertise: Address | None = None,
        ssl_server: ssl.SSLContext | None = None,
        ssl_client: ssl.SSLContext | None = None,
        tls_server_name: str | None = None,
        trace: str | Path | TextIO | None = None,
        trace_seed: int | None = None,
        on_event: Callable[[object], None] | None = None,
        idle_timeout: float | None = 120.0,
        connect_timeout: float = 10.0,
        udp_receive_buffer: int | None = UDP_RECEIVE_BUFFER,
        timer_resolution: float = TIMER_RESOLUTION,
        locate: bool = False,
        dns_server: Address | None = None,
        max_connections: int | None = MAX_CONNECTIONS,
        max_connections_per_source: int | None = MAX_CONNECTIONS_PER_SOURCE,
    ) -> None:
        self.on_event = on_event
        driver: Driver[CoreT] = Driver(deliver=self._dispatch, timer_resolution=timer_resolution)
        #: The pump around the core.
        self.driver = driver
        # The driver's own bound methods, not wrappers: no call of the pump costs more
        # through the session.
        self.now = driver.now
        self.command = driver.command
        self.pump = driver.pump
        #: RFC 3263 (``locate=True``, or a ``dns_server``): requests the session sends
        #: to a URI without a ``target=`` go to the targets this finds, failing over
        #: (``targets=``); made at start (see :mod:`sipsans_session.resolve`).
        self.resolver: Resolver | None = None
        self._dns = (locate or dns_server is not None, dns_server)
        self._router: Router[ConnT] = Router(
            driver,
            send_udp=self._send_udp,
            dial=self._dial,
            open_connection=self._open_connection,
            ssl_client=ssl_client,
            tls_server_name=tls_server_name,
            idle_timeout=idle_timeout,
        )
        driver.send = self._router.send
        #: The connection limits of the listeners (and their counts: ``stats()``).
        self._admission = Admission(
            driver.now,
            max_per_listener=max_connections,
            max_per_source=max_connections_per_source,
        )
        self._waits = Waits(driver, self._waiter)
        #: Seconds ``close()`` waits for the BYEs/CANCELs it sent to be answered.
        self.close_timeout = 2.0
        self._sink = TraceSink(trace) if trace is not None else None
        self._trace_seed = trace_seed
        self._factory: Callable[[Address], CoreT] | None = None
        if hasattr(core, "transmits"):
            # Traced (and told its address) once the listeners are bound, in start();
            # session.core is the core itself until then.
            self.driver.core = cast(CoreT, core)
        else:
            self._factory = core
        self._listen = list(listen)
        self._advertise = advertise
        self._ssl_server = ssl_server
        self._connect_timeout = connect_timeout
        self._udp_receive_buffer = udp_receive_buffer
        self._events: deque[object] = deque()
        self._readers: list[Waiter] = []
        self._started = False
        #: Bound address of each listening transport (the first one of each kind).
        self.addresses: dict[str, Address] = {}
        self.advertised: Address = ("127.0.0.1", 0)
        #: The AsyncDialog of each dialog wrapped (or invited) while it lives.
        self._live: dict[DialogKey, AsyncDialog] = {}
        #: The incoming calls no one has wrapped yet, while they live (their INVITE, for
        #: the AsyncDialog wrap() makes later, and for the hang-ups of the close), and
        #: which of them were confirmed. An AsyncDialog costs more than these two
        #: records, and a server answering from ``on_event`` never needs one.
        self._unwrapped: dict[DialogKey, IncomingCall] = {}
        self._unwrapped_confirmed: set[DialogKey] = set()
        self._init_io()

    @property
    def core(self) -> CoreT:
        """The core (its trace ``Recorder`` when tracing an Endpoint)."""
        return self.driver.core

    def stats(self) -> dict[str, int]:
        """Sizes of the session's tables and of its core's (``core.stats()``): all
        settle back once traffic stops, whatever came in (tests/adapters/test_adapter_limits.py)."""
        core_stats = getattr(self.core, "stats", None)
        return {
            **(core_stats() if core_stats is not None else {}),
            **self._router.stats(),
            **self._admission.stats(),
            "response_waits": self.driver.waiting,
            "state_waits": len(self._waits.watchers),
            "live_dialogs": len(self._live),
            "unwrapped_calls": len(self._unwrapped),
            "queued_events": len(self._events),
        }

    @property
    def hangup_timeout(self) -> float:
        """Seconds ``async with dialog`` waits for the answer to its BYE/CANCEL (5)."""
        return self._waits.hangup_timeout

    @hangup_timeout.setter
    def hangup_timeout(self, seconds: float) -> None:
        self._waits.hangup_timeout = seconds

    def _set_core(self, core: CoreT) -> None:
        sink, driver = self._sink, self.driver
        if sink is None:
            driver.core = core
        elif hasattr(core, "send_response") and hasattr(core, "config"):
            # An Endpoint: record commands too, so that the transcript replays.
            recorder = Recorder(core, seed=self._trace_seed or 0, write=sink.write)
            driver.core = cast(CoreT, recorder)
        else:
            driver.core = core
            driver.trace = TraceWriter(sink, seed=self._trace_seed)

    # -- the loop's part ----------------------------------------------------------------

    def _init_io(self) -> None:
        """Set the loop's own attributes (called at the end of ``__init__``); set the
        driver's ``clock`` and ``wake_at`` here or in :meth:`_open_io`."""

    def _waiter(self) -> Waiter:
        """A one-shot result slot on the session's loop."""
        raise NotImplementedError

    async def _open_io(self) -> None:
        """Before binding (e.g. enter the task group)."""

    async def _listen_on(
        self, name: str, host: str, port: int, context: ssl.SSLContext | None
    ) -> Address:
        """Bind one listener and start serving it; returns the bound address."""
        raise NotImplementedError

    def _run_io(self) -> None:
        """Once the core exists: start the timer and the idle sweeper."""

    async def _close_io(self) -> None:
        """Close every socket, listener and connection; stop the session's tasks."""
        raise NotImplementedError

    def _send_udp(self, transmit: Transmit) -> None:
        raise NotImplementedError

    async def _addresses(self, host: str, family: str) -> list[str]:
        """The loop's getaddrinfo: the addresses of ``host`` (``family`` "A" or "AAAA")."""
        raise NotImplementedError

    def _dial(self, key: ConnKey) -> None:
        """Start a task that opens a connection for ``key`` with ``Router.connect``."""
        raise NotImplementedError

    def _pump_soon(self) -> None:
        """Pump once the running task yields to the loop (an event was handed out: the
        application may issue commands on the core's views, which take no pump)."""

    async def _open_connection(self, dial: Dial) -> ConnT:
        """Open (and attach) a connection ready for SIP; raise OSError/SSLError if not."""
        raise NotImplementedError

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> Self:
        """Bind every listener, make the core if a factory was given, start pumping."""
        try:
            await self._open_io()
            for spec in self._listen:
                await self._bind(spec)
        except BaseException:
            await self.aclose()
            raise
        if self._advertise is not None:
            self.advertised = self._advertise
        elif self.addresses:
            host, port = next(iter(self.addresses.values()))
            self.advertised = ("127.0.0.1" if host in ("0.0.0.0", "::") else host, port)
        if self._factory is not None:
            self._set_core(self._factory(self.advertised))
        else:
            core = self.driver.core
            advertise = getattr(core, "advertise", None)
            if advertise is not None:
                advertise(*self.advertised)
            self._set_core(core)
        wanted, server = self._dns
        if wanted and self.resolver is None:
            self.resolver = Resolver(server=server, getaddrinfo=self._addresses, clock=self.now)
        if self.resolver is not None:
            self._router.server_names = self.resolver.server_names
        self._started = True
        self._run_io()
        self.pump()
        return self

    async def _bind(self, spec: Listen) -> None:
        name = spec.transport.upper()
        context = self._ssl_server if name in SECURE_TRANSPORTS else None
        if name in SECURE_TRANSPORTS and context is None:
            raise ValueError(f"listening on {name} needs ssl_server= (an SSLContext)")
        try:
            bound = await self._listen_on(name, spec.host, spec.port, context)
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot listen on {name} {spec.host}:{spec.port}: {exc.strerror}"
            ) from exc
        self.addresses.setdefault(name, bound)

    async def aclose(self) -> None:
        """Hang up every dialog (UserAgent cores), then close every socket and
        connection; pending requests fail with TransportError, and the waits for a state
        (``dialog.closed()``, ``established()``, ...) end: they return if the close
        brought that state, else raise TransportError ("session closed")."""
        driver, waits = self.driver, self._waits
        if driver.closed:
            return
        try:
            if self._started and not waits.closing:
                await self._end_dialogs()
        finally:  # (even when cancelled meanwhile: the sockets must not leak)
            waits.closing = True
            driver.close()
            try:
                await self._close_io()
            finally:
                driver.fail_waiters("session closed")
                waits.end()
                if self._sink is not None:
                    self._sink.close()
                self._wake_readers()

    #: The same as :meth:`aclose`.
    close = aclose

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- events -----------------------------------------------------------------------------

    def _dispatch(self, event: object) -> None:
        """The driver's ``deliver``: note what the handles need to know of ``event``, then
        hand it to ``on_event`` or to the queue of ``async for``."""
        # Runs for every event (six per call at a UAS): by exact type, the commonest
        # first, the dialog key built inline.
        cls = type(event)
        if type(event) is DialogStateChanged:
            dialog_id = event.dialog_id
            key = (dialog_id.call_id, dialog_id.local_tag)  # dialog_key()
            live = self._live.get(key)
            if live is not None:
                live.observe(event)
            elif event.state is DialogState.CONFIRMED and key in self._unwrapped:
                self._unwrapped_confirmed.add(key)  # (what AsyncDialog.observe keeps)
            waits = self._waits
            if waits.watchers:
                waits.wake(key, event)
        elif type(event) is DialogTerminated:
            dialog_id = event.dialog_id
            key = (dialog_id.call_id, dialog_id.local_tag)  # dialog_key()
            live = self._live.get(key)
            if live is not None:
                # (a UAC's other forks may end while its dialog lives on)
                if live.is_terminated:
                    del self._live[key]
            elif self._unwrapped.pop(key, None) is not None:
                self._unwrapped_confirmed.discard(key)
            waits = self._waits
            if waits.watchers:
                waits.wake(key, event)
        elif type(event) is IncomingCall:
            # Its AsyncDialog is made when wrap() first asks for it (see _unwrapped).
            key = dialog_key(event.dialog.id)
            if key not in self._live:
                self._unwrapped[key] = event
        elif cls is SubscriptionStateChanged or cls is NotifyReceived:
            assert isinstance(event, SubscriptionStateChanged | NotifyReceived)
            self._waits.wake(subscription_key(event.subscription), event)
        elif cls is RegistrationStateChanged:
            self._waits.wake(_REGISTRATIONS, event)
        on_event = self.on_event
        if on_event is not None:
            on_event(event)
        else:
            self._events.append(event)
            self._wake_readers()

    def _wake_readers(self) -> None:
        if self._readers:
            readers, self._readers = self._readers, []
            for reader in readers:
                reader.resolve(None)

    async def next_event(self) -> object:
        """The next event; raises EOFError once the session is closed (and drained).

        What the application did meanwhile with the core itself (a command on a core
        view such as ``event.dialog.ringing(now=session.now())``) goes out now, and
        whatever it does with an event handed out here goes out as soon as it awaits
        anything: the session pumps then, without waiting for the next input."""
        if self._started and not self.driver.closed:
            self.pump()
        while not self._events:
            if self.driver.closed:
                raise EOFError("session closed")
            reader = self._waiter()
            self._readers.append(reader)
            try:
                await reader.wait()
            finally:
                if reader in self._readers:
                    self._readers.remove(reader)
        self._pump_soon()
        return self._events.popleft()

    def __aiter__(self) -> AsyncIterator[object]:
        return self

    async def __anext__(self) -> object:
        try:
            return await self.next_event()
        except EOFError:
            raise StopAsyncIteration from None

    def waiter(self) -> Waiter:
        """A one-shot result slot on the session's loop, for code that waits beside the
        session without knowing its loop (:class:`~sipsans_session.shared.SharedDialogs`).
        The session must be started."""
        return self._waiter()

    @overload
    async def request(self, request: Request, /, *, target: Target) -> Response: ...

    @overload
    async def request(
        self, method: str, to: str | NameAddr | URI, /, **options: Unpack[Request_]
    ) -> Response: ...

    async def request(
        self,
        request: Request | str,
        to: str | NameAddr | URI | None = None,
        /,
        **options: Any,
    ) -> Response:
        """Send a request outside any dialog and return its final response.

        The form depends on the core. An Endpoint sends a request the application built:
        ``await session.request(request, target=Target("UDP", host, port))``. A
        UserAgent builds it (its identity as From, fresh tags, Call-ID and CSeq, our
        Contact on OPTIONS, the answer to a 401/407 challenge):
        ``await session.request("OPTIONS", "sip:bob@example.com", body=..., headers=...)``
        is :meth:`send` (the keywords of ``ua.request``). Each form on the other core
        raises TypeError, saying which to use.

        Raises :class:`RequestTimeout` (Timer F) or :class:`TransportError`.
        """
        core: Any = self.core
        if isinstance(request, Request):
            if not hasattr(core, "send_request") or to is not None:
                raise TypeError(
                    "a UserAgent builds its requests outside dialogs: "
                    "session.request(method, to, body=..., headers=..., target=...)"
                )
            sent: Response = await self._waits.response(core.send_request, request, **options)
            return sent
        if not hasattr(core, "invite"):
            raise TypeError(
                "an Endpoint sends requests the application built: "
                "session.request(sipsans.make_request(...), target=sipsans.Target(...))"
            )
        if to is None:
            raise TypeError("session.request(method, to, ...) needs the To address")
        return await self.send(request, to, **options)

    async def options(self, to: str | NameAddr | URI, **options: Unpack[Request_]) -> Response:
        """OPTIONS outside any dialog (RFC 3261 §11: is the peer there, what does it
        support); a UserAgent core (:meth:`send`). Returns the final response."""
        return await self.send("OPTIONS", to, **options)

    async def message(self, to: str | NameAddr | URI, **options: Unpack[Request_]) -> Response:
        """A MESSAGE outside any dialog (RFC 3428; ``content_type`` defaults to
        text/plain); a UserAgent core (:meth:`send`). Returns the final response."""
        return await self.send("MESSAGE", to, **options)

    async def connect(self, transport: str, host: str, port: int) -> Address:
        """Open a ``transport`` connection to ``host:port`` now (or take the one open)
        and return its local address: the connection later requests to that peer reuse.
        A client that cannot listen on the transport (TLS without a certificate of its
        own) advertises this address, which a peer reaches back over the same
        connection. Raises :class:`TransportError` (refused, TLS verification, ...)."""
        conn = await self._router.connection_to((transport.upper(), (host, port)))
        return conn.local

    # -- locating servers (RFC 3263) ---------------------------------------------------------

    async def locate(self, uri: URI | str) -> list[Target]:
        """Where a request for ``uri`` (a Request-URI, or the first Route) goes, in RFC 3263
        order: the :attr:`resolver`'s targets, or without one the URI's own host, port and
        ``transport=``. Raises :class:`sipsans.locate.LocateError` when DNS gives none
        (``NoTargetsError``: its ``problems`` say why)."""
        parsed = parse_uri(uri) if isinstance(uri, str) else uri
        if self.resolver is None:
            return [target_for(parsed)]
        return await self.resolver.targets(parsed)

    async def _located(self, hop: Any, options: dict[str, Any]) -> None:
        """Add ``targets=`` to a command's ``options`` when the session locates servers
        and the caller named no target."""
        if self.resolver is None or options.get("target") or options.get("targets"):
            return
        routes = [v for k, v in options.get("headers", ()) if k.lower() == "route"]
        uri = parse_name_addr(routes[0], header="Route").uri if routes else _uri_of(hop)
        if isinstance(uri, SipURI):
            options["targets"] = await self.locate(uri.without_headers())

    async def send(
        self, method: str, to: str | NameAddr | URI, **options: Unpack[Request_]
    ) -> Response:
        """Send ``method`` outside any dialog through the UserAgent (``ua.request``:
        OPTIONS, MESSAGE, ...; options ``from_``, ``body``, ``content_type``,
        ``headers``, ``target``, ``targets``) and return its final response (401/407
        answered on the way, failed over between the located targets). Raises
        :class:`RequestTimeout` or :class:`TransportError` when none comes."""
        ua = self._ua()
        kw = dict(options)
        await self._located(to, kw)
        return await self._waits.response(ua.request, method, to, **kw)

    # -- UserAgent cores: calls, subscriptions, registrations ---------------------------------

    def _ua(self) -> UserAgent:
        if not hasattr(self.core, "invite"):
            raise TypeError("this needs a sipsans.UserAgent core, not an Endpoint")
        return cast(UserAgent, self.core)

    @overload
    def wrap(self, item: View | DialogId, /) -> AsyncDialog: ...

    @overload
    def wrap(self, item: SubView, /) -> AsyncSubscription: ...

    def wrap(self, item: View | DialogId | SubView, /) -> AsyncDialog | AsyncSubscription:
        """The :class:`AsyncDialog` of a core view or dialog id (e.g. ``event.dialog`` of an
        ``IncomingCall``, ``event.dialog_id`` of an ``InDialogRequest`` or a
        ``ReferReceived``); the same object for the same dialog while it lives. For a
        subscription (``IncomingSubscription.subscription``, ``event.subscription`` of a
        ``NotifyReceived``), its :class:`AsyncSubscription`."""
        if isinstance(item, ClientSubscription | ServerSubscription):
            return AsyncSubscription(self.driver, self._waits, item)
        view: View = self._ua().dialog(item) if isinstance(item, DialogId) else item
        key = dialog_key(view.id)
        live = self._live.get(key)
        if live is not None:
            return live
        call = self._unwrapped.pop(key, None)
        if call is not None:
            # An incoming call, followed since its IncomingCall: its AsyncDialog is
            # what tracking it from the start would have made (and is tracked until its
            # DialogTerminated, even if already terminated).
            live = self._live[key] = AsyncDialog(
                self.driver, self._waits, call.dialog, request=call.request
            )
            if key in self._unwrapped_confirmed:
                self._unwrapped_confirmed.discard(key)
                live.was_confirmed = True
            return live
        live = AsyncDialog(self.driver, self._waits, view)
        if not live.is_terminated:
            self._live[key] = live
        return live

    async def invite(
        self,
        to: Any,
        *,
        wait: bool = True,
        timeout: float | None = None,
        **options: Any,
    ) -> AsyncDialog:
        """Call ``to`` (``ua.invite`` options: ``from_``, ``body``, ``content_type``,
        ``headers``, ``credentials``, ``target``) and return the dialog once it is
        confirmed (the 2xx is ACKed; ``dialog.response`` is that 2xx).

        Raises :class:`CallFailed` (with ``reason``/``status``/``response``) if the call
        ends first. If the waiting task is cancelled (or ``timeout`` passes:
        TimeoutError), the call is hung up: CANCEL while ringing, BYE if it was answered
        meanwhile. With ``wait=False`` the dialog is returned at once (see
        ``dialog.established()``).
        """
        await self._located(to, options)
        view = cast(Any, self.core).invite(to, now=self.now(), **options)
        dialog = AsyncDialog(self.driver, self._waits, view)
        self._live[dialog_key(view.id)] = dialog
        self.pump()
        if not wait:
            return dialog
        try:
            await dialog.established(timeout)
        except CallFailed:
            raise
        except BaseException:
            # Cancelled or timed out: CANCEL (early) or BYE (answered meanwhile).
            if not dialog.is_terminated and not self._waits.closing:
                self.command(view.hangup)
            raise
        return dialog

    async def subscribe(
        self,
        to: str | NameAddr | URI,
        event: str,
        *,
        wait: bool = True,
        timeout: float | None = None,
        **options: Unpack[SubscribeOptions],
    ) -> AsyncSubscription:
        """Subscribe to ``event`` of ``to`` (``ua.subscribe`` options: ``expires``,
        ``accept``, ``headers``, ``body``, ``content_type``, ``from_``, ``target``) and
        return the subscription once the first NOTIFY arrived (RFC 6665 §4.1.2.4:
        ``sub.last_notify`` is it; its state also comes as ``NotifyReceived``).

        Raises :class:`SubscriptionFailed` if it ends without a NOTIFY (rejected, e.g.
        489 Bad Event; timed out). If the waiting task is cancelled (or ``timeout``
        passes: TimeoutError), it is un-subscribed. With ``wait=False`` it is returned at
        once (see ``sub.established()``). The UA refreshes it until ``unsubscribe()``.
        """
        await self._located(to, cast(dict[str, Any], options))
        view: ClientSubscription = self.command(self._ua().subscribe, to, event, **options)
        sub = AsyncSubscription(self.driver, self._waits, view)
        if not wait:
            return sub
        try:
            await sub.established(timeout)
        except SubscriptionFailed:
            raise
        except BaseException:
            # Cancelled or timed out: Expires: 0, sent once a dialog exists (§4.1.2.3).
            if not sub.is_terminated and not self._waits.closing:
                self.command(view.unsubscribe)
            raise
        return sub

    def subscriptions(self) -> list[AsyncSubscription]:
        """Every live subscription of the UA, both roles (``ua.subscriptions``)."""
        return [
            AsyncSubscription(self.driver, self._waits, view) for view in self._ua().subscriptions
        ]

    async def register(
        self,
        registrar: str | SipURI | None = None,
        *,
        wait: bool = True,
        timeout: float | None = None,
        **options: Unpack[RegisterOptions],
    ) -> RegistrationHandle:
        """Register (``ua.register`` options: ``aor``, ``contacts``, ``expires``,
        ``credentials``, ``headers``, ``target``, ...) and return the core's
        ``RegistrationHandle`` once REGISTERED (challenges answered on the way). The UA
        keeps refreshing it until :meth:`unregister`.

        Raises :class:`RegistrationFailed` (``status``, ``reason``) if it ends in FAILED.
        If the waiting task is cancelled (or ``timeout`` passes: TimeoutError), the
        registration is stopped. With ``wait=False`` the handle is returned at once
        (progress comes as ``RegistrationStateChanged``).
        """
        ua = self._ua()
        if self.resolver is not None:
            aor = options.get("aor") or ua.identity.uri
            aor_uri = parse_uri(aor) if isinstance(aor, str) else aor
            hop = registrar
            if hop is None and isinstance(aor_uri, SipURI):  # §10.2: the AOR's domain
                hop = SipURI(aor_uri.host, scheme=aor_uri.scheme, port=aor_uri.port)
            await self._located(hop, cast(dict[str, Any], options))
        handle: RegistrationHandle = self.command(ua.register, registrar, **options)
        if not wait:
            return handle
        last: list[RegistrationStateChanged] = []  # the change that ended the wait

        def done(event: object) -> bool:
            if isinstance(event, RegistrationStateChanged) and event.aor == handle.aor:
                last[:] = [event]
            return handle.state is RegistrationState.REGISTERED or handle.state in _IDLE

        try:
            await self._waits.until(_REGISTRATIONS, done, timeout)
        except BaseException:
            if not self._waits.closing:
                self.command(handle.stop)
            raise
        if handle.state is not RegistrationState.REGISTERED:
            raise RegistrationFailed(handle, last[0] if last else None)
        return handle

    async def unregister(
        self,
        handle: RegistrationHandle | None = None,
        *,
        wildcard: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Remove the bindings of ``handle``, or of every registration (``ua.unregister``),
        and return once each is UNREGISTERED (or FAILED: the registrar did not answer,
        the binding is left to expire). TimeoutError after ``timeout`` seconds."""
        ua = self._ua()
        handles = [handle] if handle is not None else ua.registrations
        self.command(ua.unregister, handle, wildcard=wildcard)
        await self._waits.until(
            _REGISTRATIONS, lambda _: all(h.state in _IDLE for h in handles), timeout
        )

    def respond(self, txn: ServerTxn, status: int, **answer: Unpack[Answer]) -> Sent[None]:
        """Answer an InDialogRequest / MessageReceived / RequestReceived (``ua.respond``);
        sent at once, awaiting the result is optional (:mod:`~sipsans_session.sent`)."""
        self.command(cast(Any, self.core).respond, txn, status, **answer)
        return Sent()

    def dialogs(self) -> list[AsyncDialog]:
        """The dialogs not yet terminated that this session knows of."""
        for call in list(self._unwrapped.values()):
            self.wrap(call.dialog)
        return [d for d in self._live.values() if not d.is_terminated]

    async def _end_dialogs(self) -> None:
        """Hang up every live dialog, end every subscription (un-SUBSCRIBE ours,
        terminate those we serve) and remove every registration; wait (bounded by
        ``close_timeout`` in all) for the answers."""
        if not hasattr(self.core, "invite"):
            return
        ua, waits = self._ua(), self._waits
        waiters: list[tuple[ClientTxn, Waiter]] = []
        for dialog in self.dialogs():
            try:
                txn = self.command(dialog.view.hangup)
            except Exception:
                continue
            if isinstance(txn, ClientTxn):
                waiters.append((txn, waits.watch(txn)))
        ours: list[ClientSubscription] = []
        # A REFER's subscription outlives the BYE of its call (a separate dialog usage,
        # RFC 5057 §5): it is ended here too.
        for sub in ua.subscriptions:
            try:
                if isinstance(sub, ClientSubscription):
                    self.command(sub.unsubscribe)
                    ours.append(sub)
                else:
                    txn = self.command(sub.terminate)
                    waiters.append((txn, waits.watch(txn)))
            except LocalProtocolError:
                continue  # e.g. not accepted yet: the UA answers it 480 in time
        registrations = ua.registrations
        if registrations:
            self.command(ua.unregister)
        waits.closing = True
        deadline = self.now() + self.close_timeout
        for txn, waiter in waiters:
            await waits.settle(txn, waiter, deadline - self.now())
        try:
            for sub in ours:
                await AsyncSubscription(self.driver, waits, sub).closed(
                    max(0.0, deadline - self.now())
                )
            await waits.until(
                _REGISTRATIONS,
                lambda _: all(h.state in _IDLE for h in registrations),
                max(0.0, deadline - self.now()),
            )
        except TimeoutError:
            pass  # the far end is silent: it forgets us at expiry
