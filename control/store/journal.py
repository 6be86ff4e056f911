"""The acknowledgement journal: acknowledged writes that SQLite has not committed yet.

A write is acknowledged once its record is in the journal: written to the file (the OS holds it
through a kill -9 of the server), and with ``--sync FULL`` also fsynced. SQLite then commits the
records in large batches off the event loop, and a segment of the journal is deleted once every
record in it is in SQLite. Opening the store replays what SQLite lacks. (etcd keeps its WAL in
front of bbolt the same way.) A lone write thus costs one small append, not a SQLite transaction
that rewrites a 4 KiB page.

Layout: a directory of segments named by the first revision they hold, each a sequence of
records ``length u32 | crc32 u32 | payload`` with payload ``revision u64 | create_revision u64 |
deleted u8 | key length u32 | key | value``, then zeros (a length of 0 ends the segment). A record
that is cut short or fails its checksum ends the replay (a write torn by power loss was never
acknowledged under ``--sync FULL``).

Segments are allocated whole (posix_fallocate, so a full disk is an error when a segment begins,
never a fault while writing) and written through a shared memory map: appending a record is a
copy into the page cache, which the kernel keeps through a kill -9 of the process, with no system
call. ``sync`` is an msync of the pages written since the last one.
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from dataclasses import dataclass
from typing import Iterable

# A row of the store's log: (revision, key, value, create_revision, deleted)
Row = tuple[int, str, bytes, int, int]

SEGMENT_SUFFIX = ".journal"
# A segment takes new records until it is this large; then the next begins. (Its pages count in
# the server's RSS as they are written: at most this much for the journal.)
SEGMENT_BYTES = 8 << 20

_HEADER = struct.Struct("<II")  # payload length, crc32 of the payload
_FIXED = struct.Struct("<QQBI")  # revision, create_revision, deleted, key length


def encode(rows: Iterable[Row]) -> bytes:
    parts = []
    pack_fixed, pack_header, crc = _FIXED.pack, _HEADER.pack, zlib.crc32
    for revision, key, value, create_revision, deleted in rows:
        k = key.encode()
        payload = b"".join((pack_fixed(revision, create_revision, deleted, len(k)), k, value))
        parts.append(pack_header(len(payload), crc(payload)))
        parts.append(payload)
    return b"".join(parts)


def decode(data: bytes) -> tuple[list[Row], str | None]:
    """The records in ``data`` up to the end marker or the first damaged one; (rows, what was
    damaged or None)."""
    rows: list[Row] = []
    offset, end = 0, len(data)
    while offset < end:
        if end - offset < _HEADER.size:
            if data.count(0, offset) == end - offset:
                return rows, None  # zeros to the end: an allocated segment's unused tail
            return rows, f"a record header cut short at byte {offset}"
        length, checksum = _HEADER.unpack_from(data, offset)
        if length == 0:
            if checksum == 0:
                return rows, None  # the end marker
            return rows, f"a record of length 0 at byte {offset}"
        start = offset + _HEADER.size
        payload = data[start:start + length]
        if len(payload) < length or length < _FIXED.size:
            return rows, f"a record cut short at byte {offset}"
        if zlib.crc32(payload) != checksum:
            return rows, f"a record failing its checksum at byte {offset}"
        revision, create_revision, deleted, key_length = _FIXED.unpack_from(payload)
        key_end = _FIXED.size + key_length
        rows.append((revision, payload[_FIXED.size:key_end].decode(), payload[key_end:], create_revision, deleted))
        offset = start + length
    return rows, None


@dataclass
class _Segment:
    path: str
    first: int
    last: int  # the newest revision written to it (first - 1 while empty)


class Journal:
    """Segments in ``directory``; one process appends (the store holds its SQLite file
    exclusively before it opens the journal)."""

    def __init__(self, directory: str, *, segment_bytes: int = SEGMENT_BYTES, durable: bool = False) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.durable = durable  # fsync the segment's allocation and directory entry (--sync FULL)
        self._segments: list[_Segment] = []
        self._fd = -1
        self._map: mmap.mmap | None = None
        self._size = 0  # the current segment's allocated bytes
        self._pos = 0  # where its next record goes
        self._synced = 0  # how far it was synced

    # -- opening -----------------------------------------------------------------------------

    def segment_paths(self) -> list[tuple[int, str]]:
        """(first revision, path) of the segments on disk, oldest first."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            stem = name[: -len(SEGMENT_SUFFIX)]
            if name.endswith(SEGMENT_SUFFIX) and stem.isdigit():
                found.append((int(stem), os.path.join(self.directory, name)))
        return sorted(found)

    def read_after(self, revision: int) -> tuple[list[Row], str | None]:
        """The records after ``revision``, in order and without gaps; (rows, a note on what
        ended the replay early, or None)."""
        rows: list[Row] = []
        expected = revision + 1
        for _, path in self.segment_paths():
            with open(path, "rb") as f:
                found, damage = decode(f.read())
            for row in found:
                if row[0] < expected:
                    continue  # already in SQLite
                if row[0] != expected:
                    return rows, f"{path}: revision {row[0]} follows {expected - 1}; the rest is ignored"
                rows.append(row)
                expected += 1
            if damage:
                return rows, f"{path}: {damage}; the rest is ignored"
        return rows, None

    def remove_all(self) -> None:
        """Deletes every segment (all of them are in SQLite)."""
        self.close()
        for _, path in self.segment_paths():
            os.unlink(path)
        self._segments.clear()

    # -- appending ---------------------------------------------------------------------------

    def append(self, rows: list[Row]) -> None:
        """Writes ``rows`` (consecutive revisions, after every row written before). Raises
        OSError when the disk refuses a new segment."""
        if not rows:
            return
        pack_header, pack_fixed, crc32 = _HEADER.pack_into, _FIXED.pack_into, zlib.crc32
        header_size, fixed_size = _HEADER.size, _FIXED.size
        for revision, key, value, create_revision, deleted in rows:
            k = key.encode()
            length = fixed_size + len(k) + len(value)
            record = header_size + length
            if self._map is None or self._pos + record > self._size:
                self._start_segment(revision, record)
            mm, pos = self._map, self._pos
            start = pos + header_size
            pack_fixed(mm, start, revision, create_revision, deleted, len(k))
            key_at = start + fixed_size
            value_at = key_at + len(k)
            mm[key_at:value_at] = k
            mm[value_at:value_at + len(value)] = value
            # The header last: a record whose header is there is whole (its checksum says so).
            pack_header(mm, pos, length, crc32(value, crc32(k, crc32(mm[start:key_at]))))
            self._pos = pos + record
        self._segments[-1].last = rows[-1][0]

    def sync(self) -> None:
        """Makes what was appended durable: msync of the pages written since the last sync."""
        if self._map is None or self._pos == self._synced:
            return
        start = self._synced - self._synced % mmap.PAGESIZE
        self._map.flush(start, self._pos - start)
        self._synced = self._pos

    def _start_segment(self, first: int, record: int) -> None:
        self.close()
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, f"{first:020d}{SEGMENT_SUFFIX}")
        size = max(self.segment_bytes, record + _HEADER.size)
        size += -size % mmap.PAGESIZE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.posix_fallocate(fd, 0, size)  # ENOSPC here, not a SIGBUS on a later write
            if self.durable:  # the allocation and the directory entry, before any record counts
                os.fsync(fd)
                dir_fd = os.open(self.directory, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
            mapped = mmap.mmap(fd, size, flags=mmap.MAP_SHARED)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        self._fd, self._map, self._size, self._pos, self._synced = fd, mapped, size, 0, 0
        self._segments.append(_Segment(path, first, first - 1))

    def release_through(self, revision: int) -> None:
        """Deletes the segments, but the one being written, whose records are all at or below
        ``revision`` (committed to SQLite)."""
        while len(self._segments) > 1 and self._segments[0].last <= revision:
            os.unlink(self._segments.pop(0).path)

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
