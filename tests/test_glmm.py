"""Generalised mixed models end to end: posterior vs Laplace ML, recovery, robustness."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import special

import bayesmm as bmm

FAST = {"draws": 400, "tune": 400, "chains": 2, "cores": 1}


@pytest.fixture(scope="module")
def cbpp_fit(data: object, seed: int) -> bmm.MixedLMResults:
    frame = data("cbpp")  # type: ignore[operator]
    model = bmm.mixedlm("incidence / size ~ C(period) + (1 | herd)", frame, family="binomial")
    return model.fit(random_seed=seed, **FAST)


def test_cbpp_posterior_is_near_the_laplace_fit(cbpp_fit: bmm.MixedLMResults) -> None:
    ml = cbpp_fit.reml
    assert ml is not None and ml.method == "Laplace ML"
    post = cbpp_fit.posterior["beta"]
    mean, sd = post.mean(("chain", "draw")).values, post.std(("chain", "draw")).values
    assert np.all(np.abs(mean - ml.fe_params.values) < 2 * sd)
    table = cbpp_fit.summary().table
    assert list(table.index) == ["Intercept", "C(period)[2]", "C(period)[3]", "C(period)[4]",
                                 "herd Var"]
    assert {"ML Coef.", "ML Std.Err."} <= set(table.columns)
    text = str(cbpp_fit.summary())
    assert "Binomial (logit) Mixed GLM Results" in text and "Scale" not in text
    assert cbpp_fit.build == "latent"


def test_binomial_predictions_are_the_inverse_link(cbpp_fit: bmm.MixedLMResults) -> None:
    post = cbpp_fit.posterior
    d = cbpp_fit.design
    f = d.factors[0]
    eta = np.einsum("np,cdp->cdn", d.X, post["beta"].values) \
        + post["herd"].values[:, :, f.codes, 0]
    np.testing.assert_allclose(cbpp_fit.predict(kind="mean").values, special.expit(eta),
                               rtol=1e-12)
    rep = cbpp_fit.predict(kind="response", random_seed=1).values
    assert np.all(rep <= d.trials) and np.all(rep == np.round(rep))
    # replicated totals centre on the expected totals
    expected = (special.expit(eta) * d.trials).sum(-1)
    diff = (rep.sum(-1) - expected).ravel()
    z = diff.mean() / (diff.std() / np.sqrt(diff.size))
    assert abs(z) < 4


def _recovery(frame: pd.DataFrame, formula: str, family: str, truth: dict[str, float],
              seed: int, **kwargs: object) -> None:
    """Every true value lies within 3 posterior SDs (plus 3 MCSE) of the posterior mean."""
    res = bmm.mixedlm(formula, frame, family=family, **kwargs).fit(random_seed=seed, **FAST)
    s = az.summary(res.draws_table(), round_to="none")
    for name, value in truth.items():
        tol = 3 * s.loc[name, "sd"] + 3 * s.loc[name, "mcse_mean"]
        assert abs(s.loc[name, "mean"] - value) < tol, (family, name, s.loc[name].to_dict())


def _grouped(n_groups: int, per: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=g.size)
    return pd.DataFrame({"g": g.astype(str), "x": x}), rng


def test_poisson_recovery_with_offset(seed: int) -> None:
    frame, rng = _grouped(30, 20, 1)
    b = rng.normal(0, 0.5, 30)
    frame["logt"] = np.log(rng.uniform(0.5, 2.0, len(frame)))
    eta = 0.5 + 0.3 * frame["x"] + b[frame["g"].astype(int)] + frame["logt"]
    frame["y"] = rng.poisson(np.exp(eta))
    _recovery(frame, "y ~ x + (1 | g)", "poisson",
              {"Intercept": 0.5, "x": 0.3, "g Var": 0.25}, seed, offset="logt")


def test_bernoulli_recovery(seed: int) -> None:
    frame, rng = _grouped(40, 25, 2)
    b = rng.normal(0, 0.8, 40)
    frame["y"] = rng.binomial(1, special.expit(-0.4 + 1.0 * frame["x"]
                                               + b[frame["g"].astype(int)]))
    _recovery(frame, "y ~ x + (1 | g)", "bernoulli",
              {"Intercept": -0.4, "x": 1.0, "g Var": 0.64}, seed)


def test_negbin_recovery(seed: int) -> None:
    frame, rng = _grouped(30, 20, 3)
    b = rng.normal(0, 0.4, 30)
    mu = np.exp(1.0 + 0.5 * frame["x"] + b[frame["g"].astype(int)])
    alpha = 3.0
    frame["y"] = rng.negative_binomial(alpha, alpha / (alpha + mu))
    _recovery(frame, "y ~ x + (1 | g)", "negbin",
              {"Intercept": 1.0, "x": 0.5, "g Var": 0.16, "alpha": alpha}, seed)


def test_student_t_resists_outliers(seed: int) -> None:
    frame, rng = _grouped(20, 15, 4)
    b = rng.normal(0, 1.0, 20)
    frame["y"] = 2.0 + 1.5 * frame["x"] + b[frame["g"].astype(int)] \
        + rng.normal(0, 0.5, len(frame))
    bad = rng.choice(len(frame), 15, replace=False)
    frame.loc[bad, "y"] += 25 * np.sign(frame.loc[bad, "x"])  # outliers that pull the slope
    truth = np.array([2.0, 1.5])
    gauss = bmm.mixedlm("y ~ x + (1 | g)", frame).fit(random_seed=seed, **FAST)
    robust = bmm.mixedlm("y ~ x + (1 | g)", frame, family="t").fit(random_seed=seed, **FAST)
    err_g = np.abs(gauss.fe_params.to_numpy() - truth)
    err_t = np.abs(robust.fe_params.to_numpy() - truth)
    assert err_t[1] < 0.25 * err_g[1]
    assert np.all(err_t < err_g)
    assert "nu" in robust.summary().table.index


def test_separated_data_have_no_ml_fit_but_a_posterior() -> None:
    # found by tests/test_properties.py: x = 1 gives only y = 1 and x = 0 only y = 0
    frame = pd.DataFrame({"y": [0.0] * 10 + [1.0] * 10, "x": [0.0] * 10 + [1.0] * 10,
                          "g": list("abcde") * 4})
    model = bmm.mixedlm("y ~ x", frame, groups="g", family="bernoulli")
    for method in ("ml", "map"):
        with pytest.raises(bmm.SeparationError, match="separation"):
            model.fit(method=method)
    with pytest.warns(bmm.SamplingWarning, match="No point-estimate column: data: the fixed"):
        res = model.fit(draws=100, tune=200, chains=2, random_seed=1)
    assert res.reml is None and "ML Coef." not in res.summary().table.columns
    assert float(res.fe_params["x"]) > 2.0  # the prior keeps it finite, the data push it up


def test_glmm_errors_name_the_argument(data: object) -> None:
    frame = data("cbpp")  # type: ignore[operator]
    with pytest.raises(bmm.SpecificationError, match="needs the number of trials"):
        bmm.mixedlm("incidence ~ period + (1 | herd)", frame, family="binomial")
    with pytest.raises(bmm.FormulaError, match="only family='binomial'"):
        bmm.mixedlm("incidence / size ~ period + (1 | herd)", frame, family="poisson")
    with pytest.raises(bmm.DataError, match="0/1 response"):
        bmm.mixedlm("incidence ~ period + (1 | herd)", frame, family="bernoulli")
    with pytest.raises(bmm.SpecificationError, match="offset: a Gaussian model"):
        bmm.mixedlm("incidence ~ period + (1 | herd)", frame, offset="size")
    with pytest.raises(bmm.FormulaError, match="trials: unknown trials column 'n'"):
        bmm.mixedlm("incidence ~ period + (1 | herd)", frame, family="binomial", trials="n")
    model = bmm.mixedlm("incidence / size ~ period + (1 | herd)", frame, family="binomial")
    with pytest.raises(bmm.SpecificationError, match="marginal build needs a Gaussian"):
        model.fit(marginal=True, draws=10, tune=10, chains=1)


def test_binomial_prior_predictive_respects_trials(data: object) -> None:
    frame = data("cbpp")  # type: ignore[operator]
    model = bmm.mixedlm("incidence / size ~ C(period) + (1 | herd)", frame, family="binomial")
    idata = model.prior_predictive(draws=200, random_seed=2)
    sims = idata.prior_predictive["incidence"].values
    assert np.all(sims <= frame["size"].to_numpy()) and np.all(sims >= 0)
    assert model.priors["sd(Intercept|herd)"].params == {"sigma": 1.0}


def test_binomial_result_survives_save_and_load(cbpp_fit: bmm.MixedLMResults,
                                                tmp_path: object) -> None:
    path = tmp_path / "cbpp.nc"  # type: ignore[operator]
    cbpp_fit.save(path)
    back = bmm.load(path)
    assert str(back.summary()) == str(cbpp_fit.summary())
    np.testing.assert_array_equal(back.predict(kind="mean").values,
                                  cbpp_fit.predict(kind="mean").values)
    np.testing.assert_array_equal(back.design.trials, cbpp_fit.design.trials)
