"""The dispatcher: backend choice, fallbacks, argument checks, and the shared conventions."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from shoal.native import kernels, layout

NATIVE_DIR = Path(kernels.__file__).resolve().parent


def run_python(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_import_compiles_nothing_and_loads_no_backend():
    out = run_python(
        "import sys; import shoal.native.kernels; "
        "print('numba' in sys.modules, any(m.startswith('shoal.native._') for m in sys.modules))"
    )
    assert out == "False False"


@pytest.mark.parametrize("forced", ["reference", "cython", "numba"])
def test_env_var_forces_a_backend(forced):
    out = run_python("from shoal.native import kernels; print(kernels.backend_of('place_sequence'))", SHOAL_NATIVE=forced)
    with kernels.using(forced):
        available = kernels.backend_of("place_sequence")
    assert out == available  # the forced backend, or its fallback when it cannot load here


def test_unknown_backend_is_rejected(monkeypatch):
    monkeypatch.setenv(kernels.ENV_VAR, "fortran")
    kernels.reset_backends()
    try:
        with pytest.raises(ValueError, match="SHOAL_NATIVE"):
            kernels.backend_of("fit_filter")
    finally:
        monkeypatch.delenv(kernels.ENV_VAR)
        kernels.reset_backends()


def test_using_restores_the_previous_choice():
    before = kernels.backend_of("fit_filter")
    with kernels.using("reference"):
        assert kernels.backend_of("fit_filter") == "reference"
    assert kernels.backend_of("fit_filter") == before


def _cluster(n_nodes=4):
    alloc = np.tile(np.array([4000, 8 << 30, 110], dtype=np.int64), (n_nodes, 1))
    return alloc, np.zeros_like(alloc), np.zeros((n_nodes, 2), dtype=np.int64)


def test_place_sequence_needs_writeable_int64_state(backend):
    alloc, requested, nonzero = _cluster()
    pods = np.array([[100, 1 << 20, 1]])
    with pytest.raises(TypeError, match="requested"):
        kernels.place_sequence(alloc, requested.astype(np.int32), nonzero, pods, pods[:, :2], np.ones(4, bool), 0, [0])
    with pytest.raises(ValueError, match="static_mask"):
        kernels.place_sequence(alloc, requested, nonzero, pods, pods[:, :2], np.ones((2, 4), bool), 0, [0])


def test_place_sequence_returns_minus_one_and_leaves_state_when_nothing_fits(backend):
    alloc, requested, nonzero = _cluster()
    pods = np.array([[100, 1 << 20, 1], [8000, 1 << 20, 1], [100, 1 << 20, 1]])
    chosen = kernels.place_sequence(alloc, requested, nonzero, pods, pods[:, :2], np.ones(4, bool), 3, [1, 2, 3])
    assert chosen[1] == -1 and chosen[0] >= 0 and chosen[2] >= 0
    assert requested[:, 0].sum() == 200 and requested[:, 2].sum() == 2
    assert nonzero[:, 0].sum() == 200


def test_place_sequence_spreads_identical_pods_like_least_allocated(backend):
    alloc, requested, nonzero = _cluster(n_nodes=10)
    pods = np.tile(np.array([100, 500 << 20, 1]), (30, 1))
    chosen = kernels.place_sequence(alloc, requested, nonzero, pods, pods[:, :2], np.ones(10, bool), 9, np.arange(30))
    assert np.bincount(chosen, minlength=10).tolist() == [3] * 10


def test_too_many_resource_columns_rejected():
    alloc = np.zeros((1, 64), dtype=np.int64)
    with pytest.raises(ValueError, match="63"):
        kernels.fit_filter(alloc, alloc, np.zeros(64, dtype=np.int64), np.ones(1, bool))


def test_profile_columns_must_exist_in_the_matrix():
    alloc, requested, _ = _cluster()
    with pytest.raises(ValueError, match="columns"):
        kernels.balanced_allocation(alloc, requested, np.array([1, 1, 1]), columns=(0, 5))


def test_cython_constants_mirror_layout():
    text = (NATIVE_DIR / "_common.pxi").read_text()
    enum = dict(re.findall(r"^\s+([A-Z_]+) = (\d+)$", text, flags=re.MULTILINE))
    for name, value in enum.items():
        assert getattr(layout, name) == int(value), name
    literals = {int(h, 16) for h in re.findall(r"0x([0-9A-F]+)ULL", text)}
    assert literals == {
        layout.GOLDEN_GAMMA, layout.MIX_MUL_1, layout.MIX_MUL_2, layout.MIX_MUL_1_INV, layout.MIX_MUL_2_INV,
    }


def test_mix_multiplier_inverses():
    assert layout.MIX_MUL_1 * layout.MIX_MUL_1_INV & layout.UINT64_MASK == 1
    assert layout.MIX_MUL_2 * layout.MIX_MUL_2_INV & layout.UINT64_MASK == 1


def test_fit_check_order_puts_pods_first():
    assert layout.fit_check_order(6) == (2, 0, 1, 3, 4, 5)
    assert layout.fit_check_order(2) == (0, 1)
