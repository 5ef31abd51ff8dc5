"""Transcripts (sipsans.tools.trace): a recorded session replays byte for byte, and changes show."""

from __future__ import annotations

import base64
import io
import json
import random
from pathlib import Path
from typing import Any

import pytest
from txhelpers import raw, request

from sipsans import (
    Endpoint,
    EndpointConfig,
    Event,
    Request,
    RequestReceived,
    ResponseReceived,
    Target,
    TransportFailed,
    make_response,
    parse_message,
)
from sipsans.testing import Net, Node
from sipsans.tools.trace import (
    Recorder,
    TranscriptError,
    config_from_dict,
    make_endpoint,
    replay_transcript,
)


def uas(node: Node[Any], event: Event) -> None:
    """Answers INVITE with 180 then 486, anything else with 200."""
    if isinstance(event, RequestReceived) and event.txn is not None:
        now = node.net.now
        if event.request.method == "INVITE":
            node.core.send_response(
                event.txn, make_response(event.request, 180, to_tag="t"), now=now
            )
            node.core.send_response(
                event.txn, make_response(event.request, 486, to_tag="t"), now=now
            )
        else:
            node.core.send_response(
                event.txn, make_response(event.request, 200, to_tag="t"), now=now
            )


def recorded_session(seed: int) -> tuple[Net, Recorder, Recorder]:
    """A lossy UDP + TCP session between two recorded endpoints; returns both recorders."""
    net = Net(seed, loss=0.25, duplicate=0.1, reorder=0.2)
    recorders = []
    for name, host in (("a", "192.0.2.1"), ("b", "192.0.2.2")):
        node_seed = net.node_seed()
        ep = Endpoint(
            EndpointConfig(advertised_host=host, advertised_port=5060),
            rng=random.Random(node_seed),
        )
        rec = Recorder(ep, seed=node_seed)
        net.add(name, host, core=rec, handler=uas if name == "b" else None)
        recorders.append(rec)
    a = net.nodes["a"]
    for i, method in enumerate(["OPTIONS", "INVITE", "MESSAGE", "INVITE", "REGISTER"]):
        transport = "TCP" if i == 3 else "UDP"

        def send(method: str = method, i: int = i, transport: str = transport) -> None:
            a.core.send_request(
                request(method, call_id=f"c{i}", cseq=i + 1),
                target=Target(transport, "192.0.2.2", 5060),
                now=net.now,
            )

        net.call_at(0.7 * i, a, lambda now, send=send: send())  # type: ignore[misc]
    # A request to nobody: retransmitted until Timer F.
    net.call_at(
        1.0,
        a,
        lambda now: a.core.send_request(
            request("OPTIONS", call_id="lost"), target=Target("UDP", "192.0.2.9", 5060), now=now
        ),
    )
    # Garbage straight from an outside peer.
    b = net.nodes["b"]

    def junk() -> None:
        b.core.receive_datagram(b"junk\r\n\r\n", remote=("192.0.2.7", 5060), now=net.now)
        net.pump(b)

    net.at(2.0, junk)
    net.drive()
    return net, recorders[0], recorders[1]


def test_a_recorded_lossy_session_replays_byte_identical() -> None:
    net, rec_a, rec_b = recorded_session(3)
    assert any(not w.delivered for w in net.wire)  # the loss was real
    kinds_a = {json.loads(line)["kind"] for line in rec_a.lines[1:]}
    kinds_b = {json.loads(line)["kind"] for line in rec_b.lines[1:]}
    assert {"send_request", "timer", "transmit", "datagram_in", "stream_open"} <= kinds_a
    assert {"send_response", "stream_in", "datagram_in"} <= kinds_b
    for rec in (rec_a, rec_b):
        result = replay_transcript(rec.text())
        assert result.ok, result.describe()
        transmits = sum(1 for line in rec.lines if '"kind":"transmit"' in line)
        assert result.transmits == transmits > 5
        assert "replay matched" in result.describe()


def test_same_seed_same_transcript() -> None:
    first = recorded_session(8)
    second = recorded_session(8)
    assert first[1].lines == second[1].lines
    assert first[2].lines == second[2].lines
    assert recorded_session(9)[1].lines != first[1].lines


def test_replay_reads_an_open_file_and_the_writer_gets_every_line() -> None:
    sink = io.StringIO()
    ep = Endpoint(rng=random.Random(5))
    rec = Recorder(ep, seed=5, write=sink.write, keep=False)
    rec.receive_datagram(raw("OPTIONS"), remote=("192.0.2.1", 5060), now=1.0)
    (event,) = rec.events()
    assert isinstance(event, RequestReceived) and event.txn is not None
    rec.send_response(event.txn, make_response(event.request, 200, to_tag="x"), now=1.5)
    assert len(rec.transmits()) == 1
    rec.handle_timer(now=40.0)
    assert rec.lines == []
    assert rec.stats()["transactions"] == 0  # unknown attributes pass through
    sink.seek(0)
    result = replay_transcript(sink)
    assert result.ok and result.inputs == 3 and result.transmits == 1


def altered(text: str, index: int, change: Any) -> str:
    lines = text.splitlines()
    record = json.loads(lines[index])
    change(record)
    lines[index] = json.dumps(record)
    return "\n".join(lines) + "\n"


def transmit_lines(rec: Recorder) -> list[int]:
    return [i for i, line in enumerate(rec.lines) if '"kind":"transmit"' in line]


def test_an_altered_transmit_is_reported_with_its_line_and_byte() -> None:
    _, rec_a, _ = recorded_session(3)
    index = transmit_lines(rec_a)[2]

    def flip(record: dict[str, Any]) -> None:
        data = bytearray(base64.b64decode(record["data"]))
        data[10] ^= 0x20
        record["data"] = base64.b64encode(bytes(data)).decode()

    result = replay_transcript(altered(rec_a.text(), index, flip))
    assert not result
    assert result.divergence is not None
    assert result.divergence.line == index + 1
    assert result.transmits == 2
    text = result.describe()
    assert f"line {index + 1}: transmit differs in data" in text
    assert "data differ at byte 10" in text


def test_an_altered_input_makes_the_outputs_diverge() -> None:
    _, _, rec_b = recorded_session(3)
    index = next(i for i, line in enumerate(rec_b.lines) if '"kind":"datagram_in"' in line)

    def move(record: dict[str, Any]) -> None:
        record["remote"] = ["192.0.2.99", 5999]

    result = replay_transcript(altered(rec_b.text(), index, move))
    assert result.divergence is not None
    assert "remote" in result.divergence.reason or "sent" in result.divergence.reason


def test_missing_and_extra_transmits_are_divergences() -> None:
    _, rec_a, _ = recorded_session(3)
    lines = rec_a.lines
    index = transmit_lines(rec_a)[0]
    dropped = "\n".join(lines[:index] + lines[index + 1 :])
    result = replay_transcript(dropped)
    assert result.divergence is not None
    assert "does not have" in result.divergence.reason
    doubled = "\n".join([*lines[: index + 1], lines[index], *lines[index + 1 :]])
    result = replay_transcript(doubled)
    assert result.divergence is not None
    assert result.divergence.reason == "the replay sent nothing here"
    assert result.divergence.line == index + 2
    truncated = "\n".join(lines[:index])
    result = replay_transcript(truncated)
    assert (
        result.divergence is not None and "after the transcript ended" in result.divergence.reason
    )


def test_a_different_seed_diverges() -> None:
    _, rec_a, _ = recorded_session(3)
    lines = rec_a.lines
    header = json.loads(lines[0])
    header["seed"] += 1
    result = replay_transcript([json.dumps(header), *lines[1:]])
    assert result.divergence is not None
    assert "data" in result.divergence.reason  # a different branch in the Via


def test_a_failing_input_is_a_divergence_not_an_exception() -> None:
    ep = Endpoint(rng=random.Random(1))
    rec = Recorder(ep, seed=1)
    rec.handle_timer(now=5.0)
    rec.handle_timer(now=6.0)
    text = altered(rec.text(), 2, lambda r: r.update(t=1.0))  # time runs backwards
    result = replay_transcript(text)
    assert result.divergence is not None
    assert "LocalProtocolError" in result.divergence.reason


def test_bad_transcripts_raise_transcript_error() -> None:
    with pytest.raises(TranscriptError, match="empty"):
        replay_transcript("")
    with pytest.raises(TranscriptError, match="header"):
        replay_transcript('{"format": "other"}\n')
    header = json.dumps({"format": "sipsans-transcript", "version": 1, "seed": 1, "config": {}})
    with pytest.raises(TranscriptError, match="not JSON"):
        replay_transcript(header + "\n{nope\n")
    with pytest.raises(TranscriptError, match="unknown record kind"):
        replay_transcript(header + '\n{"t": 0, "kind": "teleport"}\n')
    unseeded = json.dumps({"format": "sipsans-transcript", "version": 1, "seed": None})
    with pytest.raises(TranscriptError, match="no integer seed"):
        replay_transcript(unseeded)
    with pytest.raises(TranscriptError, match="EndpointConfig"):
        config_from_dict({"no_such_field": 1})


def test_config_round_trips_through_the_header() -> None:
    config = EndpointConfig(advertised_host="198.51.100.1", t1=0.25, trying_delay=None)
    rec = Recorder(Endpoint(config, rng=random.Random(2)), seed=2)
    header = json.loads(rec.lines[0])
    assert header["format"] == "sipsans-transcript" and header["version"] == 1
    assert config_from_dict(header["config"]) == config
    assert make_endpoint(2, header["config"]).config == config


def test_commands_cancel_and_stateless_are_recorded_and_replayed() -> None:
    rec = Recorder(Endpoint(rng=random.Random(4)), seed=4)
    invite = request("INVITE", call_id="cx")
    txn = rec.send_request(invite, target=Target("UDP", "192.0.2.2", 5060), now=0.0)
    (sent,) = rec.transmits()
    sent_request = parse_message(sent.data)
    assert isinstance(sent_request, Request)
    ringing = make_response(sent_request, 180, to_tag="r")
    rec.receive_datagram(bytes(ringing), remote=("192.0.2.2", 5060), now=0.1)
    assert any(isinstance(e, ResponseReceived) for e in rec.events())
    assert rec.cancel(txn, now=0.2) is not None
    ack = request("ACK", call_id="cy")
    rec.send_stateless(ack, target=Target("UDP", "192.0.2.2", 5060), now=0.3)
    rec.transmits()
    result = replay_transcript(rec.text())
    assert result.ok, result.describe()
    assert result.inputs == 4 and result.transmits == 3


# -- golden transcripts -------------------------------------------------------------------------

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _golden_sessions() -> dict[str, str]:
    _, rec_a, rec_b = recorded_session(3)
    return {"netsim-lossy-uac.jsonl": rec_a.text(), "netsim-lossy-uas.jsonl": rec_b.text()}


@pytest.mark.parametrize("name", sorted(_golden_sessions()))
def test_golden_transcript_replays_byte_for_byte(name: str) -> None:
    path = GOLDEN / name
    with path.open(encoding="utf-8") as lines:
        result = replay_transcript(lines)
    assert result.ok, (
        f"{path.name}: {result.describe()}\n(if the core's output changed on purpose, "
        "regenerate with: python tests/tools/test_trace.py)"
    )
    assert result.transmits > 5


def test_stream_inputs_and_transport_errors_replay() -> None:
    rec = Recorder(Endpoint(rng=random.Random(9)), seed=9)
    conn = rec.connection_made(transport="TCP", remote=("192.0.2.1", 40000), now=0.0)
    rec.receive_stream(conn, raw("OPTIONS", transport="TCP")[:30], now=0.1)
    rec.receive_stream(conn, raw("OPTIONS", transport="TCP")[30:], now=0.2)
    (event,) = rec.events()
    assert isinstance(event, RequestReceived) and event.txn is not None
    rec.send_response(event.txn, make_response(event.request, 200, to_tag="x"), now=0.3)
    rec.transmits()
    rec.connection_lost(conn, now=0.4)
    txn = rec.send_request(request("OPTIONS"), target=Target("TCP", "192.0.2.5", 5060), now=0.5)
    (sent,) = rec.transmits()
    assert sent.token == txn.id
    rec.transport_error(sent.token, now=0.6, reason="TCP connection refused")
    [failed] = [e for e in rec.events() if isinstance(e, TransportFailed)]
    assert failed.reason == "TCP connection refused"
    kinds = [json.loads(line)["kind"] for line in rec.lines[1:]]
    assert kinds == [
        "stream_open",
        "stream_in",
        "stream_in",
        "send_response",
        "transmit",
        "stream_closed",
        "send_request",
        "transmit",
        "transport_error",
    ]
    result = replay_transcript(rec.text())
    assert result.ok, result.describe()
    # A handle that comes back different is a divergence too.
    moved = altered(rec.text(), 1, lambda r: r.update(conn=7))
    bad = replay_transcript(moved)
    assert bad.divergence is not None and "stream_open returned handle 1, recorded 7" in (
        bad.divergence.reason
    )


def test_a_recorded_command_that_is_not_a_message_is_a_transcript_error() -> None:
    rec = Recorder(Endpoint(rng=random.Random(1)), seed=1)
    rec.send_request(request("OPTIONS"), target=Target("UDP", "192.0.2.5"), now=0.0)
    garbage = base64.b64encode(b"not sip at all").decode()
    text = altered(rec.text(), 1, lambda r: r.update(data=garbage))
    with pytest.raises(TranscriptError, match="line 2: the recorded message does not parse"):
        replay_transcript(text)
    options = parse_message(raw("OPTIONS"))
    assert isinstance(options, Request)
    response = base64.b64encode(bytes(make_response(options, 200))).decode()
    text = altered(rec.text(), 1, lambda r: r.update(data=response))
    with pytest.raises(TranscriptError, match="send_request needs a request"):
        replay_transcript(text)


if __name__ == "__main__":
    # ``python tests/tools/test_trace.py`` rewrites tests/golden/*.jsonl. Do that only for an
    # intended change of the core's output, and say so in the commit.
    GOLDEN.mkdir(exist_ok=True)
    for name, text in _golden_sessions().items():
        (GOLDEN / name).write_text(text, encoding="utf-8")
        print(f"wrote {GOLDEN / name}")
