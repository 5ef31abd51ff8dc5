"""The session and core of a network subcommand, and its transcript.

:class:`Stack` makes the core once the session has bound its sockets (the session calls
:meth:`Stack.user_agent` or :meth:`Stack.endpoint` with the address it advertises)::

    Endpoint ─ Recorder (--trace) ─ Wire (watched: -v, call progress) ─ UserAgent

- Without ``--trace`` every identifier (tags, branches, Call-IDs) comes from a
  :class:`~sipsans_session.BufferedSystemRandom` (RFC 3261 §19.3: unguessable).
- With ``--trace FILE`` the command draws one seed from the OS and uses
  ``random.Random(seed)`` instead: the Endpoint's own generator (its branches), and one
  derived from it for the UserAgent. The Endpoint is wrapped in
  :class:`sipsans.tools.trace.Recorder`, which writes the seed, the Endpoint's
  configuration, every input, every command and every transmit to FILE; everything the
  UserAgent does reaches the wire through those commands, so ``sipsans replay FILE
  --check`` replays the file on a bare Endpoint byte for byte, whatever the subcommand
  and the transport. (A transcript holds the seed and every message: keep it as private
  as the calls it records.)

:func:`make_session` binds what ``--listen`` and ``--transport`` ask for.
"""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TextIO, cast

import sipsans
from sipsans.tools.trace import Recorder
from sipsans_session import BufferedSystemRandom, Listen
from sipsans_session.resolve import Resolver
from sipsans_session.tls import client_context, server_context

from ..session import Session
from .common import CommandError, need_extra, parse_hostport, resolve_listen
from .feedback import Watcher
from .wire import Seen, Wire

__all__ = ["Stack", "default_identity", "make_session"]

Address = tuple[str, int]


def default_identity(host: str) -> str:
    """``sip:sipsans@HOST`` (IPv6 bracketed)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"sip:sipsans@{host}"


class Stack:
    """How one subcommand's core is made, and its transcript (see the module docstring).

    ``identity`` is the default From (``--from`` wins); ``config`` the UserAgent's
    settings; ``watch`` sees every message (a :class:`~.wire.Wire` is put under the
    UserAgent), ``on_transport_error`` every transport error's token. Use it as a
    context manager around the session: the transcript is opened on entry (an unwritable
    file is a usage error before anything is sent) and closed on exit, after the
    session's own close has hung up and unregistered.
    """

    @classmethod
    def watched(cls, args: argparse.Namespace, **options: Any) -> tuple[Stack, Watcher]:
        """A stack whose messages a :class:`~.feedback.Watcher` sees (``-v`` prints them
        as a live ladder), and that watcher."""
        watcher = Watcher(verbose=getattr(args, "verbose", False))
        stack = cls(
            args,
            watch=watcher.on_message,
            on_transport_error=watcher.on_transport_error,
            **options,
        )
        return stack, watcher

    def __init__(
        self,
        args: argparse.Namespace,
        *,
        identity: str | None = None,
        config: sipsans.UAConfig | None = None,
        endpoint_config: dict[str, Any] | None = None,
        watch: Callable[[Seen], None] | None = None,
        on_transport_error: Callable[[int], None] | None = None,
    ) -> None:
        self._args = args
        self._identity = getattr(args, "from_uri", None) or identity
        self._config = config
        self._endpoint_config = endpoint_config or {}
        self._watch = watch
        self._on_transport_error = on_transport_error
        self.trace_path: str | None = getattr(args, "trace", None)
        #: The seed of this run's generators, drawn from the OS (with --trace only).
        self.seed: int | None = None
        self._file: TextIO | None = None
        #: The core made (once the session has called a factory).
        self.ua: sipsans.UserAgent | None = None

    # -- the transcript --------------------------------------------------------------------

    def __enter__(self) -> Self:
        if self.trace_path:
            try:
                self._file = Path(self.trace_path).open("w", encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"--trace {self.trace_path}: {exc.strerror or exc}") from None
            self.seed = int.from_bytes(os.urandom(8), "big")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, line: str) -> None:
        """The Recorder's writer. Once the transcript is closed (the session is, and
        sends nothing more), what the loop's last callbacks still report is dropped."""
        if self._file is not None:
            self._file.write(line)

    # -- the core ----------------------------------------------------------------------------

    def _rngs(self) -> tuple[random.Random, random.Random]:
        """The Endpoint's generator and the UserAgent's."""
        if self.seed is None:
            rng = BufferedSystemRandom()  # (RFC 3261 §19.3: cryptographic)
            return rng, rng
        # Two generators: a replay builds only the Endpoint, whose draws must not depend
        # on how many the UserAgent made in between.
        return random.Random(self.seed), random.Random(self.seed + 1)

    def endpoint(self, addr: Address, rng: random.Random | None = None) -> Any:
        """An Endpoint advertising ``addr``, wrapped as the module docstring says (the
        factory of a subcommand whose core is the Endpoint itself)."""
        endpoint_rng = rng if rng is not None else self._rngs()[0]
        config = sipsans.EndpointConfig(
            advertised_host=addr[0], advertised_port=addr[1], **self._endpoint_config
        )
        core: Any = sipsans.Endpoint(config, rng=endpoint_rng)
        if self._file is not None:
            assert self.seed is not None
            core = Recorder(core, seed=self.seed, write=self._write, keep=False)
        if self._watch is not None:
            core = Wire(core, self._watch, self._on_transport_error)
        return core

    def user_agent(self, addr: Address) -> sipsans.UserAgent:
        """The UserAgent on :meth:`endpoint` (the factory of most subcommands)."""
        endpoint_rng, ua_rng = self._rngs()
        args = self._args
        credentials = None
        if getattr(args, "user", None):
            credentials = sipsans.Credentials(username=args.user, password=args.password or "")
        try:
            self.ua = sipsans.UserAgent(
                cast(sipsans.Endpoint, self.endpoint(addr, endpoint_rng)),
                identity=self._identity or default_identity(addr[0]),
                credentials=credentials,
                config=self._config,
                rng=ua_rng,
            )
        except sipsans.RemoteProtocolError as exc:
            raise CommandError(f"bad --from {self._identity!r}: {exc}") from None
        return self.ua


def make_session(
    args: argparse.Namespace,
    core: Callable[[Address], Any],
    *,
    transport: str,
    server: bool,
    default_port: int = 0,
    resolver: Resolver | None = None,
) -> Session[Any]:
    """The session of a subcommand, bound to ``--listen`` (a HOST alone keeps
    ``default_port``), with its TLS contexts.

    A server listens on ``transport``. A client listens where a peer can reach it
    again over ``transport``: UDP on UDP, TCP on TCP, WS on WS; TLS and WSS on
    themselves with ``--cert``. Without one it cannot serve TLS: it listens on TCP only
    to have a port, and its caller advertises the local end of its connection instead
    (:func:`~.clients.advertise_connection`), which the peer's requests reuse.
    ``resolver`` is the one that located the targets (``--dns-server``).
    """
    name = transport.upper()
    if name in ("WS", "WSS"):
        need_extra("wsproto", "ws", f"--transport {transport.lower()}")
    host, port = resolve_listen(args.listen, default_port=default_port)
    ssl_server = None
    if name in ("TLS", "WSS") and (server or args.cert):
        if not args.cert:
            raise CommandError(f"--transport {transport} needs --cert (and --key) to listen")
        try:
            ssl_server = server_context(args.cert, args.key)
        except OSError as exc:
            raise CommandError(f"--cert {args.cert}: {exc.strerror or exc}") from None
    # (TLS or WSS without a certificate: a TCP listener, for a port to start from.)
    listen_as = "TCP" if name in ("TLS", "WSS") and ssl_server is None else name
    listen = [Listen(listen_as, host, port)]
    try:
        ssl_client = client_context(args.cafile, verify=not args.insecure)
    except OSError as exc:
        raise CommandError(f"--cafile {args.cafile}: {exc.strerror or exc}") from None
    advertise = parse_hostport(args.advertise, default_port=5060) if args.advertise else None
    session: Session[Any] = Session(
        core,
        listen=listen,
        advertise=advertise,
        ssl_server=ssl_server,
        ssl_client=ssl_client,
    )
    # (the resolver that located the targets: TLS peers are verified against the URI's
    # domain, RFC 5922)
    session.resolver = resolver
    return session
