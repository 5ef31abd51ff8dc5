"""``--trace FILE`` then ``sipsans replay FILE --check``: the documented workflow, for
every network subcommand and every transport (issue: "the header has no integer seed";
``options`` wrote ``"seed": 0`` and diverged).

A transcript records the seed of the seeded generator the command used (drawn from the
OS for this run), the Endpoint's configuration, every input, every command of the
Endpoint under the UserAgent and every message sent; replayed on a bare Endpoint it
must give the same bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cliharness import Command, Output, free_port

from sipsans.tools.sequence import from_transcript
from sipsans_asyncio import cli

TRANSPORTS = ["udp", "tcp", "tls", "ws", "wss"]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    trustme = pytest.importorskip("trustme")
    folder = tmp_path_factory.mktemp("certs")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = (folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    ca.cert_pem.write_to_path(paths[0])
    cert.cert_chain_pems[0].write_to_path(paths[1])
    cert.private_key_pem.write_to_path(paths[2])
    return paths


def _replays(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    rc = cli.main(["replay", str(path), "--check"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "replay matched" in out
    return out


def _header(path: Path) -> dict[str, object]:
    header = json.loads(path.read_text().splitlines()[0])
    assert isinstance(header, dict)
    return header


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_client_subcommand_replays_against_the_uas(
    transport: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    certificates: tuple[Path, Path, Path],
) -> None:
    if transport in ("ws", "wss"):
        pytest.importorskip("wsproto")
    ca, cert, key = (str(p) for p in certificates)
    tls = ["--cert", cert, "--key", key, "--cafile", ca] if transport in ("tls", "wss") else []
    output = Output(capsys)
    port = free_port()
    uas_trace = tmp_path / "uas.jsonl"
    common = ["--transport", transport]
    server = Command(
        [
            *("uas", "--listen", f"127.0.0.1:{port}", "--calls", "2", "--trace", str(uas_trace)),
            *("--duration", "0.3"),  # (it hangs up the call it transfers to itself)
            *common,
            *tls,
        ]
    )
    output.wait_for("listening")
    uri = f"sip:bob@127.0.0.1:{port}"
    client = [*common, "--listen", "127.0.0.1:0", "--timeout", "5", "--cafile", ca]
    runs = {
        "options": ["options", uri],
        "message": ["message", uri, "hello"],
        "call": ["call", uri, "--duration", "0.2"],
        "subscribe": ["subscribe", uri, "presence", "--duration", "0.1"],
        "transfer": ["call", uri, "--transfer-to", uri, "--after", "0.1"],
    }
    traces = {}
    for name, argv in runs.items():
        traces[name] = tmp_path / f"{name}.jsonl"
        rc = Command([*argv, *client, "--trace", str(traces[name])]).result()
        assert rc == 0, (name, output.read())
    assert server.result() == 0, output.read()
    for name, path in [*traces.items(), ("uas", uas_trace)]:
        header = _header(path)
        assert isinstance(header["seed"], int) and header["seed"] > 0, name
        _replays(path, capsys)
    # The uas's transcript holds every call, the transferred one included.
    sent = from_transcript(uas_trace.read_text()).sent
    assert sum(m.data.startswith(b"INVITE ") for m in sent) >= 3


def test_register_and_registrar_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = Output(capsys)
    port = free_port()
    registrar_trace, register_trace = tmp_path / "registrar.jsonl", tmp_path / "register.jsonl"
    registrar = Command(
        [
            *("registrar", "--listen", f"127.0.0.1:{port}", "--user", "alice:pw"),
            *("--requests", "3", "--trace", str(registrar_trace)),
        ]
    )
    output.wait_for("listening")
    argv = ["register", f"sip:alice@127.0.0.1:{port}", "--user", "alice", "--password", "pw"]
    argv += ["--listen", "127.0.0.1:0", "--trace", str(register_trace)]
    assert Command(argv).result() == 0
    assert registrar.result() == 0
    for path in (register_trace, registrar_trace):
        _replays(path, capsys)


def test_each_run_draws_its_own_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeds = set()
    for n in range(2):
        path = tmp_path / f"{n}.jsonl"
        rc = cli.main(
            [
                *("options", f"sip:x@127.0.0.1:{free_port()}", "--listen", "127.0.0.1:0"),
                *("--timeout", "1", "--trace", str(path)),
            ]
        )
        assert rc == 3  # (nothing listens: the ICMP error is in the transcript too)
        seeds.add(_header(path)["seed"])
        _replays(path, capsys)
    assert len(seeds) == 2


def test_an_altered_transcript_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.jsonl"
    assert cli.main(["demo"]) == 0  # (nothing recorded: just warm the loop)
    rc = cli.main(
        [
            *("options", f"sip:x@127.0.0.1:{free_port()}", "--listen", "127.0.0.1:0"),
            *("--timeout", "1", "--trace", str(path)),
        ]
    )
    assert rc == 3
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    header["seed"] += 1
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    capsys.readouterr()
    assert cli.main(["replay", str(path), "--check"]) == 1
    assert "diverged" in capsys.readouterr().out


def test_an_unwritable_trace_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["options", "sip:x@127.0.0.1", "--trace", str(tmp_path / "no" / "such.jsonl")])
    assert exit_info.value.code == 2
    assert "--trace" in capsys.readouterr().err
