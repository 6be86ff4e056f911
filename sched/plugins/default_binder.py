"""DefaultBinder: binds through the API. Offline placement binds into the snapshot instead, so
the plugin only has to exist for profiles to name it."""

from __future__ import annotations

from ..framework.interface import BIND, Plugin

NAME = "DefaultBinder"


class DefaultBinder(Plugin):
    NAME = NAME
    POINTS = frozenset({BIND})


def new(args, profile) -> DefaultBinder:
    return DefaultBinder(args, profile)
