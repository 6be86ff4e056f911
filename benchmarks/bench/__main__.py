"""`python -m shoal.benchmarks.bench perf-config FILE ...`: `shoal bench` without the entry point."""

import sys

from .commands import main

sys.exit(main())
