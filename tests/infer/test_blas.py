"""One BLAS thread in point fits and in NUTS (one per chain)."""

import os

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from bayesmm.infer.blas import one_blas_thread


def blas_threads():
    return {p["filepath"]: p["num_threads"] for p in threadpool_info()
            if p["user_api"] == "blas"}


def test_a_point_fit_runs_inside_one_blas_thread(data, monkeypatch):
    import bayesmm as bmm
    from bayesmm.infer import point

    seen = []

    def fit_point(*args):
        seen.append(set(blas_threads().values()))
        return real(*args)

    real = point.fit_point
    monkeypatch.setattr(point, "fit_point", fit_point)
    with threadpool_limits(limits=2, user_api="blas"):
        bmm.mixedlm("Reaction ~ Days", data("sleepstudy"), groups="Subject").fit(method="reml")
    assert seen == [{1}]


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


def test_the_blas_libraries_are_found_once_per_process():
    from bayesmm.infer import blas

    with one_blas_thread():
        first = blas._controller()
    with one_blas_thread():
        assert blas._controller() is first
    assert blas._controller.cache_info().misses == 1
