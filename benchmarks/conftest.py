"""`pytest benchmarks/` collects the pytest-benchmark suites, whose files are named bench_*.py.

The repository's default run (`python -m pytest` from the root) never reaches this folder:
pyproject's testpaths is ["tests"]. Scripts in this folder that are not suites (api_bench.py,
bench_place.py, ... run with `python -m shoal.benchmarks.NAME`) hold no test_ functions, so
collecting them costs an import and runs nothing; SUITES names the ones that are suites.
"""

from __future__ import annotations

import pytest

SUITES = {"bench_kernels.py", "bench_store.py"}


def pytest_collect_file(file_path, parent):
    # A file named on the command line is collected by pytest itself, whatever its name.
    if file_path.name in SUITES and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
