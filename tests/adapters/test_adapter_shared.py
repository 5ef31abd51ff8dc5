"""Dialogs shared between worker sessions through a store (sipsans_session.shared,
DESIGN.md §10), over loopback UDP on every flavour of session.

Two workers share a :class:`MemoryStore`; alice calls worker 1. To play the load
balancer that sends the dialog's next request to worker 2 (worker 1 being dead),
alice's dialog is moved: snapshotted, its remote target pointed at worker 2, and
restored in a second session of alice's. Worker 2 then meets a dialog it does not
hold, and restores it from the store.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from loopback import FLAVOURS, SDP, Flavour, by_flavour, ua_factory, uri_of

import sipsans
from sipsans_session import MemoryStore, SharedDialogs, StoreUnavailable, open_store
from sipsans_session.shared import dialog_key, shared_config

pytestmark = pytest.mark.anyio

ASYNCIO = [f for f in FLAVOURS if f.name == "asyncio"]


def worker_factory(name: str, seed: int) -> Callable[[tuple[str, int]], sipsans.UserAgent]:
    def make(addr: tuple[str, int]) -> sipsans.UserAgent:
        cfg = sipsans.EndpointConfig(advertised_host=addr[0], advertised_port=addr[1])
        rng = random.Random(seed)
        return sipsans.UserAgent(
            sipsans.Endpoint(cfg, rng=rng),
            identity=f"sip:{name}@127.0.0.1",
            rng=rng,
            config=shared_config(restore_wait=2.0),
        )

    return make


def answering(session: Any) -> Callable[[object], None]:
    """A worker's application: accept calls, answer in-dialog requests 200."""

    def on_event(event: object) -> None:
        if isinstance(event, sipsans.IncomingCall):
            session.command(event.dialog.accept, body=SDP, content_type="application/sdp")
        elif isinstance(event, sipsans.InDialogRequest) and event.txn is not None:
            invite = event.request.method == "INVITE"
            session.command(
                session.core.respond,
                event.txn,
                200,
                body=SDP if invite else b"",
                content_type="application/sdp" if invite else None,
            )

    return on_event


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not check():
            await anyio.sleep(0.01)


@dataclass
class Cluster:
    store: MemoryStore
    workers: list[Any]
    shared: list[SharedDialogs]
    alice: Any
    alice2: Any

    async def call_and_move(self) -> tuple[Any, sipsans.DialogId]:
        """alice calls worker 1, its snapshot is written; her dialog moves to worker 2.
        Returns her moved dialog and worker 1's id of the dialog."""
        dialog = await self.alice.invite(uri_of(self.workers[0]), body=SDP)
        worker_id = sipsans.DialogId(dialog.id.call_id, dialog.id.remote_tag, dialog.id.local_tag)
        key = dialog_key("sipsans:", worker_id)
        await eventually(lambda: key in self.store.live_keys())
        snap = self.alice.core.snapshot(dialog.id)
        snap["remote_target"] = uri_of(self.workers[1])
        view = self.alice2.core.restore(snap, now=self.alice2.now())
        return self.alice2.wrap(view), worker_id

    def dialogs(self) -> list[str]:
        """The dialog keys in the store (the restore locks left out)."""
        return [key for key in self.store.live_keys() if key.startswith("sipsans:dialog:")]

    def key(self, worker_id: sipsans.DialogId) -> str:
        return dialog_key("sipsans:", worker_id)


@asynccontextmanager
async def cluster(flavour: Flavour, seed: int) -> AsyncIterator[Cluster]:
    store = MemoryStore()
    async with (
        flavour(worker_factory("w1", seed)) as w1,
        flavour(worker_factory("w2", seed + 1)) as w2,
        flavour(ua_factory("alice", seed + 2)) as alice,
        flavour(ua_factory("alice", seed + 3)) as alice2,
        anyio.create_task_group() as tg,
    ):
        shared = []
        for name, worker in (("w1", w1), ("w2", w2)):
            worker.on_event = answering(worker)
            one = SharedDialogs(worker, store, owner=name)
            tg.start_soon(one.run)
            shared.append(one)
        try:
            yield Cluster(store, [w1, w2], shared, alice, alice2)
        finally:
            for one in shared:
                one.close()


@by_flavour()
async def test_a_second_worker_restores_the_dialog_and_answers(flavour: Flavour) -> None:
    async with cluster(flavour, 10) as c:
        moved, worker_id = await c.call_and_move()
        record = json.loads(await c.store.get(c.key(worker_id)) or b"")
        assert record["owner"] == "w1" and record["snapshot"]["version"] == 1
        response = await moved.reinvite(body=SDP)
        assert response.status_code == 200
        assert c.shared[1].counts["restored"] == 1
        await eventually(lambda: c.shared[1].counts["written"] == 1)
        record = json.loads(await c.store.get(c.key(worker_id)) or b"")
        assert record["owner"] == "w2"  # worker 2 holds it now
        # Its Contact came with the re-INVITE's 200: alice's requests go to it directly.
        host, port = c.workers[1].addresses["UDP"]
        assert c.alice2.core.snapshot(moved.id)["remote_target"].endswith(f"{host}:{port}")
        response = await moved.info(body=b"Signal=5", content_type="application/dtmf-relay")
        assert response.status_code == 200
        bye = await moved.bye()
        assert bye is not None and bye.status_code == 200
        await eventually(lambda: c.dialogs() == [])  # deleted at its end
        assert c.shared[1].counts["deleted"] == 1


@by_flavour(ASYNCIO)
async def test_a_bye_is_the_first_request_the_second_worker_sees(flavour: Flavour) -> None:
    async with cluster(flavour, 20) as c:
        moved, _ = await c.call_and_move()
        bye = await moved.bye()
        assert bye is not None and bye.status_code == 200
        await eventually(lambda: c.dialogs() == [])
        # Restored and ended in one go: its record was deleted, never written again.
        assert c.shared[1].counts["restored"] == 1
        assert c.shared[1].counts["written"] == 0 and c.shared[1].counts["deleted"] == 1


async def _refused_bye(c: Cluster, moved: Any) -> int:
    bye = await moved.bye()
    assert bye is not None
    return int(bye.status_code)


@by_flavour(ASYNCIO)
async def test_a_dialog_another_worker_restores_is_not_restored_twice(flavour: Flavour) -> None:
    async with cluster(flavour, 30) as c:
        moved, worker_id = await c.call_and_move()
        lock = f"sipsans:lock:{c.key(worker_id)[len('sipsans:') :]}"
        assert await c.store.lock(lock, "w3", ttl=10.0)  # a third worker is restoring it
        assert await _refused_bye(c, moved) == 481
        assert c.shared[1].counts["refused-owned"] == 1
        assert c.shared[1].counts["restored"] == 0


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "corrupt"),
        (json.dumps({"owner": "w1", "snapshot": {"version": 99}}).encode(), "unknown-version"),
        (json.dumps({"owner": "w1", "snapshot": {"version": 1}}).encode(), "corrupt"),
        (None, "not-found"),
    ],
    ids=["not-json", "version", "fields", "missing"],
)
@by_flavour(ASYNCIO)
async def test_a_bad_record_is_refused_with_481(
    flavour: Flavour, value: bytes | None, reason: str
) -> None:
    async with cluster(flavour, 40) as c:
        moved, worker_id = await c.call_and_move()
        key = c.key(worker_id)
        if value is None:
            await c.store.write({}, [key], ttl=1.0)
        else:
            await c.store.write({key: value}, [], ttl=60.0)
        assert await _refused_bye(c, moved) == 481
        assert c.shared[1].counts[f"refused-{reason}"] == 1
        assert c.workers[1].core.stats()["dialogs"] == 0


@by_flavour(ASYNCIO)
async def test_an_unreachable_store_never_stops_calls(
    flavour: Flavour, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sipsans.store")
    async with cluster(flavour, 50) as c:
        c.store.available = False
        dialog = await c.alice.invite(uri_of(c.workers[0]), body=SDP)  # answered all the same
        await eventually(lambda: c.shared[0].counts["store-errors"] >= 2)  # retried
        assert not c.shared[0].healthy
        response = await dialog.info(body=b"Signal=1", content_type="application/dtmf-relay")
        assert response.status_code == 200
        c.store.available = True
        await eventually(lambda: len(c.dialogs()) == 1)  # written once it is back
        assert c.shared[0].healthy and c.shared[0].counts["outages"] == 1
        messages = [r.getMessage() for r in caplog.records]
        assert sum("store unreachable" in m for m in messages) == 1  # once per outage
        assert any("reachable again" in m for m in messages)
        c.store.available = False
        bye = await dialog.bye()
        assert bye is not None and bye.status_code == 200
        c.store.available = True
        await eventually(lambda: c.dialogs() == [])  # its deletion was kept and sent


@by_flavour(ASYNCIO)
async def test_a_request_while_the_store_is_down_gets_481(flavour: Flavour) -> None:
    async with cluster(flavour, 60) as c:
        moved, _ = await c.call_and_move()
        c.store.available = False
        assert await _refused_bye(c, moved) == 481
        assert c.shared[1].counts["refused-unavailable"] == 1


@by_flavour(ASYNCIO)
async def test_the_ua_must_be_made_for_sharing(flavour: Flavour) -> None:
    async with flavour(ua_factory("plain", 70)) as plain:
        shared = SharedDialogs(plain, MemoryStore(), owner="x")
        with pytest.raises(TypeError, match="shared_config"):
            await shared.run()


async def test_memory_store_locks_expire_and_unlock_checks_the_owner() -> None:
    now = [0.0]
    store = MemoryStore(clock=lambda: now[0])
    assert await store.lock("l", "a", ttl=1.0)
    assert not await store.lock("l", "b", ttl=1.0)
    await store.unlock("l", "b")  # not b's: left alone
    assert not await store.lock("l", "b", ttl=1.0)
    now[0] = 1.5
    assert await store.lock("l", "b", ttl=1.0)  # a's expired
    await store.write({"k": b"v"}, [], ttl=2.0)
    assert await store.get("k") == b"v"
    now[0] = 3.6
    assert await store.get("k") is None
    store.available = False
    with pytest.raises(StoreUnavailable):
        await store.get("k")


def test_open_store_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(open_store("memory:"), MemoryStore)
    with pytest.raises(ValueError, match="redis://"):
        open_store("mongodb://127.0.0.1")
    monkeypatch.setitem(__import__("sys").modules, "redis", None)
    monkeypatch.setitem(__import__("sys").modules, "redis.asyncio", None)
    with pytest.raises(ImportError, match=r"pip install sipsans\[redis\]"):
        open_store("redis://127.0.0.1:6379/0")
