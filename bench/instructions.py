"""Instructions per operation under valgrind: a load-independent cost measure.

Wall-clock benchmarks on a shared machine move with the load; the number of machine
instructions the interpreter executes for one operation does not. This runs each
workload under ``valgrind --tool=callgrind``, counting only the N timed iterations (set-up
and imports excluded), and prints the count divided by N.

    .venv/bin/python bench/instructions.py                      # every workload
    .venv/bin/python bench/instructions.py parse-invite ua-call -n 2000
    .venv/bin/python bench/instructions.py --run parse-invite 100   # one process, no valgrind

Workloads:

* ``parse-invite`` / ``parse-ok``: ``parse_message`` plus the transaction fields, as
  ``bench/parse.py`` reads them, on its INVITE and 200 OK; ``naive-invite`` /
  ``naive-ok``: the naive split+dict baseline of the same file.
* ``parse-distinct``: ``parse-invite`` on INVITEs whose branch, From tag, Call-ID and
  CSeq differ each time (real traffic; the memos keyed on whole values miss).
* ``endpoint-call``: one UAS call below the UA, the way ``sipp -sn uac`` makes it:
  INVITE datagram in, 200 (with SDP) built by ``make_response`` and sent, ACK in, BYE
  in, 200 sent, then every transaction timer fired (the clock jumps 100 s per call).
* ``ua-call``: the same call through a ``UserAgent`` that auto-answers.
* ``adapter-call``: the same call through the whole ``sipsans uas`` path of the asyncio
  adapter, as ``bench/uas_path.py`` runs it: a fake OS socket read by the session's
  ``UdpSocket._read_ready``, the Driver's pump, the CLI's ``UasHandler`` answering with
  its SDP, the send routing down to the fake ``sendto``, and the session's timer fired
  when its (rounded) deadline passes. Minus ``ua-call``, it is the adapter's overhead.
* ``adapter-call-plain``: ``adapter-call`` with the baseline tree's handler in place of
  the CLI's: every call answered at once with one fixed SDP body, no record per call.
  Minus it, ``adapter-call`` is what the CLI's handler costs (its call lines and its SDP
  negotiation), which the baseline's ``sipsans uas`` did not do.

PYTHONHASHSEED is fixed so that runs are repeatable. The garbage collector is off for
the parse workloads (as ``bench/parse.py`` times them) and on for the calls, as in a server.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

# -- sipp-like call (the datagrams of sipp's built-in "uac" scenario) -------------------

UAS = ("127.0.0.1", 5060)
UAC = ("127.0.0.1", 5061)
_SDP = (
    b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n"
    b"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
_COMMON = (
    b"From: sipp <sip:sipp@127.0.0.1:5061>;tag=%(n)dSIPpTag00%(n)d\r\n"
    b"To: service <sip:service@127.0.0.1:5060>%(totag)s\r\n"
    b"Call-ID: %(n)d-4242@127.0.0.1\r\n"
)
INVITE = (
    b"INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-%(n)d-0\r\n"
    + _COMMON
    + b"CSeq: 1 INVITE\r\n"
    b"Contact: sip:sipp@127.0.0.1:5061\r\n"
    b"Max-Forwards: 70\r\n"
    b"Subject: Performance Test\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: %(length)d\r\n\r\n" + _SDP
)
ACK = (
    b"ACK sip:service@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-%(n)d-5\r\n"
    + _COMMON
    + b"CSeq: 1 ACK\r\n"
    b"Contact: sip:sipp@127.0.0.1:5061\r\n"
    b"Max-Forwards: 70\r\n"
    b"Subject: Performance Test\r\n"
    b"Content-Length: 0\r\n\r\n"
)
BYE = (
    b"BYE sip:service@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-%(n)d-7\r\n"
    + _COMMON
    + b"CSeq: 2 BYE\r\n"
    b"Contact: sip:sipp@127.0.0.1:5061\r\n"
    b"Max-Forwards: 70\r\n"
    b"Subject: Performance Test\r\n"
    b"Content-Length: 0\r\n\r\n"
)
ANSWER = (
    b"v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
_TO_TAG = re.compile(rb"\r\nTo:[^\r]*;tag=([^;\r]+)", re.IGNORECASE)


def _datagram(template: bytes, n: int, to_tag: bytes = b"") -> bytes:
    totag = b";tag=" + to_tag if to_tag else b""
    return template % {b"n": n, b"totag": totag, b"length": len(_SDP)}


def _to_tag(sent: list[Any]) -> bytes:
    for t in sent:
        m = _TO_TAG.search(t.data)
        if m is not None and t.data.startswith(b"SIP/2.0 200"):
            return m.group(1)
    raise AssertionError("no 200 with a To tag was sent")


def endpoint_call() -> Callable[[int], None]:
    from sipsans import Endpoint, EndpointConfig, RequestReceived, make_response

    ep = Endpoint(EndpointConfig(advertised_host=UAS[0], trying_delay=None), rng=random.Random(1))
    clock = [0.0]

    def call(n: int) -> None:
        now = clock[0] = clock[0] + 100.0
        ep.handle_timer(now=now)
        ep.events()  # TransactionTerminated of the previous call
        ep.receive_datagram(_datagram(INVITE, n), remote=UAC, local=UAS, now=now)
        (event,) = ep.events()
        assert isinstance(event, RequestReceived) and event.txn is not None
        reply = make_response(
            event.request, 200, to_tag=f"{n}t", body=ANSWER, content_type="application/sdp"
        )
        ep.send_response(event.txn, reply, now=now)
        tag = _to_tag(ep.transmits())
        ep.receive_datagram(_datagram(ACK, n, tag), remote=UAC, local=UAS, now=now)
        ep.events()
        ep.receive_datagram(_datagram(BYE, n, tag), remote=UAC, local=UAS, now=now)
        (event,) = ep.events()
        assert isinstance(event, RequestReceived) and event.txn is not None
        ep.send_response(event.txn, make_response(event.request, 200), now=now)
        sent = ep.transmits()
        assert len(sent) == 1, sent

    return call


def ua_call() -> Callable[[int], None]:
    from sipsans import Endpoint, EndpointConfig, IncomingCall, UserAgent

    ep = Endpoint(EndpointConfig(advertised_host=UAS[0]), rng=random.Random(1))
    ua = UserAgent(ep, identity=f"sip:sipsans@{UAS[0]}", rng=random.Random(2))
    clock = [0.0]

    def call(n: int) -> None:
        now = clock[0] = clock[0] + 200.0
        ua.handle_timer(now=now)
        ua.transmits()
        ua.events()
        ua.receive_datagram(_datagram(INVITE, n), remote=UAC, local=UAS, now=now)
        for event in ua.events():
            if isinstance(event, IncomingCall):
                event.dialog.accept(body=ANSWER, content_type="application/sdp", now=now)
        tag = _to_tag(ua.transmits())
        ua.receive_datagram(_datagram(ACK, n, tag), remote=UAC, local=UAS, now=now)
        ua.events()
        ua.receive_datagram(_datagram(BYE, n, tag), remote=UAC, local=UAS, now=now)
        ua.events()
        sent = ua.transmits()
        assert len(sent) == 1 and sent[0].data.startswith(b"SIP/2.0 200"), sent

    return call


def adapter_call(plain: bool = False) -> Callable[[int], None]:
    sys.path.insert(0, str(HERE.parent / "adapters" / "session"))
    sys.path.insert(0, str(HERE.parent / "adapters" / "asyncio"))
    import uas_path

    from sipsans_session.driver import TIMER_RESOLUTION

    rig = uas_path.build(TIMER_RESOLUTION)
    if plain:
        rig.session.on_event = _plain_handler(rig)
    driver, udp, clock = rig.session.driver, rig.udp, rig.clock
    sock = udp.sock

    def deliver(data: bytes) -> bytes:
        sock.inbox.append(data)  # type: ignore[attr-defined]
        udp._read_ready()
        return sock.last  # type: ignore[attr-defined, no-any-return]

    def call(n: int) -> None:
        clock.now += 200.0  # every timer of the previous call is due
        deadline = driver.deadline
        if deadline is not None and deadline <= clock.now:
            driver.fire()
        sent = deliver(_datagram(INVITE, n))
        m = _TO_TAG.search(sent)
        assert m is not None and sent.startswith(b"SIP/2.0 200"), sent[:40]
        deliver(_datagram(ACK, n, m.group(1)))
        sent = deliver(_datagram(BYE, n, m.group(1)))
        assert sent.startswith(b"SIP/2.0 200") and b"BYE" in sent, sent[:40]

    return call


def _plain_handler(rig: Any) -> Callable[[object], None]:
    """What the baseline tree's ``sipsans uas`` did with each event: answer an incoming
    call at once with one fixed SDP body (made once, by the CLI's negotiator), and count
    the calls in progress by Call-ID."""
    import sipsans

    session, negotiator = rig.session, rig.handler.negotiator
    calls: set[str] = set()
    body: list[bytes] = []

    def on_event(event: object) -> None:
        if type(event) is sipsans.IncomingCall:
            calls.add(event.request.call_id)
            if not body:
                body.append(negotiator.answer(event.request.body).body)
            session.command(event.dialog.accept, body=body[0], content_type="application/sdp")
        elif type(event) is sipsans.DialogTerminated:
            calls.discard(event.dialog_id.call_id)

    return on_event


def _fields_workload(name: str) -> Callable[[int], None]:
    import parse as bench_parse
    from messages import INVITE_900, OK_850

    data = INVITE_900 if name.endswith("invite") else OK_850
    fn: Callable[[bytes], tuple[object, ...]]
    if name.startswith("naive"):
        fn = bench_parse.naive_fields
    else:
        impl = bench_parse.load_sipsans()
        assert impl.fields is not None
        fn = impl.fields

    def one(_n: int) -> None:
        fn(data)

    gc.disable()  # as bench/parse.py times it
    return one


def _distinct_workload() -> Callable[[int], None]:
    """parse-invite on INVITEs whose branch, From tag, Call-ID and CSeq differ each time, as
    real traffic does (``messages.distinct``, the stream of ``bench/parse.py``): the memos
    keyed on whole values miss (see sipsans._speed)."""
    import parse as bench_parse
    from messages import distinct

    impl = bench_parse.load_sipsans()
    assert impl.fields is not None
    fn = impl.fields
    messages = [data for data, _ in distinct("INVITE_900", 60_000)]

    def one(n: int) -> None:
        fn(messages[n])

    gc.disable()
    return one


WORKLOADS: dict[str, Callable[[], Callable[[int], None]]] = {
    "parse-invite": lambda: _fields_workload("parse-invite"),
    "parse-distinct": _distinct_workload,
    "parse-ok": lambda: _fields_workload("parse-ok"),
    "naive-invite": lambda: _fields_workload("naive-invite"),
    "naive-ok": lambda: _fields_workload("naive-ok"),
    "endpoint-call": endpoint_call,
    "ua-call": ua_call,
    "adapter-call": adapter_call,
    "adapter-call-plain": lambda: adapter_call(plain=True),
}
#: Default iterations per workload (a call costs about as much as 20 parses).
DEFAULT_N = {
    "endpoint-call": 1000,
    "ua-call": 1000,
    "adapter-call": 1000,
    "adapter-call-plain": 1000,
}


def run(name: str, loops: int) -> None:
    """Set up ``name``, warm it up, then run it ``loops`` times inside ``sum()``.

    Under valgrind only what runs inside ``sum()`` is counted (``--toggle-collect``),
    so imports and set-up, whose cost varies from run to run, stay out of the count.
    """
    one = WORKLOADS[name]()
    for i in range(1, 51):  # warm caches (learned header keys, regex caches, ...)
        one(i)

    def counted(i: int) -> int:
        one(i)
        return 0

    sum(map(counted, range(1000, 1000 + loops)))


def _instructions(name: str, loops: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--toggle-collect=builtin_sum",
            f"--callgrind-out-file={out}",
            sys.executable,
            str(Path(__file__).resolve()),
            "--run",
            name,
            str(loops),
        ]
        env = dict(os.environ, PYTHONHASHSEED="0")
        done = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{name} failed under valgrind:\n{done.stderr[-3000:]}")
        for line in out.read_text().splitlines():
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise RuntimeError("callgrind wrote no totals")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("workloads", nargs="*", help=f"any of {', '.join(WORKLOADS)}")
    parser.add_argument("-n", type=int, help="iterations (default 20000 parses, 1000 calls)")
    parser.add_argument("--run", nargs=2, metavar=("WORKLOAD", "LOOPS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:
        run(args.run[0], int(args.run[1]))
        return 0
    names = args.workloads or list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")
    print(f"{'workload':<16} {'instructions / iteration':>26}")
    for name in names:
        n = args.n or DEFAULT_N.get(name, 20_000)
        per = _instructions(name, n) / n
        print(f"{name:<16} {per:>26,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
