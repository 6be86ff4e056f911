"""The store's write and read paths under pytest-benchmark (SqliteStore on a temporary file).

    python -m pytest benchmarks/bench_store.py --benchmark-only -q

Writes are measured as whole batches (`write_many`, one group commit, as the server's BulkApply
uses it) and one at a time (`create`, a commit each, the single-caller path), in both SQLite
sync modes; reads from the in-memory keyspace (`get`, a prefix `list`). Values are 300 bytes,
about a serialized pod. No timing is asserted; the ops/s figures are printed after the module.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
from shoal.control.store.interface import WriteOp
from shoal.control.store.sqlite import SqliteStore

VALUE = b"p" * 300
BATCH = 1000
_RATES: dict[str, float] = {}
_SERIAL = itertools.count()


@pytest.fixture(scope="module", autouse=True)
def report(request):
    """Print the ops/s table once the module's benchmarks ran (past pytest's output capture)."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not _RATES:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line("SqliteStore (best round):")
        for name, rate in _RATES.items():
            reporter.write_line(f"  {name:<44} {rate:>12,.0f} ops/s")


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _open(loop, tmp_path, sync: str) -> SqliteStore:
    return loop.run_until_complete(SqliteStore.open(str(tmp_path / f"store-{sync}.db"), synchronous=sync))


def _record(name: str, benchmark, ops: int) -> None:
    if not benchmark.enabled or benchmark.stats is None:  # --benchmark-disable: ran once, untimed
        return
    rate = ops / benchmark.stats.stats.min
    benchmark.extra_info["ops_per_s"] = rate
    _RATES[name] = rate


@pytest.mark.parametrize("sync", ["FULL", "NORMAL"])
def test_write_many_batch(benchmark, loop, tmp_path, sync):
    store = _open(loop, tmp_path, sync)

    def batch():
        n = next(_SERIAL)
        ops = [WriteOp(f"/registry/pods/bench/p{n}-{i}", VALUE, 0) for i in range(BATCH)]
        results = loop.run_until_complete(store.write_many(ops))
        assert not any(isinstance(r, Exception) for r in results)

    try:
        benchmark.pedantic(batch, rounds=5, iterations=1)
    finally:
        loop.run_until_complete(store.close())
    _record(f"write_many, {BATCH} creates per commit [{sync}]", benchmark, BATCH)


@pytest.mark.parametrize("sync", ["FULL", "NORMAL"])
def test_create_one_at_a_time(benchmark, loop, tmp_path, sync):
    store = _open(loop, tmp_path, sync)
    n_ops = 100

    def creates():
        n = next(_SERIAL)
        for i in range(n_ops):
            loop.run_until_complete(store.create(f"/registry/pods/bench/c{n}-{i}", VALUE))

    try:
        benchmark.pedantic(creates, rounds=3, iterations=1)
    finally:
        loop.run_until_complete(store.close())
    _record(f"create, one commit each [{sync}]", benchmark, n_ops)


def test_get_and_list(benchmark, loop, tmp_path):
    store = _open(loop, tmp_path, "NORMAL")
    keys = [f"/registry/pods/bench/r{i:05d}" for i in range(10_000)]
    loop.run_until_complete(store.write_many([WriteOp(k, VALUE, 0) for k in keys]))

    async def reads():
        for k in keys[:1000]:
            assert (await store.get(k)) is not None
        items, _, _ = await store.list("/registry/pods/bench/", limit=500)
        assert len(items) == 500

    try:
        benchmark.pedantic(lambda: loop.run_until_complete(reads()), rounds=5, iterations=1)
    finally:
        loop.run_until_complete(store.close())
    _record("get (1,000) + list of 500 from memory", benchmark, 1001)
