"""Parametric bootstrap: reproducible replicates whose spread is the sampling distribution."""

import numpy as np
import pytest

import bayesmm as bmm
from bayesmm.errors import SpecificationError
from bayesmm.infer.optimize import fit_point
from bayesmm.suffstats import suff_stats


@pytest.fixture(scope="module")
def dietox_fit(data):
    return bmm.mixedlm("Weight ~ Time + (1 | Pig)", data("dietox")).fit(method="reml")


def test_replicates_are_seeded_and_named_like_the_profile(dietox_fit):
    a = dietox_fit.bootstrap(5, seed=3)
    b = dietox_fit.bootstrap(5, seed=3)
    c = dietox_fit.bootstrap(5, seed=4)
    assert list(a.columns) == ["Intercept", "Time", "Pig SD", "Residual SD"]
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    assert not np.allclose(a.to_numpy(), c.to_numpy())
    ci = dietox_fit.conf_int(method="boot", nsim=5, seed=3)
    np.testing.assert_allclose(ci[0], a.quantile(0.025))


def test_each_replicate_is_the_full_fit_of_its_data(dietox_fit):
    """The warm-started refit reaches the optimiser's optimum on the simulated data."""
    from dataclasses import replace

    from bayesmm.infer.bootstrap import _simulate

    design, fit = dietox_fit.design, dietox_fit.fit
    rep = dietox_fit.bootstrap(2, seed=11).iloc[0]  # the first replicate
    y = _simulate(design, fit, np.random.default_rng(11))
    full = fit_point(suff_stats(replace(design, y=y)), "reml")
    np.testing.assert_allclose(rep[["Intercept", "Time"]], full.beta, rtol=1e-7)
    assert rep["Residual SD"] == pytest.approx(np.sqrt(full.scale), rel=1e-6)


def test_bootstrap_spread_matches_the_standard_errors(dietox_fit, seed):
    """β̂'s replicates centre on β̂ with spread bse_fe; the margins are 4 Monte Carlo SEs.

    With 72 pigs the sampling distribution of β̂ is close to N(β, σ²A⁻¹): the SD of
    ``nsim`` draws has a Monte Carlo SE of SD/√(2(nsim−1)), the mean SD/√nsim.
    """
    nsim = 400
    reps = dietox_fit.bootstrap(nsim, seed=seed)
    se = dietox_fit.bse_fe
    for name in ("Intercept", "Time"):
        draws = reps[name]
        assert abs(draws.mean() - dietox_fit.fe_params[name]) < 4 * se[name] / np.sqrt(nsim)
        assert abs(draws.std() / se[name] - 1) < 4 / np.sqrt(2 * (nsim - 1))


def test_bad_nsim_names_the_argument(dietox_fit):
    with pytest.raises(SpecificationError, match="nsim: expected an integer of at least 2"):
        dietox_fit.bootstrap(1)
