"""BLAS thread policies: one pool in point fits, one thread per chain in NUTS."""

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import scipy
import scipy.linalg
from threadpoolctl import threadpool_info, threadpool_limits

from bayesmm.infer.blas import _others_than_scipys, one_blas_pool, one_blas_thread


def blas_threads():
    return {p["filepath"]: p["num_threads"] for p in threadpool_info()
            if p["user_api"] == "blas"}


def _libs(*paths):
    return SimpleNamespace(lib_controllers=[SimpleNamespace(user_api="blas", filepath=p)
                                            for p in paths])


def test_point_fits_hold_every_pool_but_scipys_at_one_thread():
    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # numpy's BLAS is loaded
    scipy.linalg.cholesky(np.eye(2))  # and scipy's
    wheel = str(Path(scipy.__file__).parent) + ".libs"
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        with one_blas_pool():
            inside = blas_threads()
        assert blas_threads() == before
    for path, n in inside.items():
        assert n == (before[path] if path.startswith(wheel) else 1), path


def test_which_pools_keep_their_threads():
    wheel = str(Path(scipy.__file__).parent) + ".libs"
    ours, numpys = f"{wheel}/libopenblas.so", "/x/numpy.libs/libopenblas64_.so"
    assert _others_than_scipys(_libs(numpys, ours)) == [numpys]
    assert _others_than_scipys(_libs("/usr/lib/libblas.so")) == []  # one shared pool
    assert _others_than_scipys(_libs("/a/libblas.so", "/b/libmkl.so")) == [
        "/a/libblas.so", "/b/libmkl.so"]  # scipy's unknown: all limited


def test_sampling_runs_with_one_blas_thread_and_restores_the_settings(monkeypatch):
    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # numpy's BLAS is loaded
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)

    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        with one_blas_thread():
            assert set(blas_threads().values()) == {1}
            assert os.environ["OPENBLAS_NUM_THREADS"] == "1"  # for PyMC's chain processes
            assert os.environ["MKL_NUM_THREADS"] == "1"
        assert blas_threads() == before
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"
    assert "MKL_NUM_THREADS" not in os.environ
