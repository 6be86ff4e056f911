"""The scheduler loop's tests: the sched tests' builders and independent placement checker are
imported from the sibling directory."""

from __future__ import annotations

import os
import sys

_SCHED_TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sched")
if _SCHED_TESTS not in sys.path:
    sys.path.insert(0, _SCHED_TESTS)
