"""Laplace ML for generalised mixed models: exact for Gaussian data, lme4's glmer on cbpp."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesmm as bmm
from bayesmm.design import make_design
from bayesmm.infer.laplace import fit_laplace, laplace_deviance
from bayesmm.spec import spec_from_formula

# lme4 1.1: glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)
# as printed in ?cbpp / the glmer examples: logLik -92.0, deviance 184.1.
LME4_CBPP = {"Intercept": -1.3983, "C(period)[2]": -0.9919, "C(period)[3]": -1.1282,
             "C(period)[4]": -1.5797}
LME4_HERD_VAR = 0.4123
LME4_SE = {"Intercept": 0.2312, "C(period)[2]": 0.3032, "C(period)[3]": 0.3228,
           "C(period)[4]": 0.4220}


def _same_3_digits(a: float, b: float) -> bool:
    """Agreement to three significant digits (half a unit of the third digit)."""
    unit = 10.0 ** (np.floor(np.log10(abs(b))) - 2)
    return abs(a - b) <= 0.5 * unit


@pytest.fixture(scope="module")
def cbpp(data: object) -> pd.DataFrame:
    return data("cbpp")  # type: ignore[operator]


def test_cbpp_matches_glmer(cbpp: pd.DataFrame) -> None:
    res = bmm.mixedlm("incidence / size ~ C(period) + (1 | herd)", cbpp,
                      family="binomial").fit(method="ml")
    for name, ref in LME4_CBPP.items():
        assert _same_3_digits(res.fe_params[name], ref), (name, res.fe_params[name])
        # SEs from the Hessian over (θ, β); lme4's finite differences differ by ~1%
        assert res.bse_fe[name] == pytest.approx(LME4_SE[name], rel=0.02)
    assert _same_3_digits(float(res.cov_re.iloc[0, 0]), LME4_HERD_VAR)
    assert res.llf == pytest.approx(-92.03, abs=0.01)  # logLik -92.0, deviance 184.1
    assert res.converged and not res.singular
    assert res.method == "Laplace ML"


def test_cbpp_p_spelling_and_trials_argument_agree(cbpp: pd.DataFrame) -> None:
    a = bmm.mixedlm("p(incidence, size) ~ C(period) + (1 | herd)", cbpp, family="binomial")
    b = bmm.mixedlm("incidence ~ C(period)", cbpp, groups="herd", family="binomial",
                    trials="size")
    np.testing.assert_array_equal(a.design.trials, b.design.trials)
    fa, fb = fit_laplace(a.design), fit_laplace(b.design)
    np.testing.assert_allclose(fa.beta, fb.beta, rtol=1e-6)


def test_map_keeps_the_variance_off_zero(cbpp: pd.DataFrame) -> None:
    model = bmm.mixedlm("incidence / size ~ C(period) + (1 | herd)", cbpp, family="binomial")
    ml, mp = model.fit(method="ml"), model.fit(method="map")
    assert float(mp.cov_re.iloc[0, 0]) > float(ml.cov_re.iloc[0, 0]) > 0
    assert mp.method == "Laplace MAP"
    with pytest.raises(bmm.SpecificationError, match="REML is defined for Gaussian"):
        model.fit(method="reml")


def test_laplace_is_exact_for_a_gaussian_model() -> None:
    """With a Gaussian likelihood the Laplace approximation is the exact marginal density."""
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(6), 5)
    x = rng.normal(size=g.size)
    y = 1 + 0.5 * x + rng.normal(0, 0.8, 6)[g] + rng.normal(0, 0.3, 6)[g] * x \
        + rng.normal(0, 0.6, g.size)
    frame = pd.DataFrame({"y": y, "x": x, "g": g})
    design = make_design(spec_from_formula("y ~ x + (x | g)"), frame)
    theta = np.array([0.7, 0.1, 0.25])  # Λ = [[0.7, 0], [0.1, 0.25]], Ψ = ΛΛᵀ
    beta, sigma = np.array([0.9, 0.4]), 0.55
    lam = np.array([[0.7, 0.0], [0.1, 0.25]])
    psi = lam @ lam.T
    cov = sigma**2 * np.eye(g.size)
    Z = np.column_stack([np.ones_like(x), x])
    for k in range(6):
        rows = g == k
        cov[np.ix_(rows, rows)] += Z[rows] @ psi @ Z[rows].T
    exact = -2 * stats.multivariate_normal.logpdf(y, design.X @ beta, cov)
    assert laplace_deviance(design, theta, beta, {"sigma": sigma}) == pytest.approx(exact,
                                                                                  rel=1e-10)


def _ticks_like() -> pd.DataFrame:
    """lme4's grouse-ticks design (benchmarks/multifactor.py ships the simulator): 403 rows,
    an observation-level effect and 118 broods in 63 locations; an uncentred height."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "multifactor.py"
    spec = importlib.util.spec_from_file_location("multifactor", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.sim_ticks()


TICKS = "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"


def test_a_diverged_warm_start_restarts_the_mode_search_from_zero():
    # a line-search step once left the warm-start modes near 240, after which every
    # evaluation, the start point's included, was inf (issue #23)
    from bayesmm.infer.laplace import _Criterion, _glm_start, _problem

    prob = _problem(bmm.mixedlm(TICKS, _ticks_like(), family="poisson").design)
    x0 = np.concatenate([prob.tmap.initial(), _glm_start(prob)])
    cold = _Criterion(prob, "ml")(x0)
    poisoned = _Criterion(prob, "ml")
    poisoned.u = np.full(prob.tmap.m, 240.0)
    assert np.isfinite(cold) and poisoned(x0) == pytest.approx(cold, rel=1e-10)


def test_observation_level_effect_with_uncentred_covariate_converges():
    res = bmm.mixedlm(TICKS, _ticks_like(), family="poisson").fit(method="ml")
    # lme4's rule: the gradient scaled by the Hessian's Cholesky factor (the raw
    # derivative of HEIGHT's coefficient is ~1e-2 at the optimum: heights are near 450)
    assert res.fit.converged
    assert np.all(np.isfinite(res.fe_params.to_numpy()))
    # lme4 1.1-31 on the same rows (benchmarks/lme4.py): glmer(TICKS ~ YEAR + HEIGHT +
    # (1 | BROOD) + (1 | INDEX) + (1 | LOCATION), family = poisson): logLik -851.454810,
    # variances BROOD 0.5585718728, INDEX 0.3159168663, LOCATION 0.06726091271
    var = res.cov_table()["Coef."]
    assert res.llf >= -851.454810 - 1e-6  # at least glmer's optimum (5.3e-6 above it)
    np.testing.assert_allclose(var[["BROOD Var", "INDEX Var", "LOCATION Var"]].to_numpy(),
                               [0.5585718728, 0.3159168663, 0.06726091271], rtol=1e-3)


def _crossed_binary(seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    subj, item = np.meshgrid(np.arange(30), np.arange(8), indexing="ij")
    subj, item = subj.ravel(), item.ravel()
    x = rng.normal(size=subj.size)
    eta = -0.2 + 0.7 * x + rng.normal(0, 1.0, 30)[subj] + rng.normal(0, 0.6, 8)[item] \
        + rng.normal(0, 0.4, 30)[subj] * x
    return pd.DataFrame({"y": rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float), "x": x,
                         "subj": subj.astype(str), "item": item.astype(str)})


@pytest.mark.parametrize(("formula", "frame", "family"), [
    (TICKS, _ticks_like, "poisson"),  # scalar terms: the blocked trace identities
    ("y ~ x + (1 | subj) + (1 | item)", _crossed_binary, "bernoulli"),
    ("y ~ x + (1 + x | subj) + (1 | item)", _crossed_binary, "bernoulli"),  # dense H⁻¹
])
def test_exact_laplace_gradient_equals_central_differences(formula, frame, family):
    from bayesmm.infer.laplace import (
        _Criterion,
        _glm_start,
        _laplace_gradient,
        _laplace_gradient_scalar,
        _problem,
        _scalar_terms,
        _split,
    )

    prob = _problem(bmm.mixedlm(formula, frame(), family=family).design)
    theta0 = np.where(prob.tmap.on_diagonal, 0.7, 0.2)
    for theta in (theta0, np.where(np.arange(theta0.size) == 0, 0.0, theta0)):
        x = np.concatenate([theta, _glm_start(prob)])
        crit = _Criterion(prob, "ml")
        crit(x)
        th, beta, _ = _split(x, prob)
        exact = _laplace_gradient(prob, th, beta, crit.u)
        if _scalar_terms(prob):
            np.testing.assert_allclose(_laplace_gradient_scalar(prob, th, beta, crit.u),
                                       exact, rtol=1e-10, atol=1e-10 * np.abs(exact).max())
        h = 1e-5 * np.maximum(1.0, np.abs(x))
        fd = np.array([(crit(x + h[i] * e) - crit(x - h[i] * e)) / (2 * h[i])
                       for i, e in enumerate(np.eye(x.size))])
        # central differences: O(h²) truncation, the modes solved to 1e-13 relative
        np.testing.assert_allclose(exact, fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())
