"""``sipsans uas --state URL``: usage errors come before anything starts (the worker's
whole path, with Redis and Kamailio, is tests/interop/test_scaleout.py)."""

from __future__ import annotations

import sys

import pytest

from sipsans_asyncio import cli


def test_an_unknown_store_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["uas", "--state", "mongodb://127.0.0.1/0"])
    assert exc.value.code == 2
    assert "redis://HOST:PORT/DB" in capsys.readouterr().err


def test_a_missing_redis_extra_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(SystemExit) as exc:
        cli.main(["uas", "--state", "redis://127.0.0.1:6379/0"])
    assert exc.value.code == 2
    assert "pip install sipsans[redis]" in capsys.readouterr().err


def test_restore_wait_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["uas", "--state", "memory:", "--restore-wait", "0"])
    assert "--restore-wait" in capsys.readouterr().err


def test_the_options_are_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["uas", "--help"])
    out = capsys.readouterr().out
    assert "--state URL" in out and "--worker NAME" in out
