"""Server transactions after their final response (RFC 3261 §17.2, §9.2; RFC 6026 §8.7).

Once a server transaction has sent its final response it only lingers (up to 32 s,
Timers J and L) to absorb retransmissions. It keeps what matching and retransmission
need and nothing of the parsed request, so that a busy server does not hold every
request of the last 32 seconds. These tests check both halves: nothing parsed is
held, and every retransmission and late CANCEL/ACK is still handled as the RFC says.
"""

from __future__ import annotations

import random
import tracemalloc

import pytest
from txhelpers import first_line, raw

from sipsans import (
    Endpoint,
    EndpointConfig,
    LocalProtocolError,
    Message,
    RequestReceived,
    ServerTxn,
    TimerKind,
    TransactionTerminated,
    TransactionTimedOut,
    make_response,
    parse_message,
)

PEER = ("192.0.2.1", 5060)
ME = ("192.0.2.2", 5060)


def uas() -> Endpoint:
    return Endpoint(EndpointConfig(advertised_host=ME[0]), rng=random.Random(7))


def deliver(ep: Endpoint, data: bytes, now: float) -> None:
    ep.receive_datagram(data, remote=PEER, local=ME, now=now)


def received(ep: Endpoint) -> RequestReceived:
    (event,) = ep.events()
    assert isinstance(event, RequestReceived) and event.txn is not None
    return event


def answer(ep: Endpoint, event: RequestReceived, status: int, now: float) -> bytes:
    assert event.txn is not None
    ep.send_response(event.txn, make_response(event.request, status, to_tag="uas"), now=now)
    (sent,) = ep.transmits()
    return sent.data


def held_messages(ep: Endpoint, txn: ServerTxn) -> list[str]:
    """Names of the transaction's fields that still hold a parsed message."""
    state = ep._txns.by_id[txn.id]
    held = []
    for name in dir(state):  # (not __slots__: a compiled build's class has none)
        value = getattr(state, name, None)
        values = value if isinstance(value, tuple) else (value,)
        if any(isinstance(item, Message) for item in values):
            held.append(name)
    return held


@pytest.mark.parametrize(("method", "status"), [("INVITE", 200), ("INVITE", 486), ("BYE", 200)])
def test_a_settled_server_transaction_holds_no_parsed_message(method: str, status: int) -> None:
    ep = uas()
    deliver(ep, raw(method, to_tag="x" if method == "BYE" else None), now=0.0)
    event = received(ep)
    assert event.txn is not None
    answer(ep, event, status, now=0.1)
    assert ep._txns.by_id[event.txn.id].state.value in ("Accepted", "Completed")
    assert held_messages(ep, event.txn) == []


def test_a_retransmitted_bye_gets_the_same_bytes_after_settling() -> None:
    ep = uas()
    deliver(ep, raw("BYE", to_tag="x"), now=0.0)
    sent = answer(ep, received(ep), 200, now=0.1)
    deliver(ep, raw("BYE", to_tag="x"), now=0.6)  # §17.2.2: Completed resends the final
    (again,) = ep.transmits()
    assert again.data == sent
    assert ep.events() == []


def test_a_retransmitted_invite_in_accepted_is_absorbed() -> None:
    ep = uas()
    deliver(ep, raw(), now=0.0)
    event = received(ep)
    answer(ep, event, 200, now=0.1)
    deliver(ep, raw(), now=0.6)  # RFC 6026 §8.7: the TU, not the transaction, resends 2xx
    assert ep.transmits() == [] and ep.events() == []
    # ... and the TU can still send its 2xx retransmission through the transaction.
    assert event.txn is not None
    ep.send_response(event.txn, make_response(event.request, 200, to_tag="uas"), now=0.7)
    assert [first_line(t.data) for t in ep.transmits()] == ["SIP/2.0 200 OK"]


@pytest.mark.parametrize("branch", ["z9hG4bKabc1", None])
def test_a_late_cancel_gets_200_with_the_to_tag_of_the_final_response(branch: str | None) -> None:
    ep = uas()
    deliver(ep, raw(branch=branch), now=0.0)
    answer(ep, received(ep), 486, now=0.1)
    # §9.2: the CANCEL matches (RFC 2543: by the INVITE's To tag, here none), has no
    # effect on the answered INVITE, and its 200 carries the tag of that response.
    deliver(ep, raw("CANCEL", branch=branch), now=0.2)
    (ok,) = ep.transmits()
    response = parse_message(ok.data)
    assert first_line(ok.data) == "SIP/2.0 200 OK"
    assert response.to.tag == "uas"
    assert ep.events() == []


def test_a_response_with_another_cseq_is_refused_after_settling() -> None:
    ep = uas()
    deliver(ep, raw(), now=0.0)
    event = received(ep)
    answer(ep, event, 200, now=0.1)
    other = parse_message(raw(cseq=2))
    assert event.txn is not None
    with pytest.raises(LocalProtocolError, match="does not match the request's 1 INVITE"):
        ep.send_response(event.txn, make_response(other, 200, to_tag="uas"), now=0.2)  # type: ignore[arg-type]


# -- how many may linger (EndpointConfig.max_transactions / max_lingering) ------------------


def capped(max_transactions: int = 65_536, max_lingering: int = 262_144) -> Endpoint:
    config = EndpointConfig(
        advertised_host=ME[0], max_transactions=max_transactions, max_lingering=max_lingering
    )
    return Endpoint(config, rng=random.Random(7))


def options(n: int) -> bytes:
    return raw("OPTIONS", branch=f"z9hG4bKopt{n}", call_id=f"c{n}@192.0.2.1")


def test_settled_transactions_do_not_count_against_max_transactions() -> None:
    # A UAS answering 3,000 calls/s keeps ~192,000 settled transactions (Timers J and L,
    # 32 s on UDP): the in-flight cap must not turn them into 503s for new calls.
    ep = capped(max_transactions=1)
    for n in range(3):
        deliver(ep, options(n), now=float(n))
        assert first_line(answer(ep, received(ep), 200, now=float(n))) == "SIP/2.0 200 OK"
    assert ep.stats()["lingering"] == 3
    deliver(ep, options(3), now=3.0)
    received(ep)  # in flight now: the one transaction allowed
    deliver(ep, options(4), now=3.0)
    assert ep.events() == []
    (reply,) = ep.transmits()
    assert first_line(reply.data) == "SIP/2.0 503 Service Unavailable"


def test_past_max_lingering_the_oldest_settled_transaction_ends_early() -> None:
    ep = capped(max_lingering=2)
    first = []
    for n in range(3):
        deliver(ep, options(n), now=float(n))
        event = received(ep)
        first.append(event.txn)
        answer(ep, event, 200, now=float(n))
    # The third settled: the first one (Timer J would end it at 32 s) ended now.
    (ended,) = ep.events()
    assert isinstance(ended, TransactionTerminated) and ended.txn == first[0]
    assert ep.stats()["lingering"] == 2
    # A retransmission of the newest is still absorbed with the same 200 (§17.2.2);
    # one of the first is taken for a new request.
    deliver(ep, options(2), now=3.0)
    assert ep.events() == []
    assert first_line(ep.transmits()[0].data) == "SIP/2.0 200 OK"
    deliver(ep, options(0), now=3.0)
    assert received(ep).txn != first[0]


def burst(ep: Endpoint, count: int, now: float) -> None:
    """``count`` OPTIONS at once, each answered 200, then the clock past Timer J."""
    for n in range(count):
        deliver(ep, options(n), now=now)
    for event in ep.events():
        assert isinstance(event, RequestReceived)
        answer(ep, event, 200, now=now)
    ep.handle_timer(now=now + 100.0)  # Timer J (32 s) ends them all
    ep.events()
    assert ep.stats()["transactions"] == 0


def test_the_memory_of_a_burst_is_given_back_once_its_transactions_end() -> None:
    """20,000 requests at once grow the transaction tables; once every one of them has
    ended, what they held is freed, the tables' room included (a dict keeps the room it
    grew to unless it is replaced): some 40 bytes a transaction otherwise."""
    ep = capped()
    burst(ep, 1, now=0.0)  # (the Endpoint's own first allocations)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        burst(ep, 20_000, now=200.0)
        left = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # What may stay: the parser's memos, bounded (sipsans._speed), some 500 KB at most.
    assert left < 768 * 1024, f"{left} bytes still held after 20,000 transactions ended"


def test_lingering_bookkeeping_empties_when_transactions_end_out_of_order() -> None:
    # Over TCP Timer J is zero (the transaction ends as it settles); over UDP it lingers
    # 32 s: ends in another order than settling must not leave anything behind.
    ep = capped()
    for n in range(6):
        transport = "TCP" if n % 2 else "UDP"
        data = raw("OPTIONS", branch=f"z9hG4bKmix{n}", call_id=f"m{n}", transport=transport)
        if transport == "TCP":
            conn = ep.connection_made(transport="TCP", remote=PEER, local=ME, now=float(n))
            ep.receive_stream(conn, data, now=float(n))
        else:
            deliver(ep, data, now=float(n))
        answer(ep, received(ep), 200, now=float(n))
        ended = ep.events()  # over TCP, the transaction already
        assert len(ended) == (transport == "TCP")
    ep.handle_timer(now=100.0)
    stats = ep.stats()
    assert stats["transactions"] == stats["lingering"] == 0
    assert not ep._txns._lingering  # the settle-order index holds no ended ids


@pytest.mark.parametrize(
    ("limits", "named"),
    [
        ({"max_transactions": 0}, "max_transactions"),
        ({"max_lingering": 0}, "max_lingering"),
        ({"retry_after": -1}, "retry_after"),
    ],
)
def test_limits_that_cannot_work_are_refused_naming_the_setting(
    limits: dict[str, int], named: str
) -> None:
    with pytest.raises(ValueError, match=f"EndpointConfig.*{named}"):
        EndpointConfig(advertised_host=ME[0], **limits)  # type: ignore[arg-type]  # (ints)


def test_an_invite_answered_at_once_leaves_no_100_trying_wake_up() -> None:
    # §17.2.1: the 100 is for a TU that takes longer than 200 ms. A TU answering while
    # it handles the request's event leaves only Timer L (32 s, RFC 6026 §8.7) to wake
    # the caller for; one that does not answer still gets its 100 at 200 ms.
    ep = uas()
    deliver(ep, raw(), now=0.0)
    answer(ep, received(ep), 200, now=0.0)
    assert ep.get_next_timer() == pytest.approx(32.0)
    assert ep.stats()["timers"] == 1
    deliver(ep, raw(branch="z9hG4bKslow", call_id="slow"), now=1.0)
    received(ep)
    assert ep.get_next_timer() == pytest.approx(1.2)
    ep.handle_timer(now=1.2)
    assert [first_line(t.data) for t in ep.transmits()] == ["SIP/2.0 100 Trying"]


# -- a request the TU never answers ---------------------------------------------------


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
def test_an_unanswered_non_invite_ends_when_the_client_has_given_up(transport: str) -> None:
    """A TU that forgets a request must not hold its transaction for ever (the registrar
    once did, until every later request got 503). The client's Timer F fires at 64*T1
    (§17.1.2.2); the server side ends then too and says which timer ended it."""
    ep = uas()
    if transport == "UDP":
        deliver(ep, raw("OPTIONS"), now=0.0)
    else:
        conn = ep.connection_made(transport="TCP", remote=PEER, local=ME, now=0.0)
        ep.receive_stream(conn, raw("OPTIONS", transport="TCP"), now=0.0)
    event = received(ep)
    assert event.txn is not None
    assert ep.get_next_timer() == 32.0
    ep.handle_timer(now=31.9)
    assert ep.events() == [] and ep.stats()["transactions"] == 1
    ep.handle_timer(now=32.0)
    timed_out, ended = ep.events()
    assert isinstance(timed_out, TransactionTimedOut)
    assert (timed_out.txn, timed_out.timer) == (event.txn, TimerKind.UNANSWERED)
    assert isinstance(ended, TransactionTerminated) and ended.txn == event.txn
    assert ep.stats()["transactions"] == 0
    assert ep.transmits() == []  # nothing is sent: nobody is listening any more
    with pytest.raises(LocalProtocolError):
        ep.send_response(event.txn, make_response(event.request, 200, to_tag="late"), now=33.0)


def test_an_answered_non_invite_is_not_reported_unanswered() -> None:
    ep = uas()
    deliver(ep, raw("OPTIONS"), now=0.0)
    event = received(ep)
    assert event.txn is not None
    ep.send_response(event.txn, make_response(event.request, 180), now=1.0)  # Proceeding
    ep.transmits()
    answer(ep, event, 200, now=2.0)
    ep.handle_timer(now=40.0)  # past both 64*T1 from the start and Timer J
    assert not any(isinstance(e, TransactionTimedOut) for e in ep.events())
    assert ep.stats()["transactions"] == 0
