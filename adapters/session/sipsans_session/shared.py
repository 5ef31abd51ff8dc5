"""Dialogs shared by the processes behind a load balancer (DESIGN.md §10): a session's
confirmed dialogs written to a :class:`~sipsans_session.store.Store`, and restored
from it when a request arrives for a dialog another process held.

:class:`SharedDialogs` watches the events of a session whose ``sipsans.UserAgent`` was
made with :func:`shared_config` (``UAConfig.report_changes`` and ``restore_wait``):

- ``DialogChanged`` (confirmed, restored, target refreshed, our CSeq went up) marks
  the dialog to write, ``DialogTerminated`` to delete. Writes are behind the call:
  marks are coalesced by dialog and written in batches (one round trip each), the
  snapshot read from the UA when the batch goes, so a dialog changed three times
  between two batches is written once. A call costs two keys' worth of work, its
  confirmation and its end (none at all when it ends before its first write went).
  Every value expires ``ttl`` seconds after its write (a safety net for dialogs
  whose process died with them: their deletion never comes); the dialogs still held
  are written again before that.
- ``UnknownDialogRequest``: take the dialog's restore lock (one process restores it),
  read its snapshot, answer the UA with ``ua.resume`` (the restoring process's own
  Contact in the dialog from then on) or ``ua.refuse_restore``: OWNED when another
  process holds the lock, UNAVAILABLE when the store cannot be read, CORRUPT for a
  value that is not JSON, ENDED when this process ended the dialog and its deletion is
  still queued.
- The store unreachable never stops a call: the UA holds its dialogs in memory
  whatever happens here. The failure is logged once per outage (logger
  ``sipsans.store``), the batch is kept (still coalesced: bounded by the dialogs held)
  and retried with a doubling back-off up to ``max_backoff`` seconds; recovery is
  logged with what was written.

Run it beside the session (a task of the loop): ``await shared.run()`` returns once
:meth:`SharedDialogs.close` was called and the last batch went. It imports neither
asyncio nor anyio: it waits through the session's :meth:`~SessionBase.waiter`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from sipsans import (
    DialogChanged,
    DialogId,
    DialogState,
    DialogTerminated,
    LocalProtocolError,
    RestoreRefusal,
    RestoreRefused,
    UAConfig,
    UnknownDialogRequest,
    UserAgent,
)

from .session import SessionBase
from .store import Store, StoreUnavailable
from .waits import Waiter

__all__ = ["RESTORE_WAIT", "SharedDialogs", "dialog_key", "shared_config"]

log = logging.getLogger("sipsans.store")

#: Seconds a request for an unknown dialog waits for its snapshot by default: many
#: round trips to a store on the same network, and well under a proxy's transaction
#: timeout (Kamailio's fr_timer), so the proxy never gives up on the answer first.
RESTORE_WAIT = 1.0

#: Told of each restoration attempt: ``(dialog_id, restored, why)``.
RestoreListener = Callable[[DialogId, bool, str], None]


def shared_config(
    config: UAConfig | None = None, *, restore_wait: float = RESTORE_WAIT
) -> UAConfig:
    """``config`` (or the defaults) with what :class:`SharedDialogs` needs of the UA:
    changes reported and requests for unknown dialogs held ``restore_wait`` seconds."""
    base = config if config is not None else UAConfig()
    return dataclasses.replace(base, report_changes=True, restore_wait=restore_wait)


def dialog_key(prefix: str, dialog_id: DialogId) -> str:
    """The store key of a dialog: ``PREFIX dialog:CALL-ID;LOCAL-TAG;REMOTE-TAG`` (no
    Call-ID word nor tag token holds a ``;``, RFC 3261 §25.1)."""
    return f"{prefix}dialog:{dialog_id.call_id};{dialog_id.local_tag};{dialog_id.remote_tag}"


class SharedDialogs:
    """A session's dialogs in ``store`` (see the module docstring).

    ``owner`` names this process in the store (its records and locks): unique among
    the processes sharing the store, e.g. its address. ``ttl``: seconds a written
    snapshot lives unless written again; ``lock_ttl``: seconds a restore lock holds
    (by default twice the UA's ``restore_wait``: the dialog is this process's for that
    long even if its holder dies at once). ``contact``: our Contact put in restored
    dialogs (by default the UA's). ``on_restore`` hears of each attempt.
    """

    def __init__(
        self,
        session: SessionBase[Any, Any],
        store: Store,
        *,
        owner: str,
        prefix: str = "sipsans:",
        ttl: float = 3600.0,
        lock_ttl: float | None = None,
        contact: str | None = None,
        max_backoff: float = 5.0,
        on_restore: RestoreListener | None = None,
    ) -> None:
        self.session = session
        self.store = store
        self.owner = owner
        self.prefix = prefix
        self.ttl = ttl
        self.lock_ttl = lock_ttl
        self.contact = contact
        self.max_backoff = max_backoff
        self.on_restore = on_restore
        #: Keys to write (the dialog whose snapshot goes) or delete (None), coalesced.
        self._dirty: dict[str, DialogId | None] = {}
        #: Keys in the store as far as we know: when each was last written, its dialog.
        self._stored: dict[str, tuple[float, DialogId]] = {}
        #: Keys of the batch on its way (a deletion marked meanwhile must follow it).
        self._inflight: set[str] = set()
        self._restoring: list[DialogId] = []
        self._wake: Waiter | None = None
        self._backoff = 0.0
        self._retry_at = 0.0
        self._closing = False
        #: False from a failed call to the store until a call succeeds again.
        self.healthy = True
        #: What happened: ``written``, ``deleted``, ``restored``, ``refused``,
        #: ``refused-<reason>``, ``store-errors``, ``outages``.
        self.counts: Counter[str] = Counter()
        driver = session.driver
        deliver = driver.deliver

        def observed(event: object) -> None:
            self.observe(event)
            deliver(event)

        driver.deliver = observed

    # -- the session's events -------------------------------------------------------------

    def observe(self, event: object) -> None:
        """Note what ``event`` asks of the store (called inside the session's pump)."""
        cls = type(event)
        if cls is DialogChanged:
            assert isinstance(event, DialogChanged)
            self._dirty[dialog_key(self.prefix, event.dialog_id)] = event.dialog_id
        elif cls is DialogTerminated:
            assert isinstance(event, DialogTerminated)
            key = dialog_key(self.prefix, event.dialog_id)
            if key in self._stored or key in self._inflight:
                self._dirty[key] = None
            else:
                self._dirty.pop(key, None)  # never written: nothing to delete
                return
        elif cls is UnknownDialogRequest:
            assert isinstance(event, UnknownDialogRequest)
            self._restoring.append(event.dialog_id)
        elif cls is RestoreRefused:
            assert isinstance(event, RestoreRefused)
            self.counts["refused"] += 1
            self.counts[f"refused-{event.reason.value}"] += 1
            return
        else:
            return
        if self._wake is not None and (self._restoring or not self._backoff):
            self._wake.resolve(None)

    def close(self) -> None:
        """Write what is marked, then let :meth:`run` return."""
        self._closing = True
        if self._wake is not None:
            self._wake.resolve(None)

    # -- the work ---------------------------------------------------------------------------

    def _ua(self) -> UserAgent:
        ua = self.session.core
        if not isinstance(ua, UserAgent) or not (
            ua.config.report_changes and ua.config.restore_wait is not None
        ):
            raise TypeError(
                "SharedDialogs needs a sipsans.UserAgent made with shared_config(): "
                "UAConfig(report_changes=True, restore_wait=...)"
            )
        return ua

    async def run(self) -> None:
        """Write, delete and restore until :meth:`close` (then write what is left,
        once: a store still unreachable then loses it)."""
        ua = self._ua()
        refresh = self.ttl / 3
        next_refresh = self.session.now() + refresh
        while True:
            if self._restoring:
                dialog_id = self._restoring.pop(0)
                await self._restore(ua, dialog_id)
                continue
            now = self.session.now()
            if now >= next_refresh:
                self._refresh(now)
                next_refresh = now + refresh
            if self._dirty and (now >= self._retry_at or self._closing):
                await self._flush(ua)
                if self._closing:
                    return  # one last try: a store still unreachable loses the rest
                continue
            if self._closing:
                return
            deadline = next_refresh
            if self._dirty:
                deadline = min(deadline, self._retry_at)
            await self._sleep(deadline - now)

    async def _sleep(self, seconds: float) -> None:
        waiter = self._wake = self.session.waiter()
        try:
            await waiter.wait(max(0.0, seconds))
        except TimeoutError:
            pass
        finally:
            self._wake = None

    def _refresh(self, now: float) -> None:
        """Mark the dialogs written more than ``ttl/2`` ago and still held: written
        again before they expire."""
        ua = self.session.core
        stale = now - self.ttl / 2
        for key, (written, dialog_id) in self._stored.items():
            if written <= stale and key not in self._dirty and _held(ua, dialog_id):
                self._dirty[key] = dialog_id

    async def _flush(self, ua: UserAgent) -> None:
        dirty, self._dirty = self._dirty, {}
        puts: dict[str, bytes] = {}
        deletes: list[str] = []
        for key, dialog_id in dirty.items():
            if dialog_id is None:
                deletes.append(key)
                continue
            record = self._record(ua, dialog_id)
            if record is not None:  # (one that ended meanwhile: its deletion is marked)
                puts[key] = record
        self._inflight = set(dirty)
        try:
            await self.store.write(puts, deletes, ttl=self.ttl)
        except StoreUnavailable as exc:
            self._failed(exc)
            for key, dialog_id in dirty.items():
                self._dirty.setdefault(key, dialog_id)  # newer marks win
            return
        finally:
            self._inflight = set()
        self._succeeded()
        now = self.session.now()
        for key in puts:
            dialog_id = dirty[key]
            assert dialog_id is not None
            self._stored[key] = (now, dialog_id)
        for key in deletes:
            self._stored.pop(key, None)
        self.counts["written"] += len(puts)
        self.counts["deleted"] += len(deletes)

    def _record(self, ua: UserAgent, dialog_id: DialogId) -> bytes | None:
        """The stored value of a dialog: its snapshot and who holds it; None when the
        dialog is no longer confirmed here."""
        if not _held(ua, dialog_id):
            return None
        snapshot = ua.snapshot(dialog_id)
        return json.dumps(
            {"owner": self.owner, "snapshot": snapshot}, separators=(",", ":")
        ).encode()

    async def _restore(self, ua: UserAgent, dialog_id: DialogId) -> None:
        """Take the lock, read the snapshot, answer the UA."""
        key = dialog_key(self.prefix, dialog_id)
        lock = f"{self.prefix}lock:{key[len(self.prefix) :]}"
        session = self.session
        if key in self._dirty and self._dirty[key] is None:
            self._refuse(ua, dialog_id, RestoreRefusal.ENDED, "ended here; deletion queued")
            return
        wait = ua.config.restore_wait or 0.0
        try:
            if not await self.store.lock(lock, self.owner, ttl=self.lock_ttl or 2 * wait):
                self._refuse(ua, dialog_id, RestoreRefusal.OWNED, "another process restores it")
                return
            raw = await self.store.get(key)
        except StoreUnavailable as exc:
            self._failed(exc)
            self._refuse(ua, dialog_id, RestoreRefusal.UNAVAILABLE, str(exc))
            return
        self._succeeded()
        data: Any = None
        if raw is not None:
            # In the store: its deletion must follow if the dialog ends at once here.
            self._stored[key] = (session.now(), dialog_id)
            try:
                record = json.loads(raw)
                data = record["snapshot"] if isinstance(record, dict) else record
            except (ValueError, KeyError) as exc:
                self._refuse(ua, dialog_id, RestoreRefusal.CORRUPT, f"not a record: {exc}")
                return
        try:
            view = session.command(ua.resume, dialog_id, data, contact=self.contact or ua.contact)
        except LocalProtocolError as exc:  # pragma: no cover - resume refuses, never raises
            log.warning("restoring %s: %s", dialog_id, exc)
            return
        if view is not None:
            # Its record (owner: us) goes with the next batch (DialogChanged RESTORED).
            self.counts["restored"] += 1
            if self.on_restore is not None:
                self.on_restore(dialog_id, True, "restored")
            return
        if self.on_restore is not None:
            self.on_restore(dialog_id, False, "refused" if raw is not None else "no snapshot")
        if raw is not None:
            self._stored.pop(key, None)  # not ours: left to its TTL
        try:
            await self.store.unlock(lock, self.owner)  # nothing to own
        except StoreUnavailable as exc:
            self._failed(exc)

    def _refuse(self, ua: UserAgent, dialog_id: DialogId, reason: RestoreRefusal, why: str) -> None:
        self.session.command(ua.refuse_restore, dialog_id, reason, detail=why)
        if self.on_restore is not None:
            self.on_restore(dialog_id, False, reason.value)

    # -- health -------------------------------------------------------------------------------

    def _failed(self, exc: StoreUnavailable) -> None:
        self.counts["store-errors"] += 1
        self._backoff = min(self.max_backoff, 2 * self._backoff if self._backoff else 0.1)
        self._retry_at = self.session.now() + self._backoff
        if self.healthy:
            self.healthy = False
            self.counts["outages"] += 1
            log.warning(
                "store unreachable (%s): calls go on in memory; retrying, %d dialogs to write",
                exc,
                len(self._dirty),
            )

    def _succeeded(self) -> None:
        if not self.healthy:
            self.healthy = True
            log.warning("store reachable again after %d failed calls", self.counts["store-errors"])
        self._backoff = 0.0
        self._retry_at = 0.0


def _held(ua: Any, dialog_id: DialogId) -> bool:
    """Whether ``ua`` holds ``dialog_id`` confirmed (the dialogs a snapshot is taken of)."""
    try:
        return bool(ua.dialog(dialog_id).state is DialogState.CONFIRMED)
    except LocalProtocolError:
        return False
