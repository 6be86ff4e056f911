"""new_uid spells a version-4 UUID exactly as the standard library would for the same bits."""

import random
import uuid

from shoal.control.api import objects


def test_new_uid_matches_uuid4_formatting(monkeypatch):
    for seed in range(500):
        monkeypatch.setattr(objects, "_uid_source", random.Random(seed))
        got = objects.new_uid()
        expected = str(uuid.UUID(int=random.Random(seed).getrandbits(128), version=4))
        assert got == expected
        parsed = uuid.UUID(got)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_new_uids_differ():
    assert len({objects.new_uid() for _ in range(10_000)}) == 10_000
