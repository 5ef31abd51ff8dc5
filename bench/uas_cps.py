"""UAS capacity: `sipp -sn uac` over UDP or TCP at rising call rates against three UASes.

    .venv/bin/python bench/uas_cps.py [--rates 250,500,750,1000,...] [--seconds 4]
    .venv/bin/python bench/uas_cps.py --rates 4000,4000,4000 --seconds 60 --plot uas.png
    .venv/bin/python bench/uas_cps.py --transport tcp --rates 4000 --seconds 60
    .venv/bin/python bench/uas_cps.py --uas sipsans --workers 2 --rates 6000  # sipp -t un

UASes, measured in the same run on 127.0.0.1:
  * ``sipsans``: ``sipsans uas`` (the CLI: asyncio adapter + UserAgent), on uvloop when
    installed (``--no-uvloop`` to compare with the stdlib loop); ``sipsans-asyncio`` (not
    in the default set) is the same on the stdlib loop, to compare both in one run;
  * ``sipsans-shared``: ``sipsans uas --state URL`` (``--state``, a Redis started
    beforehand): each call's dialog written to the store and deleted (docs/scaling.md);
  * ``sipp``: ``sipp -sn uas`` (C++, the reference for CPU per call);
  * ``aiosipua``: a minimal auto-answer UAS on aiosipua's ``SipUAS``
    (``bench/peers/aiosipua_uas.py``, run by ``--peer-python``: any venv with aiosipua),
    on the stdlib event loop (aiosipua refuses uvloop's UDP transport).

``--transport tcp`` runs every UAS over TCP and sipp with ``-t t1`` (one connection for
all calls); UDP is ``-t u1`` (one socket). With ``--workers N`` sipsans runs N processes
(``sipsans uas --workers N``) and sipp sends from one socket (or connection) per call
(``-t un``/``tn``) so that the kernel spreads them across the workers; the CPU per call
then sums the workers. A rate given several times is several runs in a row.
``--plot FILE.png`` draws the successful calls and retransmissions of every second of
every step (sipp's ``-fd 1`` statistics rows), ``--json FILE`` keeps every step.

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
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: sipp's socket buffers (its default, 64 KiB, overflows before any UAS here does).
SIPP_BUFFER = 4 * 1024 * 1024


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes ``pids`` (fields 14 and 15 of /proc/PID/stat)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def _cpu_pids(pid: int) -> list[int]:
    """``pid`` and its child processes (the workers of ``sipsans uas --workers N``)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return [pid, *children]


def socket_drops(port: int) -> int:
    """Datagrams dropped on arrival at the UDP socket bound to 127.0.0.1:``port``."""
    local = f"0100007F:{port:04X}"
    drops = 0
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local:  # several sockets with --workers (SO_REUSEPORT)
            drops += int(fields[-1])
    return drops


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
    #: sipp's per-second rows: (elapsed s, successful calls, retransmissions, failed calls)
    seconds_series: list[tuple[float, int, int, int]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (
            self.exit_code == 0 and self.failed == 0 and self.retrans == 0 and self.ok == self.calls
        )


def run_step(
    sipp: str,
    port: int,
    pids: list[int],
    *,
    rate: int,
    seconds: float,
    work: Path,
    nice: int,
    transport: str = "u1",
) -> Step:
    calls = max(1, int(rate * seconds))
    stats = work / f"uac_{port}_{rate}.csv"
    stats.unlink(missing_ok=True)
    command = [*_niced(nice), sipp, "-sn", "uac", f"127.0.0.1:{port}", "-i", "127.0.0.1", "-p", "0"]
    command += ["-t", transport]
    if transport.endswith("n"):  # a socket per call, reused past this many (ulimit -n)
        command += ["-max_socket", "1000"]
    command += ["-r", str(rate), "-m", str(calls), "-nostdin", "-timeout", f"{int(seconds) + 20}s"]
    command += ["-timeout_error", "-trace_stat", "-stf", str(stats), "-fd", "1"]
    command += ["-buff_size", str(SIPP_BUFFER)]
    drops, errors = socket_drops(port), rcvbuf_errors()
    before = cpu_seconds(pids)
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
    used = cpu_seconds(pids) - before
    drops = socket_drops(port) - drops
    lost = rcvbuf_errors() - errors - drops
    ok = failed = retrans = 0
    series: list[tuple[float, int, int, int]] = []
    if stats.exists():
        rows = list(csv.DictReader(stats.open(), delimiter=";"))
        if rows:
            last = rows[-1]
            ok = int(last["SuccessfulCall(C)"])
            failed = int(last["FailedCall(C)"])
            retrans = int(last["Retransmissions(C)"])
        series = [
            (
                _seconds(row["ElapsedTime(C)"]),
                int(row["SuccessfulCall(P)"]),
                int(row["Retransmissions(P)"]),
                int(row["FailedCall(P)"]),
            )
            for row in rows
        ]
    per_call = used / ok * 1e6 if ok else float("nan")
    return Step(
        rate, calls, ok, failed, retrans, per_call, elapsed, result.returncode, drops, lost, series
    )


def _seconds(elapsed: str) -> float:
    """sipp's ``HH:MM:SS:mmm...`` elapsed time in seconds."""
    hours, minutes, secs, *rest = elapsed.split(":")
    fraction = float(f"0.{rest[0]}") if rest and rest[0].isdigit() else 0.0
    return int(hours) * 3600 + int(minutes) * 60 + int(secs) + fraction


def _niced(nice: int) -> list[str]:
    """The command prefix running a process at niceness ``nice`` (nothing for 0)."""
    return ["nice", "-n", str(nice)] if nice else []


@dataclass(frozen=True)
class Options:
    """How the UASes are started: ``tcp`` or ``udp``; uvloop for sipsans; the python that
    runs the aiosipua peer; sipsans's ``--workers``; niceness."""

    transport: str = "udp"
    uvloop: bool = True
    peer_python: str = sys.executable
    workers: int = 1
    nice: int = 0
    state: str = "redis://127.0.0.1:6379/0"  # the store of sipsans-shared (--state)
    many_sources: bool = False  # sipp sends from a socket per call even to one worker

    @property
    def sipp_transport(self) -> str:
        """sipp's ``-t``: one socket (UDP) or one connection (TCP) for every call, or with
        several workers (or ``--many-sources``) one per call, so the kernel spreads them."""
        if self.workers > 1 or self.many_sources:
            return "un" if self.transport == "udp" else "tn"
        return "u1" if self.transport == "udp" else "t1"


def start_uas(kind: str, port: int, sipp: str, options: Options) -> subprocess.Popen[bytes]:
    if kind in ("sipsans", "sipsans-asyncio", "sipsans-shared"):
        command = [sys.executable, "-m", "sipsans_asyncio.cli", "uas"]
        # --quiet: no line per call, which a load test would only throw away.
        command += ["--listen", f"127.0.0.1:{port}", "--transport", options.transport, "--quiet"]
        if options.uvloop and kind != "sipsans-asyncio":
            command.append("--uvloop")
        if options.workers > 1:
            command += ["--workers", str(options.workers)]
        if kind == "sipsans-shared":
            command += ["--state", options.state]  # every call written to the store and deleted
    elif kind == "sipp":
        command = [sipp, "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-nostdin"]
        command += ["-t", "u1" if options.transport == "udp" else "t1"]
        command += ["-buff_size", str(SIPP_BUFFER)]  # as its UAC: its 64 KiB default overflows
    elif kind == "aiosipua":
        # The peer's script imports only aiosipua, so it runs in any venv that has it.
        script = HERE / "peers" / "aiosipua_uas.py"
        command = [options.peer_python, str(script), str(port), options.transport]
    else:
        raise ValueError(kind)
    nice = options.nice
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
    options: Options,
    work: Path,
) -> dict[str, list[Step]]:
    """Rate by rate, each UAS in turn (interleaved, so that a load change on the machine
    hits every UAS alike); a UAS leaves the race at its first unclean step. A rate listed
    several times (``--rates 4000,4000,4000``) is several runs in a row."""
    procs: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    results: dict[str, list[Step]] = {kind: [] for kind in kinds}
    try:
        for kind in kinds:
            port = free_port()
            procs[kind] = (port, start_uas(kind, port, sipp, options))
        for rate in rates:
            for kind in kinds:
                steps = results[kind]
                if steps and not steps[-1].clean:
                    continue
                port, proc = procs[kind]
                step = run_step(
                    sipp,
                    port,
                    _cpu_pids(proc.pid),
                    rate=rate,
                    seconds=seconds,
                    work=work,
                    nice=options.nice,
                    transport=options.sipp_transport,
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


# -- the per-second plot --------------------------------------------------------------------


def plot(results: dict[str, list[Step]], path: Path, title: str) -> None:
    """Successful calls and retransmissions per second of every step, one panel per UAS
    (matplotlib, from the ``bench`` dependency group)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [kind for kind, steps in results.items() if steps]
    fig, axes = plt.subplots(len(kinds), 1, figsize=(10, 3.2 * len(kinds)), squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds, strict=True):
        offset = 0.0
        right = ax.twinx()
        for n, step in enumerate(results[kind]):
            series = step.seconds_series
            if not series:
                continue
            # sipp's rows are cumulative in time, periodic in counts: plot at row time.
            times = [offset + t for t, *_ in series]
            label = "calls/s" if n == 0 else None
            ax.plot(times, [ok for _, ok, _, _ in series], color="tab:blue", label=label)
            label = "retransmissions/s" if n == 0 else None
            right.plot(times, [r for _, _, r, _ in series], color="tab:red", label=label)
            failed = [(t, f) for t, (_, _, _, f) in zip(times, series, strict=True) if f]
            if failed:
                right.plot(*zip(*failed, strict=True), "x", color="black", label="failed calls")
            offset = times[-1] + 1.0
            ax.axvline(offset - 0.5, color="grey", linewidth=0.5)
        ax.set_title(f"{kind}: steps at {', '.join(str(s.rate) for s in results[kind])} calls/s")
        ax.set_ylabel("successful calls / s")
        right.set_ylabel("retransmissions / s", color="tab:red")
        right.set_ylim(bottom=0, top=max(10, right.get_ylim()[1]))
        ax.set_ylim(bottom=0)
        ax.set_xlabel("seconds of load (steps one after another)")
        lines = ax.get_legend_handles_labels()
        more = right.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], loc="lower right", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


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
    parser.add_argument("--transport", choices=["udp", "tcp"], default="udp")
    parser.add_argument("--workers", type=int, default=1, help="sipsans uas --workers N")
    parser.add_argument(
        "--many-sources",
        action="store_true",
        help="sipp -t un/tn (a socket per call) even with one worker, to compare 1 and N",
    )
    parser.add_argument(
        "--peer-python",
        default=sys.executable,
        help="the python that runs bench/peers/aiosipua_uas.py (a venv with aiosipua)",
    )
    parser.add_argument("--plot", type=Path, metavar="PNG", help="per-second rates, to a PNG")
    parser.add_argument("--json", type=Path, metavar="FILE", help="every step, as JSON")
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run sipp and the UASes at this niceness (e.g. -5 as root on a shared machine)",
    )
    args = parser.parse_args()
    sipp = shutil.which("sipp")
    if sipp is None:
        print("sipp not found (Debian package sip-tester)", file=sys.stderr)
        return 2
    try:
        import uvloop  # noqa: F401

        uvloop_ok = not args.no_uvloop
    except ImportError:
        uvloop_ok = False
    options = Options(
        args.transport,
        uvloop_ok,
        args.peer_python,
        args.workers,
        args.nice,
        args.state,
        args.many_sources,
    )
    rates = [int(r) for r in args.rates.split(",")]
    kinds = args.uas.split(",")
    title = (
        f"sipp -sn uac -t {options.sipp_transport}, {args.seconds:g} s per step;"
        f" sipsans on {'uvloop' if uvloop_ok else 'asyncio'}"
        f"{f', {args.workers} workers' if args.workers > 1 else ''}; {os.cpu_count()} CPUs"
    )
    print(f"{title}; rates {rates}{f'; niceness {args.nice}' if args.nice else ''}")
    with tempfile.TemporaryDirectory() as tmp:
        results = bench_all(
            kinds, sipp, rates=rates, seconds=args.seconds, options=options, work=Path(tmp)
        )
    print()
    print(f"{'UAS':10} {'best clean cps':>15} {'CPU us/call at it':>18}")
    best: dict[str, Step | None] = {}
    for kind, steps in results.items():
        clean = [s for s in steps if s.clean]
        top = max(clean, key=lambda s: s.rate) if clean else None
        best[kind] = top
        cps = str(top.rate) if top else "none"
        cpu = f"{top.cpu_us_per_call:.1f}" if top else "-"
        print(f"{kind:10} {cps:>15} {cpu:>18}")
    s, p, a = best.get("sipsans"), best.get("sipp"), best.get("aiosipua")
    if s and a:
        print(f"sipsans / aiosipua clean cps: {s.rate / a.rate:.2f}x")
    for other, top in (("sipp", p), ("aiosipua", a)):
        if s is None or top is None:
            continue
        # CPU per call compared at the same rate when both were clean there.
        mine = [x for x in results["sipsans"] if x.clean]
        theirs = {x.rate: x for x in results[other] if x.clean}
        same = [x for x in mine if x.rate in theirs]
        x = same[-1] if same else s
        y = theirs.get(x.rate, top)
        print(
            f"sipsans CPU/call vs {other}: {x.cpu_us_per_call / y.cpu_us_per_call:.2f}x"
            f" ({x.cpu_us_per_call:.1f} / {y.cpu_us_per_call:.1f} us at {x.rate} and {y.rate} cps)"
        )
    if args.json is not None:
        args.json.write_text(
            json.dumps({k: [vars(x) for x in v] for k, v in results.items()}, indent=1) + "\n"
        )
    if args.plot is not None:
        plot(results, args.plot, title)
        print(f"per-second rates and retransmissions: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
