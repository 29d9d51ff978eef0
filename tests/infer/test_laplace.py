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
