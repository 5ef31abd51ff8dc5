"""UAS capacity: `sipp -sn uac` over UDP at rising call rates against three UASes.

    .venv/bin/python bench/uas_cps.py [--rates 250,500,750,1000,...] [--seconds 4]

UASes, measured in the same run on 127.0.0.1:
  * ``sipsans``: ``sipsans uas`` (the CLI: asyncio adapter + UserAgent), on uvloop when
    installed (``--no-uvloop`` to compare with the stdlib loop); ``sipsans-asyncio`` (not
    in the default set) is the same on the stdlib loop, to compare both in one run;
  * ``sipsans-shared``: ``sipsans uas --state URL`` (``--state``, a Redis started
    beforehand): each call's dialog written to the store and deleted (docs/scaling.md);
  * ``sipp``: ``sipp -sn uas`` (C++, the reference for CPU per call);
  * ``aiosipua``: a minimal auto-answer UAS on aiosipua's ``SipUAS`` (this file,
    ``--serve-aiosipua PORT``), on the same event loop as sipsans.

Each step runs ``sipp -sn uac -r RATE -m RATE*SECONDS`` (so about SECONDS seconds of
load, bounded by a timeout) and reads sipp's statistics CSV (``-trace_stat``): a step is
clean when every call succeeded, none failed and sipp counted no retransmission. Rates
are interleaved (each rate against every UAS in turn), and a UAS stops at its first
unclean step; its score is the highest clean rate. The UAS CPU time
per call is (utime + stime) of its process from /proc/PID/stat, before and after the
step, divided by the successful calls; reported for the highest clean step. Nothing here
is asserted: this is a measurement (DESIGN.md §8), not a test.

Why a step is not clean shows in two more columns: ``drops``, the datagrams the kernel
dropped because the UAS's socket buffer was full (its ``drops`` in /proc/net/udp: the UAS
fell behind, by lack of CPU or a pause longer than its buffer lasts), and ``lost``, the
receive-buffer overflows anywhere else on the machine during the step (sipp's sockets,
mostly). Retransmissions with neither mean replies later than sipp's 500 ms timer without
a drop: a UAS that queues rather than drops. sipp's own socket buffers are raised from
its 64 KiB default (``-buff_size``) so that the UAC is not what overflows.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: The store of the ``sipsans-shared`` UAS (``--state``).
STATE = "redis://127.0.0.1:6379/0"
#: sipp's socket buffers (its default, 64 KiB, overflows before any UAS here does).
SIPP_BUFFER = 4 * 1024 * 1024

ANSWER_SDP = (
    "v=0\r\n"
    "o=bench 1 1 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 6000 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def socket_drops(port: int) -> int:
    """Datagrams dropped on arrival at the UDP socket bound to 127.0.0.1:``port``."""
    local = f"0100007F:{port:04X}"
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local:
            return int(fields[-1])
    return 0


def rcvbuf_errors() -> int:
    """The machine's UDP receive-buffer overflows so far (/proc/net/snmp)."""
    names, values = [
        line.split()[1:]
        for line in Path("/proc/net/snmp").read_text().splitlines()
        if line.startswith("Udp:")
    ][:2]
    return int(dict(zip(names, values, strict=True))["RcvbufErrors"])


@dataclass
class Step:
    rate: int
    calls: int
    ok: int
    failed: int
    retrans: int
    cpu_us_per_call: float
    seconds: float
    exit_code: int
    drops: int  # at the UAS's socket
    lost: int  # receive-buffer overflows elsewhere (sipp's sockets)

    @property
    def clean(self) -> bool:
        return (
            self.exit_code == 0 and self.failed == 0 and self.retrans == 0 and self.ok == self.calls
        )


def run_step(
    sipp: str, port: int, pid: int, *, rate: int, seconds: float, work: Path, nice: int
) -> Step:
    calls = max(1, int(rate * seconds))
    stats = work / f"uac_{port}_{rate}.csv"
    stats.unlink(missing_ok=True)
    command = [*_niced(nice), sipp, "-sn", "uac", f"127.0.0.1:{port}", "-i", "127.0.0.1", "-p", "0"]
    command += ["-r", str(rate), "-m", str(calls), "-nostdin", "-timeout", f"{int(seconds) + 20}s"]
    command += ["-timeout_error", "-trace_stat", "-stf", str(stats), "-fd", "1"]
    command += ["-buff_size", str(SIPP_BUFFER)]
    drops, errors = socket_drops(port), rcvbuf_errors()
    before = cpu_seconds(pid)
    start = time.monotonic()
    result = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=seconds + 40,
        check=False,
    )
    elapsed = time.monotonic() - start
    time.sleep(0.3)  # let the UAS finish the last BYE
    used = cpu_seconds(pid) - before
    drops = socket_drops(port) - drops
    lost = rcvbuf_errors() - errors - drops
    ok = failed = retrans = 0
    if stats.exists():
        rows = list(csv.DictReader(stats.open(), delimiter=";"))
        if rows:
            last = rows[-1]
            ok = int(last["SuccessfulCall(C)"])
            failed = int(last["FailedCall(C)"])
            retrans = int(last["Retransmissions(C)"])
    per_call = used / ok * 1e6 if ok else float("nan")
    return Step(rate, calls, ok, failed, retrans, per_call, elapsed, result.returncode, drops, lost)


def _niced(nice: int) -> list[str]:
    """The command prefix running a process at niceness ``nice`` (nothing for 0)."""
    return ["nice", "-n", str(nice)] if nice else []


def start_uas(kind: str, port: int, sipp: str, uvloop: bool, nice: int) -> subprocess.Popen[bytes]:
    if kind in ("sipsans", "sipsans-asyncio", "sipsans-shared"):
        command = [sys.executable, "-m", "sipsans_asyncio.cli", "uas"]
        # --quiet: no line per call, which a load test would only throw away.
        command += ["--listen", f"127.0.0.1:{port}", "--quiet"]
        if uvloop and kind != "sipsans-asyncio":
            command.append("--uvloop")
        if kind == "sipsans-shared":
            command += ["--state", STATE]  # every call written to the store and deleted
    elif kind == "sipp":
        command = [sipp, "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-nostdin"]
    elif kind == "aiosipua":
        # aiosipua asserts asyncio.DatagramTransport, which uvloop's UDP transport is
        # not: it always runs on the stdlib loop.
        command = [sys.executable, __file__, "--serve-aiosipua", str(port)]
    else:
        raise ValueError(kind)
    proc = subprocess.Popen(
        _niced(nice) + command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # bind and import
    if proc.poll() is not None:
        raise RuntimeError(f"{kind} UAS exited at start ({proc.returncode})")
    return proc


def bench_all(
    kinds: list[str],
    sipp: str,
    *,
    rates: list[int],
    seconds: float,
    uvloop: bool,
    work: Path,
    nice: int = 0,
) -> dict[str, list[Step]]:
    """Rate by rate, each UAS in turn (interleaved, so that a load change on the machine
    hits every UAS alike); a UAS leaves the race at its first unclean step."""
    procs: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    results: dict[str, list[Step]] = {kind: [] for kind in kinds}
    try:
        for kind in kinds:
            port = free_port()
            procs[kind] = (port, start_uas(kind, port, sipp, uvloop, nice))
        for rate in rates:
            for kind in kinds:
                steps = results[kind]
                if steps and not steps[-1].clean:
                    continue
                port, proc = procs[kind]
                step = run_step(
                    sipp, port, proc.pid, rate=rate, seconds=seconds, work=work, nice=nice
                )
                steps.append(step)
                mark = "clean" if step.clean else "NOT clean"
                print(
                    f"  {kind:9} {rate:5d} cps: {step.ok}/{step.calls} ok, {step.failed} failed,"
                    f" {step.retrans} retrans, {step.cpu_us_per_call:7.1f} us CPU/call,"
                    f" {step.seconds:5.1f} s, drops {step.drops}, lost {step.lost}  {mark}",
                    flush=True,
                )
    finally:
        for _, proc in procs.values():
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return results


# -- the aiosipua UAS ----------------------------------------------------------------------


async def serve_aiosipua(port: int) -> None:
    from aiosipua import SipUAS, UdpSipTransport, parse_sdp

    answer = parse_sdp(ANSWER_SDP)
    transport = UdpSipTransport(local_addr=("127.0.0.1", port))
    uas = SipUAS(transport)
    uas.on_invite = lambda call: call.accept(answer)
    await uas.start()
    await asyncio.Event().wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="250,500,750,1000,1500,2000,2500,3000,4000")
    parser.add_argument("--seconds", type=float, default=4.0, help="load per step")
    parser.add_argument(
        "--uas",
        default="sipsans,sipp,aiosipua",
        help="any of sipsans,sipsans-asyncio,sipsans-shared,sipp,aiosipua",
    )
    parser.add_argument(
        "--state",
        default="redis://127.0.0.1:6379/0",
        metavar="URL",
        help="the store of sipsans-shared (sipsans uas --state URL; start it first)",
    )
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run sipp and the UASes at this niceness (e.g. -5 as root on a shared machine)",
    )
    parser.add_argument("--uvloop", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-aiosipua", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_aiosipua:
        sys.path.insert(0, str(HERE.parent / "adapters" / "session"))
        sys.path.insert(0, str(HERE.parent / "adapters" / "asyncio"))
        from sipsans_asyncio.run import run

        run(serve_aiosipua(args.serve_aiosipua), use_uvloop=args.uvloop)
        return 0
    sipp = shutil.which("sipp")
    if sipp is None:
        print("sipp not found (Debian package sip-tester)", file=sys.stderr)
        return 2
    try:
        import uvloop  # noqa: F401

        uvloop_ok = not args.no_uvloop
    except ImportError:
        uvloop_ok = False
    global STATE
    STATE = args.state
    rates = [int(r) for r in args.rates.split(",")]
    kinds = args.uas.split(",")
    print(
        f"sipp -sn uac over UDP, {args.seconds:g} s per step, rates {rates};"
        f" sipsans on {'uvloop' if uvloop_ok else 'asyncio'}; {os.cpu_count()} CPUs"
        f"{f'; niceness {args.nice}' if args.nice else ''}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        results = bench_all(
            kinds,
            sipp,
            rates=rates,
            seconds=args.seconds,
            uvloop=uvloop_ok,
            work=Path(tmp),
            nice=args.nice,
        )
    print()
    print(f"{'UAS':10} {'best clean cps':>15} {'CPU us/call at it':>18}")
    best: dict[str, Step | None] = {}
    for kind, steps in results.items():
        clean = [s for s in steps if s.clean]
        top = clean[-1] if clean else None
        best[kind] = top
        cps = str(top.rate) if top else "none"
        cpu = f"{top.cpu_us_per_call:.1f}" if top else "-"
        print(f"{kind:10} {cps:>15} {cpu:>18}")
    s, p, a = best.get("sipsans"), best.get("sipp"), best.get("aiosipua")
    if s and a:
        print(f"sipsans / aiosipua clean cps: {s.rate / a.rate:.2f}x")
    if s and p:
        # CPU per call measured at the same rate when possible
        same = next((x for x in results["sipp"] if x.rate == s.rate and x.clean), p)
        print(
            f"sipsans CPU/call vs sipp: {s.cpu_us_per_call / same.cpu_us_per_call:.1f}x"
            f" (at {s.rate} and {same.rate} cps)"
        )
    if s and a:
        same_a = next((x for x in results["aiosipua"] if x.rate == s.rate and x.clean), a)
        print(
            f"sipsans CPU/call vs aiosipua: {s.cpu_us_per_call / same_a.cpu_us_per_call:.2f}x"
            f" (at {s.rate} and {same_a.rate} cps)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
