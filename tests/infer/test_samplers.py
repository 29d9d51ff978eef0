"""The sampler registry: one interface per NUTS implementation, names as NutsOptions takes."""

import os

import pytest

from bayesmm.errors import SpecificationError
from bayesmm.infer.options import SAMPLERS as NAMES
from bayesmm.infer.options import NutsOptions
from bayesmm.infer.samplers import (
    SAMPLERS,
    NutpieSampler,
    PyMCSampler,
    Start,
    get_sampler,
    one_blas_thread,
)


def test_every_name_options_accept_has_a_sampler_of_that_name():
    assert set(SAMPLERS) == set(NAMES)
    for name in NAMES:
        assert get_sampler(name).name == name


@pytest.mark.parametrize(("sampler", "low", "extends"), [
    (NutpieSampler(), True, True), (NutpieSampler(), False, False),
    (PyMCSampler("pymc"), True, False), (PyMCSampler("numpyro"), True, False),
])
def test_only_nutpie_on_the_flat_density_extends_a_run(sampler, low, extends):
    assert sampler.can_extend(Start(low_dimensional=low)) is extends


def test_max_draws_on_the_latent_build_names_the_sampler(data):
    import bayesmm as bmm
    from bayesmm.infer.nuts import sample_nuts

    model = bmm.mixedlm("Reaction ~ Days", data("sleepstudy"), groups="Subject")
    options = NutsOptions(draws=10, tune=10, chains=1, max_draws=20, sampler="nutpie")
    with pytest.raises(SpecificationError, match="max_draws: .*'nutpie' on the latent"):
        sample_nuts(model.design, model.priors, model.stats, options, marginal=False)
    with pytest.raises(SpecificationError, match="sampler: expected one of"):
        NutsOptions(sampler="stan")


def test_sampling_runs_with_one_blas_thread_and_restores_the_settings(monkeypatch):
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # numpy's BLAS is loaded
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)

    def blas_threads():
        return {p["filepath"]: p["num_threads"] for p in threadpool_info()
                if p["user_api"] == "blas"}

    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        with one_blas_thread():
            assert set(blas_threads().values()) == {1}
            assert os.environ["OPENBLAS_NUM_THREADS"] == "1"  # for PyMC's chain processes
            assert os.environ["MKL_NUM_THREADS"] == "1"
        assert blas_threads() == before
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"
    assert "MKL_NUM_THREADS" not in os.environ
