"""The client subcommands (``call``, ``options``, ``message``, ``subscribe``): identity
and credentials, progress and the live ladder, transfer, TLS and WebSocket, and the
documented exit statuses (issue: From not settable, no credential flags, a TLS failure
shown as 503, 32 s of silence for an unreachable peer, exit codes unlike the docs)."""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cliharness import Command, Output, Peer, free_port, uas

import sipsans
from sipsans.auth import DigestServer
from sipsans_asyncio import cli
from sipsans_asyncio.cli.common import CommandError, resolve_listen

SDP = (
    b"v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    rc = cli.main([*argv, "--listen", "127.0.0.1:0"])
    return rc, capsys.readouterr().out


# -- identity and credentials -------------------------------------------------------------


class Authenticating:
    """A peer that challenges every INVITE with 407 (RFC 3261 §22.3) and, like Kamailio's
    ``auth_check``, refuses 403 a caller whose From user is not the one authenticated."""

    def __init__(self) -> None:
        self.digest = DigestServer(os.urandom(32), "127.0.0.1", proxy=True, algorithms=("MD5",))

    def __call__(self, session: Any, event: object) -> None:
        if not isinstance(event, sipsans.IncomingCall):
            return
        request, dialog = event.request, event.dialog
        now = session.now()
        verdict = self.digest.verify(request, now=now, password=lambda user, realm: "s3cret")
        if not verdict.ok:
            challenge = self.digest.challenge_response(request, now=now)
            headers = [(n, v) for n, v in challenge.headers if n == "Proxy-Authenticate"]
            session.command(dialog.reject, 407, headers=headers)
        elif verdict.username != getattr(request.from_.uri, "user", None):
            session.command(dialog.reject, 403, reason="Auth User Mismatch")
        else:
            session.command(dialog.accept, body=SDP, content_type="application/sdp")


def test_call_authenticates_and_sets_its_from(capsys: pytest.CaptureFixture[str]) -> None:
    peer = Peer(Authenticating())
    try:
        uri = f"sip:bob@127.0.0.1:{peer.port}"
        creds = ["--user", "alice", "--password", "s3cret", "--duration", "0.2"]
        rc, out = _run(capsys, "call", uri, *creds)
        assert rc == 1, out
        assert "407 Proxy Authentication Required" in out and "answering as alice" in out
        assert "call failed: 403 Auth User Mismatch" in out and "--from" in out
        rc, out = _run(capsys, "call", uri, *creds, "--from", "sip:alice@127.0.0.1")
        assert rc == 0, out
        assert "answered after" in out and "PCMU/8000" in out
        invites = [r for r in peer.requests if r.method == "INVITE"]
        assert str(invites[-1].from_.uri) == "sip:alice@127.0.0.1"
        assert "Proxy-Authorization" in bytes(invites[-1]).decode()
    finally:
        peer.stop()


class Challenging:
    """Answers OPTIONS, MESSAGE and SUBSCRIBE (presence) 401 until they authenticate."""

    def __init__(self) -> None:
        self.digest = DigestServer(os.urandom(32), "127.0.0.1", algorithms=("MD5",))

    def _ok(self, session: Any, request: sipsans.Request) -> bool:
        return self.digest.verify(request, now=session.now(), password=lambda u, r: "pw").ok

    def _challenge(self, session: Any, request: sipsans.Request) -> list[tuple[str, str]]:
        challenge = self.digest.challenge_response(request, now=session.now())
        return [(n, v) for n, v in challenge.headers if n == "WWW-Authenticate"]

    def __call__(self, session: Any, event: object) -> None:
        if isinstance(event, sipsans.RequestReceived | sipsans.MessageReceived):
            request = event.request
            if event.txn is None:
                return
            if self._ok(session, request):
                session.command(session.core.respond, event.txn, 200)
            else:
                headers = self._challenge(session, request)
                session.command(session.core.respond, event.txn, 401, headers=headers)
        elif isinstance(event, sipsans.IncomingSubscription):
            sub = event.subscription
            if self._ok(session, event.request):
                session.command(sub.accept, body=b"open", content_type="text/plain")
            else:
                session.command(sub.reject, 401, headers=self._challenge(session, event.request))


def test_every_client_subcommand_answers_challenges(capsys: pytest.CaptureFixture[str]) -> None:
    peer = Peer(Challenging(), config=sipsans.UAConfig(event_packages=("presence",)))
    try:
        uri = f"sip:bob@127.0.0.1:{peer.port}"
        creds = ("--user", "alice", "--password", "pw")
        assert _run(capsys, "options", uri, *creds)[0] == 0
        assert _run(capsys, "message", uri, "hi", *creds)[0] == 0
        rc, out = _run(capsys, "subscribe", uri, "presence", "--duration", "0", *creds)
        assert rc == 0, out
        assert "NOTIFY active" in out
        rc, out = _run(capsys, "options", uri)
        assert rc == 1 and out.startswith("401 Unauthorized")
        authorized = [r.method for r in peer.requests if "authorization" in r.headers]
        assert {"OPTIONS", "MESSAGE", "SUBSCRIBE"} <= set(authorized)
    finally:
        peer.stop()


# -- feedback ------------------------------------------------------------------------------


def _ringing_then_answer(session: Any, event: object) -> None:
    if isinstance(event, sipsans.IncomingCall):
        session.command(event.dialog.ringing)
        session.command(event.dialog.progress, 183, body=SDP, content_type="application/sdp")
        loop = session._loop  # (the peer's own loop: answer 0.2 s later)
        loop.call_later(
            0.2,
            lambda: session.command(event.dialog.accept, body=SDP, content_type="application/sdp"),
        )


def test_call_shows_each_response_then_how_long_and_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    peer = Peer(_ringing_then_answer)
    try:
        uri = f"sip:bob@127.0.0.1:{peer.port}"
        rc, out = _run(capsys, "call", uri, "--duration", "0.3")
        assert rc == 0, out
        progress = [line.split(" (")[0].strip() for line in out.splitlines() if line[:3] == "  1"]
        assert progress == ["100 Trying", "180 Ringing", "183 Session Progress"]
        assert "  200 OK (" in out
        assert "answered after 0.2" in out and "PCMU/8000 sendrecv, RTP to 127.0.0.1:40002" in out
        assert "call ended after 0.3 s: hung up (UAC_BYE, BYE answered 200 OK)" in out
        rc, out = _run(capsys, "call", uri, "--duration", "0", "-v")
        assert rc == 0
        ladder = [line for line in out.splitlines() if "|" in line]
        labels = [line.split("|")[1].strip("-<> ") for line in ladder]
        assert labels[:5] == [
            "INVITE",
            "100 Trying",
            "180 Ringing",
            "183 Session Progress",
            "200 OK",
        ]
        assert "CSeq " in ladder[0] and "SDP" in ladder[0] and ">|" in ladder[0]
        assert "|<" in ladder[1] and "SDP" in ladder[3]
    finally:
        peer.stop()


# -- exit statuses -------------------------------------------------------------------------


def _busy(session: Any, event: object) -> None:
    if isinstance(event, sipsans.MessageReceived):
        session.command(session.core.respond, event.txn, 486)
    elif isinstance(event, sipsans.IncomingCall):
        session.command(event.dialog.reject, 486)


def test_exit_statuses_are_the_documented_ones(capsys: pytest.CaptureFixture[str]) -> None:
    """0 done, 1 refused, 2 usage error, 3 no answer (docs/cli.md)."""
    peer = Peer(_busy)
    try:
        uri = f"sip:bob@127.0.0.1:{peer.port}"
        assert _run(capsys, "options", uri)[0] == 0
        rc, out = _run(capsys, "message", uri, "hi")
        assert (rc, out) == (1, "486 Busy Here\n")
        rc, out = _run(capsys, "call", uri)
        assert rc == 1 and "call failed: 486 Busy Here (UAS_BUSY)" in out
    finally:
        peer.stop()
    nobody = f"sip:bob@127.0.0.1:{free_port()}"
    start = time.monotonic()
    rc, out = _run(capsys, "call", nobody, "--timeout", "20")
    # ICMP port unreachable fails the INVITE at once, not after Timer B's 32 s.
    assert rc == 3 and time.monotonic() - start < 3
    assert "connection refused" in out and "ICMP" in out
    rc, out = _run(capsys, "options", nobody, "--timeout", "20")
    assert rc == 3 and "connection refused" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["call", "sip:x@127.0.0.1", "--duration", "-1"], "must be zero or more seconds"),
        (["call", "sip:x@127.0.0.1", "--timeout", "nan"], "must be zero or more seconds"),
        (["uas", "--calls", "-2"], "must be zero or more"),
        (["uas", "--ring", "-0.5"], "must be zero or more seconds"),
        (["register", "sip:a@127.0.0.1", "--expires", "-5"], "must be zero or more"),
        (["call", "sip:x@127.0.0.1", "--after", "2"], "--after goes with --transfer-to"),
        (["options", "sip:x@127.0.0.1", "--listen", "no-such-host.invalid"], "cannot resolve"),
        (["call", "sip:x@127.0.0.1", "--codecs", "NOPE"], "NOPE"),
        (["uas", "--events", "dialog"], "no state to notify for dialog"),
        (["call", "sip:x@127.0.0.1", "--from", "not a uri"], "--from"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv if "--listen" in argv else [*argv, "--listen", "127.0.0.1:0"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_listen_host_is_resolved_or_refused() -> None:
    assert resolve_listen("localhost", default_port=5060) == ("127.0.0.1", 5060)
    assert resolve_listen("localhost:5070", default_port=5060) == ("127.0.0.1", 5070)
    assert resolve_listen("[::1]", default_port=0) == ("::1", 0)
    with pytest.raises(CommandError, match="cannot resolve"):
        resolve_listen("no-such-host.invalid", default_port=5060)
    with pytest.raises(CommandError, match="bad address"):
        resolve_listen("127.0.0.1:99999", default_port=5060)


def test_uas_listen_host_alone_keeps_its_port(capsys: pytest.CaptureFixture[str]) -> None:
    """``--listen localhost`` binds localhost's address on the default port 5060 (or
    fails to, loudly), never a random port."""
    output = Output(capsys)
    command = Command(["uas", "--listen", "localhost", "--calls", "1"])
    deadline = time.monotonic() + 10
    while command.is_alive() and "listening" not in output.read():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    command.join(0.5)  # (it may have just failed: read what it printed)
    output.read()
    if command.is_alive():
        assert "listening on UDP 127.0.0.1:5060" in output.text
        cli_done = Command(
            ["call", "sip:x@127.0.0.1:5060", "--duration", "0", "--listen", "127.0.0.1:0"]
        )
        assert cli_done.result() == 0
        assert command.result() == 0
    else:  # port 5060 is taken on this machine: a clear error, not another port
        assert command.rc == 2
        assert "cannot listen on UDP 127.0.0.1:5060" in output.err


# -- transfer ------------------------------------------------------------------------------


def test_call_transfers_to_another_uas(capsys: pytest.CaptureFixture[str]) -> None:
    """A blind transfer (RFC 3515): REFER, 202, NOTIFYs 100 then 200; bob's uas calls
    carol's (who hangs up after 0.3 s), and both exit after their calls."""
    output = Output(capsys)
    first, second = free_port(), free_port()
    bob = uas(first, "--calls", "2")
    carol = uas(second, "--calls", "1", "--duration", "0.3")
    output.wait_for(f"listening on UDP 127.0.0.1:{second}")
    output.wait_for(f"listening on UDP 127.0.0.1:{first}")
    argv = ["call", f"sip:bob@127.0.0.1:{first}", "--transfer-to", f"sip:carol@127.0.0.1:{second}"]
    assert Command([*argv, "--after", "0.2", "--listen", "127.0.0.1:0"]).result() == 0
    assert bob.result() == 0 and carol.result() == 0
    text = output.read()
    assert "REFER answered 202 Accepted" in text
    assert "transfer: 100 Trying" in text and "transfer: 200 OK" in text
    assert f"transferred to sip:carol@127.0.0.1:{second}" in text
    assert f"call 1 transferred to sip:carol@127.0.0.1:{second}" in text
    # bob's line for the call it placed, carol's for the call it took and hung up
    assert f"call 2 to sip:carol@127.0.0.1:{second}: PCMU/8000, 0.3 s, ended UAS_BYE" in text
    assert "call 1 from sip:sipsans@127.0.0.1: PCMU/8000, 0.3 s, ended UAS_BYE" in text


def test_refused_transfer_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    output = Output(capsys)
    port = free_port()
    bob = uas(port, "--calls", "1", "--refuse-transfers")
    output.wait_for("listening")
    argv = ["call", f"sip:bob@127.0.0.1:{port}", "--transfer-to", "sip:carol@127.0.0.1"]
    assert Command([*argv, "--after", "0", "--listen", "127.0.0.1:0"]).result() == 1
    assert bob.result() == 0
    text = output.read()
    assert "REFER answered 403 Transfers refused" in text and "the transfer failed" in text


# -- TLS and WebSocket -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    trustme = pytest.importorskip("trustme")
    folder = tmp_path_factory.mktemp("certs")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = (folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    ca.cert_pem.write_to_path(paths[0])
    cert.cert_chain_pems[0].write_to_path(paths[1])
    cert.private_key_pem.write_to_path(paths[2])
    return paths


def _server_context(certificates: tuple[Path, Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates[1], certificates[2])
    return context


def _answer_then_bye(session: Any, event: object) -> None:
    if isinstance(event, sipsans.IncomingCall):
        dialog = event.dialog
        session.command(dialog.accept, body=SDP, content_type="application/sdp")
        session._loop.call_later(0.3, lambda: session.command(dialog.bye))


def test_a_tls_client_hears_the_far_end_hang_up(
    capsys: pytest.CaptureFixture[str], certificates: tuple[Path, Path, Path]
) -> None:
    """A TLS client without a certificate of its own advertises where its connection
    ends (not a TCP port that cannot do TLS), so the peer's BYE reaches it; a sips:
    Request-URI gets a sips: Contact (RFC 3261 §8.1.1.8)."""
    peer = Peer(_answer_then_bye, transport="TLS", ssl_server=_server_context(certificates))
    try:
        uri = f"sips:bob@127.0.0.1:{peer.port}"
        rc, out = _run(capsys, "call", uri, "--cafile", str(certificates[0]), "--duration", "5")
        assert rc == 0, out
        assert "the far end hung up (UAS_BYE)" in out
        invite = next(r for r in peer.requests if r.method == "INVITE")
        contact = invite.contacts[0].uri
        assert isinstance(contact, sipsans.SipURI) and contact.scheme == "sips"
        assert contact.port == invite.vias[0].port != 5061  # the connection's own end
        assert any(r.method == "BYE" for r in peer.requests) is False  # (the peer sent it)
    finally:
        peer.stop()


def test_a_tls_verification_failure_is_named(
    capsys: pytest.CaptureFixture[str], certificates: tuple[Path, Path, Path]
) -> None:
    peer = Peer(_answer_then_bye, transport="TLS", ssl_server=_server_context(certificates))
    try:
        rc, out = _run(capsys, "call", f"sips:bob@127.0.0.1:{peer.port}", "--timeout", "5")
        assert rc == 3
        assert "TLS certificate verification failed" in out and "503" not in out
        rc, out = _run(capsys, "options", f"sip:bob@127.0.0.1:{peer.port};transport=tls")
        assert rc == 3 and "TLS certificate verification failed" in out
    finally:
        peer.stop()


def test_a_websocket_client_closes_with_a_close_frame(capsys: pytest.CaptureFixture[str]) -> None:
    """RFC 6455 §7.1.2: closing the connection, the client sends a Close frame first."""
    wsproto = pytest.importorskip("wsproto")
    from wsproto.events import AcceptConnection, CloseConnection, Request

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    seen: list[object] = []

    def serve() -> None:
        conn, _ = server.accept()
        ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        conn.settimeout(10)
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                ws.receive_data(data)
                for event in ws.events():
                    seen.append(event)
                    if isinstance(event, Request):
                        conn.sendall(ws.send(AcceptConnection(subprotocol="sip")))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    rc, out = _run(capsys, "options", f"sip:bob@127.0.0.1:{port};transport=ws", "--timeout", "0.5")
    thread.join(10)
    server.close()
    assert rc == 3, out
    assert any(isinstance(e, CloseConnection) and e.code == 1000 for e in seen), seen
