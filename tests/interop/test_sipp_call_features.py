"""100rel/PRACK, session timers and UPDATE against sipp 3.6 (Debian package sip-tester),
with the scenarios of tests/interop/scenarios/, on 127.0.0.1 with bounded runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import run_sipp, sipp_in_background
from .test_sipp import Run, assert_all_succeeded, start_uas, uac_args, uas_args

pytestmark = pytest.mark.interop

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def scenario(name: str) -> list[str]:
    return ["-sf", str(SCENARIOS / name)]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_requiring_100rel_and_a_session_timer_refreshed_by_update(
    sipp: str, port: int, run_sipsans: Run, tmp_path: Path, transport: str
) -> None:
    """sipp requires 100rel and asks for a 90 s timer: `sipsans uas --ring` sends a
    reliable 180, answers its PRACK, grants the timer in its 2xx, answers two UPDATE
    refreshes renewing it; sipp's BYE ends the call."""
    calls = 3
    uas = start_uas(
        run_sipsans, port, "--ring", "0.3", "--transport", transport, "--calls", str(calls), "-v"
    )
    screen = tmp_path / "sipp.screen"
    args = uac_args(
        scenario("uac_100rel_timer_update.xml"),
        port,
        calls=calls,
        rate=5,
        limit=30,
        transport=transport,
    )
    assert_all_succeeded(run_sipp(sipp, args, screen, timeout=60), screen, calls)
    assert uas.finish(timeout=15) == 0, uas.output()
    assert uas.output().count("UAC_BYE") == calls


def test_sipsans_call_pracks_a_reliable_183_with_sdp(
    sipp: str, port: int, run_sipsans: Run, tmp_path: Path
) -> None:
    """sipp answers `sipsans call` with a reliable 183 carrying SDP and sends its 200
    only once PRACKed; the PRACK's RAck names the 183's RSeq and the INVITE's CSeq."""
    screen = tmp_path / "sipp.screen"
    messages = tmp_path / "sipp.messages"
    args = uas_args(scenario("uas_reliable_183.xml"), port)
    args += ["-trace_msg", "-message_file", str(messages)]
    with sipp_in_background(sipp, args, screen) as peer:
        call = run_sipsans(
            ["call", f"sip:service@127.0.0.1:{port}", "--duration", "0.5", "--timeout", "15"]
        )
        assert call.finish(timeout=30) == 0, call.output()
        assert "answered" in call.output() and "hung up" in call.output()
        rc = peer.wait(timeout=30)
    assert_all_succeeded(rc, screen, 1)
    trace = messages.read_text(errors="replace")
    (invite_cseq,) = set(re.findall(r"CSeq: (\d+) INVITE", trace))
    assert re.findall(r"RAck: (.+)", trace) == [f"1 {invite_cseq} INVITE"]


def test_sipsans_call_asks_again_after_422(
    sipp: str, port: int, run_sipsans: Run, tmp_path: Path
) -> None:
    """sipp answers the first INVITE with 422 (Min-SE: 3600); `sipsans call` sends it
    again asking for 3600 s (checked by the scenario) and the call goes on."""
    screen = tmp_path / "sipp.screen"
    with sipp_in_background(sipp, uas_args(scenario("uas_422.xml"), port), screen) as peer:
        call = run_sipsans(
            ["call", f"sip:service@127.0.0.1:{port}", "--duration", "0.5", "--timeout", "15"]
        )
        assert call.finish(timeout=30) == 0, call.output()
        rc = peer.wait(timeout=30)
    assert_all_succeeded(rc, screen, 1)


def test_sipp_asking_for_too_short_a_session_gets_422_and_asks_again(
    sipp: str, port: int, run_sipsans: Run, tmp_path: Path
) -> None:
    uas = start_uas(run_sipsans, port, "--calls", "1", "-v")
    screen = tmp_path / "sipp.screen"
    args = uac_args(scenario("uac_422.xml"), port, calls=1, rate=1, limit=20, transport="udp")
    assert_all_succeeded(run_sipp(sipp, args, screen, timeout=40), screen, 1)
    assert uas.finish(timeout=15) == 0, uas.output()
    assert "UAC_BYE" in uas.output()
