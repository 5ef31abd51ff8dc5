"""Register with digest authentication (RFC 3261 §10.2, §22), then unregister.

A registrar runs in this same process: an Endpoint session whose event handler passes
each REGISTER to ``sipsans.Registrar`` (the RFC 3261 §10.3 rules, bindings in memory),
with ``sipsans.auth.DigestServer`` challenging every request. ``sipsans registrar
--user alice:wonderland`` serves the same from the command line. Alice's UserAgent
registers ``sip:alice@example.com``: a first try with a wrong password is refused, then
the right one is challenged (401), answered with a digest and bound (200). The binding
shows in the registrar's location service until Alice unregisters (Expires: 0).

Run it from the repository root:

    python examples/register.py
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Callable

import sipsans
from sipsans.auth import DigestServer
from sipsans_asyncio import Listen, RegistrationFailed, Session

Address = tuple[str, int]
AOR = "sip:alice@example.com"
USERS = {"alice": "wonderland"}  # the registrar's user database


def endpoint(address: Address) -> sipsans.Endpoint:
    host, port = address
    return sipsans.Endpoint(sipsans.EndpointConfig(advertised_host=host, advertised_port=port))


def alice_agent(address: Address) -> sipsans.UserAgent:
    host, port = address
    config = sipsans.EndpointConfig(advertised_host=host, advertised_port=port)
    # Her identity is the AOR; the Contact the UA registers is its own address.
    return sipsans.UserAgent(
        sipsans.Endpoint(config),
        identity=AOR,
        credentials=sipsans.Credentials("alice", "wonderland"),
    )


def registrar_handler(
    session: Session[sipsans.Endpoint], registrar: sipsans.Registrar
) -> Callable[[object], None]:
    """The registrar's application: called inside the session's pump for every event."""

    def on_event(event: object) -> None:
        if not isinstance(event, sipsans.RequestReceived) or event.txn is None:
            return
        request = event.request
        if request.method == "REGISTER":
            response = registrar.handle_register(request, now=session.now(), source=event.source)
        else:
            tag = secrets.token_hex(8)  # a To tag, as every final answer needs (§8.2.6.2)
            response = sipsans.make_response(
                request, 405, to_tag=tag, headers=[("Allow", "REGISTER")]
            )
        session.command(session.core.send_response, event.txn, response)
        print(f"registrar: {request.method} CSeq {request.cseq.seq} -> {response.status_code}")

    return on_event


async def main() -> int:
    udp = [Listen("udp", "127.0.0.1", 0)]
    registrar = sipsans.Registrar(
        domains=["example.com"],
        # The secret signs the nonces; it must be random and kept by the server.
        authenticator=DigestServer(secrets.token_bytes(32), "example.com"),
        password_lookup=lambda user, realm: USERS.get(user),
    )
    server = Session(endpoint, listen=udp)
    server.on_event = registrar_handler(server, registrar)
    async with server, Session(alice_agent, listen=udp) as alice:
        # The Request-URI is the AOR's domain (sip:example.com); there is no DNS here,
        # so say where the REGISTERs go.
        host, port = server.addresses["UDP"]
        where = sipsans.Target("UDP", host, port)

        try:
            wrong = sipsans.Credentials("alice", "not the password")
            await alice.register(target=where, credentials=wrong, expires=600, timeout=5)
            print("error: a wrong password was accepted")
            return 1
        except RegistrationFailed as exc:
            print(f"alice: with a wrong password: refused ({exc.reason})")

        handle = await alice.register(target=where, expires=600, timeout=5)
        granted = ", ".join(str(binding) for binding in handle.bindings)
        print(f"alice: registered for {handle.granted} s, the registrar lists {granted}")
        bound = [str(b.uri) for b in registrar.location.lookup(AOR, now=server.now())]
        print(f"registrar: {AOR} -> {bound}")

        await alice.unregister(handle, timeout=5)
        left = registrar.location.lookup(AOR, now=server.now())
        print(f"alice: {handle.state.name}; registrar bindings left: {left}")
        if handle.state is not sipsans.RegistrationState.UNREGISTERED or left:
            return 1
    print("ok: registered with digest and unregistered")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
