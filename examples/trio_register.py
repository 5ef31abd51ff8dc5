"""The registration of register.py on trio: REGISTER with digest authentication, then
unregister (RFC 3261 §10.2, §22).

A registrar runs in this process (an Endpoint session handing each REGISTER to
``sipsans.Registrar`` with a ``DigestServer``); Alice's UserAgent registers
``sip:alice@example.com``, is challenged (401), answers with her credentials (200), and
unregisters. The same code runs on asyncio with ``backend="asyncio"``.

Run it from the repository root:

    python examples/trio_register.py
"""

from __future__ import annotations

import secrets
import sys

import anyio

import sipsans
from sipsans.auth import DigestServer
from sipsans_anyio import Listen, Session

Address = tuple[str, int]
AOR = "sip:alice@example.com"
USERS = {"alice": "wonderland"}


def endpoint(address: Address) -> sipsans.Endpoint:
    host, port = address
    return sipsans.Endpoint(sipsans.EndpointConfig(advertised_host=host, advertised_port=port))


def alice_agent(address: Address) -> sipsans.UserAgent:
    host, port = address
    config = sipsans.EndpointConfig(advertised_host=host, advertised_port=port)
    credentials = sipsans.Credentials("alice", "wonderland")
    return sipsans.UserAgent(sipsans.Endpoint(config), identity=AOR, credentials=credentials)


async def main() -> int:
    udp = [Listen("udp", "127.0.0.1", 0)]
    registrar = sipsans.Registrar(
        domains=["example.com"],
        authenticator=DigestServer(secrets.token_bytes(32), "example.com"),
        password_lookup=lambda user, realm: USERS.get(user),
    )
    server: Session[sipsans.Endpoint] = Session(endpoint, listen=udp)

    def on_event(event: object) -> None:  # the registrar, inside the session's pump
        if isinstance(event, sipsans.RequestReceived) and event.txn is not None:
            request = event.request
            response = registrar.handle_register(request, now=server.now(), source=event.source)
            server.command(server.core.send_response, event.txn, response)
            print(f"registrar: {request.method} CSeq {request.cseq.seq} -> {response.status_code}")

    server.on_event = on_event
    async with server, Session(alice_agent, listen=udp) as alice:
        where = sipsans.Target("UDP", *server.addresses["UDP"])  # no DNS for example.com
        handle = await alice.register(target=where, expires=600, timeout=5)
        print(f"alice: registered for {handle.granted} s")
        bound = [str(b.uri) for b in registrar.location.lookup(AOR, now=server.now())]
        print(f"registrar: {AOR} -> {bound}")
        await alice.unregister(handle, timeout=5)
        left = registrar.location.lookup(AOR, now=server.now())
        print(f"alice: {handle.state.name}; bindings left: {left}")
    if handle.state is not sipsans.RegistrationState.UNREGISTERED or left or not bound:
        return 1
    print("ok: registered with digest and unregistered on trio")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main, backend="trio"))
