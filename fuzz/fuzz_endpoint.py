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
a timer deadline in the past after ``handle_timer``, or timers that never settle once
the clock runs far ahead.

Run: ``python fuzz/fuzz_endpoint.py -max_total_time=300 fuzz/corpus/endpoint``, or
``python fuzz/fuzz_endpoint.py --replay fuzz/corpus/endpoint`` without atheris.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from typing import TypeVar

from _common import fuzzing_requested, instrumented, main

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
T = TypeVar("T")


class Program:
    """Reads operation arguments from the input; past its end every byte is 0."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        value = self.data[self.pos] if self.pos < len(self.data) else 0
        self.pos += 1
        return value

    def pick(self, items: Sequence[T]) -> T:
        return items[self.byte() % len(items)]

    def raw(self) -> bytes:
        n = self.byte()
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)


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
        """Run the clock far ahead: the timers must settle."""
        for _ in range(64):
            deadline = self.ep.get_next_timer()
            if deadline is None:
                return
            self.now = max(self.now, deadline) + 100.0
            self.ep.handle_timer(now=self.now)
            self.drain()
        raise AssertionError(f"timers never settle: next at {self.ep.get_next_timer()}")


def one_input(data: bytes) -> None:
    run = Run(data)
    for _ in range(MAX_OPS):
        if run.p.done:
            break
        run.step()
    run.finish()


def seeds() -> dict[str, bytes]:
    """Hand-made programs for the seed corpus (``python fuzz/fuzz_endpoint.py --seeds``)."""
    invite = bytes([0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0])  # op 0: templated INVITE
    return {
        "uas-invite-200": invite + bytes([0, 6, 0, 3, 4, 5]),  # datagram, respond 200, timers
        "uas-invite-486-ack": invite
        + bytes([0, 6, 0, 10])
        + bytes([0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])
        + bytes([4, 14]),
        "uac-invite-answered": bytes([5, 0, 0, 0, 0, 0, 0, 9, 0, 3, 0, 4, 4, 9, 0, 6, 0, 4, 14]),
        "uac-cancel": bytes([5, 0, 0, 0, 0, 0, 0, 9, 0, 1, 0, 7, 0, 4, 4, 4, 14]),
        "uac-timeout": bytes([5, 4, 0, 0, 0, 0, 0] + [4, 5] * 8 + [4, 14]),
        "tcp-stream": bytes([1, 0, 0, 2, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 60, 3, 0, 1]),
        "tcp-request-and-error": bytes([5, 0, 0, 1, 0, 0, 0, 8, 0, 4, 2]),
        "raw-garbage": bytes([0, 0x80, 12]) + b"INVITE x SIP" + bytes([0, 0, 0]),
        "misuse": bytes([11, 0, 11, 1, 11, 2, 5, 11, 3]),
        "stateless": bytes([10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 1, 0]),
    }


if __name__ == "__main__":
    if "--seeds" in sys.argv:
        from pathlib import Path

        folder = Path(__file__).resolve().parent / "corpus" / "endpoint"
        folder.mkdir(parents=True, exist_ok=True)
        for name, program in seeds().items():
            one_input(program)
            (folder / name).write_bytes(program)
        sys.exit(0)
    main(one_input)
