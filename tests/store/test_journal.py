"""The acknowledgement journal: its records, its segments, and the store's replay of it."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.control.store import journal
from shoal.control.store.journal import Journal
from shoal.control.store.sqlite import SqliteStore

rows_strategy = st.lists(
    st.tuples(st.text(min_size=1, max_size=40), st.binary(max_size=600), st.booleans()), min_size=1, max_size=30
)


def _rows(spec, first: int = 1):
    return [(first + i, key, value, first, int(deleted)) for i, (key, value, deleted) in enumerate(spec)]


@settings(max_examples=60, deadline=None)
@given(rows_strategy)
def test_records_decode_to_the_rows_encoded(spec):
    rows = _rows(spec)
    assert journal.decode(journal.encode(rows)) == (rows, None)


@settings(max_examples=60, deadline=None)
@given(rows_strategy, st.data())
def test_a_torn_or_flipped_record_ends_the_rows_at_the_one_before_it(spec, data):
    rows = _rows(spec)
    encoded = journal.encode(rows)
    boundaries = [len(journal.encode(rows[:i])) for i in range(len(rows) + 1)]
    at = data.draw(st.integers(0, len(encoded) - 1))
    damaged_record = max(i for i, b in enumerate(boundaries) if b <= at)  # the record holding byte `at`

    got, damage = journal.decode(encoded[:at])  # torn: the write stopped at byte `at`
    assert got == rows[:damaged_record]
    assert (damage is None) == (at == boundaries[damaged_record])

    flipped = bytearray(encoded)
    flipped[at] ^= 0xFF
    got, damage = journal.decode(bytes(flipped))
    assert got == rows[:damaged_record] and damage is not None


def test_segments_roll_and_go_once_sqlite_has_them(tmp_path):
    j = Journal(str(tmp_path / "j"), segment_bytes=4096)
    for rev in range(1, 41):
        j.append([(rev, f"/k/{rev}", b"x" * 1000, rev, 0)])
    firsts = [first for first, _ in j.segment_paths()]
    assert len(firsts) > 3 and firsts[0] == 1
    assert j.read_after(0) == ([(r, f"/k/{r}", b"x" * 1000, r, 0) for r in range(1, 41)], None)
    assert [r[0] for r in j.read_after(25)[0]] == list(range(26, 41))
    j.release_through(firsts[2] - 1)  # the first two segments are wholly in SQLite
    assert [first for first, _ in j.segment_paths()] == firsts[2:]
    j.release_through(10_000)  # never the segment being written
    assert [first for first, _ in j.segment_paths()] == firsts[-1:]
    j.remove_all()
    assert j.segment_paths() == []


@settings(max_examples=30, deadline=None)
@given(rows_strategy, st.integers(1, 5))
def test_a_segment_holds_the_records_encode_writes_then_zeros(tmp_path_factory, spec, batches):
    """append writes records exactly as encode() spells them, in place in the mapped segment."""
    directory = tmp_path_factory.mktemp("j")
    j = Journal(str(directory))
    rows = _rows(spec)
    step = -(-len(rows) // batches)
    for i in range(0, len(rows), step):
        j.append(rows[i:i + step])
    j.sync()
    [(first, path)] = j.segment_paths()
    with open(path, "rb") as f:
        data = f.read()
    encoded = journal.encode(rows)
    assert first == 1 and data[:len(encoded)] == encoded and not data[len(encoded):].strip(b"\0")
    j.close()


def test_a_record_larger_than_a_segment_gets_a_segment_of_its_own(tmp_path):
    j = Journal(str(tmp_path / "j"), segment_bytes=4096)
    rows = [(1, "/k/a", b"a", 1, 0), (2, "/k/big", b"b" * 10_000, 2, 0), (3, "/k/c", b"c", 3, 0)]
    j.append(rows)
    assert [first for first, _ in j.segment_paths()] == [1, 2]  # the second sized for the big one
    assert j.read_after(0) == (rows, None)
    j.close()


def test_replay_stops_at_a_gap_in_revisions(tmp_path):
    j = Journal(str(tmp_path / "j"))
    j.append([(1, "/k/a", b"1", 1, 0), (2, "/k/b", b"2", 2, 0)])
    j.append([(4, "/k/c", b"3", 4, 0)])
    rows, damage = j.read_after(0)
    assert [r[0] for r in rows] == [1, 2] and "revision 4 follows 2" in damage


# A child process that acknowledges writes while SQLite takes none of them, then dies by SIGKILL.
_CHILD = textwrap.dedent("""
    import asyncio, os, signal, sys
    from shoal.control.store import sqlite as sq
    sq.SQLITE_GATHER_SECONDS = 3600  # SQLite never catches up before the kill
    async def main():
        store = await sq.SqliteStore.open(sys.argv[1], synchronous=sys.argv[2])
        for i in range(300):
            await store.create(f"/k/{i:03d}", b"v%d" % i)
        await asyncio.gather(*(store.update(f"/k/{i:03d}", b"u%d" % i) for i in range(0, 300, 3)))
        for i in range(1, 300, 3):
            await store.delete(f"/k/{i:03d}")
        print(store.committed_revision, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    asyncio.run(main())
""")


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
def test_writes_acknowledged_before_sqlite_had_them_survive_sigkill(tmp_path, synchronous):
    path = str(tmp_path / "state.db")
    proc = subprocess.run([sys.executable, "-c", _CHILD, path, synchronous], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    acknowledged = int(proc.stdout.split()[0])
    assert acknowledged == 500
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM log").fetchone()[0] == 0, "SQLite had none of them"

    async def reopen():
        store = await SqliteStore.open(path)
        items = {kv.key: kv.value for kv in (await store.list("/k/"))[0]}
        assert store.revision == acknowledged
        await store.close()
        return items

    items = asyncio.run(reopen())
    expected = {f"/k/{i:03d}": (b"u%d" % i if i % 3 == 0 else b"v%d" % i) for i in range(300) if i % 3 != 1}
    assert items == expected
    assert not os.listdir(tmp_path / "state.journal"), "replayed rows are in SQLite; the journal is emptied"
