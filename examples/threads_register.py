"""Registration from plain threads (sipsans_anyio.blocking): REGISTER with digest
authentication, then unregister (RFC 3261 §10.2, §22).

A registrar runs in this process (an Endpoint session whose ``on_event``, called in its
loop's thread, hands each REGISTER to ``sipsans.Registrar`` with a ``DigestServer``).
Alice registers ``sip:alice@example.com`` from the main thread: challenged (401),
answered (200); then she unregisters. No ``async`` anywhere.

Run it from the repository root:

    python examples/threads_register.py
"""

from __future__ import annotations

import secrets
import sys
import threading

import sipsans
from sipsans.auth import DigestServer
from sipsans_anyio import Listen
from sipsans_anyio.blocking import BlockingSession

Address = tuple[str, int]
AOR = "sip:alice@example.com"
USERS = {"alice": "wonderland"}


_print_lock = threading.Lock()


def say(line: str) -> None:
    """Print a whole line at once: two threads' print() calls could interleave."""
    with _print_lock:
        print(line, flush=True)


def endpoint(address: Address) -> sipsans.Endpoint:
    host, port = address
    return sipsans.Endpoint(sipsans.EndpointConfig(advertised_host=host, advertised_port=port))


def alice_agent(address: Address) -> sipsans.UserAgent:
    host, port = address
    config = sipsans.EndpointConfig(advertised_host=host, advertised_port=port)
    credentials = sipsans.Credentials("alice", "wonderland")
    return sipsans.UserAgent(sipsans.Endpoint(config), identity=AOR, credentials=credentials)


def main() -> int:
    udp = [Listen("udp", "127.0.0.1", 0)]
    registrar = sipsans.Registrar(
        domains=["example.com"],
        authenticator=DigestServer(secrets.token_bytes(32), "example.com"),
        password_lookup=lambda user, realm: USERS.get(user),
    )

    def on_event(event: object) -> None:  # runs in the server's loop thread
        if isinstance(event, sipsans.RequestReceived) and event.txn is not None:
            session = server.session
            request = event.request
            response = registrar.handle_register(request, now=session.now(), source=event.source)
            session.command(session.core.send_response, event.txn, response)
            say(f"registrar: {request.method} CSeq {request.cseq.seq} -> {response.status_code}")

    server = BlockingSession[sipsans.Endpoint](endpoint, listen=udp, on_event=on_event)
    with server, BlockingSession[sipsans.UserAgent](alice_agent, listen=udp) as alice:
        where = sipsans.Target("UDP", *server.addresses["UDP"])  # no DNS for example.com
        handle = alice.register(target=where, expires=600, timeout=5)
        say(f"alice: registered for {handle.granted} s")
        now = server.portal.call(server.session.now)  # (the clock of the server's loop)
        bound = [str(b.uri) for b in registrar.location.lookup(AOR, now=now)]
        say(f"registrar: {AOR} -> {bound}")
        alice.unregister(handle, timeout=5)
        left = registrar.location.lookup(AOR, now=server.portal.call(server.session.now))
        say(f"alice: {handle.state.name}; bindings left: {left}")
    if handle.state is not sipsans.RegistrationState.UNREGISTERED or left or not bound:
        return 1
    say("ok: registered with digest and unregistered from threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
