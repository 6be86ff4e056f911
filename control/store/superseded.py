"""Rows of the revision log that compaction may drop, remembered as writes supersede them.

A row becomes droppable when a later write to its key replaces or deletes it; a delete's own
row (the tombstone) is droppable from its own revision on. Compaction to revision R drops the
rows made droppable at or before R: a row whose successor is not yet committed is never dropped,
so a crash can never lose a key's last committed value.

Entries are appended in the order revisions are given out, so they stay sorted by the revision
that superseded them and compaction takes a prefix.
"""

from __future__ import annotations

import bisect
from array import array


class SupersededRows:
    def __init__(self) -> None:
        self._at = array("q")  # the revision that made the row droppable, ascending
        self._rows = array("q")  # the droppable row's revision

    def __len__(self) -> int:
        return len(self._at)

    def add(self, at_revision: int, row_revision: int) -> None:
        self._at.append(at_revision)
        self._rows.append(row_revision)

    def through(self, revision: int) -> array:
        """Revisions of the rows droppable at ``revision`` (a copy; drop_through forgets them
        once they are gone from disk)."""
        return self._rows[: bisect.bisect_right(self._at, revision)]

    def drop_through(self, revision: int) -> None:
        n = bisect.bisect_right(self._at, revision)
        del self._at[:n]
        del self._rows[:n]
