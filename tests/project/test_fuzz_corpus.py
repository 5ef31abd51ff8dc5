"""Replay every fuzzing corpus file through its harness, as a regression test.

Each folder ``fuzz/corpus/<name>/`` belongs to the harness ``fuzz/fuzz_<name>.py``; every
file in it is fed to that harness's ``one_input`` once (no atheris needed). Seeds pass
trivially; inputs saved from crashes fail until the bug is fixed, and stay as tests.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

FUZZ_DIR = Path(__file__).resolve().parents[2] / "fuzz"
CORPUS_DIR = FUZZ_DIR / "corpus"

_modules: dict[str, ModuleType] = {}


def _harness(name: str) -> Callable[[bytes], None]:
    """Import ``fuzz/fuzz_<name>.py`` (its helpers live beside it in fuzz/)."""
    module = _modules.get(name)
    if module is None:
        if str(FUZZ_DIR) not in sys.path:
            sys.path.insert(0, str(FUZZ_DIR))
        path = FUZZ_DIR / f"fuzz_{name}.py"
        spec = importlib.util.spec_from_file_location(f"fuzz_{name}", path)
        assert spec is not None and spec.loader is not None, path
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _modules[name] = module
    one_input: Callable[[bytes], None] = module.one_input
    return one_input


def _cases() -> list[tuple[str, Path]]:
    cases = []
    for folder in sorted(p for p in CORPUS_DIR.iterdir() if p.is_dir()):
        harness = FUZZ_DIR / f"fuzz_{folder.name}.py"
        assert harness.is_file(), f"{folder} has no harness {harness.name}"
        cases += [(folder.name, f) for f in sorted(folder.iterdir()) if f.is_file()]
    return cases


CASES = _cases()


def test_every_harness_has_a_corpus() -> None:
    harnesses = {p.stem.removeprefix("fuzz_") for p in FUZZ_DIR.glob("fuzz_*.py")}
    with_corpus = {name for name, _ in CASES}
    assert harnesses <= with_corpus, f"harnesses without seeds: {harnesses - with_corpus}"


@pytest.mark.parametrize(("harness", "path"), CASES, ids=[f"{h}/{p.name}" for h, p in CASES])
def test_corpus_input(harness: str, path: Path) -> None:
    _harness(harness)(path.read_bytes())


def test_endpoint_seed_programs_are_in_the_corpus_and_do_what_they_say() -> None:
    """fuzz/corpus/endpoint/ holds the hand-written programs of fuzz_endpoint.seeds()."""
    _harness("endpoint")
    module = _modules["endpoint"]
    programs: dict[str, bytes] = module.seeds()
    for name, program in programs.items():
        assert (CORPUS_DIR / "endpoint" / name).read_bytes() == program, name

    def wire(name: str) -> list[bytes]:
        run = module.Run(programs[name])
        while not run.p.done:
            run.step()
        first_lines: list[bytes] = [t.data.split(b"\r\n", 1)[0] for t in run.sent]
        return first_lines

    assert b"SIP/2.0 200 Whatever" not in wire("uas-invite-200")  # our 200 is the core's
    assert any(line.startswith(b"SIP/2.0 200") for line in wire("uas-invite-200"))
    assert any(line.startswith(b"CANCEL ") for line in wire("uac-cancel"))
    assert wire("uac-timeout").count(wire("uac-timeout")[0]) > 3  # retransmissions


def test_ua_seed_programs_are_in_the_corpus_and_do_what_they_say() -> None:
    """fuzz/corpus/ua/ holds the hand-written programs of fuzz_ua.seeds(); each stages what
    its comment says (checked on the UA's transmits and events)."""
    _harness("ua")
    module = _modules["ua"]
    programs: dict[str, bytes] = module.seeds()
    for name, program in programs.items():
        assert (CORPUS_DIR / "ua" / name).read_bytes() == program, name

    def log(name: str) -> list[str]:
        run = module.Run(programs[name], record=True)
        while not run.p.done:
            run.step()
        lines: list[str] = run.log
        return lines

    def statuses(name: str) -> set[str]:
        return {line[8:11] for line in log(name) if line.startswith("SIP/2.0 ")}

    uas = log("uas-call-bye")
    assert uas.index("IncomingCall") < uas.index("SIP/2.0 200 OK") < uas.index("DialogTerminated")
    assert "SIP/2.0 486 Nope" in log("uas-ring-reject")
    assert "SIP/2.0 487 Request Terminated" in log("uas-cancelled")
    assert "BYE" in [line.split(" ")[0] for line in log("uac-call-bye")]
    assert [line.split(" ")[0] for line in log("uac-auth-busy")].count("INVITE") == 2  # retried
    assert "CANCEL" in [line.split(" ")[0] for line in log("uac-cancel")]
    assert {"405", "481", "501"} <= statuses("out-of-dialog")
    assert "NotifyReceived" in log("subscribe-notify")
    assert "NotifyReceived" in log("refer-sent")
    assert "ReferReceived" in log("refer-received")


PENDING_DIR = FUZZ_DIR / "pending"
PENDING = [
    (folder.name, f)
    for folder in sorted(p for p in PENDING_DIR.glob("*") if p.is_dir())
    for f in sorted(folder.iterdir())
    if f.is_file()
]


@pytest.mark.xfail(strict=True, reason="a reported core bug, not fixed yet")
@pytest.mark.parametrize(("harness", "path"), PENDING, ids=[f"{h}/{p.name}" for h, p in PENDING])
def test_pending_crash_still_fails(harness: str, path: Path) -> None:
    """fuzz/pending/<harness>/ holds reproducers of reported, unfixed bugs. Once a fix lands
    this test XPASSes (a failure under strict xfail): move the file into fuzz/corpus/."""
    _harness(harness)(path.read_bytes())
