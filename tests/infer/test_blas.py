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
        bmm.mixedlm("Reaction ~ Days", data("sleepstudy"), groups="Subject",
                    re_formula="~Days").fit(method="reml")
    assert seen == [{1}]


def test_one_theta_point_fits_and_kernel_chains_take_no_blas_limit(data, monkeypatch):
    # a random intercept's scalar search on the C criterion and a C kernel's chains make no
    # BLAS call: no limit, so such a fit needs no threadpoolctl controller
    import warnings

    import bayesmm as bmm
    from bayesmm.infer import blas

    real, calls = blas._controller, []

    def controller():
        calls.append(1)
        return real()

    monkeypatch.setattr(blas, "_controller", controller)
    model = bmm.mixedlm("Yield ~ 1", data("Dyestuff2"), groups="Batch")
    model.fit(method="reml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.SamplingWarning)  # 2 × 50 draws, singular REML
        res = model.fit(draws=50, tune=50, chains=2, cores=1, random_seed=0)
    assert res.build == "marginal"  # nutpie on the C kernel
    assert calls == []
    bmm.mixedlm("Reaction ~ Days", data("sleepstudy"), groups="Subject",
                re_formula="~Days").fit(method="reml")  # three θ: L-BFGS-B, limited
    assert calls == [1]


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
