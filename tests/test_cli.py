"""The ``sipsans`` command line (sipsans_asyncio.cli)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sipsans
from sipsans_asyncio import cli


def test_sample_invite_is_a_valid_message() -> None:
    msg = sipsans.parse_message(cli.SAMPLE_INVITE)
    assert isinstance(msg, sipsans.Request)
    assert msg.method == "INVITE"
    assert len(msg.body) == int(msg.headers.get("content-length", "-1"))
    assert bytes(msg) == cli.SAMPLE_INVITE


def test_demo_prints_the_parsed_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo"]) == 0
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
    assert "Typed fields" in result.stdout
