"""`sipsans registrar --source-failures/--user-failures`: the digest failure limits
(docs/auth.md) from the command line, over loopback."""

from __future__ import annotations

import pytest

from sipsans_asyncio import cli

from .test_cli import _Command, _free_udp_port, _Output


def test_a_host_guessing_passwords_gets_503_after_the_limit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = _Output(capsys)
    port = _free_udp_port()
    registrar = _Command(
        [
            *("registrar", "--listen", f"127.0.0.1:{port}", "--user", "alice:s3cret"),
            *("--source-failures", "2", "--requests", "4"),
        ]
    )
    output.wait_for("listening")
    argv = ["register", f"sip:alice@127.0.0.1:{port}", "--user", "alice", "--password", "nope"]
    for _ in range(2):  # each: a challenge, then a wrong answer
        assert cli.main([*argv, "--listen", "127.0.0.1:0", "--timeout", "2"]) != 0
    assert registrar.result() == 0
    answers = [
        line.rsplit("-> ", 1)[1]
        for line in output.read().splitlines()
        if line.startswith("REGISTER ")
    ]
    assert answers == [
        "401 Unauthorized",
        "401 Unauthorized",
        "401 Unauthorized",
        "503 Too Many Failed Attempts",  # the second wrong password: the host backs off
    ]


def test_limits_must_be_counts(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["registrar", "--listen", "127.0.0.1:0", "--source-failures", "-1"]
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    assert "--source-failures and --user-failures are counts" in capsys.readouterr().err
