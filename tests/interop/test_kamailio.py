"""sipsans through kamailio 5.6 (Debian package kamailio), run in the foreground with its
own configuration (``-DD -E -f cfg``) on 127.0.0.1: a registrar with digest
authentication (``pv_www_authenticate``) and a record-routing stateful proxy that relays
INVITEs to the registered contacts (``lookup("location")``), or for ``bob`` to a fixed
``sipsans uas``; in-dialog requests follow the Record-Route (RFC 3261 §16.12)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import Sipsans, free_port, require_peer

pytestmark = pytest.mark.interop

CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "auth.so"
loadmodule "xlog.so"
modparam("usrloc", "db_mode", 0)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{
            xlog("L_INFO", "in-dialog $rm via Record-Route\\n");
            t_relay();
            exit;
        }}
        if (is_method("ACK") && t_check_trans()) {{ t_relay(); }}
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("$td", "s3cret", "0")) {{
            www_challenge("$td", "0");
            exit;
        }}
        if (!save("location")) {{ sl_reply_error(); exit; }}
        xlog("L_INFO", "REGISTER of $tu from $si:$sp saved, Expires: $hdr(Expires)\n");
        exit;
    }}
    if (is_method("INVITE")) {{
        if ($rU == "bob") {{
            $du = "sip:127.0.0.1:{uas}";  # a `sipsans uas` that does not register
        }} else if (lookup("location")) {{
            xlog("L_INFO", "INVITE for $tu routed to $ru\n");
        }} else {{
            sl_send_reply("404", "Not Found");
            exit;
        }}
        record_route();
        t_relay();
        exit;
    }}
    sl_send_reply("404", "Not Here");
}}
"""


class Kamailio:
    """kamailio in the foreground with ``config`` (formatted with its ``port`` and the
    ``uas`` port it relays bob's calls to)."""

    def __init__(self, program: str, home: Path, uas_port: int, config: str = CONFIG) -> None:
        home.mkdir()
        self.port = free_port()
        cfg = home / "kamailio.cfg"
        cfg.write_text(config.format(port=self.port, uas=uas_port))
        self.log = home / "kamailio.log"
        self._file = self.log.open("w")
        self.proc = subprocess.Popen(
            [program, "-DD", "-E", "-f", str(cfg), "-Y", str(home), "-w", str(home)],
            stdout=self._file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while "SO_RCVBUF is finally" not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"kamailio did not start:\n{self.output()}")
            time.sleep(0.05)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._file.close()


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[Callable[[int], Kamailio]]:
    program = require_peer("kamailio", "kamailio")
    started: list[Kamailio] = []

    def start(uas_port: int = 9) -> Kamailio:
        item = Kamailio(program, tmp_path / f"kamailio{len(started)}", uas_port)
        started.append(item)
        return item

    yield start
    for item in started:
        item.stop()


@pytest.mark.parametrize("password", ["s3cret", "wrong"])
def test_sipsans_register_with_digest(
    kamailio: Callable[[int], Kamailio],
    run_sipsans: Callable[[list[str]], Sipsans],
    password: str,
) -> None:
    proxy = kamailio(9)
    register = run_sipsans(
        [
            *("register", f"sip:alice@127.0.0.1:{proxy.port}", "--expires", "60"),
            *("--user", "alice", "--password", password, "--timeout", "10"),
        ]
    )
    rc = register.finish(timeout=20)
    if password == "s3cret":
        assert rc == 0, register.output()
        assert "for 60 s" in register.output() and "unregistered" in register.output()
    else:
        assert rc == 1, register.output()
        assert "registration failed: 401" in register.output()


def test_sipsans_call_through_a_record_routing_proxy(
    kamailio: Callable[[int], Kamailio],
    run_sipsans: Callable[[list[str]], Sipsans],
    port: int,
) -> None:
    uas = run_sipsans(["uas", "--listen", f"127.0.0.1:{port}", "--calls", "1", "-v"])
    uas.wait_for("listening")
    proxy = kamailio(port)
    call = run_sipsans(
        ["call", f"sip:bob@127.0.0.1:{proxy.port}", "--duration", "0.5", "--timeout", "10"]
    )
    assert call.finish(timeout=20) == 0, call.output() + proxy.output()
    assert "answered" in call.output() and "hung up" in call.output()
    assert uas.finish(timeout=15) == 0, uas.output()
    assert "ended UAC_BYE" in uas.output()  # (its line for the call)
    # The ACK and the BYE followed the route set learnt from the Record-Route.
    proxy.stop()
    assert "in-dialog ACK via Record-Route" in proxy.output()
    assert "in-dialog BYE via Record-Route" in proxy.output()


def test_registered_sipsans_ua_is_called_through_kamailio(
    kamailio: Callable[[int], Kamailio],
    run_sipsans: Callable[[list[str]], Sipsans],
    port: int,
) -> None:
    """The issue's flow: alice's UA registers with digest from the socket it takes calls
    on; a second UA calls sip:alice@<kamailio>; kamailio finds her by lookup("location")
    and record-routes; the ACK and BYE follow the route set; both end cleanly and alice
    unregisters on exit, after which kamailio no longer finds her."""
    proxy = kamailio(9)
    aor = f"sip:alice@127.0.0.1:{proxy.port}"
    callee = run_sipsans(
        [
            *("uas", "--listen", f"127.0.0.1:{port}", "--calls", "1", "-v", "--timeout", "10"),
            *("--register", aor, "--user", "alice", "--password", "s3cret", "--expires", "60"),
        ]
    )
    callee.wait_for(f"registered {aor} for 60 s")
    assert f"binding <sip:alice@127.0.0.1:{port}>" in callee.output()
    call = run_sipsans(["call", aor, "--duration", "0.5", "--timeout", "10"])
    assert call.finish(timeout=20) == 0, call.output() + proxy.output()
    assert "answered" in call.output() and "hung up" in call.output()
    assert callee.finish(timeout=15) == 0, callee.output()
    out = callee.output()
    assert "ended UAC_BYE" in out and "1 calls handled" in out
    assert out.index("UAC_BYE") < out.index("unregistered"), out
    # Unregistered: the next call finds no contact (kamailio answers 404 itself).
    again = run_sipsans(["call", aor, "--timeout", "10"])
    assert again.finish(timeout=20) == 1, again.output()
    assert "call failed: 404 Not Found" in again.output()
    proxy.stop()
    log = proxy.output()
    assert f"REGISTER of {aor} from 127.0.0.1:{port} saved, Expires: 60" in log, log
    assert f"INVITE for {aor} routed to sip:alice@127.0.0.1:{port}" in log, log
    assert "in-dialog ACK via Record-Route" in log
    assert "in-dialog BYE via Record-Route" in log
    assert f"REGISTER of {aor} from 127.0.0.1:{port} saved, Expires: 0" in log, log
