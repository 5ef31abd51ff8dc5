"""Beyond one machine (DESIGN.md §10, docs/scaling.md): Kamailio's dispatcher in front of
three ``sipsans uas --state redis://...`` workers, all on 127.0.0.1, with the example
configuration itself (examples/scaleout/kamailio.cfg, on free ports through its
``LISTEN``/``WORKERS`` defines).

sipp places 150 calls of 8 s at 15 calls/s through Kamailio (examples/scaleout/uac.xml:
its ACK and BYE follow the Contact and the Record-Route); 3 s in, one worker is killed
with SIGKILL. Every call that worker held (its dialog confirmed and written to Redis
before the kill) must end with its BYE answered by a live worker, which restored the
dialog from Redis; at most 2 calls of the 150 may fail (those caught between a 200 and
its ACK at the moment of the kill: not confirmed yet, so not shared). Then the killed
worker is started again and must take new calls.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import Sipsans, free_port, require_peer, sipp_in_background, sipp_stats

pytestmark = pytest.mark.interop

REPO_ROOT = Path(__file__).resolve().parents[2]
CFG = REPO_ROOT / "examples" / "scaleout" / "kamailio.cfg"
SCENARIO = REPO_ROOT / "examples" / "scaleout" / "uac.xml"
PREFIX = "sipsans:dialog:"


@dataclass
class Cluster:
    """redis-server, the workers and Kamailio, on free ports of 127.0.0.1."""

    tmp: Path
    start_sipsans: Callable[[list[str]], Sipsans]
    redis_port: int = field(default_factory=free_port)
    balancer_port: int = field(default_factory=free_port)
    worker_ports: list[int] = field(default_factory=lambda: [free_port() for _ in range(3)])
    workers: dict[str, Sipsans] = field(default_factory=dict)
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> None:
        redis_server = require_peer("redis-server", "redis-server")
        kamailio = require_peer("kamailio", "kamailio")
        self._spawn(
            [
                redis_server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
            "redis.log",
        )
        for n in range(1, len(self.worker_ports) + 1):
            self.start_worker(f"worker{n}")
        workers = self.tmp / "workers.list"
        workers.write_text("".join(f"1 sip:127.0.0.1:{p} 0\n" for p in self.worker_ports))
        self._spawn(
            [
                kamailio,
                "-DD",
                "-E",
                "-f",
                str(CFG),
                "-Y",
                str(self.tmp),
                "-w",
                str(REPO_ROOT),
                "-A",
                f"LISTEN=udp:127.0.0.1:{self.balancer_port}",
                "-A",
                f'WORKERS="{workers}"',
            ],
            "kamailio.log",
        )
        self.wait_for_balancer()

    def _spawn(self, command: list[str], log: str) -> None:
        with (self.tmp / log).open("wb") as out:
            self.servers.append(
                subprocess.Popen(
                    command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            )

    def start_worker(self, name: str) -> Sipsans:
        port = self.worker_ports[int(name[-1]) - 1]
        worker = self.start_sipsans(
            [
                "uas",
                "--listen",
                f"127.0.0.1:{port}",
                "--worker",
                name,
                "--state",
                f"redis://127.0.0.1:{self.redis_port}/0",
            ]
        )
        worker.wait_for("sharing dialogs")
        self.workers[name] = worker
        return worker

    def wait_for_balancer(self, timeout: float = 15.0) -> None:
        """Kamailio answers (an OPTIONS through it reaches a worker and comes back)."""
        import socket

        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(0.3)
            port = sock.getsockname()[1]
            n = 0
            while time.monotonic() < deadline:
                n += 1
                options = (
                    f"OPTIONS sip:127.0.0.1:{self.balancer_port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-ready{n}\r\n"
                    f"From: <sip:probe@127.0.0.1>;tag=ready\r\nTo: <sip:127.0.0.1>\r\n"
                    f"Call-ID: ready-{n}@127.0.0.1\r\nCSeq: {n} OPTIONS\r\n"
                    "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
                ).encode()
                sock.sendto(options, ("127.0.0.1", self.balancer_port))
                with contextlib.suppress(TimeoutError):
                    if sock.recv(65536).startswith(b"SIP/2.0 200"):
                        return
        raise AssertionError(f"Kamailio never answered:\n{self.log('kamailio.log')}")

    def log(self, name: str) -> str:
        return (self.tmp / name).read_text(errors="replace")[-4000:]

    def redis(self) -> object:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.redis_port)

    def dialogs(self) -> dict[str, str]:
        """Call-ID -> owner of every dialog in Redis."""
        client = self.redis()
        out = {}
        for key in client.scan_iter(f"{PREFIX}*"):  # type: ignore[attr-defined]
            value = client.get(key)  # type: ignore[attr-defined]
            if value is not None:
                call_id = key.decode()[len(PREFIX) :].split(";")[0]
                out[call_id] = json.loads(value)["owner"]
        return out

    def stop(self) -> None:
        for worker in self.workers.values():
            if worker.proc.poll() is None:
                worker.proc.kill()
                worker.proc.wait()
        for server in self.servers:
            if server.poll() is None:
                server.terminate()
                try:
                    server.wait(5)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()


@pytest.fixture
def cluster(tmp_path: Path, run_sipsans: Callable[[list[str]], Sipsans]) -> Iterator[Cluster]:
    require_peer("sipp", "sip-tester")
    try:
        import redis  # noqa: F401
    except ImportError:
        pytest.fail("the redis package is missing (the test group installs it)")
    built = Cluster(tmp_path, run_sipsans)
    try:
        built.start()
        yield built
    finally:
        built.stop()


def sipp_calls(cluster: Cluster, calls: int, rate: int, seconds: float, name: str) -> list[str]:
    """A sipp command placing ``calls`` calls through the balancer (run in ``cluster.tmp``)."""
    return [
        "-sf",
        str(SCENARIO),
        "-m",
        str(calls),
        "-r",
        str(rate),
        "-d",
        str(int(seconds * 1000)),
        "-i",
        "127.0.0.1",
        "-p",
        "0",
        f"127.0.0.1:{cluster.balancer_port}",
        "-timeout",
        "60",
        "-trace_rtt",
        "-rtt_freq",
        "1",
        "-trace_msg",
        "-message_file",
        str(cluster.tmp / f"{name}.messages"),
    ]


def restored(cluster: Cluster) -> dict[str, str]:
    """Call-ID -> the worker that restored it, from the workers' logs."""
    out = {}
    for name, worker in cluster.workers.items():
        for call_id in re.findall(r"^dialog (\S+) restored$", worker.output(), re.MULTILINE):
            out[call_id] = name
    return out


def bye_times(cluster: Cluster) -> list[float]:
    """Every BYE's response time (ms), from sipp's -trace_rtt file (response time 2)."""
    times = []
    for csv in cluster.tmp.glob("*_rtt.csv"):
        for line in csv.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 3 and parts[2].strip() == "2":
                times.append(float(parts[1]))
    return times


def test_calls_survive_a_worker_killed_mid_call(cluster: Cluster, sipp: str) -> None:
    screen = cluster.tmp / "sipp.screen"
    command = sipp_calls(cluster, 150, 15, 8.0, "run")
    with contextlib.chdir(cluster.tmp), sipp_in_background(sipp, command, screen) as peer:
        time.sleep(3.0)
        victim = cluster.workers["worker1"]
        victim.proc.kill()  # SIGKILL: no BYE, no goodbye to Redis
        victim.proc.wait()
        killed_at = time.monotonic()
        held = {c for c, owner in cluster.dialogs().items() if owner == "worker1"}
        peer.wait(timeout=60)
    stats = sipp_stats(screen)
    saved = restored(cluster)
    byes = sorted(bye_times(cluster))
    print(
        f"calls placed 150, successful {stats['Successful call']}, failed"
        f" {stats['Failed call']}; worker1 held {len(held)} confirmed calls at the kill;"
        f" {len(saved)} dialogs restored ({sorted(set(saved.values()))}); slowest BYEs (ms):"
        f" {byes[-3:]}; run ended {time.monotonic() - killed_at:.1f} s after the kill"
    )
    logs = f"{cluster.log('kamailio.log')}\n{cluster.workers['worker2'].output()[-2000:]}"
    assert stats["Successful call"] + stats["Failed call"] == 150, logs
    assert stats["Failed call"] <= 2, logs
    assert len(held) >= 5, "the killed worker held too few calls for the test to mean anything"
    # Every call the dead worker held ended on a live worker, which restored its dialog.
    assert held <= set(saved), (held - set(saved), logs)
    assert set(saved.values()) <= {"worker2", "worker3"}
    # Each dialog ended was deleted from Redis (a failed call's may linger until its TTL).
    assert len(cluster.dialogs()) <= stats["Failed call"]


def test_a_restarted_worker_takes_new_calls(cluster: Cluster, sipp: str) -> None:
    victim = cluster.workers["worker1"]
    victim.proc.kill()
    victim.proc.wait()
    time.sleep(3.0)  # Kamailio's OPTIONS probing marks it dead meanwhile
    cluster.start_worker("worker1")
    time.sleep(2.0)  # ... and alive again
    screen = cluster.tmp / "again.screen"
    owners: set[str] = set()
    command = sipp_calls(cluster, 45, 15, 2.0, "again")
    with contextlib.chdir(cluster.tmp), sipp_in_background(sipp, command, screen) as peer:
        while peer.poll() is None:
            owners |= set(cluster.dialogs().values())
            time.sleep(0.1)
    stats = sipp_stats(screen)
    assert (stats["Successful call"], stats["Failed call"]) == (45, 0), cluster.log("kamailio.log")
    assert "worker1" in owners, owners  # its calls were written: it answered some
    assert owners <= {"worker1", "worker2", "worker3"}
