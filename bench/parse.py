"""Parser benchmark: messages/second for sipsans, a naive baseline and PyPI peers, in one run.

Run from the repository root:

    .venv/bin/python bench/parse.py            # full run, well under 60 s
    .venv/bin/python bench/parse.py --quick    # CI smoke run, about a second
    .venv/bin/python bench/parse.py --json results.json

For every sample message (bench/messages.py) and every implementation, three cases are timed:

* parse      -- bytes -> the implementation's message object, nothing else, over a stream of
  distinct messages (`messages.distinct`: each a variant of the sample with a fresh top Via
  branch, From tag, Call-ID and CSeq number, and To tag where it has one, as real traffic has);
* parse+fields -- the same stream, then read the transaction fields through the public API:
  top Via branch, From tag, To tag, Call-ID, CSeq number, CSeq method, Via count. This is the
  headline: the figure the targets are checked on;
* repeated -- parse+fields over the one sample message, again and again. Memos keyed on
  whole values hit here and never in real traffic: shown beside the headline, never alone.

Before timing, the fields read are checked against the expected values, on the sample and on
every message of a distinct stream; an implementation that raises or reads a wrong value is
reported as "n/a: reason" and takes no part in the ratios.

Method: each case runs `warm-up` untimed calls, then `repeats` timed loops of `iterations`
calls (time.perf_counter around the whole loop, garbage collector disabled as timeit does;
every round of a distinct case gets its own fresh slice of the stream);
the best (fastest) loop is kept, since slower loops only measure interference. The repeats are
interleaved across cases (round 1 of every case, then round 2, ...). The targets
(DESIGN.md section 8) are checked on parse+fields, all numbers coming from this one run.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import importlib.metadata
import json
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from messages import MESSAGES, TxnFields, distinct

REPO_ROOT = Path(__file__).resolve().parent.parent

PEER_TARGET = 4.0  # sipsans parse+fields >= 4x the fastest correct peer
NAIVE_TARGET = 3.0  # naive parse+fields <= 3x sipsans
PEER_CHECK = "sipsans vs fastest correct peer"
NAIVE_CHECK = "naive / sipsans"

Fn = Callable[[bytes], object]
FieldsFn = Callable[[bytes], tuple[object, ...]]


@dataclass
class Impl:
    """One implementation under test; `parse`/`fields` are None when it cannot run at all."""

    name: str
    kind: str  # "sipsans", "naive" or "peer"
    version: str
    parse: Fn | None
    fields: FieldsFn | None
    note: str = ""


@dataclass
class Result:
    impl: str
    kind: str
    version: str
    parse_per_s: float | None = None
    fields_per_s: float | None = None
    repeated_fields_per_s: float | None = None
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# sipsans


def load_sipsans() -> Impl:
    try:
        if str(REPO_ROOT) not in sys.path:
            sys.path.insert(0, str(REPO_ROOT))
        mod: Any = importlib.import_module("sipsans")
        parse: Fn = mod.parse_message
    except Exception as exc:
        return Impl("sipsans", "sipsans", "?", None, None, f"not importable: {_reason(exc)}")

    def fields(data: bytes) -> tuple[object, ...]:
        m: Any = parse(data)
        vias = m.vias
        cseq = m.cseq
        return (
            vias[0].branch,
            m.from_.tag,
            m.to.tag,
            m.call_id,
            cseq.seq,
            cseq.method,
            len(vias),
        )

    return Impl("sipsans", "sipsans", str(getattr(mod, "__version__", "dev")), parse, fields)


# --------------------------------------------------------------------------------------------
# Naive baseline: the simplest thing that "works" on these messages, and nothing more
# (no folding, no compact forms, no comma-separated Vias, case-sensitive Via count).


def naive_parse(data: bytes) -> tuple[bytes, dict[bytes, bytes], bytes, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        # setdefault: the first Via (the top one) wins.
        headers.setdefault(name.strip().lower(), value.strip())
    return lines[0], headers, body, head


def _naive_param(value: bytes, key: bytes) -> str | None:
    i = value.find(key)
    if i < 0:
        return None
    i += len(key)
    j = value.find(b";", i)
    return (value[i:] if j < 0 else value[i:j]).decode()


def naive_fields(data: bytes) -> tuple[object, ...]:
    _, headers, _, head = naive_parse(data)
    seq, _, method = headers[b"cseq"].partition(b" ")
    return (
        _naive_param(headers[b"via"], b"branch="),
        _naive_param(headers[b"from"], b"tag="),
        _naive_param(headers[b"to"], b"tag="),
        headers[b"call-id"].decode(),
        int(seq),
        method.strip().decode(),
        head.count(b"\r\nVia:"),
    )


def load_naive() -> Impl:
    return Impl("naive split+dict", "naive", "-", naive_parse, naive_fields)


# --------------------------------------------------------------------------------------------
# Peers (optional `bench` dependency group). Each is driven through its public API, the way its
# own code reads these headers.


def load_opensip() -> Impl:
    # opensip.message.parse_message -> SIPRequest/SIPResponse with a raw Headers multi-dict;
    # typed views come from opensip.headers (parse_via_list, NameAddr.parse), as opensip.ua does.
    message: Any = importlib.import_module("opensip.message")
    headers: Any = importlib.import_module("opensip.headers")
    parse: Fn = message.parse_message
    parse_via_list = headers.parse_via_list
    name_addr = headers.NameAddr

    def fields(data: bytes) -> tuple[object, ...]:
        m: Any = parse(data)
        hdrs = m.headers
        vias = [v for raw in hdrs.get_all("Via") for v in parse_via_list(raw)]
        seq, method = m.cseq
        return (
            vias[0].params.get("branch"),
            name_addr.parse(hdrs.get("From")).params.get("tag"),
            name_addr.parse(hdrs.get("To")).params.get("tag"),
            m.call_id,
            seq,
            method,
            len(vias),
        )

    return Impl("opensip", "peer", _version("opensip"), parse, fields)


def load_sipmessage() -> Impl:
    # sipmessage.Message.parse -> Request/Response; typed properties .via (list[Via]),
    # .from_address / .to_address (Address), .call_id, .cseq (CSeq(sequence, method)).
    mod: Any = importlib.import_module("sipmessage")
    parse: Fn = mod.Message.parse

    def fields(data: bytes) -> tuple[object, ...]:
        m: Any = parse(data)
        vias = m.via
        cseq = m.cseq
        return (
            vias[0].parameters.get("branch"),
            m.from_address.parameters.get("tag"),
            m.to_address.parameters.get("tag"),
            m.call_id,
            cseq.sequence,
            cseq.method,
            len(vias),
        )

    return Impl("sipmessage", "peer", _version("sipmessage"), parse, fields)


def load_aiosipua() -> Impl:
    # aiosipua.SipMessage.parse -> SipRequest/SipResponse; typed properties .via (list[Via] with
    # .branch), .from_addr / .to_addr (Address with .tag), .call_id, .cseq (CSeq(seq, method)).
    mod: Any = importlib.import_module("aiosipua")
    parse: Fn = mod.SipMessage.parse

    def fields(data: bytes) -> tuple[object, ...]:
        m: Any = parse(data)
        vias = m.via
        cseq = m.cseq
        return (
            vias[0].branch,
            m.from_addr.tag,
            m.to_addr.tag,
            m.call_id,
            cseq.seq,
            cseq.method,
            len(vias),
        )

    return Impl("aiosipua", "peer", _version("aiosipua"), parse, fields)


def load_pysipio() -> Impl:
    # PySIPio (import name PySIP): PySIP.sip_core.SipMessage(text).parse() fills .branch,
    # .from_tag, .to_tag, .call_id, .cseq (the number) and .method; it takes text, not bytes,
    # and keeps one value per header name (a dict), so the Via count is what its dict holds.
    # pydub, which it imports, warns that ffmpeg is missing; its logger opens PySIP.log in
    # the working directory: a scratch one.
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as scratch:
        warnings.simplefilter("ignore")
        with contextlib.chdir(scratch):
            mod: Any = importlib.import_module("PySIP.sip_core")
    message = mod.SipMessage

    def parse(data: bytes) -> object:
        m = message(data.decode())
        m.parse()
        return m

    def fields(data: bytes) -> tuple[object, ...]:
        m: Any = parse(data)
        vias = [v for k, v in m.headers.items() if k == "Via"]
        return (m.branch, m.from_tag, m.to_tag, m.call_id, m.cseq, m.method, len(vias))

    return Impl("pysipio", "peer", _version("PySIPio"), parse, fields)


PEERS: dict[str, Callable[[], Impl]] = {
    "opensip": load_opensip,
    "sipmessage": load_sipmessage,
    "aiosipua": load_aiosipua,
    "pysipio": load_pysipio,
}


def load_impls() -> tuple[list[Impl], list[str]]:
    impls = [load_sipsans(), load_naive()]
    skipped: list[str] = []
    for name, loader in PEERS.items():
        try:
            impls.append(loader())
        except Exception as exc:
            skipped.append(f"{name}: not importable ({_reason(exc)}); skipped")
    return impls, skipped


# --------------------------------------------------------------------------------------------
# Timing


@dataclass(frozen=True)
class Settings:
    iterations: int
    repeats: int
    warmup: int


def time_loop(fn: Fn, stream: list[bytes]) -> float:
    """Seconds taken by fn(data) for every data of `stream`, garbage collector disabled."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for data in stream:
            fn(data)
        return time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()


def check_fields(impl: Impl, data: bytes, expected: TxnFields) -> str | None:
    """None when `impl` reads every expected value from `data`, else the reason it does not."""
    assert impl.fields is not None
    try:
        got = impl.fields(data)
    except Exception as exc:
        return f"fields: {_reason(exc)}"
    wrong = [
        f"{name}={value!r} (expected {want!r})"
        for name, value, want in zip(TxnFields._fields, got, expected, strict=True)
        if value != want
    ]
    return "wrong " + ", ".join(wrong) if wrong else None


def check_stream(impl: Impl, stream: list[tuple[bytes, TxnFields]]) -> str | None:
    """check_fields over every message of `stream`: the first problem, or None."""
    for data, expected in stream:
        problem = check_fields(impl, data, expected)
        if problem is not None:
            return problem
    return None


def run_message(name: str, impls: list[Impl], settings: Settings) -> list[Result]:
    """Validate every implementation on the message `name`, then time all the cases that can run.

    The distinct cases feed each implementation a stream of variants of the message with
    fresh transaction fields (`messages.distinct`), a new slice of it for every round, so no
    implementation sees the same bytes twice in a timed loop; the repeated case feeds it the
    one sample message `iterations` times. The repeats are interleaved (round 1 of every
    case, then round 2, ...) so that a burst of machine noise hits one round of every case
    instead of every round of one case.
    """
    data, _ = MESSAGES[name]
    n = settings.iterations
    # Variant 0 and up are checked; the warm-up and the rounds use later ones, fresh each.
    checked = distinct(name, n)
    warmup = [d for d, _ in distinct(name, settings.warmup, start=n)]
    start = n + settings.warmup
    rounds = [
        [d for d, _ in distinct(name, n, start=start + r * n)] for r in range(settings.repeats)
    ]
    repeated = [data] * n
    results: list[Result] = []
    cases: list[tuple[Result, str, bool, Fn]] = []
    for impl in impls:
        result = Result(impl.name, impl.kind, impl.version)
        results.append(result)
        if impl.parse is None or impl.fields is None:
            result.notes.append(impl.note)
            continue
        try:
            first = impl.parse(data)
        except Exception as exc:
            result.notes.append(f"parse: {_reason(exc)}")
            continue
        if impl.kind == "sipsans" and impl.parse(data) is first:
            result.notes.append("parse returns a cached object: timings are not comparable")
        cases.append((result, "parse_per_s", True, impl.parse))
        problem = check_fields(impl, data, MESSAGES[name][1]) or check_stream(impl, checked)
        if problem is not None:
            result.notes.append(problem)
            continue
        cases.append((result, "fields_per_s", True, impl.fields))
        cases.append((result, "repeated_fields_per_s", False, impl.fields))

    for _, _, _, fn in cases:
        time_loop(fn, warmup)
    best = [float("inf")] * len(cases)
    for r in range(settings.repeats):
        for i, (_, _, fresh, fn) in enumerate(cases):
            best[i] = min(best[i], time_loop(fn, rounds[r] if fresh else repeated))
    for (result, attr, _, _), seconds in zip(cases, best, strict=True):
        setattr(result, attr, n / seconds)
    return results


# --------------------------------------------------------------------------------------------
# Report


@dataclass
class Verdict:
    name: str
    ratio: float | None
    target: str
    met: bool | None
    detail: str


def verdicts(results: list[Result]) -> tuple[dict[str, float], list[Verdict]]:
    by_kind = {r.kind: r for r in results if r.kind != "peer"}
    ours = by_kind["sipsans"].fields_per_s
    naive = by_kind["naive"].fields_per_s
    peers = [r for r in results if r.kind == "peer" and r.fields_per_s is not None]
    ratios: dict[str, float] = {}
    if ours is not None:
        for peer in peers:
            assert peer.fields_per_s is not None
            ratios[f"sipsans/{peer.impl}"] = ours / peer.fields_per_s
        if naive is not None:
            ratios["naive/sipsans"] = naive / ours

    out: list[Verdict] = []
    # sipsans importable but failing counts as "not met"; not importable as "not evaluated".
    ours_failed: bool | None = False if by_kind["sipsans"].parse_per_s is not None else None
    ours_missing = "sipsans parse+fields failed" if ours_failed is False else "no sipsans"
    peer_target = f">= {PEER_TARGET:g}x"
    if ours is None:
        out.append(Verdict(PEER_CHECK, None, peer_target, ours_failed, ours_missing))
    elif not peers:
        out.append(Verdict(PEER_CHECK, None, peer_target, None, "no peer"))
    else:
        fastest = max(peers, key=lambda r: r.fields_per_s or 0.0)
        ratio = ratios[f"sipsans/{fastest.impl}"]
        out.append(
            Verdict(
                PEER_CHECK,
                ratio,
                peer_target,
                ratio >= PEER_TARGET,
                f"fastest correct peer: {fastest.impl}",
            )
        )
    naive_target = f"<= {NAIVE_TARGET:g}x"
    if "naive/sipsans" in ratios:
        ratio = ratios["naive/sipsans"]
        out.append(Verdict(NAIVE_CHECK, ratio, naive_target, ratio <= NAIVE_TARGET, ""))
    elif ours is None:
        out.append(Verdict(NAIVE_CHECK, None, naive_target, ours_failed, ours_missing))
    else:
        out.append(Verdict(NAIVE_CHECK, None, naive_target, None, "naive baseline failed"))
    return ratios, out


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def print_table(name: str, size: int, results: list[Result], found: list[Verdict]) -> None:
    ours = next(r.fields_per_s for r in results if r.kind == "sipsans")
    print(f"\n{name} ({size} bytes)")
    header = (
        f"  {'implementation':<24} {'parse msg/s':>13} {'parse+fields msg/s':>19} "
        f"{'sipsans / this':>15} {'repeated msg/s':>15}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for r in results:
        label = r.impl if r.kind != "peer" else f"{r.impl} {r.version}"
        if r.kind == "peer" and ours is not None and r.fields_per_s is not None:
            ratio = f"{ours / r.fields_per_s:.2f}x"
        else:
            ratio = ""
        print(
            f"  {label:<24} {_rate(r.parse_per_s):>13} {_rate(r.fields_per_s):>19} {ratio:>15} "
            f"{_rate(r.repeated_fields_per_s):>15}"
        )
        for note in r.notes:
            print(f"  {'':<24} n/a: {note}")
    for v in found:
        if v.met is None:
            print(f"  {v.name}: n/a ({v.detail}); target {v.target}: not evaluated")
            continue
        verdict = "met" if v.met else "NOT met"
        detail = f" ({v.detail})" if v.detail else ""
        ratio = "n/a" if v.ratio is None else f"{v.ratio:.2f}x"
        print(f"  {v.name}: {ratio}{detail}; target {v.target}: {verdict}")


# --------------------------------------------------------------------------------------------


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:120]}" if text else type(exc).__name__


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="few iterations (CI smoke run)")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write results as JSON")
    parser.add_argument("--iterations", type=int, help="calls per timed loop (default 2000)")
    parser.add_argument("--repeats", type=int, help="timed loops per case, best kept (default 10)")
    args = parser.parse_args(argv)

    iterations = args.iterations or (200 if args.quick else 2000)
    repeats = args.repeats or (3 if args.quick else 10)
    settings = Settings(iterations, repeats, warmup=max(iterations // 10, 20))

    started = time.perf_counter()
    impls, skipped = load_impls()
    print(
        f"sipsans parser benchmark -- {platform.python_implementation()} "
        f"{platform.python_version()} on {platform.machine()}; "
        f"best of {settings.repeats} x {settings.iterations} calls "
        f"after {settings.warmup} warm-up calls, gc disabled while timing"
    )
    for note in skipped:
        print(f"  {note}")

    report: dict[str, Any] = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": platform.machine(),
        "settings": {
            "iterations": settings.iterations,
            "repeats": settings.repeats,
            "warmup": settings.warmup,
            "quick": args.quick,
        },
        "targets": {
            "sipsans_vs_fastest_peer_min": PEER_TARGET,
            "naive_vs_sipsans_max": NAIVE_TARGET,
        },
        "skipped": skipped,
        "messages": {},
    }
    all_verdicts: list[bool | None] = []
    for name, (data, _) in MESSAGES.items():
        results = run_message(name, impls, settings)
        ratios, found = verdicts(results)
        all_verdicts += [v.met for v in found]
        print_table(name, len(data), results, found)
        report["messages"][name] = {
            "size": len(data),
            "results": [vars(r) for r in results],
            "ratios": ratios,
            "targets": [vars(v) for v in found],
        }
    elapsed = time.perf_counter() - started
    if False in all_verdicts:
        summary, report["all_targets_met"] = "targets NOT met", False
    elif None in all_verdicts:
        summary, report["all_targets_met"] = "targets not all evaluated", None
    else:
        summary, report["all_targets_met"] = "all targets met", True
    report["elapsed_s"] = elapsed
    print(f"\n{summary} ({elapsed:.1f} s)")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
