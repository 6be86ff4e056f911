"""The per-spec memo behind admission's fast path: bounded, and sampling when nothing repeats."""

from __future__ import annotations

from shoal.control.api.validation.memo import SpecMemo


def test_remembers_and_counts_a_hit():
    memo: SpecMemo[str] = SpecMemo()
    assert memo.get(b"spec") is None
    memo.put(b"spec", "defaulted")
    assert memo.get(b"spec") == "defaulted"


def test_is_emptied_when_full():
    memo: SpecMemo[int] = SpecMemo(max_entries=3)
    for i in range(4):
        memo.put(bytes([i]), i)
    assert len(memo) == 1
    assert memo.get(bytes([3])) == 3


def test_large_specs_are_not_kept():
    memo: SpecMemo[int] = SpecMemo(max_key_bytes=8)
    assert memo.wants(b"x" * 8)
    assert not memo.wants(b"x" * 9)


def test_after_a_long_run_of_misses_only_a_sample_is_kept():
    memo: SpecMemo[int] = SpecMemo()
    wanted = 0
    for i in range(1024 + 1600):
        key = i.to_bytes(4, "big")
        memo.get(key)
        if i >= 1024 and memo.wants(key):
            wanted += 1
    assert wanted == 100  # one in 16
    memo.put(b"hot", 1)
    memo.get(b"hot")
    assert memo.wants(b"next")  # a hit ends the sampling
