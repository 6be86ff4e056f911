"""The embedded store: one SQLite file (WAL) holding a revision log, fed through a journal.

Writes are checked and given their revision at once, in the event loop (so conflicts are decided
in one place, in order). A write is acknowledged once its record is in the acknowledgement
journal (journal.py): appended, and with ``synchronous=FULL`` fsynced, in group commits (while one
batch syncs on the sync thread, the next gathers; without fsync a lone write appends in its own
call). So an acknowledged write survives a kill -9, and watchers see an event only after that.
SQLite commits the journaled rows in large batches on the writer thread, which owns the
connection; a journal segment is deleted once SQLite has all of it, and opening the store replays
what SQLite lacks. The process holds the file exclusively while it runs
(locking_mode=EXCLUSIVE), and opens the journal only after taking that lock.

Tables:
    log(revision PK, key, value, create_revision, deleted)   every change; a delete row keeps
                                                              the last value
    meta(name PK, value)                                      'compacted' revision

The log is the only table a write touches. The live keys are rebuilt from the log when the store
opens, and the rows that compaction may drop (those a later write superseded, and tombstones) are
remembered in memory as writes supersede them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import AsyncIterator, Sequence

from shoal.control.store.events import EventHistory
from shoal.control.store.interface import (
    CompactedError,
    ConflictError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    StoreError,
    StoreEvent,
    StoreEventType,
    WriteOp,
)
from shoal.control.store.journal import Journal, Row
from shoal.control.store.keyspace import Keyspace
from shoal.control.store.superseded import SupersededRows

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    revision INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""

# Files written before the log stood alone kept an index of live keys in step by triggers; it is
# dropped on open (the log holds everything it did).
DROP_CURRENT_INDEX = """
DROP TRIGGER IF EXISTS log_put;
DROP TRIGGER IF EXISTS log_delete;
DROP TABLE IF EXISTS current;
"""

INSERT_LOG = "INSERT INTO log (revision, key, value, create_revision, deleted) VALUES (?,?,?,?,?)"


class StoreUnavailableError(StoreError):
    """The disk refused a commit; the store takes no more writes until restarted."""


# How long opening waits for another process's lock on the file before refusing.
OPEN_WAIT_SECONDS = 2.0
# SQLite takes the journaled rows at most this often (seconds), or at once when this many wait.
SQLITE_GATHER_SECONDS = 0.02
SQLITE_BATCH_ROWS = 4096
# When more rows than this wait for SQLite, new writes wait for it (it is behind the journal).
SQLITE_MAX_PENDING_ROWS = 200_000
# Loop iterations a batch may wait for more writers while other callbacks are ready. With 16
# clients creating: 0 / 3 / 8 iterations gave 222 / 201 / 186 us of the loop thread per create
# (0: about 1.9 rows per commit, 3: about 3.6; measured when batches were SQLite commits); a
# lone writer never waits.
GATHER_ITERATIONS = 8


class _Batch:
    """Rows and events waiting for one group commit, and a future per writer awaiting it (a
    writer cancelled while it waits cancels only its own)."""

    __slots__ = ("rows", "events", "waiters", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self.rows: list[Row] = []
        self.events: list[StoreEvent] = []
        self.waiters: list[asyncio.Future[None]] = []
        self.loop = loop

    def waiter(self) -> asyncio.Future[None]:
        fut = self.loop.create_future()
        self.waiters.append(fut)
        return fut

    def committed(self) -> None:
        for fut in self.waiters:
            if not fut.done():
                fut.set_result(None)

    def failed(self, message: str) -> None:
        for fut in self.waiters:
            if not fut.done():
                fut.set_exception(StoreUnavailableError("", message))


class SqliteStore:
    """The default backend. Open with ``await SqliteStore.open(path)``."""

    def __init__(self, path: str, *, synchronous: str = "FULL", history_events: int = 20_000) -> None:
        self.path = path
        self._synchronous = synchronous
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="shoal-sqlite-writer")
        self._wconn: sqlite3.Connection | None = None
        stem = os.path.splitext(path)[0]
        # Without fsync a record is acknowledged once written; with it, once fsynced, which the
        # sync thread does while the next batch gathers.
        self._fsync = synchronous.upper() not in ("NORMAL", "OFF")
        self._journal = Journal(stem + ".journal", durable=self._fsync)
        self._syncer = ThreadPoolExecutor(1, thread_name_prefix="shoal-journal-sync") if self._fsync else None
        self._keys = Keyspace()
        self._superseded = SupersededRows()
        self._compacting: asyncio.Lock | None = None
        self._history = EventHistory(history_events)
        self._revision = 0  # the last revision given to a write (it may not be acknowledged yet)
        self._committed = 0  # the last revision acknowledged (journaled) and published
        self._in_sqlite = 0  # the last revision SQLite has committed
        self._compacted = 0
        self._batch: _Batch | None = None
        self._lone = _Batch(None)  # a lone write's row and event, reused (see _write_now)
        self._flushing = False
        self._to_sqlite: list[Row] = []  # acknowledged rows SQLite has not been handed yet
        self._sqlite_task: asyncio.Task | None = None
        self._sqlite_jobs: list[asyncio.Future] = []  # commits handed to the writer thread
        self._failed: BaseException | None = None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    async def open(cls, path: str, **kwargs) -> "SqliteStore":
        """Opens (creating if needed) the store file and loads the current keys into memory.

        Raises StoreError with a clear message when the file cannot be used.
        """
        store = cls(path, **kwargs)
        store._loop = asyncio.get_running_loop()
        await store._loop.run_in_executor(store._writer, store._open_sync)
        return store

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=OPEN_WAIT_SECONDS)
        # One process owns the file while it runs: its locks are taken once and kept, and the WAL
        # index lives in its memory, not a shared file. A commit costs less (4-5 us here), and a
        # second server started on the same data dir is refused instead of writing beside it.
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        return conn

    def _open_sync(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
            conn = self._connect()
            conn.executescript(SCHEMA)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise StoreError(self.path, f"the store at {self.path} is in use by another process "
                                            f"(another shoal server on this data dir?)") from exc
            raise StoreError(self.path, f"cannot open the store at {self.path}: {exc}") from exc
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(self.path, f"cannot open the store at {self.path}: {exc}") from exc
        self._wconn = conn
        conn.executescript(DROP_CURRENT_INDEX)
        row = conn.execute("SELECT value FROM meta WHERE name='compacted'").fetchone()
        self._compacted = row[0] if row else 0
        self._replay_journal(conn)
        # The live keys are each key's last row unless it is a tombstone; the rows before it
        # are what the next compaction may drop.
        keys, superseded = self._keys, self._superseded
        last = 0
        for rev, key, value, create_rev, deleted in conn.execute(
            "SELECT revision, key, value, create_revision, deleted FROM log ORDER BY revision"
        ):
            prev = keys.get(key)
            if prev is not None:
                superseded.add(rev, prev.mod_revision)
            if deleted:
                keys.remove(key)
                superseded.add(rev, rev)
            else:
                keys.put(KeyValue(key, value, create_rev, rev))
            last = rev
        self._revision = self._committed = self._in_sqlite = max(last, self._compacted)

    def _replay_journal(self, conn: sqlite3.Connection) -> None:
        """Commits the acknowledged writes SQLite lacks (the server stopped before it had them),
        then starts the journal afresh."""
        last = conn.execute("SELECT MAX(revision) FROM log").fetchone()[0] or 0
        try:
            rows, damage = self._journal.read_after(max(last, self._compacted))
            if rows:
                self._commit(rows)
                log.info("store: %d acknowledged writes replayed from the journal (revisions %d-%d)",
                         len(rows), rows[0][0], rows[-1][0])
            if damage:
                log.warning("store: journal replay ended early: %s", damage)
            self._journal.remove_all()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(self.path, f"cannot replay the journal {self._journal.directory}: {exc}") from exc

    # -- reads -------------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def committed_revision(self) -> int:
        """The newest revision that is durable and visible to watchers."""
        return self._committed

    @property
    def compacted_revision(self) -> int:
        return self._compacted

    def get_now(self, key: str) -> KeyValue | None:
        """The current value, read from memory without awaiting."""
        return self._keys.get(key)

    async def get(self, key: str) -> KeyValue | None:
        return self._keys.get(key)

    async def list(self, prefix: str, limit: int = 0, start_after: str = "") -> tuple[list[KeyValue], int, bool]:
        items, more = self._keys.scan(prefix, limit, start_after)
        return items, self._revision, more

    def count(self, prefix: str, start_after: str = "") -> int:
        return self._keys.count(prefix, start_after)

    # -- writes ------------------------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> KeyValue:
        if self._lone_writer():
            return self._write_now(key, value, 0)
        kv, batch = self._apply(key, value, 0)
        await batch.waiter()
        return kv

    async def update(self, key: str, value: bytes, expected_revision: int | None = None) -> KeyValue:
        if self._lone_writer():
            return self._write_now(key, value, expected_revision)
        kv, batch = self._apply(key, value, expected_revision)
        await batch.waiter()
        return kv

    async def delete(self, key: str, expected_revision: int | None = None) -> KeyValue:
        if self._lone_writer():
            return self._write_now(key, None, expected_revision)
        kv, batch = self._apply(key, None, expected_revision)
        await batch.waiter()
        return kv

    async def write_many(self, ops: Sequence[WriteOp]) -> list[KeyValue | StoreError]:
        results: list[KeyValue | StoreError] = []
        batch = None
        for op in ops:
            try:
                kv, batch = self._apply(op.key, op.value, op.expected_revision)
                results.append(kv)
            except StoreError as exc:
                results.append(exc)
        if batch is not None:
            await batch.waiter()
        return results

    def _lone_writer(self) -> bool:
        """Whether no other write could join a group commit now: none gathering or committing,
        nothing else ready to run in this loop iteration (asyncio's ready queue; a loop without
        one never takes this path), acknowledgement without fsync, SQLite keeping up."""
        if self._fsync or self._flushing or self._batch is not None \
                or len(self._to_sqlite) > SQLITE_MAX_PENDING_ROWS:
            return False
        ready = getattr(self._loop, "_ready", None)
        return ready is not None and not ready

    def _write_now(self, key: str, value: bytes | None, expected: int | None) -> KeyValue:
        """A lone write journaled at once, in the loop: no batch to wait for, no hop through a
        flush task (what a single client's every create pays)."""
        lone = self._lone  # no waiters: its lists are emptied once journaled and published
        kv, _ = self._apply(key, value, expected, lone)
        try:
            self._journal.append(lone.rows)
        except BaseException as exc:  # the disk refused: stop taking writes
            lone.rows.clear()
            lone.events.clear()
            self._fail(exc)
            raise StoreUnavailableError(key, f"store commit failed: {exc}") from exc
        self._committed = kv.mod_revision
        self._hand_to_sqlite(lone.rows)
        lone.rows.clear()
        try:
            self._history.publish(lone.events)
        finally:
            lone.events.clear()
        return kv

    def _fail(self, exc: BaseException) -> None:
        if self._failed is None:
            log.error("store commit failed, refusing further writes: %s", exc)
            self._failed = exc

    def _apply(
        self, key: str, value: bytes | None, expected: int | None, batch: _Batch | None = None
    ) -> tuple[KeyValue, _Batch]:
        """Checks one write (a WriteOp's fields) against the current state, gives it the next
        revision, makes it visible to reads and queues it for the next group commit (or into
        ``batch``)."""
        if self._failed is not None:
            raise StoreUnavailableError(key, f"store unavailable: {self._failed}")
        if self._closed:
            raise StoreUnavailableError(key, "store is closed")
        current = self._keys.get(key)
        if value is not None and expected == 0:
            if current is not None:
                raise KeyExistsError(key, f"{key} already exists")
        elif current is None:
            raise KeyNotFoundError(key, f"{key} not found")
        elif expected is not None and expected != current.mod_revision:
            raise ConflictError(key, expected, current.mod_revision)

        self._revision = rev = self._revision + 1
        batch = batch or self._current_batch()
        if current is not None:
            self._superseded.add(rev, current.mod_revision)
        if value is None:
            self._keys.remove(key)
            self._superseded.add(rev, rev)  # the tombstone itself goes at the next compaction
            kv = KeyValue(key, current.value, current.create_revision, rev)
            batch.rows.append((rev, key, current.value, current.create_revision, 1))
            batch.events.append(StoreEvent(StoreEventType.DELETE, key, current.value, rev, current.create_revision))
        elif current is None:
            kv = KeyValue(key, value, rev, rev)
            self._keys.put(kv)
            batch.rows.append((rev, key, value, rev, 0))
            batch.events.append(StoreEvent(StoreEventType.PUT, key, value, rev, rev, True))
        else:
            kv = KeyValue(key, value, current.create_revision, rev)
            self._keys.put(kv)
            batch.rows.append((rev, key, value, current.create_revision, 0))
            batch.events.append(
                StoreEvent(StoreEventType.PUT, key, value, rev, current.create_revision, False, current.value)
            )
        return kv, batch

    def _current_batch(self) -> _Batch:
        if self._batch is None:
            loop = self._loop or asyncio.get_running_loop()
            self._batch = _Batch(loop)
            if not self._flushing:
                self._flushing = True
                loop.create_task(self._flush_loop())
        return self._batch

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._batch is not None:
                # Let every writer already runnable in this loop iteration join the batch, and
                # while the loop has more callbacks ready (requests gRPC has just delivered), a
                # few iterations more: larger batches, fewer appends (and fsyncs) under load.
                await asyncio.sleep(0)
                for _ in range(GATHER_ITERATIONS):
                    if not getattr(loop, "_ready", None):
                        break
                    await asyncio.sleep(0)
                while len(self._to_sqlite) > SQLITE_MAX_PENDING_ROWS and self._failed is None:
                    await self._wait_for_sqlite()  # SQLite is behind the journal: let it catch up
                batch, self._batch = self._batch, None
                try:
                    if self._failed is not None:
                        raise self._failed
                    self._journal.append(batch.rows)
                    if self._syncer is not None:
                        await loop.run_in_executor(self._syncer, self._journal.sync)
                except BaseException as exc:  # the disk refused: stop taking writes
                    self._fail(exc)
                    batch.failed(f"store commit failed: {exc}")
                    if self._batch is not None:
                        self._batch.failed("store commit failed")
                        self._batch = None
                    return
                self._committed = batch.events[-1].revision
                self._hand_to_sqlite(batch.rows)
                self._history.publish(batch.events)
                batch.committed()
        finally:
            self._flushing = False

    # -- into SQLite -------------------------------------------------------------------------

    def _hand_to_sqlite(self, rows: list[Row]) -> None:
        """Queues acknowledged rows for SQLite's next batch."""
        self._to_sqlite.extend(rows)
        if self._sqlite_task is None:
            self._sqlite_task = self._loop.create_task(self._sqlite_loop())

    async def _sqlite_loop(self) -> None:
        """Commits the queued rows in batches: at most one commit per SQLITE_GATHER_SECONDS
        unless SQLITE_BATCH_ROWS are waiting."""
        try:
            while self._to_sqlite and self._failed is None:
                if len(self._to_sqlite) < SQLITE_BATCH_ROWS and not self._closed:
                    await asyncio.sleep(SQLITE_GATHER_SECONDS)
                await asyncio.wait([self._submit_to_sqlite()])  # a failure is _sqlite_committed's
        finally:
            self._sqlite_task = None

    def _submit_to_sqlite(self) -> asyncio.Future:
        """Hands every queued row to the writer thread (commits run there in the order handed
        over); the future resolves once they are committed."""
        rows, self._to_sqlite = self._to_sqlite, []
        if not rows:
            done = self._loop.create_future()
            done.set_result(None)
            return done
        job = asyncio.wrap_future(self._writer.submit(self._commit, rows), loop=self._loop)
        self._sqlite_jobs.append(job)
        job.add_done_callback(lambda j, last=rows[-1][0]: self._sqlite_committed(j, last))
        return job

    def _sqlite_committed(self, job: asyncio.Future, last: int) -> None:
        self._sqlite_jobs.remove(job)
        if job.cancelled():
            return
        exc = job.exception()
        if exc is not None:  # the journal still holds them; a restart replays them
            self._fail(exc)
        if self._failed is not None:  # a later commit must not release rows an earlier one lacks
            return
        self._in_sqlite = max(self._in_sqlite, last)
        try:
            self._journal.release_through(self._in_sqlite)
        except OSError as err:
            log.warning("store: cannot delete a journal segment SQLite has: %s", err)

    async def _wait_for_sqlite(self) -> None:
        """Until the oldest commit handed to SQLite is done (handing the queue over if none is
        in flight); its failure is _sqlite_committed's to record."""
        if not self._sqlite_jobs:
            self._submit_to_sqlite()
        if self._sqlite_jobs:
            await asyncio.wait([self._sqlite_jobs[0]])

    def _commit(self, rows: list[Row]) -> None:
        """On the writer thread: one transaction appending ``rows`` to the log."""
        conn = self._wconn
        assert conn is not None
        if len(rows) == 1:
            conn.execute(INSERT_LOG, rows[0])  # autocommit: one statement, its own transaction
            return
        conn.execute("BEGIN")
        try:
            conn.executemany(INSERT_LOG, rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- watch -------------------------------------------------------------------------------

    async def watch(
        self, prefix: str, from_revision: int, idle_timeout: float | None = None, coalesce: float = 0.0
    ) -> AsyncIterator[list[StoreEvent]]:
        """Yields batches of events under ``prefix`` after ``from_revision``, in revision order,
        forever; an empty batch after ``idle_timeout`` seconds without one (a progress tick: the
        watcher has then seen everything up to ``committed_revision``). Raises CompactedError
        when history it needs has been compacted.

        ``coalesce``: a watcher yields at most one batch per this many seconds, taking
        everything that arrived meanwhile: with many watchers, fewer and larger batches cost far
        less than one message per commit each, for a bounded delay."""
        loop = asyncio.get_running_loop()
        last_yield = -coalesce
        next_rev = from_revision + 1
        if from_revision < self._compacted:
            raise CompactedError(from_revision, self._compacted)
        waiter = self._history.waiter()
        try:
            while True:
                if self._closed:
                    return
                if next_rev > self._committed:
                    waiter.clear()
                    try:
                        await asyncio.wait_for(waiter.wait(), idle_timeout)  # None: no limit
                    except asyncio.TimeoutError:
                        yield []
                        continue
                    if coalesce:
                        # At most one batch per window: an idle watcher gets its event at
                        # once, a busy one gathers everything that arrives within the window.
                        delay = last_yield + coalesce - loop.time()
                        if delay > 0:
                            await asyncio.sleep(delay)
                    continue
                events = self._history.since(next_rev)
                if events is None:
                    events = await self._read_log(next_rev, self._history.first_revision or (self._committed + 1))
                if not events:
                    continue
                next_rev = events[-1].revision + 1
                matched = [e for e in events if e.key.startswith(prefix)] if prefix else events
                if matched:
                    last_yield = loop.time()
                    yield matched
        finally:
            self._history.forget(waiter)

    async def _read_log(self, start: int, stop: int) -> list[StoreEvent]:
        """Events [start, stop) from the on-disk log, for a watcher behind the memory window."""
        if start <= self._compacted:
            raise CompactedError(start - 1, self._compacted)
        stop = min(stop, start + 10_000)
        rows = await self._on_writer_thread(self._read_rows, start, stop)
        if start <= self._compacted:  # compaction raced with the read
            raise CompactedError(start - 1, self._compacted)
        events = []
        for rev, key, value, crev, deleted in rows:
            kind = StoreEventType.DELETE if deleted else StoreEventType.PUT
            events.append(StoreEvent(kind, key, value, rev, crev, created=(not deleted and rev == crev)))
        if not events or events[0].revision != start:
            # The row for `start` is gone: compacted since we checked.
            raise CompactedError(start - 1, max(self._compacted, start))
        return events

    async def _on_writer_thread(self, fn, *args):
        """fn(*args) on the writer thread, which owns the connection, after every row
        acknowledged so far is committed there (it runs jobs in the order handed over)."""
        if self._to_sqlite:
            self._submit_to_sqlite()
        return await asyncio.wrap_future(self._writer.submit(fn, *args))

    def _read_rows(self, start: int, stop: int) -> list[Row]:
        assert self._wconn is not None
        return self._wconn.execute(
            "SELECT revision, key, value, create_revision, deleted FROM log "
            "WHERE revision >= ? AND revision < ? ORDER BY revision",
            (start, stop),
        ).fetchall()

    # -- maintenance -------------------------------------------------------------------------

    async def compact(self, revision: int) -> None:
        """Drops history at or below ``revision`` except the live value of each key."""
        if self._compacting is None:
            self._compacting = asyncio.Lock()
        async with self._compacting:
            revision = min(revision, self._committed)
            if revision <= self._compacted:
                return
            await self._on_writer_thread(self._compact_sync, revision, self._superseded.through(revision))
            self._superseded.drop_through(revision)
            self._compacted = revision

    def _compact_sync(self, revision: int, rows) -> None:
        conn = self._wconn
        assert conn is not None
        conn.execute("BEGIN")
        try:
            conn.executemany("DELETE FROM log WHERE revision = ?", ((r,) for r in rows))
            conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('compacted', ?)", (revision,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        """Waits for queued writes to be acknowledged and committed to SQLite, then closes the
        file; the journal is emptied (SQLite has everything) unless a commit failed."""
        while self._batch is not None or self._flushing:
            await asyncio.sleep(0.005)
        self._closed = True
        self._history.wake_all()
        if self._failed is None and self._to_sqlite:
            self._submit_to_sqlite()
        if self._sqlite_jobs:
            await asyncio.gather(*(asyncio.shield(j) for j in list(self._sqlite_jobs)), return_exceptions=True)
        if self._sqlite_task is not None:
            self._sqlite_task.cancel()
            await asyncio.gather(self._sqlite_task, return_exceptions=True)
        loop = asyncio.get_running_loop()
        if self._wconn is not None:
            await loop.run_in_executor(self._writer, self._close_sync)
        self._writer.shutdown(wait=True)
        if self._syncer is not None:
            self._syncer.shutdown(wait=True)

    def _close_sync(self) -> None:
        assert self._wconn is not None
        if self._failed is None and not self._to_sqlite:
            self._journal.remove_all()  # SQLite has every acknowledged write
        else:
            self._journal.close()  # what SQLite lacks is replayed when the store opens again
        self._wconn.close()
