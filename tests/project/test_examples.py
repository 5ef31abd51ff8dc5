"""Every program in examples/ runs as a user would run it, and says what it did.

Each ``examples/*.py`` is found by glob (so a new example is tested the day it lands)
and run as ``python examples/NAME.py`` from the repository root, with this interpreter,
in a subprocess bounded by a timeout. It must exit 0. For the examples listed in
:data:`EXPECTED` the output must also contain the given line, and the last line must
start with ``ok:`` (the convention of examples/README.md); an example not listed yet
only needs to exit 0.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO_ROOT / "examples").glob("*.py"))

#: Far above what any example takes (under a second each; the glare of the re-INVITE
#: examples waits out a random back-off of up to 4 s), far below a hang.
TIMEOUT = 60.0

#: One line each example must print: the step that shows it did its job.
EXPECTED = {
    "call.py": "alice: BYE answered 200",
    "answer.py": "bob: 180 Ringing sent",
    "transfer.py": "bob: NOTIFY 'SIP/2.0 200 OK' (terminated)",
    "register.py": "registrar: REGISTER CSeq 2 -> 200",
    "subscribe.py": "alice: NOTIFY (active): bob is closed",
    "replay_test.py": "replay matched: 8 inputs, 3 transmits identical",
    "trio_call.py": "alice: BYE answered 200",
    "threads_call.py": "alice: BYE answered 200",
    "locate_failover.py": "alice: left 192.0.2.3: 503 Service Unavailable; next 192.0.2.2",
    "prack_timers.py": "alice: hold answered recvonly",
    "reinvite.py": "bob: ACK carries the answer (b'm=audio 5000 RTP/AVP 0')",
    "trio_reinvite.py": "bob: ACK carries the answer (b'm=audio 5000 RTP/AVP 0')",
    "threads_reinvite.py": "bob: ACK carries the answer (b'm=audio 5000 RTP/AVP 0')",
    "trio_transfer.py": "bob: transfer outcome (200, 'OK')",
    "threads_transfer.py": "bob: transfer outcome (200, 'OK')",
    "trio_register.py": "registrar: REGISTER CSeq 2 -> 200",
    "threads_register.py": "registrar: REGISTER CSeq 2 -> 200",
    "trio_subscribe.py": "alice: NOTIFY (active): bob is closed",
    "threads_subscribe.py": "alice: NOTIFY (active): bob is closed",
}


def test_the_examples_are_there() -> None:
    names = {path.name for path in EXAMPLES}
    missing = sorted(set(EXPECTED) - names)
    assert not missing, f"EXPECTED names examples that do not exist: {missing}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs(example: Path) -> None:
    try:
        done = subprocess.run(
            [sys.executable, str(example.relative_to(REPO_ROOT))],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:  # subprocess.run has killed it
        output = (
            exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout
        )
        pytest.fail(f"{example.name} still ran after {TIMEOUT:g} s; output so far:\n{output}")
    report = f"{example.name} output:\n{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, report
    expected = EXPECTED.get(example.name)
    if expected is None:
        return  # not listed (yet): exiting 0 is all that is asked
    lines = done.stdout.splitlines()
    assert expected in lines, report
    assert lines[-1].startswith("ok:"), report
