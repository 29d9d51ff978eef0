"""The collapsed build: the largest factor integrated out is the dense Gaussian marginal."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats as sps

import bayesmm as bmm
from bayesmm.build import collapsed
from bayesmm.build.collapsed import build_collapsed, collapsed_factor, collapsed_stats
from bayesmm.infer.effects import draw_beta, draw_effects, factor_chol, partial_residual_stats
from bayesmm.infer.nuts import choose_build


def _crossed(seed: int = 0) -> pd.DataFrame:
    """60 rows: 12 subjects (slopes) × 5 items."""
    rng = np.random.default_rng(seed)
    subj, item = np.repeat(np.arange(12), 5), np.tile(np.arange(5), 12)
    x = rng.normal(size=60)
    y = 1 + 0.5 * x + rng.normal(0, 1, 12)[subj] + 0.3 * rng.normal(0, 1, 12)[subj] * x \
        + rng.normal(0, 0.7, 5)[item] + rng.normal(0, 1, 60)
    return pd.DataFrame({"y": y, "x": x, "subj": subj.astype(str), "item": item.astype(str)})


def _dense_z(factor: object) -> np.ndarray:
    """(N, G q) random-effects matrix of one factor."""
    N, G, q = factor.codes.size, factor.n_levels, factor.q  # type: ignore[attr-defined]
    Z = np.zeros((N, G * q))
    for j in range(q):
        Z[np.arange(N), factor.codes * q + j] = factor.Z[:, j]  # type: ignore[attr-defined]
    return Z


@pytest.mark.parametrize("centre", [True, False], ids=["centred", "non-centred"])
@pytest.mark.parametrize("conjugate", [True, False], ids=["beta-integrated", "beta-sampled"])
def test_collapsed_potential_equals_dense_mvn_given_the_latent_factor(conjugate, centre,
                                                                     monkeypatch):
    # items hold 12 rows each: centred at the default threshold of 10 rows per level
    monkeypatch.setattr(collapsed, "CENTRE_ROWS", 10.0 if centre else 1e9)
    model = bmm.mixedlm("y ~ x + (x | subj) + (1 | item)", _crossed())
    d, priors = model.design, model.priors
    if not conjugate:
        priors["Intercept"] = bmm.Prior("StudentT", nu=3.0, mu=0.0, sigma=100.0)
    assert choose_build(d, None) == "collapsed"
    k = collapsed_factor(d)
    big, small = d.factors[k], d.factors[1 - k]
    assert big.label == "subj"  # 12 levels against 5
    pm_model = build_collapsed(d, priors)
    assert ("beta" in pm_model.named_vars) is not conjugate
    assert ("_item_z" in pm_model.named_vars) is not centre
    outs = [pm_model.potentials[0], pm_model["sigma"], pm_model["subj_sd"],
            pm_model["subj_corr"], pm_model["item"]]
    if not conjugate:
        outs.append(pm_model["beta"])
    fn = pm_model.compile_fn(pm_model.replace_rvs_by_values(outs),
                             inputs=pm_model.value_vars, point_fn=True,
                             on_unused_input="ignore")
    rng = np.random.default_rng(3)
    point = {k_: v + rng.normal(0, 0.3, np.shape(v))
             for k_, v in pm_model.initial_point().items()}
    pot, sigma, sd, corr, b_item, *rest = fn(point)
    post = xr.Dataset({"subj_sd": (("chain", "draw", "s"), sd[None, None]),
                       "subj_corr": (("chain", "draw", "r", "c"), corr[None, None])})
    L = factor_chol(big, post)[0]  # (2, 2)
    Z = _dense_z(big)
    V = Z @ np.kron(np.eye(big.n_levels), L @ L.T) @ Z.T + sigma**2 * np.eye(d.n_obs)
    r = d.y - _dense_z(small) @ b_item.ravel()  # the item effects are given
    if conjugate:
        m0 = np.array([priors[n].params["mu"] for n in d.xnames])
        s0 = np.array([priors[n].params["sigma"] for n in d.xnames])
        want = sps.multivariate_normal(d.X @ m0, V + d.X @ np.diag(s0**2) @ d.X.T).logpdf(r)
    else:
        want = sps.multivariate_normal(d.X @ rest[0], V).logpdf(r)
    np.testing.assert_allclose(pot, want, rtol=1e-10)


def test_integrated_draws_follow_the_dense_conditional():
    # β and the subjects' effects given σ, Ψ and the item effects: one fixed draw repeated
    # 4000 times; their mean and covariance against the dense Gaussian conditional
    model = bmm.mixedlm("y ~ x + (1 | subj) + (1 | item)", _crossed(1))
    d, priors = model.design, model.priors
    k = collapsed_factor(d)
    big, small = d.factors[k], d.factors[1 - k]
    S, sigma, tau, b_item = 4000, 0.9, 1.1, np.array([0.3, -0.2, 0.5, 0.0, -0.4])
    post = xr.Dataset({
        "sigma": (("chain", "draw"), np.full((1, S), sigma)),
        "subj_sd": (("chain", "draw", "s"), np.full((1, S, 1), tau)),
        "item": (("chain", "draw", "l", "e"), np.broadcast_to(b_item[:, None], (1, S, 5, 1))),
    })
    resid = partial_residual_stats(d, post, k)
    stats = collapsed_stats(d)
    m0 = np.array([priors[n].params["mu"] for n in d.xnames])
    s0 = np.array([priors[n].params["sigma"] for n in d.xnames])
    rng = np.random.default_rng(5)
    beta = draw_beta(d, stats, post, m0, s0, rng, resid=resid)  # (1, S, p)
    post = post.assign(beta=(("chain", "draw", "coef"), beta))
    b = draw_effects(d, stats, post, rng, resid=resid)[0, :, :, 0]  # (S, 12)
    # dense: u = (β, b_subj) | r ~ N(Q⁻¹ Wᵀ r / σ², Q⁻¹), Q = WᵀW/σ² + prior precision
    W = np.column_stack([d.X, _dense_z(big)])
    r = d.y - _dense_z(small) @ b_item
    prec = np.concatenate([1 / s0**2, np.full(big.n_levels, 1 / tau**2)])
    Q = W.T @ W / sigma**2 + np.diag(prec)
    cov = np.linalg.inv(Q)
    mean = cov @ (W.T @ r / sigma**2 + np.concatenate([m0 / s0**2, np.zeros(big.n_levels)]))
    draws = np.column_stack([beta[0], b])  # (S, p + 12)
    se = np.sqrt(np.diag(cov) / S)
    assert np.all(np.abs(draws.mean(0) - mean) < 4.5 * se), (draws.mean(0) - mean) / se
    # variances: the sample variance's SE is ≈ var·sqrt(2/(S−1))
    var = draws.var(0, ddof=1)
    assert np.all(np.abs(var / np.diag(cov) - 1) < 4.5 * np.sqrt(2 / (S - 1)))


@pytest.mark.parametrize("formula", ["y ~ x + (x | subj) + (1 | item)",
                                     "y ~ x + (1 | subj) + (x | item)"], ids=["q1", "q2"])
def test_centred_factor_split_into_mean_and_contrasts_keeps_its_density(formula, monkeypatch):
    # the split model's log density at (z, contrasts) equals the plain centred model's at the
    # same b = H [L z; contrasts], plus log|L| (the Jacobian of the mean row): exact
    d = bmm.mixedlm(formula, _crossed(2)).design
    priors = bmm.mixedlm(formula, _crossed(2)).priors
    split = build_collapsed(d, priors)
    monkeypatch.setattr(collapsed, "SPLIT_LEVELS", 10**9)
    plain = build_collapsed(d, priors)
    assert "_item_mean_z" in split.named_vars and "_item_mean_z" not in plain.named_vars
    rng = np.random.default_rng(7)
    point = {k: v + rng.normal(0, 0.4, np.shape(v)) for k, v in split.initial_point().items()}
    names = ["item", "item_sd"] + (["item_corr"] if "item_corr" in split.named_vars else [])
    b, sd, *corr = split.compile_fn(split.replace_rvs_by_values([split[n] for n in names]),
                                    inputs=split.value_vars, point_fn=True,
                                    on_unused_input="ignore")(point)
    cov = np.outer(sd, sd) * (corr[0] if corr else 1.0)  # Ψ (q, q)
    L = np.linalg.cholesky(np.atleast_2d(cov))
    G = d.factors[1].n_levels
    np.testing.assert_allclose(b.mean(0) * np.sqrt(G), L @ point["_item_mean_z"], rtol=1e-10)
    other = {k: v for k, v in point.items() if k not in ("_item_mean_z", "_item_contrasts")}
    logdet = np.sum(np.log(np.diag(L)))
    want = plain.compile_logp()({**other, "item": b}) + logdet
    np.testing.assert_allclose(split.compile_logp()(point), want, rtol=1e-12)
