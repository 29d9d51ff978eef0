"""Predictions: exact for seen groups, independent draws for new groups, calibrated intervals."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

import bayesmm as bmm

FIT = {"draws": 1000, "tune": 500, "chains": 4, "random_seed": 21, "comparison": False}


@pytest.fixture(scope="module")
def sleep_fit(data):
    frame = data("sleepstudy")
    train = frame[frame["Days"] <= 7]
    res = bmm.mixedlm("Reaction ~ Days + (Days | Subject)", train).fit(**FIT)
    return res, frame


def test_seen_groups_equal_x_beta_plus_z_b_per_draw(sleep_fit):
    res, frame = sleep_fit
    new = frame[frame["Days"] >= 8]
    pred = res.predict(new, kind="mean").values  # (C, D, n)
    post = res.idata.posterior
    beta = post["beta"].values
    b = post["Subject"].values  # (C, D, G, 2)
    levels = {str(v): i for i, v in enumerate(res.design.factors[0].levels)}
    codes = np.array([levels[str(s)] for s in new["Subject"]])
    days = new["Days"].to_numpy()
    expected = (beta[..., 0, None] + beta[..., 1, None] * days
                + b[:, :, codes, 0] + b[:, :, codes, 1] * days)
    np.testing.assert_allclose(pred, expected, rtol=1e-12)


def test_in_sample_mean_prediction_uses_fitted_design(sleep_fit):
    res, _ = sleep_fit
    pred = res.predict(kind="mean")
    assert pred.dims == ("chain", "draw", "obs")
    d, post = res.design, res.idata.posterior
    f = d.factors[0]
    b = post["Subject"].values[:, :, f.codes]  # (C, D, n, 2)
    expected = np.einsum("np,cdp->cdn", d.X, post["beta"].values) \
        + np.einsum("nq,cdnq->cdn", f.Z, b)
    np.testing.assert_allclose(pred.values, expected, rtol=1e-12)


def test_response_draws_follow_the_posterior_predictive_distribution(sleep_fit):
    # Given each posterior draw s, a response draw is N(μ_s, σ_s): the share of draws at or
    # below the observed value must equal mean_s Φ((y − μ_s)/σ_s). The indicators are
    # independent given the draws, so the difference has SD √(Σ_s Φ_s(1−Φ_s))/S.
    res, frame = sleep_fit
    new = frame[frame["Days"] >= 8]
    draws = res.predict(new, kind="response", random_seed=1).values.reshape(-1, len(new))
    mu = res.predict(new, kind="mean").values.reshape(-1, len(new))  # (S, n)
    sigma = res.idata.posterior["sigma"].values.reshape(-1, 1)
    y = new["Reaction"].to_numpy()
    phi = sps.norm.cdf((y - mu) / sigma)  # (S, n)
    S = phi.shape[0]
    se = np.sqrt((phi * (1 - phi)).sum(axis=0)) / S
    gap = (draws <= y).mean(axis=0) - phi.mean(axis=0)
    assert np.all(np.abs(gap) <= 4.5 * se + 1e-12), gap / se


def test_new_groups_are_independent_with_the_right_variance(sleep_fit):
    res, _ = sleep_fit
    new = pd.DataFrame({"Days": [3.0, 3.0], "Subject": ["new1", "new2"]})
    pred = res.predict(new, kind="response", random_seed=5).values.reshape(-1, 2)
    assert pred.shape[0] >= 4000
    post = res.idata.posterior
    z = np.array([1.0, 3.0])
    beta = post["beta"].values.reshape(-1, 2)
    # both rows share x'β of the draw; what is left (z'b_new + ε) must be independent —
    # brms issue #956 gave every new group the same effect
    r = np.corrcoef((pred - (beta @ z)[:, None]).T)[0, 1]
    assert abs(r) < 0.05, r
    # Var(prediction) = E[Var(z'b) + σ²] + Var(x'β) over the posterior
    psi = res.psi_draws[0].reshape(-1, 2, 2)
    s2 = (post["sigma"].values ** 2).ravel()
    expected = np.mean(np.einsum("i,sij,j->s", z, psi, z) + s2) + np.var(beta @ z)
    assert pred[:, 0].var() == pytest.approx(expected, rel=0.1)


def test_new_groups_zero_equals_fixed_effects_and_error_names_levels(sleep_fit):
    res, _ = sleep_fit
    new = pd.DataFrame({"Days": [1.0, 5.0], "Subject": ["newA", "newB"]})
    zero = res.predict(new, new_groups="zero").values
    beta = res.idata.posterior["beta"].values
    np.testing.assert_allclose(zero, beta[..., :1] + beta[..., 1:] * np.array([1.0, 5.0]))
    with pytest.raises(bmm.DataError, match=r"levels \['newA', 'newB'\] of 'Subject'"):
        res.predict(new, new_groups="error")
    with pytest.raises(bmm.SpecificationError, match="new_groups: expected"):
        res.predict(new, new_groups="drop")


def test_posterior_predictive_group_for_arviz(sleep_fit):
    res, _ = sleep_fit
    idata = res.posterior_predictive(random_seed=3)
    assert "posterior_predictive" in idata.groups()
    assert idata.posterior_predictive["Reaction"].shape[-1] == res.design.n_obs


def test_results_never_change_after_fit(sleep_fit):
    res, _ = sleep_fit
    before = tuple(res.idata.groups())
    ppc = res.posterior_predictive(random_seed=3)
    with warnings.catch_warnings():  # Pareto k > 0.7 on a few rows of this short run
        warnings.simplefilter("ignore", UserWarning)
        loo, again = res.loo(), res.loo()
    assert tuple(res.idata.groups()) == before  # methods return new objects
    assert "posterior_predictive" in ppc.groups() and ppc.posterior is res.idata.posterior
    assert again.elpd_loo == loo.elpd_loo  # the log-likelihood is computed once
    assert res._idata_with_log_likelihood is res._idata_with_log_likelihood
