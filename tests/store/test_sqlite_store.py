"""The SQLite store's promises, driven directly (no server)."""

from __future__ import annotations

import asyncio
import os

import pytest

from shoal.control.store import (
    CompactedError,
    ConflictError,
    KeyExistsError,
    KeyNotFoundError,
    StoreEventType,
    WriteOp,
)
from shoal.control.store.sqlite import SqliteStore


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "state.db")


def test_create_get_update_delete_revisions(path):
    async def scenario():
        store = await SqliteStore.open(path)
        a = await store.create("/registry/pods/default/a", b"v1")
        assert (a.create_revision, a.mod_revision) == (1, 1)
        b = await store.update("/registry/pods/default/a", b"v2", expected_revision=1)
        assert (b.create_revision, b.mod_revision, b.value) == (1, 2, b"v2")
        assert (await store.get("/registry/pods/default/a")).value == b"v2"
        gone = await store.delete("/registry/pods/default/a", expected_revision=2)
        assert gone.mod_revision == 3 and gone.value == b"v2"
        assert await store.get("/registry/pods/default/a") is None
        assert store.revision == 3
        await store.close()

    run(scenario())


@pytest.mark.parametrize(
    "op, error",
    [
        pytest.param(WriteOp("/k/a", b"x", 0), KeyExistsError, id="create-existing"),
        pytest.param(WriteOp("/k/missing", b"x", None), KeyNotFoundError, id="update-missing"),
        pytest.param(WriteOp("/k/missing", None, None), KeyNotFoundError, id="delete-missing"),
        pytest.param(WriteOp("/k/a", b"x", 99), ConflictError, id="update-stale"),
        pytest.param(WriteOp("/k/a", None, 99), ConflictError, id="delete-stale"),
    ],
)
def test_write_errors_leave_state_unchanged(path, op, error):
    async def scenario():
        store = await SqliteStore.open(path)
        await store.create("/k/a", b"orig")
        [result] = await store.write_many([op])
        assert isinstance(result, error)
        assert (await store.get("/k/a")).value == b"orig"
        assert store.revision == 1
        await store.close()

    run(scenario())


def test_state_survives_reopen(path):
    async def write():
        store = await SqliteStore.open(path)
        await asyncio.gather(*(store.create(f"/k/{i:04d}", str(i).encode()) for i in range(500)))
        await store.delete("/k/0007")
        await store.update("/k/0008", b"changed")
        await store.close()

    async def read():
        store = await SqliteStore.open(path)
        items, rev, more = await store.list("/k/")
        assert len(items) == 499 and rev == 502 and not more
        assert (await store.get("/k/0008")).value == b"changed"
        assert await store.get("/k/0007") is None
        nxt = await store.create("/k/new", b"n")
        assert nxt.mod_revision == 503
        await store.close()

    run(write())
    run(read())


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
def test_lone_and_grouped_writes_commit_while_compactions_run(path, synchronous):
    """Without fsync small batches commit on the event loop; compactions on the writer thread
    must not interleave with them on the one connection."""

    async def write():
        store = await SqliteStore.open(path, synchronous=synchronous)

        async def lone_writer():
            for i in range(600):
                await store.update("/k/hot", str(i).encode()) if i else await store.create("/k/hot", b"0")

        async def compactor():
            for _ in range(60):
                await store.compact(store.committed_revision - 5)
                await asyncio.sleep(0)

        group = asyncio.gather(*(store.create(f"/k/{i:04d}", b"v") for i in range(400)))
        await asyncio.gather(lone_writer(), compactor(), group)
        revision = store.revision
        await store.close()
        return revision

    async def read(revision):
        store = await SqliteStore.open(path, synchronous=synchronous)
        items, rev, _ = await store.list("/k/")
        assert len(items) == 401 and rev == revision == 1000
        assert (await store.get("/k/hot")).value == b"599"
        await store.close()

    run(read(run(write())))


def test_delete_then_recreate_in_one_batch_stays_live(path):
    async def scenario():
        store = await SqliteStore.open(path)
        await store.create("/k/a", b"1")
        results = await store.write_many([WriteOp("/k/a", None, None), WriteOp("/k/a", b"2", 0)])
        assert [type(r).__name__ for r in results] == ["KeyValue", "KeyValue"]
        await store.close()
        store = await SqliteStore.open(path)
        assert (await store.get("/k/a")).value == b"2"
        await store.close()

    run(scenario())


def test_list_pagination_in_key_order(path):
    async def scenario():
        store = await SqliteStore.open(path)
        for name in ["c", "a", "b", "d"]:
            await store.create(f"/registry/pods/ns/{name}", name.encode())
        await store.create("/registry/pods2/ns/x", b"other prefix")
        page, _, more = await store.list("/registry/pods/", limit=3)
        assert [kv.key[-1] for kv in page] == ["a", "b", "c"] and more
        page, _, more = await store.list("/registry/pods/", limit=3, start_after=page[-1].key)
        assert [kv.key[-1] for kv in page] == ["d"] and not more
        await store.close()

    run(scenario())


def test_watch_sees_every_event_in_order_from_a_revision(path):
    async def scenario():
        store = await SqliteStore.open(path)
        await store.create("/k/before", b"0")

        seen: list[tuple[int, StoreEventType, str]] = []

        async def follow():
            async for batch in store.watch("/k/", 1):
                seen.extend((e.revision, e.type, e.key) for e in batch)
                if len(seen) >= 101:
                    return

        task = asyncio.create_task(follow())
        await asyncio.sleep(0)
        await asyncio.gather(*(store.create(f"/k/{i}", b"x") for i in range(100)))
        await store.delete("/k/5")
        await asyncio.wait_for(task, 5)
        assert [r for r, _, _ in seen] == list(range(2, 103))
        assert seen[-1][1] == StoreEventType.DELETE
        await store.close()

    run(scenario())


def test_watch_after_restart_replays_from_disk(path):
    async def write():
        store = await SqliteStore.open(path)
        for i in range(20):
            await store.create(f"/k/{i}", b"x")
        await store.close()

    async def replay():
        store = await SqliteStore.open(path)
        batches = store.watch("/k/", 10)
        first = await asyncio.wait_for(batches.__anext__(), 5)
        assert [e.revision for e in first] == list(range(11, 21))
        await batches.aclose()
        await store.close()

    run(write())
    run(replay())


def test_watch_from_compacted_revision_is_refused(path):
    async def scenario():
        store = await SqliteStore.open(path)
        for i in range(50):
            await store.update("/k/a", str(i).encode()) if i else await store.create("/k/a", b"0")
        await store.compact(40)
        with pytest.raises(CompactedError):
            await store.watch("/k/", 10).__anext__()
        await store.close()
        store = await SqliteStore.open(path)
        assert store.compacted_revision == 40
        assert (await store.get("/k/a")).value == b"49"
        with pytest.raises(CompactedError):
            await store.watch("/k/", 39).__anext__()
        await store.close()

    run(scenario())


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
def test_a_cancelled_writer_leaves_its_batch_to_commit_for_the_others(path, synchronous):
    """Writers of one group commit wait on their own futures: cancelling one (a client that
    went away) neither cancels nor fails the commit the others wait for."""
    async def scenario():
        store = await SqliteStore.open(path, synchronous=synchronous)
        writers = [asyncio.create_task(store.create(f"/k/{i}", b"v")) for i in range(8)]
        await asyncio.sleep(0)  # all eight applied, waiting on one batch
        writers[3].cancel()
        done = await asyncio.gather(*writers, return_exceptions=True)
        assert isinstance(done[3], asyncio.CancelledError)
        assert [kv.key for i, kv in enumerate(done) if i != 3] == [f"/k/{i}" for i in range(8) if i != 3]
        await store.close()
        store = await SqliteStore.open(path)
        for i in range(8):  # the cancelled one too: it was applied before the cancel
            assert (await store.get(f"/k/{i}")) is not None
        await store.close()

    run(scenario())


def test_a_lone_write_is_journaled_at_once_and_concurrent_ones_share_an_append(path, monkeypatch):
    """Without fsync, a write with nothing else ready to run is journaled in its own call (one
    append, no flush task); writes arriving together share one append; SQLite takes them in
    batches."""
    from shoal.control.store.journal import Journal

    appends: list[int] = []
    commits: list[int] = []
    append, commit = Journal.append, SqliteStore._commit

    def counting_append(self, rows):
        appends.append(len(rows))
        return append(self, rows)

    def counting_commit(self, rows):
        commits.append(len(rows))
        return commit(self, rows)

    monkeypatch.setattr(Journal, "append", counting_append)
    monkeypatch.setattr(SqliteStore, "_commit", counting_commit)

    async def scenario():
        store = await SqliteStore.open(path, synchronous="NORMAL")
        appends.clear()
        commits.clear()
        for i in range(5):
            kv = await store.create(f"/k/lone-{i}", b"v")
            assert store.committed_revision == kv.mod_revision  # durable and published on return
        assert appends == [1] * 5
        assert not store._flushing
        appends.clear()
        await asyncio.gather(*(store.create(f"/k/group-{i}", b"v") for i in range(16)))
        assert sum(appends) == 16 and len(appends) < 16
        await store.close()
        assert sum(commits) == 21 and len(commits) < 21, commits
        store = await SqliteStore.open(path)
        assert len((await store.list("/k/"))[0]) == 21
        await store.close()

    run(scenario())


def test_a_lone_write_the_disk_refuses_fails_the_store(path, monkeypatch):
    from shoal.control.store.journal import Journal
    from shoal.control.store.sqlite import StoreUnavailableError

    async def scenario():
        store = await SqliteStore.open(path, synchronous="NORMAL")
        await store.create("/k/kept", b"v")

        def refuse(self, rows):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(Journal, "append", refuse)
        with pytest.raises(StoreUnavailableError, match="store commit failed"):
            await store.create("/k/a", b"v")
        with pytest.raises(StoreUnavailableError, match="store unavailable"):
            await store.create("/k/b", b"v")
        monkeypatch.undo()
        await store.close()
        store = await SqliteStore.open(path)
        assert [kv.key for kv in (await store.list("/k/"))[0]] == ["/k/kept"]
        await store.close()

    run(scenario())


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
def test_acknowledged_writes_sqlite_refused_are_replayed_from_the_journal(path, monkeypatch, synchronous):
    """SQLite failing to commit fails the store, but what was acknowledged stays in the journal
    and is in SQLite once the store opens again."""
    from shoal.control.store.sqlite import StoreUnavailableError

    async def scenario():
        store = await SqliteStore.open(path, synchronous=synchronous)
        await store.create("/k/a", b"1")
        await store._submit_to_sqlite()

        def refuse(rows):
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(store, "_commit", refuse)
        acked = [await store.create(f"/k/{i}", b"v") for i in range(5)]
        acked.append(await store.update("/k/a", b"2"))
        acked.append(await store.delete("/k/0"))
        with pytest.raises(StoreUnavailableError):
            for i in range(100):  # the next SQLite batch fails, then writes are refused
                await asyncio.gather(store._submit_to_sqlite(), return_exceptions=True)
                await store.create(f"/k/late-{i}", b"v")
        monkeypatch.undo()
        await store.close()
        assert acked[-1].mod_revision == 8
        store = await SqliteStore.open(path, synchronous=synchronous)
        assert store.revision == 8
        assert [(kv.key, kv.value) for kv in (await store.list("/k/"))[0]] == [
            ("/k/1", b"v"), ("/k/2", b"v"), ("/k/3", b"v"), ("/k/4", b"v"), ("/k/a", b"2")]
        await store.close()
        assert not os.listdir(os.path.splitext(path)[0] + ".journal"), "an orderly close empties the journal"

    run(scenario())


def test_a_second_store_on_the_same_file_is_refused_while_the_first_runs(path):
    from shoal.control.store import StoreError

    async def scenario():
        first = await SqliteStore.open(path)
        await first.create("/k/a", b"1")
        with pytest.raises(StoreError, match="in use by another process"):
            await SqliteStore.open(path)
        await first.create("/k/b", b"2")  # the first goes on undisturbed
        await first.close()
        again = await SqliteStore.open(path)  # and once it has closed, the file opens
        assert len((await again.list("/k/"))[0]) == 2
        await again.close()

    run(scenario())


def test_watchers_reading_the_log_from_disk_while_lone_writes_commit(path):
    """A watcher behind the memory window reads the log on the writer thread; lone writes meanwhile
    commit there too, never in the loop at the same time (one connection)."""
    async def scenario():
        store = await SqliteStore.open(path, synchronous="NORMAL", history_events=8)
        for i in range(200):
            await store.create(f"/k/{i:04d}", b"v")
        seen: list[int] = []

        async def watcher():
            async for events in store.watch("/k/", 0):
                seen.extend(e.revision for e in events)
                if len(seen) >= 400:
                    return

        async def writer():
            for i in range(200, 400):
                await store.create(f"/k/{i:04d}", b"v")
                await asyncio.sleep(0)

        await asyncio.wait_for(asyncio.gather(watcher(), writer()), 60)
        assert seen == list(range(1, 401))
        await store.close()

    run(scenario())


def _log_rows(path) -> list[tuple[int, str, bytes, int]]:
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT revision, key, value, deleted FROM log ORDER BY revision").fetchall()


@pytest.mark.parametrize("reopen_before_compacting", [False, True])
def test_compaction_keeps_each_live_keys_last_row_and_drops_the_rest(path, reopen_before_compacting):
    """Superseded rows and tombstones at or below the revision go; the live values stay, also when
    the store was reopened in between (the droppable rows are rebuilt from the log)."""

    async def write():
        store = await SqliteStore.open(path)
        await store.create("/k/a", b"a1")  # 1
        await store.create("/k/b", b"b1")  # 2
        await store.update("/k/a", b"a2")  # 3
        await store.delete("/k/b")  # 4
        await store.create("/k/c", b"c1")  # 5
        await store.update("/k/c", b"c2")  # 6
        await store.create("/k/b", b"b2")  # 7
        if reopen_before_compacting:
            await store.close()
            store = await SqliteStore.open(path)
        await store.compact(5)
        await store.close()

    run(write())
    assert _log_rows(path) == [(3, "/k/a", b"a2", 0), (5, "/k/c", b"c1", 0), (6, "/k/c", b"c2", 0),
                               (7, "/k/b", b"b2", 0)]

    async def reopen():
        store = await SqliteStore.open(path)
        assert [(kv.key, kv.value, kv.mod_revision) for kv in (await store.list("/k/"))[0]] == [
            ("/k/a", b"a2", 3), ("/k/b", b"b2", 7), ("/k/c", b"c2", 6)]
        assert store.revision == 7 and store.compacted_revision == 5
        await store.compact(7)
        await store.close()

    run(reopen())
    assert [r[0] for r in _log_rows(path)] == [3, 6, 7]


def test_compaction_never_drops_a_row_whose_successor_is_not_committed(path):
    """A key's last committed row survives a compaction that runs while its successor waits in a
    batch: a crash then must not lose the key."""

    async def scenario():
        store = await SqliteStore.open(path, synchronous="FULL")  # batches commit on the thread
        await store.create("/k/a", b"1")  # 1
        await store.create("/k/x", b"x")  # 2
        pending = asyncio.ensure_future(store.update("/k/a", b"2"))  # 3, gathering in a batch
        await asyncio.sleep(0)
        assert store.revision == 3
        await store.compact(3)  # clamped to what is committed
        assert 1 in [r[0] for r in await store._on_writer_thread(store._read_rows, 1, 10)]
        await pending
        await store.compact(3)
        assert [r[0] for r in await store._on_writer_thread(store._read_rows, 1, 10)] == [2, 3]
        await store.close()

    run(scenario())


def test_a_file_with_the_old_live_key_index_opens_and_drops_it(path):
    """Files written before the log stood alone carry a `current` table kept by triggers."""
    import sqlite3

    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE log (revision INTEGER PRIMARY KEY, key TEXT NOT NULL, value BLOB NOT NULL,
                          create_revision INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE current (key TEXT PRIMARY KEY, revision INTEGER NOT NULL,
                              create_revision INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TRIGGER log_put AFTER INSERT ON log WHEN NEW.deleted = 0 BEGIN
            INSERT OR REPLACE INTO current VALUES (NEW.key, NEW.revision, NEW.create_revision); END;
        INSERT INTO log VALUES (1, '/k/a', x'61', 1, 0), (2, '/k/b', x'62', 2, 0), (3, '/k/a', x'61', 1, 1);
    """)
    conn.close()

    async def scenario():
        store = await SqliteStore.open(path)
        assert [kv.key for kv in (await store.list("/k/"))[0]] == ["/k/b"]
        assert (await store.create("/k/c", b"c")).mod_revision == 4
        await store.close()

    run(scenario())
    from contextlib import closing

    with closing(sqlite3.connect(path)) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "current" not in names and "log_put" not in names


def test_writers_wait_for_sqlite_when_it_falls_far_behind_the_journal(path, monkeypatch):
    """With SQLite slow and the backlog capped, writes still complete (they wait for SQLite
    instead of queueing without bound) and every one of them reaches SQLite."""
    import time

    from shoal.control.store import sqlite as sq

    monkeypatch.setattr(sq, "SQLITE_MAX_PENDING_ROWS", 5)
    monkeypatch.setattr(sq, "SQLITE_BATCH_ROWS", 3)
    commit = SqliteStore._commit
    backlog: list[int] = []

    def slow_commit(self, rows):
        time.sleep(0.01)
        return commit(self, rows)

    monkeypatch.setattr(SqliteStore, "_commit", slow_commit)

    async def scenario():
        store = await SqliteStore.open(path, synchronous="NORMAL")

        async def writer(w):
            for i in range(20):
                await store.create(f"/k/{w}-{i}", b"v")
                backlog.append(len(store._to_sqlite))

        await asyncio.wait_for(asyncio.gather(*(writer(w) for w in range(8))), 60)
        await store.close()

    run(scenario())
    assert max(backlog) <= 5 + 8, backlog  # the cap, and one batch of the eight writers
    from contextlib import closing
    import sqlite3

    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM log").fetchone()[0] == 160
