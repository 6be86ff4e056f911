"""Fixtures for the kernel tests: run a test once per backend (reference, numba, cython)."""

from __future__ import annotations

import pytest
from shoal.native import kernels


@pytest.fixture(params=kernels.BACKENDS)
def backend(request):
    """Force one backend for the test; skip when it cannot be loaded here."""
    with kernels.using(request.param):
        if kernels.backend_of("fit_filter") != request.param:
            pytest.skip(f"{request.param} backend not available")
        yield request.param
