"""The marginal build's log-density is the Gaussian marginal; latent and marginal agree."""

import arviz as az
import numpy as np
import pytest
import xarray as xr
from scipy import stats as sps

import bayesmm as bmm
from bayesmm.build.marginal import build_marginal
from bayesmm.infer.effects import factor_chol
from bayesmm.suffstats import joint_z


@pytest.mark.parametrize(
    ("name", "formula", "kwargs"),
    [
        ("sleepstudy", "Reaction ~ Days + (Days | Subject)", {}),
        ("Pastes", "strength ~ 1",
         {"groups": "batch", "re_formula": "~1", "vc_formula": {"cask": "0 + C(cask)"}}),
        ("Orthodont", "distance ~ age + (age || Subject)", {}),
    ],
)
def test_marginal_potential_equals_dense_mvn(data, name, formula, kwargs):
    model = bmm.mixedlm(formula, data(name), **kwargs)
    d = model.design
    pm_model = build_marginal(d, model.priors, model.stats)
    label = d.factors[0].label
    outs = [pm_model.potentials[0], pm_model["beta"], pm_model["sigma"], pm_model[f"{label}_sd"]]
    has_corr = f"{label}_corr" in pm_model.named_vars
    if has_corr:
        outs.append(pm_model[f"{label}_corr"])
    outs = pm_model.replace_rvs_by_values(outs)
    fn = pm_model.compile_fn(outs, inputs=pm_model.value_vars, point_fn=True)
    rng = np.random.default_rng(1)
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in pm_model.initial_point().items()}
    pot, beta, sigma, sd, *corr = fn(point)
    q = d.factors[0].q
    post = xr.Dataset({f"{label}_sd": (("chain", "draw", "s"), sd[None, None])})
    if has_corr:
        post[f"{label}_corr"] = (("chain", "draw", "r", "c"), corr[0][None, None])
    L = factor_chol(d.factors[0], post)[0]  # (q, q)
    Z = joint_z(d).toarray()
    G = d.factors[0].n_levels
    psi_big = np.kron(np.eye(G), L @ L.T)  # (G q, G q)
    V = Z @ psi_big @ Z.T + sigma**2 * np.eye(d.n_obs)
    expected = sps.multivariate_normal(d.X @ beta, V).logpdf(d.y)
    assert q == L.shape[0]
    np.testing.assert_allclose(pot, expected, rtol=1e-9)


def _agree(a, b, var):
    """Posterior means within 4 combined Monte Carlo standard errors, elementwise."""
    with np.errstate(invalid="ignore", divide="ignore"):  # constant corr diagonal
        sa = az.summary(a.idata, var_names=[var], kind="all")
        sb = az.summary(b.idata, var_names=[var], kind="all")
    sa = sa[sa["sd"] > 0]
    sb = sb.loc[sa.index]
    bound = 4 * np.sqrt(sa["mcse_mean"] ** 2 + sb["mcse_mean"] ** 2)
    diff = (sa["mean"] - sb["mean"]).abs()
    assert (diff <= bound).all(), (diff / bound).sort_values().tail()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "formula", "kwargs"),
    [
        ("sleepstudy", "Reaction ~ Days", {"groups": "Subject", "re_formula": "~Days"}),
        ("dietox", "Weight ~ Time", {"groups": "Pig", "re_formula": "~Time"}),
    ],
)
def test_latent_and_marginal_posteriors_agree(data, name, formula, kwargs):
    model = bmm.mixedlm(formula, data(name), **kwargs)
    opts = {"draws": 1000, "tune": 1000, "chains": 2, "random_seed": 11, "reml": False}
    marg = model.fit(**opts)
    lat = model.fit(marginal=False, **opts)
    assert (marg.build, lat.build) == ("marginal", "latent")
    label = model.design.factors[0].label
    for var in ("beta", "sigma", f"{label}_sd", f"{label}_corr"):
        _agree(marg, lat, var)
    # random effects of the first five groups
    sub = lambda r: r.idata.posterior[label].isel({f"{label}_level": slice(0, 5)})  # noqa: E731
    for res in (marg, lat):
        res.idata.posterior["_sub"] = sub(res)
    _agree(marg, lat, "_sub")
    assert int(marg.idata.sample_stats["diverging"].sum()) == 0
