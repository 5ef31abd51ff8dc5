"""Reaching servers through real DNS (RFC 3263): dnsmasq (Debian package dnsmasq-base)
serves NAPTR, SRV and A records for ``sipsans.test`` on 127.0.0.1, and the ``sipsans``
client subcommands, given ``--dns-server``, find sipp, ``sipsans registrar`` and dead
ports through them, failing over as RFC 3263 §4.3 says. Bounded runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Sipsans, dns_server, free_port, sipp_in_background, sipp_scenario
from .test_sipp import OPTIONS_UAS, reply, uas_args, write

pytestmark = pytest.mark.interop

Run = Callable[[list[str]], Sipsans]

UNAVAILABLE_UAS = sipp_scenario(
    "answer the INVITE 503",
    '  <recv request="INVITE" />\n',
    reply("503 Service Unavailable", tag="01", headers="      Retry-After: 60\n"),
    '  <recv request="ACK" />\n',
)


def hosts(*names: str) -> list[str]:
    """A records: every name at 127.0.0.1."""
    return [f"--host-record={name}.sipsans.test,127.0.0.1" for name in names]


def srv(service: str, target: str, port: int, priority: int, weight: int = 0) -> str:
    """``--srv-host=_service._proto.DOMAIN,TARGET,PORT,PRIORITY,WEIGHT``."""
    return f"--srv-host={service},{target}.sipsans.test,{port},{priority},{weight}"


def test_options_skips_a_dead_first_target_and_reaches_sipp_on_the_second(
    sipp: str, dnsmasq: str, run_sipsans: Run, tmp_path: Path
) -> None:
    """NAPTR picks TCP (SIP+D2T); its SRV set lists a port where nothing listens first
    (priority 10: the connection is refused) and sipp second (priority 20)."""
    dead, live = free_port(), free_port()
    records = [
        "--naptr-record=sipsans.test,10,50,s,SIP+D2T,,_sip._tcp.sipsans.test",
        srv("_sip._tcp.sipsans.test", "dead", dead, 10),
        srv("_sip._tcp.sipsans.test", "live", live, 20),
        *hosts("dead", "live"),
    ]
    screen = tmp_path / "sipp.screen"
    with (
        dns_server(dnsmasq, records, tmp_path) as (host, port),
        sipp_in_background(
            sipp,
            uas_args(write(tmp_path, "options.xml", OPTIONS_UAS), live, transport="tcp"),
            screen,
        ) as peer,
    ):
        options = run_sipsans(
            [
                "options",
                "sip:service@sipsans.test",
                "--dns-server",
                f"{host}:{port}",
                "--timeout",
                "10",
            ]
        )
        assert options.finish(timeout=15) == 0, options.output()
        assert peer.wait(timeout=10) == 0
    assert "200 OK" in options.output()
    queries = (tmp_path / "dnsmasq.log").read_text()
    assert "query[NAPTR] sipsans.test" in queries
    assert "query[SRV] _sip._tcp.sipsans.test" in queries


def test_call_fails_over_on_503_to_the_next_srv_target(
    sipp: str, dnsmasq: str, run_sipsans: Run, tmp_path: Path
) -> None:
    """No NAPTR: the SRV sets per transport (§4.1); ``_sip._udp`` lists a sipp that
    answers 503 first and sipp's built-in UAS second. The call is answered by the second."""
    busy, live = free_port(), free_port()
    records = [
        srv("_sip._udp.call.sipsans.test", "busy", busy, 10),
        srv("_sip._udp.call.sipsans.test", "live", live, 20),
        *hosts("busy", "live"),
    ]
    with (
        dns_server(dnsmasq, records, tmp_path) as (host, port),
        sipp_in_background(
            sipp, uas_args(write(tmp_path, "busy.xml", UNAVAILABLE_UAS), busy), tmp_path / "busy"
        ) as unavailable,
        sipp_in_background(sipp, uas_args(["-sn", "uas"], live), tmp_path / "live") as answering,
    ):
        call = run_sipsans(
            [
                *("call", "sip:service@call.sipsans.test", "--dns-server", f"{host}:{port}"),
                *("--duration", "0.5", "--timeout", "15"),
            ]
        )
        assert call.finish(timeout=30) == 0, call.output()
        assert unavailable.wait(timeout=10) == 0
        assert answering.wait(timeout=15) == 0
    assert "answered" in call.output()


def test_register_follows_srv_to_the_registrar(
    dnsmasq: str, run_sipsans: Run, tmp_path: Path
) -> None:
    """``sipsans register sip:alice@reg.sipsans.test`` finds ``sipsans registrar`` through
    ``_sip._udp.reg.sipsans.test`` (its port is no default one)."""
    registrar_port = free_port()
    records = [
        srv("_sip._udp.reg.sipsans.test", "registrar", registrar_port, 10),
        *hosts("registrar"),
    ]
    registrar = run_sipsans(
        [
            *("registrar", "--listen", f"127.0.0.1:{registrar_port}"),
            *("--domain", "reg.sipsans.test", "--requests", "2"),
        ]
    )
    registrar.wait_for("listening")
    with dns_server(dnsmasq, records, tmp_path) as (host, port):
        register = run_sipsans(
            [
                *("register", "sip:alice@reg.sipsans.test", "--dns-server", f"{host}:{port}"),
                *("--expires", "60", "--timeout", "10"),
            ]
        )
        assert register.finish(timeout=20) == 0, register.output()
    assert "registered sip:alice@reg.sipsans.test for 60 s" in register.output()
    assert registrar.finish(timeout=10) == 0, registrar.output()
    assert "2 REGISTER requests answered" in registrar.output()


@pytest.mark.parametrize(
    "case",
    [
        (
            "sip:loop.sipsans.test",
            ["--naptr-record=loop.sipsans.test,10,50,,,,loop.sipsans.test"],
            "NAPTR loop: loop.sipsans.test -> loop.sipsans.test",
        ),
        (
            "sip:dot.sipsans.test;transport=tcp",
            ["--srv-host=_sip._tcp.dot.sipsans.test"],
            "TCP is decidedly not offered",
        ),
        ("sip:nowhere.sipsans.test", [], "no target for sip:nowhere.sipsans.test"),
    ],
)
def test_dns_that_leads_nowhere_is_a_clear_error(
    dnsmasq: str, run_sipsans: Run, tmp_path: Path, case: tuple[str, list[str], str]
) -> None:
    uri, records, why = case
    with dns_server(dnsmasq, records, tmp_path) as (host, port):
        options = run_sipsans(["options", uri, "--dns-server", f"{host}:{port}", "--timeout", "5"])
        assert options.finish(timeout=15) == 2, options.output()
    assert f"cannot locate {uri}" in options.output()
    assert why in options.output()
