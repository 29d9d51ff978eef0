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


@pytest.mark.parametrize("conjugate", [True, False], ids=["beta-integrated", "beta-sampled"])
@pytest.mark.parametrize(
    ("name", "formula", "kwargs"),
    [
        ("sleepstudy", "Reaction ~ Days + (Days | Subject)", {}),
        ("Pastes", "strength ~ 1",
         {"groups": "batch", "re_formula": "~1", "vc_formula": {"cask": "0 + C(cask)"}}),
        ("Orthodont", "distance ~ age + (age || Subject)", {}),
    ],
)
def test_marginal_potential_equals_dense_mvn(data, name, formula, kwargs, conjugate):
    model = bmm.mixedlm(formula, data(name), **kwargs)
    d = model.design
    priors = model.priors
    if not conjugate:  # a Student-t intercept prior keeps β in the sampler
        priors["Intercept"] = bmm.Prior("StudentT", nu=3.0, mu=0.0, sigma=100.0)
    pm_model = build_marginal(d, priors, model.stats)
    label = d.factors[0].label
    assert ("beta" in pm_model.named_vars) is not conjugate
    outs = [pm_model.potentials[0], pm_model["sigma"], pm_model[f"{label}_sd"]]
    if not conjugate:
        outs.append(pm_model["beta"])
    has_corr = f"{label}_corr" in pm_model.named_vars
    if has_corr:
        outs.append(pm_model[f"{label}_corr"])
    outs = pm_model.replace_rvs_by_values(outs)
    fn = pm_model.compile_fn(outs, inputs=pm_model.value_vars, point_fn=True)
    rng = np.random.default_rng(1)
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in pm_model.initial_point().items()}
    pot, sigma, sd, *rest = fn(point)
    post = xr.Dataset({f"{label}_sd": (("chain", "draw", "s"), sd[None, None])})
    if has_corr:
        post[f"{label}_corr"] = (("chain", "draw", "r", "c"), rest[-1][None, None])
    L = factor_chol(d.factors[0], post)[0]  # (q, q)
    Z = joint_z(d).toarray()
    G = d.factors[0].n_levels
    V = Z @ np.kron(np.eye(G), L @ L.T) @ Z.T + sigma**2 * np.eye(d.n_obs)
    if conjugate:  # β ~ N(m0, S0) integrated out: y ~ N(X m0, V + X S0 Xᵀ)
        m0 = np.array([priors[n].params["mu"] for n in d.xnames])
        s0 = np.array([priors[n].params["sigma"] for n in d.xnames])
        expected = sps.multivariate_normal(d.X @ m0, V + d.X @ np.diag(s0**2) @ d.X.T).logpdf(d.y)
    else:
        expected = sps.multivariate_normal(d.X @ rest[0], V).logpdf(d.y)
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
def test_latent_and_marginal_posteriors_agree(data, name, formula, kwargs, seed):
    model = bmm.mixedlm(formula, data(name), **kwargs)
    opts = {"draws": 1000, "tune": 1000, "chains": 2, "random_seed": seed, "comparison": False}
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
