"""Posterior post-processing: exact effect draws and log-likelihoods against direct formulas."""

import warnings

import numpy as np
import pytest
import xarray as xr
from scipy import stats as sps

import bayesmm as bmm
from bayesmm.infer.effects import draw_effects, group_loglik, pointwise_loglik


@pytest.fixture(scope="module")
def sleep(data):
    return bmm.mixedlm("Reaction ~ Days + (Days | Subject)", data("sleepstudy"))


def _posterior(S, beta, sigma, sd, corr, label="Subject"):
    """A synthetic posterior with every draw equal (chain 1, draw S)."""
    return xr.Dataset({
        "beta": (("chain", "draw", "coef"), np.broadcast_to(beta, (1, S, beta.size))),
        "sigma": (("chain", "draw"), np.full((1, S), sigma)),
        f"{label}_sd": (("chain", "draw", "s"), np.broadcast_to(sd, (1, S, sd.size))),
        f"{label}_corr": (("chain", "draw", "r", "c"), np.broadcast_to(corr, (1, S, 2, 2))),
    })


BETA, SIGMA, SD = np.array([250.0, 10.0]), 25.0, np.array([24.0, 6.0])
CORR = np.array([[1.0, 0.1], [0.1, 1.0]])
PSI = np.outer(SD, SD) * CORR


def test_effect_draws_have_the_exact_conditional_distribution(sleep):
    d, st = sleep.design, sleep.stats
    S = 40000
    b = draw_effects(d, st, _posterior(S, BETA, SIGMA, SD, CORR), np.random.default_rng(0))
    f = d.factors[0]
    for g in (0, 7):
        rows = f.codes == g
        Z, r = f.Z[rows], d.y[rows] - d.X[rows] @ BETA
        C = np.linalg.inv(np.linalg.inv(PSI) + Z.T @ Z / SIGMA**2)
        mean = C @ Z.T @ r / SIGMA**2
        draws = b[0, :, g, :]  # (S, 2)
        se = np.sqrt(np.diag(C) / S)
        assert np.all(np.abs(draws.mean(0) - mean) < 4.5 * se)
        np.testing.assert_allclose(np.cov(draws.T), C, rtol=0.05, atol=0.02 * np.abs(C).max())


def test_group_loglik_equals_dense_marginal_per_group(sleep):
    d, st = sleep.design, sleep.stats
    ll = group_loglik(d, st, _posterior(2, BETA, SIGMA, SD, CORR))
    f = d.factors[0]
    for g in range(f.n_levels):
        rows = f.codes == g
        Z = f.Z[rows]
        V = Z @ PSI @ Z.T + SIGMA**2 * np.eye(rows.sum())
        expected = sps.multivariate_normal(d.X[rows] @ BETA, V).logpdf(d.y[rows])
        np.testing.assert_allclose(ll[0, :, g], expected, rtol=1e-10)


def test_pointwise_loglik_is_normal_logpdf(sleep):
    d = sleep.design
    post = _posterior(1, BETA, SIGMA, SD, CORR)
    b = np.random.default_rng(1).normal(0, 5, (1, 1, 18, 2))
    post["Subject"] = (("chain", "draw", "lev", "eff"), b)
    ll = pointwise_loglik(d, post)
    f = d.factors[0]
    mu = d.X @ BETA + np.sum(f.Z * b[0, 0][f.codes], axis=1)
    np.testing.assert_allclose(ll[0, 0], sps.norm(mu, SIGMA).logpdf(d.y), rtol=1e-12)


def test_loo_by_observation_and_by_group(sleep):
    res = sleep.fit(draws=300, tune=300, chains=2, random_seed=4, comparison=False)
    with warnings.catch_warnings():  # high Pareto k for whole-group deletion is expected
        warnings.filterwarnings("ignore", "Estimated shape parameter of Pareto", UserWarning)
        obs, grp = res.loo("obs", pointwise=True), res.loo("group", pointwise=True)
    assert obs.n_data_points == 180 and grp.n_data_points == 18
    # PSIS weights fall as the point's likelihood rises, so each leave-one-out density is at
    # most the in-sample one, log mean_s p(y_i | θ_s) (Chebyshev's sum inequality)
    for loo, ll in ((obs, res.idata.log_likelihood["Reaction"]), (grp,
                                                                 res.group_log_likelihood())):
        vals = ll.values.reshape(-1, ll.shape[-1])  # (S, n)
        lppd = np.logaddexp.reduce(vals, axis=0) - np.log(vals.shape[0])
        assert np.all(loo.loo_i.values <= lppd + 1e-9)
        assert loo.elpd_loo == pytest.approx(loo.loo_i.values.sum(), rel=1e-12)
        assert 0 < lppd.sum() - loo.elpd_loo == pytest.approx(loo.p_loo, rel=1e-9)
    with pytest.raises(bmm.SpecificationError, match="kind: expected 'obs' or 'group'"):
        res.loo("cluster")


def test_beta_draws_have_the_exact_conditional_distribution(sleep):
    from bayesmm.infer.effects import draw_beta
    from bayesmm.suffstats import joint_z

    d, st = sleep.design, sleep.stats
    m0, s0 = np.array([300.0, 0.0]), np.array([100.0, 50.0])
    S = 40000
    beta = draw_beta(d, st, _posterior(S, BETA, SIGMA, SD, CORR), m0, s0,
                     np.random.default_rng(2))[0]  # (S, 2)
    Z = joint_z(d).toarray()
    V = Z @ np.kron(np.eye(18), PSI) @ Z.T + SIGMA**2 * np.eye(d.n_obs)
    Vi = np.linalg.inv(V)
    P = d.X.T @ Vi @ d.X + np.diag(1 / s0**2)
    cov = np.linalg.inv(P)
    mean = cov @ (d.X.T @ Vi @ d.y + m0 / s0**2)
    se = np.sqrt(np.diag(cov) / S)
    assert np.all(np.abs(beta.mean(0) - mean) < 4.5 * se)
    np.testing.assert_allclose(np.cov(beta.T), cov, rtol=0.05, atol=0.02 * np.abs(cov).max())


def test_the_draws_do_not_depend_on_the_block_of_draws(sleep):
    from bayesmm.infer.effects import draw_beta, draws_per_block

    d, st = sleep.design, sleep.stats
    S = 600  # the default takes every draw in one block here
    post = _posterior(S, BETA, SIGMA, SD, CORR)
    assert draws_per_block(st.ZtX.size + st.ZtZ.size) >= S
    m0, s0 = np.zeros(2), np.full(2, 100.0)
    for one, blocks in ((draw_effects(d, st, post, np.random.default_rng(1)),
                         draw_effects(d, st, post, np.random.default_rng(1), chunk=7)),
                        (draw_beta(d, st, post, m0, s0, np.random.default_rng(2)),
                         draw_beta(d, st, post, m0, s0, np.random.default_rng(2), chunk=7)),
                        (group_loglik(d, st, post), group_loglik(d, st, post, chunk=7))):
        np.testing.assert_array_equal(one, blocks)


def test_beta_draws_entry_by_entry_equal_lapacks(sleep, monkeypatch):
    from bayesmm.infer import effects

    m0, s0 = np.array([300.0, 0.0]), np.array([100.0, 50.0])
    post = _posterior(300, BETA, SIGMA, SD, CORR)
    small = effects.draw_beta(sleep.design, sleep.stats, post, m0, s0, np.random.default_rng(3))
    monkeypatch.setattr(effects, "SMALL_P", 0)  # p = 2 through NumPy's batched LAPACK
    lapack = effects.draw_beta(sleep.design, sleep.stats, post, m0, s0, np.random.default_rng(3))
    np.testing.assert_allclose(small, lapack, rtol=1e-13, atol=0)
