"""Dialogs that outlive their process (DESIGN.md §10): a UA restores, from a snapshot
the application fetched, a dialog it does not hold when a request arrives within it,
and reports what a store of snapshots must write. Virtual time throughout.

The set-up: alice calls bob; bob's process "dies" (its node is replaced by a fresh UA
at the same address, as a load balancer sends the dialog's next request to a live
worker); the fresh UA holds the request, asks for the dialog (UnknownDialogRequest),
and the test plays the application's store with a dict of snapshots.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from netsim import Net, Node
from uasim import SDP, Callee, add_ua, assert_clean, ua

from sipsans import (
    DialogChange,
    DialogChanged,
    DialogId,
    DialogState,
    DialogTerminated,
    Event,
    InDialogRequest,
    Request,
    ResponseReceived,
    RestoreRefusal,
    RestoreRefused,
    TerminatedReason,
    UAConfig,
    UnknownDialogRequest,
    make_request,
    parse_uri,
)

WAIT = 2.0
SHARED = UAConfig(restore_wait=WAIT, report_changes=True)


class Store:
    """The application's store of snapshots, fed by DialogChanged/DialogTerminated."""

    def __init__(self) -> None:
        self.snapshots: dict[DialogId, str] = {}
        self.writes = 0

    def watch(self, node: Node) -> Callable[[Node, Event], None]:
        def on_event(node: Node, event: Event) -> None:
            if isinstance(event, DialogChanged):
                # Read when the event is handled: the dialog may have ended meanwhile
                # (a restored dialog whose waiting BYE was processed at once).
                if ua(node).dialog(event.dialog_id).state is DialogState.CONFIRMED:
                    snap = ua(node).snapshot(event.dialog_id)
                    self.snapshots[event.dialog_id] = json.dumps(snap)
                    self.writes += 1
            elif isinstance(event, DialogTerminated):
                self.snapshots.pop(event.dialog_id, None)

        return on_event


def both(*handlers: Callable[[Node, Event], None]) -> Callable[[Node, Event], None]:
    def on_event(node: Node, event: Event) -> None:
        for handler in handlers:
            handler(node, event)

    return on_event


def restorer(
    store: Store,
    *,
    delay: float = 0.05,
    answer: Callable[[DialogId], Any] | None = None,
    contact: str | None = None,
) -> Callable[[Node, Event], None]:
    """Answers UnknownDialogRequest after ``delay`` (a store's round trip) with the
    stored snapshot (or ``answer(dialog_id)``)."""

    def on_event(node: Node, event: Event) -> None:
        if not isinstance(event, UnknownDialogRequest):
            return
        dialog_id = event.dialog_id
        text = store.snapshots.get(dialog_id)
        data = answer(dialog_id) if answer is not None else (json.loads(text) if text else None)
        node.net.call_at(
            node.net.now + delay,
            node,
            lambda now: ua(node).resume(dialog_id, data, now=now, contact=contact),
        )

    return on_event


def established(
    seed: int = 1, *, bob_config: UAConfig = SHARED
) -> tuple[Net, Node, Node, Any, Store]:
    """alice's call to bob, confirmed and quiet (past Timer M); bob's snapshot stored."""
    net = Net(seed)
    store = Store()
    alice = add_ua(net, "alice", "192.0.2.1", config=UAConfig(report_changes=True))
    bob = add_ua(net, "bob", "192.0.2.2", config=bob_config)
    callee = Callee()
    bob.handler = both(callee, store.watch(bob))
    call = net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
    net.drive(until=40.0)
    assert call.state is DialogState.CONFIRMED
    return net, alice, bob, call, store


def replace_bob(net: Net, *, config: UAConfig = SHARED) -> Node:
    """bob's process dies; a fresh worker answers at its address."""
    del net.nodes["bob"]
    return add_ua(net, "bob", "192.0.2.2", config=config)


def final_statuses(node: Node, method: str) -> list[int]:
    return [
        e.response.status_code
        for e in node.of_type(ResponseReceived)
        if e.response.cseq.method == method and e.response.status_code >= 200
    ]


def test_a_fresh_ua_restores_the_dialog_and_answers_the_bye() -> None:
    net, alice, _, call, store = established()
    bob_id = DialogId(call.id.call_id, call.id.remote_tag, call.id.local_tag)
    assert bob_id in store.snapshots and store.writes == 1  # one write per call: confirmed
    bob2 = replace_bob(net)
    bob2.handler = both(restorer(store, delay=0.8), store.watch(bob2))
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert call.terminated_reason is TerminatedReason.UAC_BYE and call.status is None
    asked = bob2.of_type(UnknownDialogRequest)
    # alice's BYE was retransmitted at T1 while bob2 waited: one question all the same.
    assert [e.dialog_id for e in asked] == [bob_id]
    assert asked[0].request.method == "BYE"
    byes = [w for w in net.wire if w.first_line.startswith("BYE") and w.src == "alice"]
    assert len(byes) == 2
    changes = [e.change for e in bob2.of_type(DialogChanged)]
    assert changes == [DialogChange.RESTORED]
    ended = bob2.of_type(DialogTerminated)
    assert [(e.dialog_id, e.reason) for e in ended] == [(bob_id, TerminatedReason.UAC_BYE)]
    assert store.snapshots == {}
    assert_clean(alice, bob2)


@pytest.mark.parametrize("method", ["INVITE", "UPDATE", "INFO"])
def test_a_restored_dialog_answers_in_dialog_requests(method: str) -> None:
    net, alice, _, call, store = established(2)
    bob2 = replace_bob(net)
    callee2 = Callee(answer_in_dialog=True)
    bob2.handler = both(callee2, restorer(store), store.watch(bob2))
    if method == "INVITE":
        net.call(alice, lambda now: call.reinvite(body=SDP, now=now))
    elif method == "UPDATE":
        net.call(alice, lambda now: call.update(body=SDP, now=now))
    else:
        net.call(
            alice,
            lambda now: call.info(
                body=b"Signal=1\r\n", content_type="application/dtmf-relay", now=now
            ),
        )
    net.drive(until=net.now + 40.0)
    assert final_statuses(alice, method) == ([200, 200] if method == "INVITE" else [200])
    got = bob2.of_type(InDialogRequest)
    assert [e.request.method for e in got if e.txn is not None] == [method]
    # The restored dialog goes on: bob2 hangs up, with the CSeq after the snapshot's.
    d = ua(bob2).dialog(got[0].dialog_id)
    net.call(bob2, lambda now: d.bye(now=now))
    net.drive()
    assert call.terminated_reason is TerminatedReason.UAS_BYE
    assert_clean(alice, bob2)


def test_requests_that_waited_together_are_processed_in_order() -> None:
    net, alice, _, call, store = established(3)
    bob2 = replace_bob(net)
    callee2 = Callee(answer_in_dialog=True)
    bob2.handler = both(callee2, restorer(store, delay=0.3), store.watch(bob2))
    net.call(
        alice, lambda now: call.info(body=b"x", content_type="application/dtmf-relay", now=now)
    )
    net.call_at(net.now + 0.1, alice, lambda now: call.bye(now=now))
    net.drive()
    assert len(bob2.of_type(UnknownDialogRequest)) == 1
    assert final_statuses(alice, "INFO") == [200] and final_statuses(alice, "BYE") == [200]
    assert_clean(alice, bob2)


def test_nothing_restored_in_time_is_answered_481() -> None:
    net, alice, _, call, _ = established(4)
    bob2 = replace_bob(net)  # nobody answers its UnknownDialogRequest
    net.call(alice, lambda now: call.bye(now=now))
    start = net.now
    net.drive()
    refused = bob2.of_type(RestoreRefused)
    assert [e.reason for e in refused] == [RestoreRefusal.TIMEOUT]
    assert final_statuses(alice, "BYE") == [481]
    answer = next(w for w in net.wire if w.first_line.startswith("SIP/2.0 481"))
    assert answer.time == pytest.approx(start + WAIT, abs=0.05)  # not a moment later
    assert_clean(alice, bob2)


def _version_2(snap: dict[str, Any]) -> dict[str, Any]:
    return {**snap, "version": 2}


def _no_role(snap: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snap.items() if k != "role"}


def _bad_cseq(snap: dict[str, Any]) -> dict[str, Any]:
    return {**snap, "local_cseq": "12"}


def _bad_route(snap: dict[str, Any]) -> dict[str, Any]:
    return {**snap, "route_set": ["<sip:proxy;lr>", "not a route <"]}


def _other_dialog(snap: dict[str, Any]) -> dict[str, Any]:
    return {**snap, "remote_tag": "someone-else"}


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda snap: None, RestoreRefusal.NOT_FOUND),
        (_version_2, RestoreRefusal.UNKNOWN_VERSION),
        (lambda snap: ["not", "an", "object"], RestoreRefusal.CORRUPT),
        (lambda snap: {**snap, "version": "1"}, RestoreRefusal.CORRUPT),
        (_no_role, RestoreRefusal.CORRUPT),
        (_bad_cseq, RestoreRefusal.CORRUPT),
        (_bad_route, RestoreRefusal.CORRUPT),
        (_other_dialog, RestoreRefusal.CORRUPT),
    ],
    ids=["none", "version", "list", "version-text", "no-role", "cseq", "route", "other-dialog"],
)
def test_a_bad_snapshot_is_refused_whole_and_the_request_gets_481(
    spoil: Callable[[dict[str, Any]], Any], reason: RestoreRefusal
) -> None:
    net, alice, _, call, store = established(5)
    bob2 = replace_bob(net)

    def answer(dialog_id: DialogId) -> Any:
        return spoil(json.loads(store.snapshots[dialog_id]))

    bob2.handler = restorer(store, answer=answer)
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    refused = bob2.of_type(RestoreRefused)
    assert [e.reason for e in refused] == [reason]
    assert refused[0].detail
    assert final_statuses(alice, "BYE") == [481]
    assert ua(bob2).stats()["dialogs"] == 0  # nothing of it kept
    assert not bob2.of_type(DialogTerminated)
    assert_clean(alice, bob2)


def test_a_snapshot_of_a_dialog_that_ended_here_is_refused() -> None:
    """Our BYE and the peer's cross: the peer's finds the dialog gone here, and the
    store (written behind) still has its snapshot; restoring it would raise the dead."""
    net, alice, bob, call, store = established(6)
    bob_id = DialogId(call.id.call_id, call.id.remote_tag, call.id.local_tag)
    stale = store.snapshots[bob_id]
    bob.handler = restorer(store, answer=lambda dialog_id: json.loads(stale))
    net.call(bob, lambda now: ua(bob).dialog(bob_id).bye(now=now))
    net.drive(until=net.now + 40.0)
    assert ua(bob).stats()["dialogs"] == 0
    # The dialog ended here (bob's BYE); a late request within it is not held.
    assert ua(bob).resume(bob_id, json.loads(stale), now=net.now) is None
    request = _bye_to(bob_id)
    net.call(
        alice,
        lambda now: ua(alice).endpoint.send_request(request, target=bob.target(), now=now),
    )
    net.drive()
    assert not bob.of_type(UnknownDialogRequest)
    refused = bob.of_type(RestoreRefused)
    assert [(e.dialog_id, e.reason) for e in refused] == [(bob_id, RestoreRefusal.ENDED)]
    assert final_statuses(alice, "BYE")[-1] == 481
    assert ua(bob).stats()["dialogs"] == 0


def _bye_to(bob_id: DialogId) -> Request:
    """A BYE that names bob's ended dialog (alice's own has ended too)."""
    return make_request(
        "BYE",
        parse_uri("sip:bob@192.0.2.2"),
        from_=f"<sip:alice@192.0.2.1>;tag={bob_id.remote_tag}",
        to=f"<sip:bob@192.0.2.2>;tag={bob_id.local_tag}",
        call_id=bob_id.call_id,
        cseq=99,
    )


def test_ua_restore_takes_up_the_requests_that_wait() -> None:
    """ua.restore() of a dialog that requests wait for processes them at once; a
    resume() after it finds nothing waiting and returns None."""
    net, alice, _, call, store = established(7)
    bob2 = replace_bob(net)
    bob_id = DialogId(call.id.call_id, call.id.remote_tag, call.id.local_tag)
    snap = json.loads(store.snapshots[bob_id])
    results: list[Any] = []

    def on_event(node: Node, event: Event) -> None:
        if isinstance(event, UnknownDialogRequest):
            # ua.restore() picks the waiting BYE up at once: the dialog ends.
            ua(node).restore(snap, now=node.net.now)
            results.append(ua(node).resume(bob_id, snap, now=node.net.now))

    bob2.handler = on_event
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert results == [None]  # nothing waited any more
    assert final_statuses(alice, "BYE") == [200]
    net.call(bob2, lambda now: None)
    assert_clean(alice, bob2)


def test_refuse_restore_answers_481_with_the_reason_given() -> None:
    net, alice, _, call, _ = established(8)
    bob2 = replace_bob(net)

    def on_event(node: Node, event: Event) -> None:
        if isinstance(event, UnknownDialogRequest):
            ua(node).refuse_restore(
                event.dialog_id, RestoreRefusal.OWNED, detail="worker-2 has it", now=node.net.now
            )

    bob2.handler = on_event
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    refused = bob2.of_type(RestoreRefused)
    assert [(e.reason, e.detail) for e in refused] == [(RestoreRefusal.OWNED, "worker-2 has it")]
    assert final_statuses(alice, "BYE") == [481]
    assert_clean(alice, bob2)


def _bye(call: Any, now: float) -> Any:
    return call.bye(now=now)


def test_the_table_of_waiting_dialogs_is_bounded() -> None:
    net = Net(9)
    store = Store()
    alice = add_ua(net, "alice", "192.0.2.1")
    bob = add_ua(net, "bob", "192.0.2.2", config=SHARED)
    bob.handler = both(Callee(), store.watch(bob))
    calls = [
        net.call(alice, lambda now: ua(alice).invite("sip:bob@192.0.2.2", body=SDP, now=now))
        for _ in range(3)
    ]
    net.drive(until=40.0)
    bob2 = replace_bob(net, config=UAConfig(restore_wait=WAIT, max_restores=2))
    for call in calls:
        net.call(alice, partial(_bye, call))
    net.drive(until=net.now + 0.2)
    # The third dialog finds the table full: 481 at once, and said why.
    assert len(bob2.of_type(UnknownDialogRequest)) == 2
    assert [e.reason for e in bob2.of_type(RestoreRefused)] == [RestoreRefusal.BUSY]
    assert final_statuses(alice, "BYE") == [481]
    assert ua(bob2).stats()["awaiting_restore"] == 2
    net.drive()
    assert final_statuses(alice, "BYE") == [481, 481, 481]
    assert ua(bob2).stats()["awaiting_restore"] == 0


def test_without_restore_wait_an_unknown_dialog_gets_481_at_once() -> None:
    net, alice, _, call, _ = established(10)
    bob2 = replace_bob(net, config=UAConfig())
    net.call(alice, lambda now: call.bye(now=now))
    net.drive(until=net.now + 0.1)
    assert final_statuses(alice, "BYE") == [481]
    assert not bob2.of_type(UnknownDialogRequest) and not bob2.of_type(RestoreRefused)


def test_changes_reported_are_what_a_snapshot_needs() -> None:
    """Confirmation, a new local CSeq (not for BYE), a refreshed remote target; never
    the remote CSeq of each request received (one write per call)."""
    net, alice, bob, call, store = established(11)
    bob_id = DialogId(call.id.call_id, call.id.remote_tag, call.id.local_tag)
    assert [e.change for e in alice.of_type(DialogChanged)] == [DialogChange.CONFIRMED]
    bob.handler = both(Callee(answer_in_dialog=True), store.watch(bob))
    info: dict[str, Any] = {"body": b"x", "content_type": "application/dtmf-relay"}
    net.call(alice, lambda now: call.info(**info, now=now))  # bob's remote CSeq: no report
    net.drive(until=net.now + 40.0)
    assert [e.change for e in bob.of_type(DialogChanged)] == [DialogChange.CONFIRMED]
    net.call(bob, lambda now: ua(bob).dialog(bob_id).info(**info, now=now))
    net.drive(until=net.now + 40.0)
    changes = [e.change for e in bob.of_type(DialogChanged)]
    assert changes == [DialogChange.CONFIRMED, DialogChange.LOCAL_CSEQ]
    assert (
        json.loads(store.snapshots[bob_id])["local_cseq"] == ua(bob).snapshot(bob_id)["local_cseq"]
    )
    # alice moves (a restored copy of her dialog with another Contact) and re-INVITEs:
    # bob's remote target is refreshed and reported.
    snap = ua(alice).snapshot(call.id)
    del net.nodes["alice"]
    alice2 = add_ua(net, "alice", "192.0.2.1", config=UAConfig(report_changes=True))
    moved = ua(alice2).restore({**snap, "local_contact": "<sip:alice@192.0.2.1:5080>"}, now=net.now)
    net.call(alice2, lambda now: moved.reinvite(body=SDP, now=now))
    net.drive(until=net.now + 40.0)
    assert [e.change for e in bob.of_type(DialogChanged)][-1] is DialogChange.TARGET
    assert json.loads(store.snapshots[bob_id])["remote_target"] == "sip:alice@192.0.2.1:5080"
    # alice2's own events: restored, then its re-INVITE's CSeq.
    assert [e.change for e in alice2.of_type(DialogChanged)] == [
        DialogChange.RESTORED,
        DialogChange.LOCAL_CSEQ,
    ]
    net.call(alice2, lambda now: moved.bye(now=now))
    net.drive()
    assert [e.change for e in alice2.of_type(DialogChanged)][-1] is DialogChange.LOCAL_CSEQ
    assert store.snapshots == {}


def test_nothing_is_reported_unless_asked() -> None:
    net, alice, bob, call, store = established(12, bob_config=UAConfig())
    assert store.writes == 0
    assert not alice.of_type(UnknownDialogRequest)
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    assert not bob.of_type(DialogChanged)


def test_the_restoring_ua_puts_its_own_contact_in_the_dialog() -> None:
    """resume(contact=): the answer to the peer's next target refresh carries the new
    holder's Contact, so the peer's requests come to it from then on (§12.2.2)."""
    net, alice, _, call, store = established(13)
    bob2 = replace_bob(net)
    net._by_address[("192.0.2.2", 5062)] = bob2  # the same worker, at its own address
    here = "<sip:bob@192.0.2.2:5062>"
    bob2.handler = both(
        Callee(answer_in_dialog=True), restorer(store, contact=here), store.watch(bob2)
    )
    net.call(alice, lambda now: call.reinvite(body=SDP, now=now))
    net.drive(until=net.now + 40.0)
    assert final_statuses(alice, "INVITE") == [200, 200]  # the call's, the re-INVITE's
    assert ua(alice).snapshot(call.id)["remote_target"] == "sip:bob@192.0.2.2:5062"
    bob_id = DialogId(call.id.call_id, call.id.remote_tag, call.id.local_tag)
    assert json.loads(store.snapshots[bob_id])["local_contact"] == here
    net.call(alice, lambda now: call.bye(now=now))
    net.drive()
    bye = [w for w in net.wire if w.first_line.startswith("BYE") and w.src == "alice"]
    assert [w.dst for w in bye] == [("192.0.2.2", 5062)]
    assert call.terminated_reason is TerminatedReason.UAC_BYE
    assert_clean(alice, bob2)
