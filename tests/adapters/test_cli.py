"""The ``sipsans`` command line (sipsans_asyncio.cli)."""

from __future__ import annotations

import asyncio
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import CORPUS

import sipsans
from sipsans_asyncio import Listen, Session, cli
from sipsans_asyncio.cli.demo import SAMPLE_INVITE


def test_sample_invite_is_a_valid_message() -> None:
    msg = sipsans.parse_message(SAMPLE_INVITE)
    assert isinstance(msg, sipsans.Request)
    assert msg.method == "INVITE"
    assert len(msg.body) == int(msg.headers.get("content-length", "-1"))
    assert bytes(msg) == SAMPLE_INVITE


def test_demo_makes_a_call_over_loopback_and_draws_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    start = time.monotonic()
    assert cli.main(["demo"]) == 0
    assert time.monotonic() - start < 3
    out = capsys.readouterr().out
    arrows = [line for line in out.splitlines() if "|" in line and ("-" in line)]
    labels = [
        ("->" if ">|" in line else "<-", label)
        for line in arrows
        for label in ("INVITE", "100 Trying", "180 Ringing", "200 OK", "ACK", "BYE")
        if label in line
    ]
    assert labels == [
        ("->", "INVITE"),
        ("<-", "100 Trying"),
        ("<-", "180 Ringing"),
        ("<-", "200 OK"),
        ("->", "ACK"),
        ("->", "BYE"),
        ("<-", "200 OK"),
    ]
    assert "SDP offer" in arrows[0] and "SDP answer" in arrows[3]
    assert "call ended: UAC_BYE (BYE answered 200)" in out


def test_demo_verbose_prints_the_messages(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "-v"]) == 0
    out = capsys.readouterr().out
    assert "  | INVITE sip:bob@127.0.0.1:" in out
    assert "  | m=audio 49170 RTP/AVP 0 8 101" in out


def test_demo_parse_prints_the_parsed_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--parse"]) == 0
    out = capsys.readouterr().out
    for expected in (
        "INVITE sip:bob@biloxi.example.com SIP/2.0",
        "transport=UDP host=proxy.atlanta.example.com port=5060 branch=z9hG4bK2d4790.1",
        'display name="Alice Liddell" uri=sip:alice@atlanta.example.com tag=9fxced76sl',
        "Call-ID       3848276298220188511@atlanta.example.com",
        "seq=1 method=INVITE",
        "Contact       sip:alice@192.0.2.101:5060;transport=udp",
        "228 bytes of application/sdp",
        "identical to the input",
        "| a=rtpmap:0 PCMU/8000",
    ):
        assert expected in out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "demo" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as excinfo:
        cli.main(["no-such-command"])
    assert excinfo.value.code == 2


def test_console_script_module_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sipsans_asyncio.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "call ended: UAC_BYE" in result.stdout


def test_call_exits_1_when_nobody_answers(capsys: pytest.CaptureFixture[str]) -> None:
    """A peer that only rings: --timeout passes, the call is CANCELled, exit status 1."""
    ready = threading.Event()
    stop = threading.Event()
    seen: list[str] = []
    where: list[int] = []

    async def ringer() -> None:
        def make(addr: tuple[str, int]) -> sipsans.UserAgent:
            cfg = sipsans.EndpointConfig(advertised_host=addr[0], advertised_port=addr[1])
            return sipsans.UserAgent(sipsans.Endpoint(cfg, rng=random.Random(1)))

        async with Session(make, listen=[Listen("udp", "127.0.0.1", 0)]) as peer:
            where.append(peer.addresses["UDP"][1])
            ready.set()
            while not stop.is_set():
                try:
                    event = await asyncio.wait_for(peer.next_event(), 0.1)
                except TimeoutError:
                    continue
                if isinstance(event, sipsans.IncomingCall):
                    await peer.wrap(event.dialog).ringing()
                elif isinstance(event, sipsans.DialogTerminated):
                    seen.append(event.reason.name)

    thread = threading.Thread(target=asyncio.run, args=(ringer(),))
    thread.start()
    try:
        assert ready.wait(5)
        uri = f"sip:bob@127.0.0.1:{where[0]}"
        rc = cli.main(["call", uri, "--timeout", "0.5", "--listen", "127.0.0.1:0"])
        assert rc == 1
        out = capsys.readouterr().out
        # Each response to the INVITE is shown as it arrives, then why the call ended.
        assert "  180 Ringing (" in out and "  487 Request Terminated (" in out
        assert "not answered within 0.5 s; cancelled" in out
        for _ in range(100):
            if seen:
                break
            time.sleep(0.02)
        assert seen == ["UAC_CANCEL"]
    finally:
        stop.set()
        thread.join()


def test_replay_wraps_run_replay(capsys: pytest.CaptureFixture[str]) -> None:
    path = CORPUS / "pcap" / "simple_invite_scenario.pcap"
    if not path.exists():
        pytest.skip(f"shared corpus missing: {path}")
    assert cli.main(["replay", str(path), "--check", "--ladder"]) == 0
    out = capsys.readouterr().out
    assert "INVITE" in out and "check: ok" in out
    assert cli.main(["replay", str(path), "--as", "127.0.0.1:5060", "--quiet"]) == 0
    assert "played 127.0.0.1:5060" in capsys.readouterr().out


def test_replay_of_a_missing_file_is_an_error(tmp_path: Path) -> None:
    assert cli.main(["replay", str(tmp_path / "nope.pcap")]) == 2


def test_register_and_unregister(capsys: pytest.CaptureFixture[str]) -> None:
    """`sipsans register` against a minimal registrar that grants what is asked."""
    ready = threading.Event()
    stop = threading.Event()
    expires_seen: list[str] = []
    where: list[int] = []

    async def registrar() -> None:
        session: Session[sipsans.Endpoint]

        def answer(event: object) -> None:
            if isinstance(event, sipsans.RequestReceived) and event.txn is not None:
                request = event.request
                expires = request.headers.get("expires", "3600")
                expires_seen.append(expires)
                contact = request.headers.get("contact", "")
                reply = sipsans.make_response(
                    request,
                    200,
                    to_tag="reg1",
                    headers=[("Contact", f"{contact};expires={expires}")] if contact else [],
                )
                session.command(session.core.send_response, event.txn, reply)

        def make(addr: tuple[str, int]) -> sipsans.Endpoint:
            cfg = sipsans.EndpointConfig(advertised_host=addr[0], advertised_port=addr[1])
            return sipsans.Endpoint(cfg, rng=random.Random(2))

        session = Session(make, listen=[Listen("udp", "127.0.0.1", 0)], on_event=answer)
        async with session:
            where.append(session.addresses["UDP"][1])
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=asyncio.run, args=(registrar(),))
    thread.start()
    try:
        assert ready.wait(5)
        aor = f"sip:alice@127.0.0.1:{where[0]}"
        rc = cli.main(["register", aor, "--expires", "60", "--timeout", "5"])
        out = capsys.readouterr().out
        assert rc == 0, out
        assert "registered sip:alice@127.0.0.1" in out and "for 60 s" in out
        assert "unregistered" in out
        assert expires_seen == ["60", "0"]
    finally:
        stop.set()
        thread.join()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Output:
    """Everything printed so far (from any thread), read through capsys."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self.text = ""

    def read(self) -> str:
        self.text += self._capsys.readouterr().out
        return self.text

    def wait_for(self, marker: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while marker not in self.read():
            assert time.monotonic() < deadline, f"never printed {marker!r}:\n{self.text}"
            time.sleep(0.02)


class _Command(threading.Thread):
    """``cli.main(argv)`` in a thread (each command runs its own event loop)."""

    def __init__(self, argv: list[str]) -> None:
        super().__init__(daemon=True)
        self.argv = argv
        self.rc: int | None = None
        self.start()

    def run(self) -> None:
        self.rc = cli.main(self.argv)

    def result(self, timeout: float = 15.0) -> int | None:
        self.join(timeout)
        assert not self.is_alive(), f"{self.argv[0]} did not finish within {timeout} s"
        return self.rc


def _registrar(port: int, requests: int) -> _Command:
    return _Command(
        [
            *("registrar", "--listen", f"127.0.0.1:{port}", "--user", "alice:s3cret"),
            *("--requests", str(requests)),
        ]
    )


def test_registrar_challenges_binds_and_unbinds(capsys: pytest.CaptureFixture[str]) -> None:
    """`sipsans register` against `sipsans registrar`: 401, 200 with the binding,
    and the unregistration answered with the remembered nonce (nc=2)."""
    output = _Output(capsys)
    port = _free_udp_port()
    registrar = _registrar(port, requests=3)
    output.wait_for("listening")
    aor = f"sip:alice@127.0.0.1:{port}"
    register = [*("register", aor, "--user", "alice", "--password", "s3cret"), "--expires", "120"]
    assert cli.main([*register, "--listen", "127.0.0.1:0", "--timeout", "5"]) == 0
    assert registrar.result() == 0
    lines = output.read().splitlines()
    answers = [line.rsplit("-> ", 1)[1] for line in lines if line.startswith("REGISTER ")]
    assert answers == ["401 Unauthorized", "200 OK", "200 OK"]
    assert f"registered {aor} for 120 s" in lines and "unregistered" in lines
    assert sum(1 for line in lines if "binding <sip:alice@127.0.0.1:" in line) == 2  # both sides
    assert "3 REGISTER requests answered" in lines


def test_registrar_refuses_a_wrong_password(capsys: pytest.CaptureFixture[str]) -> None:
    output = _Output(capsys)
    port = _free_udp_port()
    registrar = _registrar(port, requests=2)
    output.wait_for("listening")
    argv = ["register", f"sip:alice@127.0.0.1:{port}", "--user", "alice", "--password", "nope"]
    assert cli.main([*argv, "--listen", "127.0.0.1:0", "--timeout", "5"]) == 1
    assert registrar.result() == 0
    text = output.read()
    assert "registration failed: 401" in text
    assert text.count("-> 401 Unauthorized") == 2 and "binding" not in text


def test_uas_registers_takes_a_call_and_unregisters(capsys: pytest.CaptureFixture[str]) -> None:
    """`uas --register` registers from its own socket: the binding is its listening
    address, where the call then arrives; it unregisters when it exits."""
    output = _Output(capsys)
    port, uas_port = _free_udp_port(), _free_udp_port()
    registrar = _registrar(port, requests=3)
    output.wait_for("listening")
    aor = f"sip:alice@127.0.0.1:{port}"
    uas = _Command(
        [
            *("uas", "--listen", f"127.0.0.1:{uas_port}", "--calls", "1", "--timeout", "5"),
            *("--register", aor, "--user", "alice", "--password", "s3cret"),
        ]
    )
    output.wait_for(f"registered {aor}")
    assert f"binding <sip:alice@127.0.0.1:{uas_port}>" in output.read()
    call = ["call", f"sip:alice@127.0.0.1:{uas_port}", "--duration", "0.2", "--timeout", "5"]
    assert cli.main([*call, "--listen", "127.0.0.1:0"]) == 0
    assert uas.result() == 0
    assert registrar.result() == 0
    text = output.read()
    assert "1 calls handled" in text and "unregistered" in text
    assert text.index("hung up") < text.index("unregistered")
    assert "3 REGISTER requests answered" in text


def test_uas_exits_1_when_its_registration_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = _Output(capsys)
    port = _free_udp_port()
    registrar = _registrar(port, requests=2)
    output.wait_for("listening")
    aor = f"sip:alice@127.0.0.1:{port}"
    argv = ["uas", "--listen", "127.0.0.1:0", "--register", aor, "--timeout", "5"]
    assert cli.main([*argv, "--user", "alice", "--password", "nope"]) == 1
    assert registrar.result() == 0
    text = output.read()
    assert "registration failed: 401" in text and "calls handled" not in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["registrar", "--user", "alice"], "expected NAME:PASSWORD"),
        (["registrar", "--min-expires", "0"], "--min-expires"),
        (["registrar", "--algorithm", "MD4"], "invalid choice"),
        (["uas", "--register", "tel:+123"], "not a sip: or sips: URI"),
    ],
)
def test_registration_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--listen", "127.0.0.1:0"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_uas_answers_options_through_its_user_agent(capsys: pytest.CaptureFixture[str]) -> None:
    """`uas` answers OPTIONS with the UA's answer (Allow, Accept, and a To tag, §11.2,
    §8.2.6.2, which the `options` client, a UA too, requires). It used to send its own
    on the UA's Endpoint, behind the UA's back, and the UA's default answer fired five
    seconds later on a transaction already answered (found by svmap against
    `sipsans uas`)."""
    output = _Output(capsys)
    port = _free_udp_port()
    uas = _Command(["uas", "--listen", f"127.0.0.1:{port}", "--calls", "1", "--timeout", "5"])
    output.wait_for("listening")
    assert cli.main(["options", f"sip:uas@127.0.0.1:{port}", "--timeout", "5"]) == 0
    answer = output.read().split("200 OK", 1)[1]
    assert "Allow: INVITE" in answer and "Accept: application/sdp" in answer
    call = ["call", f"sip:uas@127.0.0.1:{port}", "--duration", "0.1", "--timeout", "5"]
    assert cli.main([*call, "--listen", "127.0.0.1:0"]) == 0  # (ends the uas: --calls 1)
    assert uas.result() == 0


def test_uas_reports_malformed_messages_once_a_second(capsys: pytest.CaptureFixture[str]) -> None:
    """Bytes that are not SIP get a line naming the sender and the fault (the core drops
    them, or answers 400 when it can), and a burst of them one line, not one each: a
    peer flooding garbage must not flood the terminal."""
    output = _Output(capsys)
    port = _free_udp_port()
    uas = _Command(["uas", "--listen", f"127.0.0.1:{port}", "--calls", "1", "--timeout", "5"])
    output.wait_for("listening")
    bad_cseq = (
        b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad\r\n"
        b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: bad\r\n"
        b"CSeq: one INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sender = sock.getsockname()[1]
        sock.sendto(bad_cseq, ("127.0.0.1", port))
        for _ in range(5):
            sock.sendto(b"\x00\xff not SIP\r\n\r\n", ("127.0.0.1", port))
        output.wait_for(f"malformed message from 127.0.0.1:{sender} over UDP")
        time.sleep(0.3)  # (the burst's other five reach the uas meanwhile)
        line = next(t for t in output.read().splitlines() if "malformed" in t)
        assert "CSeq" in line
        assert output.read().count("malformed message") == 1
        time.sleep(0.8)  # a second after the first line: the next one says what it held back
        sock.sendto(b"still not SIP\r\n\r\n", ("127.0.0.1", port))
        output.wait_for("(and 5 more since the last such line)")
    call = ["call", f"sip:uas@127.0.0.1:{port}", "--duration", "0.1", "--timeout", "5"]
    assert cli.main([*call, "--listen", "127.0.0.1:0"]) == 0  # (ends the uas: --calls 1)
    assert uas.result() == 0
