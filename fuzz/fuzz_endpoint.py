"""atheris harness for :class:`sipsans.Endpoint`: any sequence of inputs and commands.

The input is a program: each operation starts with an opcode byte, followed by the
argument bytes it needs (missing bytes read as zero, so every input is valid):

==  =====================================================================================
op  what it does
==  =====================================================================================
0   a datagram from a peer: a SIP message built from templates (method, branch, Call-ID,
    CSeq, To tag, Via sent-by, body all chosen by argument bytes), or raw input bytes
1   a stream connection opens (TCP or TLS, from one of a few peers)
2   a stream chunk on an open connection: a templated message or raw bytes, in pieces
3   a stream ends: EOF (``b""``) or ``connection_lost``
4   the clock jumps (0 s to 64 s, in steps that hit the T1/T2/T4 multiples) and timers fire
5   command ``send_request`` (method, transport, destination)
6   command ``send_response`` on a server transaction the endpoint reported
7   command ``cancel`` on a client transaction
8   ``transport_error`` for the token of a recent transmit
9   a peer answers one of our recent requests (a response built from the transmit)
10  command ``send_stateless`` (an ACK, or a response retransmitted by the core)
11  misuse: ``now`` going backwards, an unknown handle, a response on a client handle
==  =====================================================================================

A bug is any exception other than :class:`sipsans.LocalProtocolError` from a command,
any exception at all from an input that a peer or the network controls (datagrams,
stream data, EOF, lost connections, timers, transport errors with a monotonic clock),
a timer deadline in the past after ``handle_timer``, timers that never settle once
the clock runs far ahead, or a CANCEL still held (§9.1) when they have.

Run: ``python fuzz/fuzz_endpoint.py -max_total_time=300 fuzz/corpus/endpoint``, or
``python fuzz/fuzz_endpoint.py --replay fuzz/corpus/endpoint`` without atheris.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from _common import KnownBug, Program, fuzzing_requested, instrumented, is_known, main

_FUZZING = __name__ == "__main__" and fuzzing_requested(sys.argv) and "--seeds" not in sys.argv
with instrumented(_FUZZING):
    from sipsans import (
        ClientTxn,
        ConnHandle,
        Endpoint,
        EndpointConfig,
        LocalProtocolError,
        RemoteProtocolError,
        Request,
        RequestReceived,
        ServerTxn,
        Target,
        Transmit,
        make_request,
        make_response,
        parse_message,
    )

ME = ("192.0.2.10", 5060)
PEERS = [("192.0.2.1", 5060), ("192.0.2.2", 5070), ("192.0.2.3", 5060), ("[2001:db8::1]", 5060)]
METHODS = ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "MESSAGE", "PRACK", "X"]
TRANSPORTS = ["UDP", "TCP", "TLS", "SCTP", "WS"]
CODES = [100, 180, 183, 200, 202, 301, 401, 404, 407, 481, 486, 487, 500, 503, 603, 699]
JUMPS = [0.0, 0.001, 0.1, 0.2, 0.5, 1.0, 1.5, 2.0, 4.0, 5.0, 8.0, 16.0, 32.0, 32.001, 64.0, 3.5]
MAX_OPS = 200


def _template(p: Program) -> bytes:
    """A SIP message from templates; every choice comes from the input."""
    shape = p.byte()
    if shape & 0x80:
        return p.raw()
    method = str(p.pick(METHODS))
    branch = ["z9hG4bK1", "z9hG4bK2", "z9hG4bKour", "old-2543", ""][p.byte() % 5]
    call_id = f"c{p.byte() % 4}"
    cseq = p.byte() % 3 + 1
    to_tag = ["", ";tag=t1", ";tag=t2"][p.byte() % 3]
    from_tag = ["", ";tag=f1"][p.byte() % 2]
    sent_by = ["192.0.2.1:5060", "192.0.2.10:5060", "192.0.2.10", "[2001:db8::1]", "h"][
        p.byte() % 5
    ]
    transport = str(p.pick(TRANSPORTS))
    body = b"v=0\r\n" * (p.byte() % 3)
    branch_param = f";branch={branch}" if branch else ""
    # Bit 0 makes the CSeq method disagree with an ACK's or CANCEL's (a §8.1.1.5 error).
    cseq_method = "INVITE" if method in ("ACK", "CANCEL") and shape & 1 else method
    if shape & 0x40:  # a response
        start = f"SIP/2.0 {p.pick(CODES)} Whatever"
        extra = ";rport=5060" if shape & 2 else ""
        via = f"Via: SIP/2.0/{transport} {sent_by}{branch_param}{extra}"
    else:
        start = f"{method} sip:bob@192.0.2.10 SIP/2.0"
        via = f"Via: SIP/2.0/{transport} {sent_by}{branch_param}"
    lines = [
        start,
        via,
        "Max-Forwards: 70",
        f"From: <sip:alice@192.0.2.1>{from_tag}",
        f"To: <sip:bob@192.0.2.10>{to_tag}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {cseq_method}",
    ]
    if shape & 4:
        lines.append("Contact: <sip:alice@192.0.2.1>")
    if shape & 8:
        lines.append("Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKup")
    if shape & 0x10:
        lines.append(f"Content-Length: {len(body) + (p.byte() % 3) - 1}")
    else:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Run:
    def __init__(self, data: bytes) -> None:
        self.p = Program(data)
        self.ep = Endpoint(
            EndpointConfig(advertised_host=ME[0], advertised_port=ME[1]),
            rng=random.Random(1),
        )
        self.now = 0.0
        self.conns: list[ConnHandle] = []
        self.servers: list[tuple[ServerTxn, Request]] = []
        self.clients: list[ClientTxn] = []
        self.sent: list[Transmit] = []

    def drain(self) -> None:
        for event in self.ep.events():
            if isinstance(event, RequestReceived) and event.txn is not None:
                self.servers.append((event.txn, event.request))
                del self.servers[:-8]
        self.sent += self.ep.transmits()
        del self.sent[:-16]

    def command(self, call: object) -> object:
        """Run a command: only LocalProtocolError may escape (it is swallowed)."""
        assert callable(call)
        try:
            return call()
        except LocalProtocolError:
            return None

    def step(self) -> None:
        p, ep = self.p, self.ep
        op = p.byte() % 12
        now = self.now
        if op == 0:
            data = _template(p)
            remote = p.pick(PEERS)
            transport = str(p.pick(["UDP", "UDP", "SCTP"]))
            assert isinstance(remote, tuple)
            ep.receive_datagram(data, remote=remote, local=ME, transport=transport, now=now)
        elif op == 1:
            remote = p.pick(PEERS)
            assert isinstance(remote, tuple)
            transport = "TLS" if p.byte() & 1 else "TCP"
            self.conns.append(ep.connection_made(transport=transport, remote=remote, now=now))
            del self.conns[:-4]
        elif op == 2 and self.conns:
            conn = self.conns[p.byte() % len(self.conns)]
            data = _template(p) + (b"\r\n\r\n" if p.byte() & 1 else b"")
            cut = p.byte()
            for piece in (data[:cut], data[cut:]):
                ep.receive_stream(conn, piece, now=now)
        elif op == 3 and self.conns:
            conn = self.conns[p.byte() % len(self.conns)]
            if p.byte() & 1:
                ep.receive_stream(conn, b"", now=now)
            else:
                ep.connection_lost(conn, now=now)
        elif op == 4:
            jump = p.pick(JUMPS)
            assert isinstance(jump, float)
            self.now = now = now + jump
            ep.handle_timer(now=now)
            deadline = ep.get_next_timer()
            assert deadline is None or deadline > now, (deadline, now)
        elif op == 5:
            method = str(p.pick(["INVITE", "OPTIONS", "BYE", "MESSAGE", "ACK", "CANCEL"]))
            peer = p.pick(PEERS)
            assert isinstance(peer, tuple)
            transport = str(p.pick(TRANSPORTS))
            host = peer[0]
            body = b"x" * (p.byte() * 8)  # past the MTU rule (1300 bytes) at the larger sizes
            request = make_request(
                method,
                "sip:bob@192.0.2.1",
                from_="<sip:me@192.0.2.10>;tag=m1",
                to="<sip:bob@192.0.2.1>",
                call_id=f"out{p.byte() % 4}",
                cseq=p.byte() % 3 + 1,
                body=body,
                content_type="text/plain" if body else None,
            )
            txn = self.command(
                lambda: ep.send_request(request, target=Target(transport, host, peer[1]), now=now)
            )
            if isinstance(txn, ClientTxn):
                self.clients.append(txn)
                del self.clients[:-8]
        elif op == 6 and self.servers:
            txn, request = self.servers[p.byte() % len(self.servers)]
            code = p.pick(CODES)
            assert isinstance(code, int)
            response = make_response(request, code, to_tag="u1" if code > 100 else None)
            self.command(lambda: ep.send_response(txn, response, now=now))
        elif op == 7 and self.clients:
            client = self.clients[p.byte() % len(self.clients)]
            self.command(lambda: ep.cancel(client, now=now))
        elif op == 8 and self.sent:
            token = self.sent[p.byte() % len(self.sent)].token
            ep.transport_error(token, now=now)
        elif op == 9 and self.sent:
            t = self.sent[p.byte() % len(self.sent)]
            try:
                message = parse_message(t.data)
            except RemoteProtocolError:
                return
            if isinstance(message, Request) and message.method != "ACK":
                code = p.pick(CODES)
                assert isinstance(code, int)
                answer = bytes(make_response(message, code, to_tag=f"p{p.byte() % 2}"))
                if t.conn is not None and p.byte() & 1:
                    ep.receive_stream(t.conn, answer, now=now)
                else:
                    ep.receive_datagram(answer, remote=t.remote, local=ME, transport="UDP", now=now)
        elif op == 10:
            if self.servers and p.byte() & 1:
                _, request = self.servers[p.byte() % len(self.servers)]
                stateless = make_response(request, 200, to_tag="u1")
                self.command(lambda: ep.send_stateless(stateless, now=now))
            else:
                ack = make_request(
                    "ACK",
                    "sip:bob@192.0.2.1",
                    from_="<sip:me@192.0.2.10>;tag=m1",
                    to="<sip:bob@192.0.2.1>;tag=p0",
                    call_id="out0",
                    cseq=1,
                )
                self.command(
                    lambda: ep.send_stateless(ack, target=Target("UDP", "192.0.2.1"), now=now)
                )
        elif op == 11:
            kind = p.byte() % 4
            if kind == 0:
                self.command(lambda: ep.handle_timer(now=now - 1.0))
            elif kind == 1:
                self.command(lambda: ep.receive_stream(ConnHandle(999), b"x", now=now))
            elif kind == 2:
                self.command(lambda: ep.cancel(ClientTxn(p.byte()), now=now))
            elif self.servers:
                txn, request = self.servers[-1]
                wrong = make_response(request, 200, to_tag="u1")
                self.command(lambda: ep.send_response(ServerTxn(txn.id + 1), wrong, now=now))
        self.drain()

    def finish(self) -> None:
        """Run the clock far ahead: the timers must settle, and no CANCEL stays held.

        (An INVITE client transaction that got a provisional response may stay: RFC 3261
        gives Proceeding no timer, the TU ends it, e.g. with a CANCEL after Timer C.)
        """
        for _ in range(64):
            deadline = self.ep.get_next_timer()
            if deadline is None:
                held = self.ep.stats()["held_cancels"]
                assert held == 0, f"{held} CANCELs held with no timer left"
                return
            self.now = max(self.now, deadline) + 100.0
            self.ep.handle_timer(now=self.now)
            self.drain()
        raise AssertionError(f"timers never settle: next at {self.ep.get_next_timer()}")


#: Core bugs already reported and not fixed yet, as (exception type, message part,
#: function in the traceback); see ``_common.is_known``. Remove an entry when its fix lands.
KNOWN_BUGS: tuple[KnownBug, ...] = ()


def one_input(data: bytes) -> None:
    try:
        run = Run(data)
        for _ in range(MAX_OPS):
            if run.p.done:
                break
            run.step()
        run.finish()
    except Exception as exc:
        if not is_known(exc, KNOWN_BUGS):
            raise


def _op_datagram(shape: int = 0, method: int = 0, *, to_tag: int = 0, response: int = 0) -> bytes:
    """Op 0 with a templated message from PEERS[0] over UDP (``response``: a CODES index)."""
    # shape, method, branch, call_id, cseq, to_tag, from_tag, sent_by, transport, body
    fields = [shape, method, 0, 0, 0, to_tag, 1, 0, 0, 0]
    if shape & 0x40:
        fields.insert(9, response)  # the status code is read after the transport
    return bytes([0, *fields, 0, 0])  # then: remote PEERS[0], transport UDP


def _op_request(method: int, transport: int = 0) -> bytes:
    """Op 5: send_request(method index, PEERS[0], TRANSPORTS[transport]), no body."""
    return bytes([5, method, 0, transport, 0, 0, 0])


def _op_jump(index: int) -> bytes:
    return bytes([4, index])


def seeds() -> dict[str, bytes]:
    """Hand-made programs for the seed corpus (``python fuzz/fuzz_endpoint.py --seeds``)."""
    invite = _op_datagram(0, METHODS.index("INVITE"))
    ok, busy, ringing = CODES.index(200), CODES.index(486), CODES.index(180)
    return {
        # A UAS answers an INVITE with 200 (op 6), then time runs out.
        "uas-invite-200": invite + bytes([6, 0, ok]) + _op_jump(4) + _op_jump(14),
        # A UAS answers 486, the peer ACKs (the same template with method ACK).
        "uas-invite-486-ack": invite
        + bytes([6, 0, busy])
        + _op_datagram(0, METHODS.index("ACK"), to_tag=1)
        + _op_jump(14),
        # A UAC INVITE answered 180 then 200 by the peer (op 9 answers our transmit).
        "uac-invite-answered": _op_request(0)
        + bytes([9, 0, ringing, 0])
        + bytes([9, 0, ok, 0])
        + _op_jump(14),
        # A UAC INVITE gets 180, then is cancelled (op 7).
        "uac-cancel": _op_request(0) + bytes([9, 0, ringing, 0, 7, 0]) + _op_jump(4) * 3,
        # An OPTIONS nobody answers: retransmissions, then Timer F.
        "uac-timeout": _op_request(1) + _op_jump(5) * 8 + _op_jump(14),
        # A TCP connection (op 1) carrying a templated INVITE in two pieces, then EOF (op 3).
        # (op 2 reads: connection, template, ping flag, cut point.)
        "tcp-stream": bytes([1, 0, 0, 2, 0]) + invite[1:11] + bytes([0, 60, 3, 0, 1]),
        # A request over TCP, then a transport error for its token (op 8).
        "tcp-request-and-error": _op_request(1, 1) + bytes([8, 0]) + _op_jump(2),
        # Raw bytes as a datagram (shape 0x80: a length byte, then the bytes).
        "raw-garbage": bytes([0, 0x80, 12]) + b"INVITE x SIP" + bytes([0, 0]),
        # Misuse: time backwards, an unknown connection, an unknown CANCEL, a wrong handle.
        "misuse": bytes([11, 0, 11, 1, 11, 2, 5]) + invite + bytes([11, 3]),
        # send_stateless: an ACK (op 10 with bit 0 clear) and a stateless 200.
        "stateless": invite + bytes([10, 0, 10, 1, 0]),
    }


def _raw(data: bytes) -> bytes:
    if len(data) < 0xFF:
        return bytes([len(data)]) + data
    return bytes([0xFF, len(data) >> 8, len(data) & 0xFF]) + data


def capture_seeds(corpus: Path) -> dict[str, bytes]:
    """Programs that replay the SIP payloads of the shared captures (needs dpkt).

    Every UDP/SCTP payload towards port 5060 becomes a raw datagram (op 0), every TCP
    payload a raw chunk (op 2) on one connection, with 0.1 s clock jumps between them.
    """
    from sipsans.tools.replay import read_capture

    found: dict[str, bytes] = {}
    for path in sorted((corpus / "pcap").glob("*.pcap")):
        program = bytearray()
        opened = False
        for payload in read_capture(path):
            if len(payload.data) > 0xFFFF or not payload.data or len(program) > 60_000:
                continue
            sip = payload.dst[1] in (5060, 5061) or b"SIP/2.0" in payload.data[:200]
            if not sip:
                continue
            if payload.transport == "TCP":
                if not opened:
                    program += bytes([1, 0, 0])
                    opened = True
                program += bytes([2, 0, 0x80]) + _raw(payload.data) + bytes([0, 0xFF])
            else:
                transport = 2 if payload.transport == "SCTP" else 0
                program += bytes([0, 0x80]) + _raw(payload.data) + bytes([0, transport])
            program += _op_jump(2)
        if program:
            found[f"pcap-{path.stem}"] = bytes(program)
    return found


if __name__ == "__main__":
    if "--seeds" in sys.argv:
        here = Path(__file__).resolve().parent
        folder = here / "corpus" / "endpoint"
        folder.mkdir(parents=True, exist_ok=True)
        programs = seeds()
        shared = here.parent.parent / "shared" / "corpus"
        if shared.is_dir():
            programs.update(capture_seeds(shared))
        for name, program in programs.items():
            one_input(program)
            (folder / name).write_bytes(program)
        sys.exit(0)
    main(one_input)
