"""Hostile traffic against ``sipsans uas`` and ``sipsans registrar`` on 127.0.0.1, with
the server's memory and table sizes before, during and after (DESIGN.md §6).

.. code-block:: sh

    .venv/bin/python bench/hostile.py                 # every scenario (some 20 minutes)
    .venv/bin/python bench/hostile.py udp-flood svmap # some of them

Each scenario starts a fresh server in a subprocess (the CLI, run by this file's
``serve`` mode, which also writes one JSON line a second to a file: the process's RSS
and ``session.stats()``: the core's tables and the session's), samples it at rest, runs
the attack, and samples it again during the attack and after, once the timers that keep
settled transactions (32 s) and unanswered calls have run out. A table is printed per
scenario: nothing may grow without bound, nothing may stay behind. Meanwhile a
legitimate client (:class:`Probe`) sends a request a second, and the last column counts
how many got their 200, before, during and after the attack.

Scenarios: ``svmap`` (sipvicious OPTIONS and INVITE scans), ``svwar`` (extension
enumeration with INVITE against the UAS and REGISTER against the registrar),
``svcrack`` (password guessing against the registrar), ``udp-flood`` (INVITEs with
fresh Call-IDs as fast as one socket sends them, none ACKed, and OPTIONS), ``slow-tcp``
(connections that send a byte a second of a message never finished), ``idle-tcp``
(connections that send nothing). The sipvicious tools come from the Debian package
``sipvicious``. Only 127.0.0.1 (and 127.0.0.x for source addresses) is ever a target.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: Seconds after an attack before the "after" sample: settled transactions linger 32 s
#: (Timers J, L, M over UDP); an unACKed 2xx is retransmitted for 32 s (Timer H), then
#: the BYE that ends its call for up to 32 s more (Timer F) if nobody answers it.
SETTLE = 75.0
#: The figures reported (besides RSS), in this order: objects the collector tracks, then
#: the tables of the core and of the session.
KEYS = (
    "objects",
    "transactions",
    "lingering",
    "timers",
    "dialogs",
    "pending_answers",
    "app_txns",
    "ua_timers",
    "connections",
    "stream_connections",
    "accepted_connections",
    "response_waits",
    "queued_events",
)


# -- the server side: the CLI with a sampler -------------------------------------------------


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def serve(stats_path: str, argv: list[str]) -> int:
    """Run ``sipsans ARGV`` in this process; every second, append a JSON line with the
    RSS (KiB) and the session's ``stats()`` to ``stats_path``."""
    import asyncio

    from sipsans_asyncio import session as session_module
    from sipsans_asyncio.cli import main

    started = session_module.Session.start
    samplers: set[asyncio.Task[None]] = set()

    async def sample(session: Any) -> None:
        with open(stats_path, "a", encoding="utf-8") as out:
            while True:
                record = {
                    "t": time.monotonic(),
                    "rss_kib": _rss_kib(),
                    # Objects the collector tracks, frozen ones too (sipsans uas runs
                    # with tune_gc, which freezes what survives every second).
                    "objects": len(gc.get_objects()) + gc.get_freeze_count(),
                    **session.stats(),
                }
                out.write(json.dumps(record) + "\n")
                out.flush()
                await asyncio.sleep(1.0)

    async def start(self: Any) -> Any:
        result = await started(self)
        samplers.add(asyncio.get_running_loop().create_task(sample(self)))
        return result

    session_module.Session.start = start  # type: ignore[method-assign]
    return main(argv)


# -- the attacks ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server subprocess and its samples."""

    def __init__(self, argv: list[str]) -> None:
        self.port = _free_port()
        self.stats = Path(tempfile.mkstemp(prefix="sipsans-hostile-", suffix=".jsonl")[1])
        command = [sys.executable, __file__, "serve", str(self.stats), *argv]
        command += ["--listen", f"127.0.0.1:{self.port}"]
        self.log = open(os.devnull, "wb")  # noqa: SIM115  (the registrar prints every REGISTER)
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(command, stdout=self.log, stderr=self.errors, cwd=REPO)
        deadline = time.monotonic() + 10
        while not self.stats.read_text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the server did not start: {self.stderr()}")
            time.sleep(0.1)

    def sample(self) -> dict[str, Any]:
        lines = self.stats.read_text().splitlines()
        return dict(json.loads(lines[-1]))

    def peak(self, since: float, until: float) -> dict[str, Any]:
        """The largest value of each figure among the samples taken between ``since`` and
        ``until``."""
        records = [json.loads(line) for line in self.stats.read_text().splitlines()]
        records = [r for r in records if since <= r["t"] <= until] or records[-1:]
        return {key: max(r.get(key, 0) for r in records) for key in ("rss_kib", *KEYS)}

    def stderr(self) -> str:
        self.errors.seek(0)
        return self.errors.read().decode(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.close()
        self.stats.unlink(missing_ok=True)


# -- the legitimate client: is the server still answering? ------------------------------------

#: The legitimate client's address over UDP (the UDP attacks send from 127.0.0.1); over TCP
#: it is 127.0.0.1 (the TCP attacks connect from 127.0.0.2-127.0.0.9).
PROBE_UDP_SOURCE = "127.0.0.9"
#: The legitimate user of the registrar (the attacks go after ``alice``).
PROBE_USER = ("bob", "bob-secret")


class Probe:
    """A legitimate client that sends one request a second (an OPTIONS to the UAS, a
    REGISTER with the right password to the registrar) and counts, per phase, how many
    got their final answer: a 200 within 4 s (over UDP, sent again after 0.5 s and 1.5 s,
    as Timer E would)."""

    def __init__(self, port: int, registrar: bool, tcp: bool) -> None:
        self.port = port
        self.registrar = registrar
        self.tcp = tcp
        self.phase = "before"
        #: phase -> [requests sent, answered with 200]; other outcomes by phase
        self.counts: dict[str, list[int]] = {}
        self.failures: dict[str, dict[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self, phase: str) -> str:
        sent, answered = self.counts.get(phase, [0, 0])
        failed = self.failures.get(phase)
        return f"{answered}/{sent}" + (f" {failed}" if failed else "")

    def _loop(self) -> None:
        n = 0
        while not self._stop.is_set():
            started = time.monotonic()
            phase = self.phase
            try:
                outcome = self._register(n) if self.registrar else self._options(n)
            except (TimeoutError, OSError) as error:
                outcome = type(error).__name__
            tally = self.counts.setdefault(phase, [0, 0])
            tally[0] += 1
            if outcome == "200":
                tally[1] += 1
            else:
                failed = self.failures.setdefault(phase, {})
                failed[outcome] = failed.get(outcome, 0) + 1
            n += 1
            self._stop.wait(max(0.0, started + 1.0 - time.monotonic()))

    def _request(self, method: str, n: int, local: tuple[str, int], transport: str) -> Any:
        from sipsans import make_request

        host, port = local
        user = PROBE_USER[0] if self.registrar else "probe"
        return make_request(
            method,
            f"sip:{'' if self.registrar else 'uas@'}127.0.0.1:{self.port}",
            from_=f"<sip:{user}@127.0.0.1>;tag=p{n}",
            to=f"<sip:{user}@127.0.0.1>" if self.registrar else "<sip:uas@127.0.0.1>",
            call_id=f"probe-{n}@{host}",
            cseq=1,
            contact=f"<sip:{user}@{host}:{port}>",
            via=f"SIP/2.0/{transport} {host}:{port};branch=z9hG4bK-probe-{n}-1;rport",
        )

    def _options(self, n: int) -> str:
        if not self.tcp:
            with _udp(PROBE_UDP_SOURCE) as sock:
                request = self._request("OPTIONS", n, sock.getsockname(), "UDP")
                return str(_exchange_udp(sock, bytes(request), self.port).status_code)
        with socket.socket() as sock:
            sock.settimeout(4.0)
            sock.bind(("127.0.0.1", 0))
            sock.connect(("127.0.0.1", self.port))
            request = self._request("OPTIONS", n, sock.getsockname(), "TCP")
            sock.sendall(bytes(request))
            head = b""
            while b"\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    return "closed"
                head += chunk
            return head.split(b"\r\n", 1)[0].split(b" ")[1].decode()

    def _register(self, n: int) -> str:
        from sipsans import Credentials
        from sipsans.auth import AuthRetry, DigestClient

        with _udp(PROBE_UDP_SOURCE) as sock:
            request = self._request("REGISTER", n, sock.getsockname(), "UDP")
            challenge = _exchange_udp(sock, bytes(request), self.port)
            if challenge.status_code != 401:
                return str(challenge.status_code)
            retry = DigestClient(Credentials(*PROBE_USER)).authorize(request, challenge)
            if not isinstance(retry, AuthRetry):
                return "no-retry"
            second = retry.apply(request)
            second.headers.set("CSeq", "2 REGISTER")
            host, port = sock.getsockname()
            second.headers.set("Via", f"SIP/2.0/UDP {host}:{port};branch=z9hG4bK-probe-{n}-2")
            return str(_exchange_udp(sock, bytes(second), self.port).status_code)


def _udp(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    return sock


def _exchange_udp(sock: socket.socket, data: bytes, port: int) -> Any:
    """Send ``data`` and return the first final response; sent again after 0.5 s and
    1.5 s, given up after 4 s (``TimeoutError``)."""
    from sipsans import Response, parse_message

    deadline = time.monotonic() + 4.0
    resend = [time.monotonic() + 0.5, time.monotonic() + 1.5]
    sock.sendto(data, ("127.0.0.1", port))
    while True:
        now = time.monotonic()
        if now >= deadline:
            raise TimeoutError
        if resend and now >= resend[0]:
            resend.pop(0)
            sock.sendto(data, ("127.0.0.1", port))
        sock.settimeout(min([deadline, *resend]) - now)
        try:
            answer = parse_message(sock.recv(65535))
        except TimeoutError:
            continue
        if isinstance(answer, Response) and answer.status_code >= 200:
            return answer


def _row(label: str, values: dict[str, Any]) -> str:
    figures = [f"{values.get('rss_kib', 0) / 1024:7.1f}"]
    figures += [f"{values.get(key, 0):>{len(key)}}" for key in KEYS]
    return f"{label:<8}" + "  ".join(figures)


def _header() -> str:
    return f"{'':<8}{'RSS MiB':>7}  " + "  ".join(KEYS)


def run(
    name: str, argv: list[str], attack: Callable[[Server], str], settle: float, rounds: int
) -> None:
    """One scenario: before; then ``rounds`` times the attack, its peak (the largest of
    the samples taken meanwhile) and the state ``settle`` s after it. A second round
    shows whether what the first left (RSS: memory the allocator keeps) grows again."""
    server = Server(argv)
    probe = Probe(server.port, registrar="registrar" in argv, tcp="tcp" in argv)
    rows: list[tuple[str, dict[str, Any]]] = []
    what = []
    try:
        time.sleep(3.0)
        rows.append(("before", server.sample()))
        for n in range(1, rounds + 1):
            started = time.monotonic()
            probe.phase = f"peak {n}"
            what.append(attack(server))
            ended = time.monotonic()
            probe.phase = f"after {n}"
            time.sleep(settle)
            # The samples are a second apart and some attacks take less: the peak
            # includes those of the two seconds after it (what it left is at its
            # largest when it ends).
            rows.append((f"peak {n}", server.peak(started, ended + 2.0)))
            rows.append((f"after {n}", server.sample()))
        alive = server.process.poll() is None
        errors = server.stderr()
    finally:
        probe.stop()
        server.stop()
    lines = errors.splitlines()
    print(f"\n== {name}: {what[0]}" + (f" (x{rounds})" if rounds > 1 else ""))
    print(f"   server alive after: {alive}; stderr: {len(lines)} lines, {len(errors)} bytes")
    for line in lines[:3]:
        print(f"   | {line[:160]}")
    print(_header() + "  legitimate")
    for label, values in rows:
        print(_row(label, values) + "  " + probe.summary(label))


def _tool(*command: str, timeout: float = 300.0) -> str:
    started = time.monotonic()
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    took = time.monotonic() - started
    said = (done.stdout + done.stderr).strip().splitlines()
    tail = next((line for line in reversed(said) if "Error" in line), said[-1] if said else "")
    tail = tail[:100]
    return f"`{' '.join(command)}` exit {done.returncode} in {took:.1f} s; {tail!r}"


def svmap(server: Server) -> str:
    first = _tool("svmap", "-p", str(server.port), "127.0.0.1")
    second = _tool("svmap", "-m", "INVITE", "-p", str(server.port), "127.0.0.1")
    return f"{first}; then {second}"


def svwar_uas(server: Server) -> str:
    return _tool("svwar", "-m", "INVITE", "-e", "100-2999", "-p", str(server.port), "127.0.0.1")


def svwar_registrar(server: Server) -> str:
    """Enumeration with REGISTER (--force: every extension gets 401, as a user that
    cannot exist does, so svwar gives up after the first: nothing to enumerate), then
    with OPTIONS, which the registrar answers 200 for every extension: the load."""
    port = str(server.port)
    first = _tool("svwar", "--force", "-m", "REGISTER", "-e", "100-2999", "-p", port, "127.0.0.1")
    second = _tool("svwar", "-m", "OPTIONS", "-e", "100-2999", "-p", port, "127.0.0.1")
    return f"{first}; then {second}"


def svcrack(server: Server) -> str:
    """(sipvicious 0.3.3's svcrack fails at the first challenge with qop: KeyError
    'noncecount'; :func:`guess_passwords` does its work.)"""
    return _tool("svcrack", "-u", "alice", "-r", "1-20000", "-p", str(server.port), "127.0.0.1")


def guess_passwords(server: Server, guesses: int = 3000) -> str:
    """Password guessing against the registrar, as svcrack would (sipvicious 0.3.3's
    svcrack stops with KeyError 'noncecount' on a challenge with qop): for each guess a
    REGISTER, its 401, and the REGISTER again with a digest of a wrong password."""
    from sipsans import Credentials, Request, make_request, parse_message
    from sipsans.auth import AuthRetry, DigestClient

    statuses: dict[int, int] = {}
    started = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2.0)
        local = sock.getsockname()[1]

        def exchange(request: Request) -> Any:
            sock.sendto(bytes(request), ("127.0.0.1", server.port))
            return parse_message(sock.recv(65535))

        for n in range(guesses):
            request = make_request(
                "REGISTER",
                f"sip:127.0.0.1:{server.port}",
                from_=f"<sip:alice@127.0.0.1>;tag=g{n}",
                to="<sip:alice@127.0.0.1>",
                call_id=f"guess-{n}@127.0.0.1",
                cseq=1,
                contact=f"<sip:alice@127.0.0.1:{local}>",
                via=f"SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-guess-{n}-1;rport",
            )
            try:
                challenge = exchange(request)
                if challenge.status_code not in (401, 407):  # 503: the guesser backs off
                    statuses[challenge.status_code] = statuses.get(challenge.status_code, 0) + 1
                    continue
                client = DigestClient(Credentials("alice", f"guess{n}"))
                retry = client.authorize(request, challenge)
                if not isinstance(retry, AuthRetry):
                    statuses[-1] = statuses.get(-1, 0) + 1
                    continue
                second = retry.apply(request)
                second.headers.set("CSeq", "2 REGISTER")
                second.headers.set(
                    "Via", f"SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-guess-{n}-2"
                )
                answer = exchange(second)
            except (TimeoutError, OSError):
                statuses[0] = statuses.get(0, 0) + 1
                continue
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
    took = time.monotonic() - started
    rate = guesses / took
    return (
        f"{guesses} guesses at alice's password in {took:.1f} s ({rate:.0f}/s), answers {statuses}"
    )


def _invite(port: int, n: int, local: int) -> bytes:
    body = (
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
        b"t=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
    )
    head = (
        f"INVITE sip:uas@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-flood-{n}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:flood@127.0.0.1>;tag=f{n}\r\n"
        "To: <sip:uas@127.0.0.1>\r\n"
        f"Call-ID: flood-{n}@127.0.0.1\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:flood@127.0.0.1:{local}>\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def udp_flood(server: Server, seconds: float = 20.0) -> str:
    """INVITEs with fresh Call-IDs, none ACKed (every 200 is retransmitted until Timer H),
    and one OPTIONS in ten, as fast as one socket sends for ``seconds``."""
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        local = sock.getsockname()[1]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            data = _invite(server.port, sent, local)
            if sent % 10 == 9:
                data = data.replace(b"INVITE", b"OPTIONS")
            try:
                sock.sendto(data, ("127.0.0.1", server.port))
                sent += 1
            except BlockingIOError:
                time.sleep(0.001)
            try:
                while True:
                    sock.recv(65535)  # drain the answers
            except BlockingIOError:
                pass
    return f"{sent} datagrams in {seconds:g} s ({sent / seconds:.0f}/s), INVITEs never ACKed"


def _connections(port: int, count: int) -> list[socket.socket]:
    """``count`` TCP connections from 127.0.0.2-127.0.0.9 (so that the per-source limit,
    64, lets in up to 512)."""
    opened = []
    for n in range(count):
        sock = socket.socket()
        sock.bind((f"127.0.0.{2 + n % 8}", 0))
        try:
            sock.settimeout(1.0)
            sock.connect(("127.0.0.1", port))
            opened.append(sock)
        except OSError:
            sock.close()
    return opened


def _open_count(socks: list[socket.socket]) -> int:
    """How many of ``socks`` the server has not closed (a read finds no EOF)."""
    alive = 0
    for sock in socks:
        sock.setblocking(False)
        try:
            alive += sock.recv(1, socket.MSG_PEEK) != b""
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def slow_tcp(server: Server, count: int = 300, seconds: float = 150.0) -> str:
    """``count`` connections, each sending one byte a second of an INVITE it never ends,
    for ``seconds`` (past the idle timeout, 120 s)."""
    socks = _connections(server.port, count)
    message = _invite(server.port, 0, 9)
    stop = threading.Event()
    closed_at: list[float] = []
    start = time.monotonic()

    def dribble() -> None:
        n = 0
        while not stop.is_set() and n < len(message):
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.send(message[n : n + 1])
            n += 1
            stop.wait(1.0)

    thread = threading.Thread(target=dribble)
    thread.start()
    alive_at = {}
    for checkpoint in (30.0, 110.0, 130.0, seconds):
        time.sleep(max(0.0, start + checkpoint - time.monotonic()))
        alive_at[checkpoint] = _open_count(socks)
        if not alive_at[checkpoint] and not closed_at:
            closed_at.append(checkpoint)
    stop.set()
    thread.join()
    for sock in socks:
        sock.close()
    seen = ", ".join(f"{alive} open at {t:g} s" for t, alive in alive_at.items())
    return f"{len(socks)} of {count} connections opened (8 sources), a byte a second each: {seen}"


def idle_tcp(server: Server, count: int = 1000, seconds: float = 150.0) -> str:
    """``count`` connections from 8 source addresses that send nothing."""
    socks = _connections(server.port, count)
    time.sleep(2.0)
    admitted = _open_count(socks)
    time.sleep(seconds)
    left = _open_count(socks)
    for sock in socks:
        sock.close()
    return (
        f"{len(socks)} of {count} connections opened (8 sources), {admitted} still open after"
        f" 2 s (per-source limit 64), {left} after {seconds:g} s (idle timeout 120 s)"
    )


REGISTRAR = ["registrar", "--user", "alice:secret", "--user", ":".join(PROBE_USER)]
#: name: (server arguments, attack, seconds to settle, rounds)
SCENARIOS: dict[str, tuple[list[str], Callable[[Server], str], float, int]] = {
    "svmap": (["uas"], svmap, SETTLE, 2),
    "svwar-uas": (["uas"], svwar_uas, SETTLE, 2),
    "svwar-registrar": (REGISTRAR, svwar_registrar, SETTLE, 2),
    "svcrack": (REGISTRAR, svcrack, SETTLE, 1),
    "guess": (REGISTRAR, guess_passwords, SETTLE, 2),
    "udp-flood": (["uas"], udp_flood, SETTLE, 2),
    "slow-tcp": (["uas", "--transport", "tcp"], slow_tcp, 5.0, 1),
    "idle-tcp": (["uas", "--transport", "tcp"], idle_tcp, 5.0, 1),
}


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        return serve(argv[1], argv[2:])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    for name in argv or list(SCENARIOS):
        server_argv, attack, settle, rounds = SCENARIOS[name]
        run(name, server_argv, attack, settle, rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
