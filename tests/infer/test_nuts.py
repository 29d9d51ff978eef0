"""Samplers: same seed → identical draws (pymc, nutpie, numpyro); each agrees with PyMC's NUTS."""

from __future__ import annotations

import numpy as np
import pytest

import bayesmm as bmm

SMALL = {"draws": 200, "tune": 200, "chains": 2, "cores": 1}


@pytest.fixture(scope="module")
def dyestuff(data: object) -> object:
    return data("Dyestuff")  # type: ignore[operator]


@pytest.mark.parametrize("marginal", [None, False], ids=["marginal", "latent"])
def test_pymc_same_seed_same_draws(dyestuff: object, marginal: bool | None) -> None:
    model = bmm.mixedlm("Yield ~ 1 + (1 | Batch)", dyestuff)
    a = model.fit(random_seed=9, marginal=marginal, comparison=False, **SMALL)
    b = model.fit(random_seed=9, marginal=marginal, comparison=False, **SMALL)
    for name in ("beta", "sigma", "Batch_sd", "Batch"):
        np.testing.assert_array_equal(a.posterior[name].values, b.posterior[name].values)


@pytest.mark.parametrize("sampler", ["nutpie", "numpyro"])
def test_sampler_same_seed_same_draws_and_agrees_with_pymc(dyestuff: object, sampler: str
                                                             ) -> None:
    pytest.importorskip(sampler)
    model = bmm.mixedlm("Yield ~ 1 + (1 | Batch)", dyestuff)
    a = model.fit(sampler=sampler, random_seed=4, draws=1000, tune=1000, chains=2)
    b = model.fit(sampler=sampler, random_seed=4, draws=1000, tune=1000, chains=2)
    for name in ("beta", "sigma", "Batch_sd", "Batch"):
        np.testing.assert_array_equal(a.posterior[name].values, b.posterior[name].values)
    assert a.build == "marginal" and a.posterior["Batch"].shape == (2, 1000, 6, 1)
    ref = model.fit(sampler="pymc", random_seed=4, draws=1000, tune=1000, chains=2, cores=1)
    # posterior means agree within 4 Monte Carlo standard errors of their difference
    for name in ("beta", "sigma"):
        x, y = a.posterior[name].values.ravel(), ref.posterior[name].values.ravel()
        mcse = np.hypot(x.std() / np.sqrt(a.sampling.ess_bulk.min()),
                        y.std() / np.sqrt(ref.sampling.ess_bulk.min()))
        assert abs(x.mean() - y.mean()) < 4 * mcse, name


def test_nutpie_on_the_latent_build_uses_one_density_per_structure(
        dyestuff: object, data: object, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    pytest.importorskip("nutpie")
    from bayesmm.infer import compiled

    model = bmm.mixedlm("Yield ~ 1 + (1 | Batch)", dyestuff)
    kw = {"draws": 1000, "tune": 1000, "chains": 2, "marginal": False, "comparison": False}
    a = model.fit(sampler="nutpie", random_seed=seed, **kw)
    assert a.build == "latent" and a.posterior["Batch"].shape == (2, 1000, 6, 1)
    calls: list = []
    monkeypatch.setattr(compiled, "_compile", lambda *args: calls.append(args))
    # other data of the same structure: the compiled density is reused (compiling would fail)
    other = bmm.mixedlm("Yield ~ 1 + (1 | Batch)", data("Dyestuff2"))  # type: ignore[operator]
    other.fit(sampler="nutpie", random_seed=4, draws=50, tune=50, chains=1, marginal=False,
              comparison=False)
    assert calls == []
    monkeypatch.undo()
    ref = model.fit(sampler="pymc", random_seed=seed, cores=1, **kw)
    for name in ("beta", "sigma", "Batch_sd"):  # posterior means within 4 MCSE
        x, y = a.posterior[name].values.ravel(), ref.posterior[name].values.ravel()
        mcse = np.hypot(x.std() / np.sqrt(a.sampling.ess_bulk.min()),
                        y.std() / np.sqrt(ref.sampling.ess_bulk.min()))
        assert abs(x.mean() - y.mean()) < 4 * mcse, name
