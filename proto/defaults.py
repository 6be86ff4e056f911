"""Defaults every part agrees on (the server address a client tries when told nothing)."""

from __future__ import annotations

import os

DEFAULT_LISTEN = "127.0.0.1:7443"
SERVER_ENV = "SHOAL_SERVER"


def default_data_dir() -> str:
    """/var/lib/shoal for root (as k3s' /var/lib/rancher), else under the user's data home."""
    if os.geteuid() == 0:
        return "/var/lib/shoal"
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "shoal")
