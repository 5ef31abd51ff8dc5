"""Every ``sipsans`` subcommand against real peers: Kamailio authenticating callers
(``--from`` and the credentials), sipp playing both sides of calls, transfers,
subscriptions and messages, baresip as callee, transferee, notifier and transferor.
Each sipsans run keeps a transcript, and each transcript replays with ``--check``."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import Sipsans, free_port, require_peer, sipp_in_background, sipp_scenario
from .test_baresip import CONFIG as BARESIP_CONFIG
from .test_baresip import Baresip
from .test_kamailio import Kamailio
from .test_sipp import CONTACT, SDP_HEADERS, UAS_CONTACT, reply, request, uas_args, write

pytestmark = pytest.mark.interop

Run = Callable[[list[str]], Sipsans]


def replays(trace: Path) -> None:
    """``sipsans replay TRACE --check`` passes: the same bytes, replayed."""
    result = subprocess.run(
        [sys.executable, "-m", "sipsans_asyncio.cli", "replay", str(trace), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "replay matched" in result.stdout


# -- Kamailio: a proxy that authenticates callers ------------------------------------------

AUTH_PROXY = """#!KAMAILIO
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
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "auth.so"
loadmodule "xlog.so"

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK") && t_check_trans()) {{ t_relay(); }}
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("INVITE|MESSAGE")) {{
        if (!pv_proxy_authenticate("$fd", "s3cret", "0")) {{
            proxy_challenge("$fd", "0");
            exit;
        }}
        # as auth_check() does: the authenticated user must be the From user
        if ($au != $fU) {{ sl_send_reply("403", "Auth User Mismatch"); exit; }}
        consume_credentials();
        xlog("L_INFO", "$rm from $fu authenticated as $au\\n");
        $du = "sip:127.0.0.1:{uas}";
        record_route();
        t_relay();
        exit;
    }}
    sl_send_reply("404", "Not Here");
}}
"""


@pytest.fixture
def auth_proxy(tmp_path: Path) -> Iterator[Callable[[int], Kamailio]]:
    program = require_peer("kamailio", "kamailio")
    started: list[Kamailio] = []

    def start(uas_port: int) -> Kamailio:
        item = Kamailio(program, tmp_path / f"kamailio{len(started)}", uas_port, AUTH_PROXY)
        started.append(item)
        return item

    yield start
    for item in started:
        item.stop()


def test_call_and_message_through_an_authenticating_proxy(
    auth_proxy: Callable[[int], Kamailio], run_sipsans: Run, port: int, tmp_path: Path
) -> None:
    """Without --from, Kamailio refuses the authenticated call 403 Auth User Mismatch
    (shown as such, exit 1); with --from sip:alice@..., the call and a MESSAGE go
    through to a sipsans uas."""
    uas = run_sipsans(["uas", "--listen", f"127.0.0.1:{port}", "--calls", "1"])
    uas.wait_for("listening")
    proxy = auth_proxy(port)
    uri = f"sip:bob@127.0.0.1:{proxy.port}"
    creds = ["--user", "alice", "--password", "s3cret", "--timeout", "10"]
    refused = run_sipsans(["call", uri, *creds, "--trace", str(tmp_path / "refused.jsonl")])
    assert refused.finish(timeout=20) == 1, refused.output()
    assert "407 Proxy Authentication Required" in refused.output()
    assert "call failed: 403 Auth User Mismatch" in refused.output()
    me = ["--from", f"sip:alice@127.0.0.1:{proxy.port}"]
    # (the MESSAGE first: the uas exits after its one call)
    message = run_sipsans(
        ["message", uri, "hi bob", *creds, *me, "--trace", str(tmp_path / "message.jsonl")]
    )
    assert message.finish(timeout=20) == 0, message.output()
    call = run_sipsans(
        ["call", uri, *creds, *me, "--duration", "0.3", "--trace", str(tmp_path / "call.jsonl")]
    )
    assert call.finish(timeout=20) == 0, call.output() + proxy.output()
    assert "answered after" in call.output()
    assert uas.finish(timeout=15) == 0
    assert "message from sip:alice@127.0.0.1" in uas.output()
    assert "INVITE from sip:alice@127.0.0.1" in proxy.output()
    for name in ("refused", "call", "message"):
        replays(tmp_path / f"{name}.jsonl")


# -- sipp ---------------------------------------------------------------------------------


def pcma_sdp() -> str:
    lines = [
        "v=0",
        "o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]",
        "s=-",
        "c=IN IP[media_ip_type] [media_ip]",
        "t=0 0",
        "m=audio [media_port] RTP/AVP 8",
        "a=rtpmap:8 PCMA/8000",
    ]
    return "".join(f"      {line}\n" for line in lines)


def pcma_uac(rtp_port: int) -> str:
    """sipp calls the uas with PCMA only; it checks the answer is PCMA on the uas's RTP
    port; INFO gets 200, a REFER to a tel: URI 403 at once; sipp hangs up."""
    return sipp_scenario(
        "PCMA call, INFO, REFER to tel:, BYE",
        request("INVITE", 1, initial=True, headers=CONTACT + SDP_HEADERS, body=pcma_sdp()),
        f"""  <recv response="100" optional="true" />
  <recv response="200" rrs="true">
    <action>
      <ereg regexp="m=audio {rtp_port} RTP/AVP 8" search_in="body" check_it="true"
            assign_to="c1" />
      <ereg regexp="a=rtpmap:8 PCMA/8000" search_in="body" check_it="true" assign_to="c2" />
    </action>
  </recv>
""",
        request("ACK", 1),
        request(
            "INFO",
            2,
            headers="      Content-Type: application/dtmf-relay\n",
            body="      Signal=5\n      Duration=160\n",
        ),
        '  <recv response="200" />\n',
        request("REFER", 3, headers=CONTACT + "      Refer-To: <tel:+15551234567>\n"),
        '  <recv response="403" />\n',
        request("BYE", 4),
        '  <recv response="200" />\n  <Reference variables="c1,c2" />\n',
    )


def test_sipp_calls_the_uas_with_pcma_info_and_refer(
    sipp: str, port: int, run_sipsans: Run, tmp_path: Path
) -> None:
    trace = tmp_path / "uas.jsonl"
    uas = run_sipsans(
        ["uas", "--listen", f"127.0.0.1:{port}", "--calls", "1", "--trace", str(trace)]
    )
    uas.wait_for("listening")
    rtp = int(uas.output().split("RTP port ")[1].split(",")[0])
    assert rtp != port
    scenario = write(tmp_path, "pcma_uac.xml", pcma_uac(rtp))
    args = [*scenario, f"127.0.0.1:{port}", "-i", "127.0.0.1", "-p", "0", "-m", "1"]
    screen = tmp_path / "sipp.screen"
    result = subprocess.run(
        [sipp, *args, "-timeout", "20s", "-timeout_error", "-nostdin", "-trace_screen",
         "-screen_file", str(screen)],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=40, check=False,
    )  # fmt: skip
    assert result.returncode == 0, screen.read_text(errors="replace")[-3000:]
    assert uas.finish(timeout=10) == 0
    assert "call 1 from sip:sipp@127.0.0.1" in uas.output() and "PCMA/8000" in uas.output()
    replays(trace)


def notify(cseq: int, event: str, state: str, content_type: str, body: str) -> str:
    """A NOTIFY from sipp's side of the dialog (its To tag as From, the peer's From as To)."""
    return f"""  <send retrans="500">
    <![CDATA[
      NOTIFY [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:service@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To: [$peer]
      Call-ID: [call_id]
      CSeq: {cseq} NOTIFY
      Max-Forwards: 70
      Event: {event}
      Subscription-State: {state}
{UAS_CONTACT}      Content-Type: {content_type}
      Content-Length: [len]

      {body}
    ]]>
  </send>
  <recv response="200" />
"""


REMEMBER_PEER = """    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="peer" />
    </action>
"""

TRANSFER_UAS = sipp_scenario(
    "answer, accept the REFER, report 200 OK, take the BYE",
    f'  <recv request="INVITE" rrs="true">\n{REMEMBER_PEER}  </recv>\n',
    reply("200 OK", tag="01", headers=UAS_CONTACT + SDP_HEADERS, body=pcma_sdp()),
    """  <recv request="ACK" />
  <recv request="REFER">
    <action>
      <ereg regexp="CSeq: ([0-9]+) REFER" search_in="msg" assign_to="dummy,refer_cseq" />
    </action>
  </recv>
""",
    reply("202 Accepted", tag=None),
    notify(
        1,
        "refer;id=[$refer_cseq]",
        "terminated;reason=noresource",
        "message/sipfrag",
        "SIP/2.0 200 OK",
    ),
    '  <recv request="BYE" />\n',
    reply("200 OK", tag=None),
    '  <Reference variables="dummy" />\n',
)

SUBSCRIBE_UAS = sipp_scenario(
    "accept a presence subscription, notify, accept the un-subscribe",
    f'  <recv request="SUBSCRIBE" rrs="true">\n{REMEMBER_PEER}  </recv>\n',
    reply("200 OK", tag="01", headers=UAS_CONTACT + "      Expires: 600\n"),
    notify(1, "presence", "active;expires=600", "text/plain", "open"),
    '  <recv request="SUBSCRIBE" />\n',
    reply("200 OK", tag=None, headers="      Expires: 0\n"),
    notify(2, "presence", "terminated;reason=timeout", "text/plain", "open"),
)

MESSAGE_UAS = sipp_scenario(
    "answer a MESSAGE",
    '  <recv request="MESSAGE" />\n',
    reply("200 OK", tag="01"),
)


#: name: (sipp's scenario, the sipsans command line, what it prints when it works)
CLIENT_CASES: dict[str, tuple[str, list[str], str]] = {
    "transfer": (
        TRANSFER_UAS,
        ["call", "URI", "--transfer-to", "sip:carol@127.0.0.1", "--after", "0.2"],
        "transfer: 200 OK",
    ),
    "subscribe": (
        SUBSCRIBE_UAS,
        ["subscribe", "URI", "presence", "--duration", "0.3"],
        "unsubscribed",
    ),
    "message": (MESSAGE_UAS, ["message", "URI", "hello sipp"], "200 OK"),
}


@pytest.mark.parametrize("name", list(CLIENT_CASES))
def test_sipsans_clients_against_a_sipp_uas(
    sipp: str, port: int, run_sipsans: Run, tmp_path: Path, name: str
) -> None:
    scenario, argv, expected = CLIENT_CASES[name]
    screen = tmp_path / "sipp.screen"
    trace = tmp_path / f"{name}.jsonl"
    args = uas_args(write(tmp_path, f"{name}.xml", scenario), port)
    with sipp_in_background(sipp, args, screen) as peer:
        time.sleep(0.3)  # (sipp binds its port)
        argv = [f"sip:service@127.0.0.1:{port}" if a == "URI" else a for a in argv]
        client = run_sipsans([*argv, "--timeout", "10", "--trace", str(trace)])
        assert client.finish(timeout=30) == 0, client.output()
        assert expected in client.output()
        assert peer.wait(timeout=30) == 0, screen.read_text(errors="replace")[-3000:]
    replays(trace)


# -- baresip --------------------------------------------------------------------------------


#: baresip as in test_baresip, with its presence notifier (and the contacts it needs).
PRESENCE_CONFIG = BARESIP_CONFIG + "module_app\tcontact.so\nmodule_app\tpresence.so\n"


@pytest.fixture
def baresip(tmp_path: Path) -> Iterator[Callable[[str], Baresip]]:
    program = require_peer("baresip", "baresip")
    started: list[Baresip] = []

    def start(account: str) -> Baresip:
        home = tmp_path / f"baresip{len(started)}"
        peer = Baresip(program, home, account, 20, PRESENCE_CONFIG)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()


def test_sipsans_clients_against_baresip(
    baresip: Callable[[str], Baresip], run_sipsans: Run, port: int, tmp_path: Path
) -> None:
    """OPTIONS, MESSAGE, SUBSCRIBE (presence) and a call transferred to a sipsans uas:
    baresip follows the REFER and reports 200 OK."""
    carol = run_sipsans(
        ["uas", "--listen", f"127.0.0.1:{port}", "--calls", "1", "--duration", "0.5"]
    )
    carol.wait_for("listening")
    peer = baresip("<sip:bob@127.0.0.1>;regint=0;answermode=auto")
    uri = f"sip:bob@127.0.0.1:{peer.sip}"
    runs = {
        "options": ["options", uri],
        "message": ["message", uri, "hello baresip"],
        "subscribe": ["subscribe", uri, "presence", "--duration", "0.3"],
        "transfer": ["call", uri, "--transfer-to", f"sip:carol@127.0.0.1:{port}", "--after", "0.3"],
    }
    for name, argv in runs.items():
        client = run_sipsans([*argv, "--timeout", "10", "--trace", str(tmp_path / f"{name}.jsonl")])
        assert client.finish(timeout=30) == 0, (name, client.output(), peer.output())
    assert carol.finish(timeout=15) == 0, carol.output()
    assert "call 1 from sip:bob@127.0.0.1" in carol.output()
    for name in runs:
        replays(tmp_path / f"{name}.jsonl")


def test_baresip_transfers_a_call_to_the_uas(
    baresip: Callable[[str], Baresip], run_sipsans: Run, tmp_path: Path
) -> None:
    """baresip calls a sipsans uas and transfers the call (REFER) to another one: the
    first uas follows the transfer, the second takes the call."""
    bob_port, carol_port = free_port(), free_port()
    bob = run_sipsans(
        [
            "uas",
            "--listen",
            f"127.0.0.1:{bob_port}",
            "--calls",
            "2",
            "--trace",
            str(tmp_path / "bob.jsonl"),
        ]
    )
    carol = run_sipsans(
        ["uas", "--listen", f"127.0.0.1:{carol_port}", "--calls", "1", "--duration", "0.5"]
    )
    bob.wait_for("listening")
    carol.wait_for("listening")
    peer = baresip("<sip:alice@127.0.0.1>;regint=0")
    peer.command("dial", f"sip:bob@127.0.0.1:{bob_port}")
    peer.wait_for("Call established")
    time.sleep(0.3)
    peer.command("transfer", f"sip:carol@127.0.0.1:{carol_port}")
    assert bob.finish(timeout=15) == 0, bob.output() + peer.output()
    assert carol.finish(timeout=15) == 0, carol.output()
    assert (
        f"call 1 transferred to sip:carol@127.0.0.1:{carol_port} by sip:alice@127.0.0.1"
        in bob.output()
    )
    assert f"call 2 to sip:carol@127.0.0.1:{carol_port}: PCMU/8000" in bob.output()
    assert "call 1 from sip:sipsans@127.0.0.1: PCMU/8000" in carol.output()
    replays(tmp_path / "bob.jsonl")
