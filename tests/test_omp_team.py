"""The kernels split over torch's own OpenMP threads (hf_copycot/ssm/omp_team.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hf_copycot.ssm import numba_kernels, numba_mixer, omp_team

pytestmark = pytest.mark.skipif(
    omp_team._openmp() is None, reason="torch is not built on GNU OpenMP here (Linux wheels are)"
)
WIDTH = numba_kernels.WIDTH


def _conv_arguments(seed: int = 0):
    rng = np.random.default_rng(seed)
    batch, seq_len, blocks, taps = 3, 21, 2, 4
    xz = rng.standard_normal((batch, seq_len, 2 * blocks, WIDTH), dtype=np.float32)
    conv_w = rng.standard_normal((taps, blocks, WIDTH), dtype=np.float32)
    conv_b = rng.standard_normal((blocks, WIDTH), dtype=np.float32)
    mask = np.ones((batch, seq_len), np.float32)
    mask[0, :5] = 0
    u = np.zeros((batch, seq_len, blocks, WIDTH), np.float32)
    return batch * blocks, (xz, conv_w, conv_b, mask, u)


def _on_one_thread(n_items, args):
    expected = [a.copy() for a in args]
    numba_mixer._run_on_this_thread(numba_kernels.conv_forward, tuple(expected), 0, n_items)
    return expected[-1]


@pytest.fixture
def fresh_tasks(monkeypatch, tmp_path):
    """No task compiled in this process yet, and a cache folder of the test's own."""
    numba_mixer._start_numba_threads()
    monkeypatch.setattr(omp_team, "_tasks", {})
    monkeypatch.setattr(omp_team, "_task_folder", lambda: tmp_path)
    return tmp_path


@pytest.mark.parametrize("n_threads", [2, 3])
def test_a_kernel_on_torch_team_gives_the_same_bits_and_is_cached(fresh_tasks, n_threads):
    n_items, args = _conv_arguments()
    expected = _on_one_thread(n_items, args)
    assert omp_team.run_on_torch_team(numba_kernels.conv_forward, n_items, args, n_threads)
    assert np.array_equal(args[-1], expected) and np.abs(expected).sum() > 0
    # numba wrote an index for the compiled wrapper: later processes load it instead of compiling
    assert list(fresh_tasks.glob("conv_forward_*.py"))
    (task,) = omp_team._tasks.values()
    assert list(Path(task._cache._cache_path).glob("conv_forward_*.nbi"))


def test_without_a_writable_folder_the_task_compiles_in_memory(fresh_tasks, monkeypatch):
    monkeypatch.setattr(omp_team, "_task_folder", lambda: None)
    n_items, args = _conv_arguments(seed=1)
    expected = _on_one_thread(n_items, args)
    assert omp_team.run_on_torch_team(numba_kernels.conv_forward, n_items, args, 2)
    assert np.array_equal(args[-1], expected)
    assert not list(fresh_tasks.iterdir())


def test_arguments_a_descriptor_cannot_carry_fall_back_to_the_caller(fresh_tasks):
    n_items, args = _conv_arguments()
    as_float64 = (args[0].astype(np.float64), *args[1:])
    strided = (args[0][:, ::2], *args[1:])
    for bad in (as_float64, strided, (*args[:-1], 0.5)):
        assert not omp_team.run_on_torch_team(numba_kernels.conv_forward, n_items, bad, 2)
    assert omp_team._tasks == {}
