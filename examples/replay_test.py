"""Deterministic tests of SIP code: virtual time, packet loss, and byte-exact replay.

Two pytest-style tests of the kind you would put in your own test suite. Neither opens a
socket or sleeps: ``sipsans.testing.Net`` is a network of sans-IO cores on one virtual
clock, where retransmission timers of many seconds pass in microseconds and every
loss is drawn from a seed, so each run is the same.

* ``test_call_completes_despite_loss``: Alice's and Bob's UserAgents make a call over a
  network that drops a quarter of the datagrams; the retransmissions get it through.
* ``test_transcript_replays_byte_for_byte``: Bob's side of a call is recorded as a JSONL
  transcript (``sipsans.tools.trace.Recorder``) and replayed into a fresh core, which
  must send the very same bytes. Saved to a file, such a transcript is a regression
  test for every change to your stack or your answering code.

Run it with ``python examples/replay_test.py`` or ``pytest examples/replay_test.py``.
"""

from __future__ import annotations

import random
from typing import Any

import sipsans
from sipsans.testing import Net, Node
from sipsans.tools.trace import Recorder, replay_transcript

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.2\r\ns=-\r\nc=IN IP4 192.0.2.2\r\n"
    b"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
)


def user_agent(net: Net, name: str, host: str) -> sipsans.UserAgent:
    # Every rng is seeded from the network's seed: the same seed, the same tags and
    # branches, the same losses, the same run.
    config = sipsans.EndpointConfig(advertised_host=host)
    endpoint = sipsans.Endpoint(config, rng=random.Random(net.node_seed()))
    return sipsans.UserAgent(
        endpoint, identity=f"sip:{name}@{host}", rng=random.Random(net.node_seed())
    )


def answer_calls(node: Node[Any], event: object) -> None:
    """Bob's application on a UserAgent: the network calls it with each event."""
    if isinstance(event, sipsans.IncomingCall):
        event.dialog.accept(body=SDP, content_type="application/sdp", now=node.net.now)


def test_call_completes_despite_loss() -> None:
    net = Net(seed=4, loss=0.25)
    alice = net.add("alice", "192.0.2.1", core=user_agent(net, "alice", "192.0.2.1"))
    bob = net.add(
        "bob", "192.0.2.2", core=user_agent(net, "bob", "192.0.2.2"), handler=answer_calls
    )

    call = net.call(alice, lambda now: alice.core.invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive_for(30)  # thirty seconds of virtual time
    assert call.state is sipsans.DialogState.CONFIRMED
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()  # until every timer has run out
    assert call.terminated_reason is sipsans.TerminatedReason.UAC_BYE
    [ended] = bob.of_type(sipsans.DialogTerminated)
    assert ended.reason is sipsans.TerminatedReason.UAC_BYE
    lost = sum(not wire.delivered for wire in net.wire)
    assert lost > 0, "this seed should lose some datagrams"
    print(f"call done at t={net.now:.1f} s: {len(net.wire)} datagrams sent, {lost} lost")


def test_transcript_replays_byte_for_byte() -> None:
    net = Net(seed=7)
    alice = net.add("alice", "192.0.2.1", core=user_agent(net, "alice", "192.0.2.1"))
    # Bob here is a bare Endpoint (the transaction layer) answering by hand: a transcript
    # holds an Endpoint's inputs and commands, but not yet a UserAgent's own commands
    # (invite, accept, ...), so only Endpoint cores replay byte for byte today. The seed
    # of its rng goes into the transcript so that the replay makes the same identifiers.
    seed = 99
    config = sipsans.EndpointConfig(advertised_host="192.0.2.2")
    recorder = Recorder(sipsans.Endpoint(config, rng=random.Random(seed)), seed=seed)

    def answer(node: Node[Any], event: object) -> None:
        if isinstance(event, sipsans.RequestReceived) and event.txn is not None:
            request = event.request
            if request.method == "INVITE":
                ringing = sipsans.make_response(request, 180, to_tag="b0b")
                recorder.send_response(event.txn, ringing, now=node.net.now)
                ok = sipsans.make_response(
                    request,
                    200,
                    to_tag="b0b",  # a fixed tag: the recorded bytes are what matters here
                    headers=[("Contact", "<sip:bob@192.0.2.2>")],
                    body=SDP,
                    content_type="application/sdp",
                )
            else:  # BYE
                ok = sipsans.make_response(request, 200)
            recorder.send_response(event.txn, ok, now=node.net.now)

    net.add("bob", "192.0.2.2", core=recorder, handler=answer)
    call = net.call(alice, lambda now: alice.core.invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive_for(5)
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert call.terminated_reason is sipsans.TerminatedReason.UAC_BYE

    # In real life: write recorder.text() to tests/data/call.jsonl once, and replay the
    # file in the test (sipsans.tools.replay.replay_transcript_file).
    result = replay_transcript(recorder.lines)
    assert result.ok, result.describe()
    print(result.describe())


if __name__ == "__main__":
    test_call_completes_despite_loss()
    test_transcript_replays_byte_for_byte()
    print("ok: both replay tests passed")
