"""Blocked factorisation of several factors against the dense joint block and brute force."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

import bayesmm as bmm
from bayesmm.blocked import BlockedStats
from bayesmm.covariance import lambda_from_theta
from bayesmm.deviance import (
    deviance,
    deviance_and_gradient,
    deviance_gradient,
    profile,
    random_effect_means,
)
from bayesmm.suffstats import joint_stats, joint_z, suff_stats


def _crossed(seed: int = 0) -> pd.DataFrame:
    """Small unbalanced crossed design: 12 g-levels × 7 h-levels, a covariate, 150 rows."""
    rng = np.random.default_rng(seed)
    g, h = rng.integers(0, 12, 150), rng.integers(0, 7, 150)
    x = rng.normal(size=150)
    y = 1 + 0.5 * x + rng.normal(0, 1, 12)[g] + rng.normal(0, 0.3, 12)[g] * x \
        + rng.normal(0, 0.7, 7)[h] + rng.normal(size=150)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str), "h": h.astype(str)})


CASES = [
    ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),  # crossed scalars
    ("Pastes", "strength ~ 1 + (1 | batch/cask)"),  # nested
    ("crossed", "y ~ x + (1 + x | g) + (1 | h)"),  # vector term with the most levels
    ("crossed", "y ~ x + (1 | g) + (1 + x | h)"),  # vector term among the smaller ones
    ("crossed", "y ~ x + (1 | g) + (1 | h) + (0 + x | h)"),  # three terms
]


def _model(data, name, formula):
    frame = _crossed() if name == "crossed" else data(name)
    return bmm.mixedlm(formula, frame)


def _thetas(n: int, on_diagonal: np.ndarray) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    base = on_diagonal.astype(float)
    out = [base, base * 0.05]
    for _ in range(2):
        out.append(np.where(on_diagonal, rng.uniform(0.1, 2.5, n), rng.normal(0, 0.5, n)))
    return out


@pytest.mark.parametrize(("name", "formula"), CASES)
def test_blocked_deviance_and_effects_equal_the_dense_joint_block(data, name, formula):
    model = _model(data, name, formula)
    blocked, dense = model.stats, joint_stats(model.design)
    assert isinstance(blocked, BlockedStats)
    for theta in _thetas(dense.tmap.n_theta, dense.tmap.on_diagonal):
        for method in ("reml", "ml", "map"):
            a, b = deviance(theta, blocked, method), deviance(theta, dense, method)
            assert a == pytest.approx(b, rel=1e-11, abs=1e-9), (method, theta)
        np.testing.assert_allclose(random_effect_means(profile(theta, blocked), blocked),
                                   random_effect_means(profile(theta, dense), dense),
                                   rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(("name", "formula"), CASES)
def test_ml_deviance_is_the_multivariate_normal_density(data, name, formula):
    # −2 log N(y | Xβ̂, σ̂²(ZΛΛᵀZᵀ + I)) at the profiled β̂ and σ̂² = r²/N
    model = _model(data, name, formula)
    d, st = model.design, model.stats
    theta = _thetas(st.tmap.n_theta, st.tmap.on_diagonal)[2]
    prof = profile(theta, st)
    ZL = joint_z(d).toarray() @ lambda_from_theta(theta, st.tmap)
    V = prof.r2 / d.n_obs * (ZL @ ZL.T + np.eye(d.n_obs))
    brute = -2 * sps.multivariate_normal(d.X @ prof.beta, V).logpdf(d.y)
    assert deviance(theta, st, "ml") == pytest.approx(brute, rel=1e-10)


def test_factors_are_eliminated_largest_first(data):
    st = suff_stats(bmm.mixedlm("diameter ~ 1 + (1 | plate) + (1 | sample)",
                                data("Penicillin")).design)
    assert st.order == (0, 1) and st.levels == (24, 6)  # plate 24 levels, sample 6
    st = suff_stats(bmm.mixedlm("diameter ~ 1 + (1 | sample) + (1 | plate)",
                                data("Penicillin")).design)
    assert st.order == (1, 0) and st.offsets == (1, 0)
    assert st.ZrZr.shape == (6, 6) and st.ZrZ1.shape == (6, 24)


def test_above_the_vector_gradients_size_central_differences_serve(data, monkeypatch):
    # the vector form holds an m × m matrix; beyond its size limit the blocked gradient is
    # by central differences (step 1e-5: O(h²) truncation, rounding ~1e-16·|dev|/h)
    import bayesmm.blocked_gradient as bg

    model = _model(data, "crossed", CASES[2][1])
    blocked, dense = model.stats, joint_stats(model.design)
    monkeypatch.setattr(bg, "_MAX_VECTOR_M", 10)
    assert not bg.exact_gradient_applies(blocked)
    theta = _thetas(dense.tmap.n_theta, dense.tmap.on_diagonal)[2]
    for method in ("reml", "ml"):
        np.testing.assert_allclose(deviance_gradient(theta, blocked, method),
                                   deviance_gradient(theta, dense, method), rtol=1e-6,
                                   atol=1e-6)


SCALAR_CASES = [
    ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
    ("Penicillin", "diameter ~ 1 + (1 | sample) + (1 | plate)"),  # eliminated out of order
    ("Pastes", "strength ~ 1 + (1 | batch/cask)"),
    ("crossed", "y ~ x + (1 | g) + (1 | h)"),
]


@pytest.mark.parametrize(("name", "formula"), CASES + SCALAR_CASES[1:2] + SCALAR_CASES[3:])
def test_blocked_gradient_equals_the_dense_exact_one(data, name, formula):
    # the blocked gradient (scalar terms: trace identities; vector terms: from L⁻¹ΛᵀZᵀZ)
    # against the joint block's exact gradient, at interior points, a θ at its bound
    # (derivative exactly 0 there for scalar terms) and a θ of 1e-6 (where (2/θ)(m_k −
    # tr_k M⁻¹) loses ~ε m_k / θ to rounding)
    model = _model(data, name, formula)
    blocked, dense = model.stats, joint_stats(model.design)
    n = dense.tmap.n_theta
    on_diag = dense.tmap.on_diagonal
    thetas = _thetas(n, on_diag) + [np.where(np.arange(n) == 0, 0.0, 0.7 * on_diag),
                                    np.where(np.arange(n) == n - 1, 1e-6, 0.7 * on_diag)]
    for theta in thetas:
        for method in ("reml", "ml", "map"):
            if method == "map" and theta[on_diag].min() == 0:
                continue
            exact = deviance_gradient(theta, dense, method)
            value, grad = deviance_and_gradient(theta, blocked, method)
            assert value == pytest.approx(deviance(theta, dense, method), rel=1e-11)
            np.testing.assert_allclose(grad, exact, rtol=1e-8, atol=1e-7 * np.abs(exact).max())
            np.testing.assert_array_equal(deviance_gradient(theta, blocked, method), grad)


def test_penicillin_conditional_modes_are_lme4s(data):
    # lme4: ranef(lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)), either
    # order of the terms (sample has fewer levels, so it is eliminated second)
    res = bmm.mixedlm("diameter ~ 1 + (1 | sample) + (1 | plate)",
                      data("Penicillin")).fit(method="reml")
    re = res.random_effects
    np.testing.assert_allclose(re["sample"]["sample"].to_numpy(),
                               [2.18706, -1.01048, 1.93790, -0.09689, -0.01384, -3.00374],
                               atol=2e-4)
    np.testing.assert_allclose(re["plate"]["plate"].to_numpy()[:4],
                               [0.80446, 0.80446, 0.18167, 0.33739], atol=2e-4)


def _simulator(name: str):
    """A design simulator of benchmarks/multifactor.py (the benchmark ships it)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "multifactor.py"
    spec = importlib.util.spec_from_file_location("multifactor", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DESIGNS[name]


# lme4 1.1-31 on the same simulated rows (benchmarks/lme4.py, 2 and 3 December 2026):
# lmer(y ~ x + (1 | school) + (1 | area), REML = TRUE) and glmer(..., family = binomial).
# lme4 took 26.3 s on "three", 35.7 s on "students" (it warned: max|grad| 0.0021) and 260 s
# on "maximal" (singular); only the log-likelihood is compared there.
LME4 = {
    "areas": (-46234.344264, {"school Var": 0.3541439259, "area Var": 0.1645301611,
                              "Scale": 1.003040911}),
    "three": (-40318.2370758168, {"pupil Var": 0.6224213993511,
                                  "teacher Var": 0.2741728209654,
                                  "school Var": 0.0794655338639, "Scale": 0.9932988473435}),
    "students": (-119384.067282579, {"s Var": 0.11062185664677, "d Var": 0.26984143657750,
                                     "dept Var": 0.00435101450398,
                                     "Scale": 1.39181068745131}),
    "maximal": (-2825.26283435784, {}),
    "crossbern": (-4398.274700, {"subj Var": 1.054862014, "item Var": 0.4224101656}),
    "bern": (-1156.241181, {"g Var": 0.6095256398}),
}


@pytest.mark.parametrize("name", list(LME4))
def test_simulated_designs_reach_lme4s_optimum(name):
    sim, formula, family, method = _simulator(name)
    res = bmm.mixedlm(formula, sim(), family=family).fit(method=method)
    llf, cov = LME4[name]
    assert res.fit.converged
    # at least as high as lme4's (glmer stops 3e-3 short on the crossed Bernoulli design)
    assert res.llf >= llf - 1e-6
    # lme4 stops up to 2.2e-6 short of the REML optimum (three, maximal)
    assert res.llf - llf < (1e-5 if family == "gaussian" else 5e-3)
    # lme4's early stop moves its flattest variances (80 schools, 14 departments) by ~1.3e-4
    rtol = 5e-4 if family == "gaussian" else 5e-3
    for row, value in cov.items():
        assert res.cov_table()["Coef."][row] == pytest.approx(value, rel=rtol), row


@pytest.mark.parametrize(("name", "formula"), SCALAR_CASES)
def test_the_gram_pattern_path_equals_the_sparse_product(data, name, formula):
    # scalar terms: W Wᵀ subtracted on the pattern of K diag(v) Kᵀ, and tr(S⁻¹ W D Wᵀ) read
    # on it, against the sparse products they replace
    from bayesmm.blocked import blocked_factor, relative_factors
    from bayesmm.blocked_gradient import _inverse_lower, _trace_WDW

    stats = _model(data, name, formula).stats
    assert stats.gram is not None
    for theta in _thetas(stats.tmap.n_theta, stats.tmap.on_diagonal):
        T = relative_factors(theta, stats)
        args = (T, stats.levels, stats.D1, stats.ZrZ1, stats.ZrZr)
        fast, plain = blocked_factor(*args, stats.gram), blocked_factor(*args)
        np.testing.assert_allclose(fast.Cs, plain.Cs, rtol=1e-12, atol=1e-14)
        s_low = _inverse_lower(fast.Cs)
        c = 1.0 / fast.C1[:, 0, 0]
        lr = np.repeat([t[0, 0] for t in T[1:]], stats.levels[1:])
        assert _trace_WDW(s_low, fast, c, T[0][0, 0], lr, stats.gram) == pytest.approx(
            _trace_WDW(s_low, fast, c, T[0][0, 0], lr, None), rel=1e-12)


@pytest.mark.parametrize(("name", "formula"), SCALAR_CASES)
def test_moment_start_is_the_one_way_anova_estimate_from_the_rows(data, name, formula):
    # σ_k² = (Σ_g n_g r̄_g² − G_k σ²) / (N − G_k) from OLS residuals r, σ² = rᵀr / (N − p);
    # σ_e² what the factors leave of σ²; θ_k = σ_k / σ_e, at least 0.1
    from bayesmm.infer.moment_start import moment_theta

    model = _model(data, name, formula)
    design = model.design
    X, y = design.X, design.y
    r = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]  # (N,)
    total = r @ r / (design.n_obs - X.shape[1])
    var = []
    for f in design.factors:
        n_g = np.bincount(f.codes, minlength=f.n_levels)
        sums = np.bincount(f.codes, weights=r, minlength=f.n_levels)
        ssb = np.sum(sums[n_g > 0] ** 2 / n_g[n_g > 0])
        var.append((ssb - f.n_levels * total) / (design.n_obs - f.n_levels))
    var = np.array(var)
    resid = max(total - np.clip(var, 0, None).sum(), 0.05 * total)
    expected = np.maximum(np.sqrt(np.clip(var, 0, None) / resid), 0.1)
    np.testing.assert_allclose(moment_theta(model.stats), expected, rtol=1e-10)
