"""REML/ML/MAP optima against lme4's published fits and statsmodels' optimum."""

import warnings

import numpy as np
import pytest

import bayesmm as bmm
from bayesmm.deviance import deviance

sm = pytest.importorskip("statsmodels.formula.api")


def _sig(actual, expected, digits=4):
    """Agreement to ``digits`` significant digits."""
    np.testing.assert_allclose(actual, expected, rtol=0.5 * 10 ** (1 - digits))


def test_sleepstudy_matches_lme4(data):
    # lme4: lmer(Reaction ~ Days + (Days | Subject), sleepstudy), REML criterion 1743.628
    res = bmm.mixedlm("Reaction ~ Days + (Days | Subject)", data("sleepstudy")).fit(method="reml")
    np.testing.assert_allclose(res.fe_params.values, [251.4051, 10.4673], atol=0.5e-4)
    _sig(res.cov_re.values.ravel(), [612.09, 9.60, 9.60, 35.07], 4)
    _sig(res.scale, 654.94, 5)
    np.testing.assert_allclose(res.llf, -871.8141, atol=0.5e-4)
    assert res.converged and not res.singular
    assert list(res.cov_re.index) == ["Subject", "Days"]


@pytest.mark.parametrize(
    ("name", "formula", "expected"),
    [
        # lme4 (Bates et al. 2015, lme4 book ch. 1-2): REML variances and residual
        ("Dyestuff", "Yield ~ 1 + (1 | Batch)", {"Batch": 1764.0, "scale": 2451.3}),
        ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)",
         {"plate": 0.7169, "sample": 3.7311, "scale": 0.3024}),
        ("Pastes", "strength ~ 1 + (1 | batch/cask)",
         {"batch": 1.657, "batch:cask": 8.434, "scale": 0.678}),
    ],
)
def test_variance_components_match_lme4(data, name, formula, expected):
    res = bmm.mixedlm(formula, data(name)).fit(method="reml")
    cps = res.summary().table["Coef."]
    for key, value in expected.items():
        got = res.scale if key == "scale" else cps[f"{key} Var"]
        _sig(got, value, 3)
    assert res.converged


def test_dyestuff2_singular_reml_and_positive_map(data):
    model = bmm.mixedlm("Yield ~ 1 + (1 | Batch)", data("Dyestuff2"))
    reml = model.fit(method="reml")
    assert reml.singular and reml.converged
    assert reml.cov_re.iloc[0, 0] == pytest.approx(0.0, abs=1e-10)
    _sig(reml.scale, 13.806, 4)  # lme4: residual SD 3.716
    assert max(np.abs(b.values).max() for b in reml.random_effects.values()) == 0.0
    assert "Singular fit" in str(reml.summary())
    mapfit = model.fit(method="map")
    var, se = mapfit.cov_re.iloc[0, 0], mapfit.bse_cov["Batch Var"]
    assert not mapfit.singular and mapfit.converged
    # Chung et al. (2013): the penalised estimate sits roughly one standard error from zero
    assert 0.5 <= var / se <= 2.0, (var, se)


CASES = [
    ("dietox", "Weight ~ Time", {"groups": "Pig", "re_formula": "~Time"}),
    ("sleepstudy", "Reaction ~ Days", {"groups": "Subject", "re_formula": "~Days"}),
    ("Dyestuff", "Yield ~ 1", {"groups": "Batch"}),
    ("Dyestuff2", "Yield ~ 1", {"groups": "Batch"}),
    ("radon", "Q('log.radon') ~ basement + uranium", {"groups": "county"}),
    ("Exam", "normexam ~ standLRT", {"groups": "school", "re_formula": "~standLRT"}),
    ("Orthodont", "distance ~ age", {"groups": "Subject", "re_formula": "~age"}),
    ("Rail", "travel ~ 1", {"groups": "Rail"}),
    ("Pastes", "strength ~ 1",
     {"groups": "batch", "re_formula": "~1", "vc_formula": {"cask": "0 + C(cask)"}}),
    ("Pastes-vc-only", "strength ~ 1", {"groups": "batch", "vc_formula": {"cask": "0 + C(cask)"}}),
]


def _statsmodels_llf(frame, formula, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return sm.mixedlm(formula, frame, **kwargs).fit(reml=True).llf
        except Exception:  # statsmodels cannot fit (e.g. singular): nothing to compare
            return None


@pytest.mark.parametrize(("name", "formula", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_reml_at_least_as_good_as_statsmodels_and_verified(data, name, formula, kwargs):
    frame = data(name.split("-")[0])
    bformula = formula.replace("Q('log.radon')", "log_radon")
    frame = frame.rename(columns={"log.radon": "log_radon"})
    model = bmm.mixedlm(bformula, frame, **kwargs)
    res = model.fit(method="reml")
    assert res.converged
    llf_sm = _statsmodels_llf(frame, bformula, kwargs)
    if llf_sm is not None and np.isfinite(llf_sm):
        assert res.llf >= llf_sm - 1e-6
    # perturb every parameter: the criterion never improves
    st, theta = model.stats, res.fit.theta
    best = deviance(theta, st, "reml")
    for i in range(theta.size):
        for h in (1e-3, -1e-3):
            t = theta.copy()
            t[i] += h
            if st.tmap.on_diagonal[i] and t[i] < 0:
                continue
            assert deviance(t, st, "reml") >= best - 1e-9
    # multi-start: every start reached the best value or a worse one
    assert res.fit.starts.min() == pytest.approx(res.fit.criterion)


def test_ml_information_criteria(data):
    res = bmm.mixedlm("Reaction ~ Days + (Days | Subject)", data("sleepstudy")).fit(method="ml")
    # lme4 ML: logLik -875.9697, AIC 1763.939 (6 parameters)
    np.testing.assert_allclose(res.llf, -875.9697, atol=0.5e-4)
    np.testing.assert_allclose(res.aic, 1763.939, atol=0.5e-3)
    assert np.isnan(bmm.mixedlm("Reaction ~ Days + (Days | Subject)", data("sleepstudy"))
                    .fit(method="reml").aic)


def test_point_summary_layout(data):
    text = str(bmm.mixedlm("Reaction ~ Days", data("sleepstudy"), groups="Subject",
                           re_formula="~Days").fit(method="reml").summary())
    lines = text.splitlines()
    assert lines[0].strip() == "Mixed Linear Model Regression Results"
    for token in ("Coef.", "Std.Err.", "P>|z|", "[0.025", "0.975]", "Subject Var",
                  "Subject x Days Cov", "Days Var", "Method:", "REML", "Converged:"):
        assert token in text


def test_variance_standard_errors_match_balanced_anova_theory(data):
    # Balanced one-way REML: with λ = σ² + nτ, Var(λ̂) = 2λ²/(G−1), Var(σ̂²) = 2σ⁴/(G(n−1))
    # and τ̂ = (λ̂ − σ̂²)/n, so the information-based SEs have closed forms.
    res = bmm.mixedlm("Yield ~ 1", data("Dyestuff"), groups="Batch").fit(method="reml")
    G, n = 6, 5
    s2, tau = res.scale, res.cov_re.iloc[0, 0]
    lam = s2 + n * tau
    se_s2 = np.sqrt(2 * s2**2 / (G * (n - 1)))
    se_tau = np.sqrt(2 * lam**2 / (G - 1) + se_s2**2) / n
    np.testing.assert_allclose(res.bse_cov.values, [se_tau, se_s2], rtol=2e-3)
    assert res.summary().table.loc["Batch Var", "Std.Err."] == res.bse_cov["Batch Var"]


def test_variance_standard_errors_undefined_at_singular_fit(data):
    res = bmm.mixedlm("Yield ~ 1", data("Dyestuff2"), groups="Batch").fit(method="reml")
    assert np.isnan(res.bse_cov["Batch Var"])


def test_sd_correlation_scale_matches_lme4_printout(data):
    # lme4's VarCorr print for sleepstudy: SD 24.741 and 5.922, Corr 0.066, Residual 25.592
    res = bmm.mixedlm("Reaction ~ Days + (Days | Subject)", data("sleepstudy")).fit(method="reml")
    table = res.summary(cov_scale="sd").table
    assert list(table.index[2:]) == ["Subject SD", "Subject x Days Corr", "Days SD"]
    np.testing.assert_allclose(table.loc[["Subject SD", "Subject x Days Corr", "Days SD"],
                                         "Coef."], [24.741, 0.066, 5.922], atol=1e-3)
    np.testing.assert_allclose(res.cov_table("sd").loc["Residual SD", "Coef."], 25.592,
                               atol=5e-4)


def test_map_with_two_groups_has_no_optimum_and_says_so():
    """blme's penalty exactly cancels REML's decay in τ with two groups: the sup is at ∞."""
    from ..conftest import NBA

    model = bmm.mixedlm("Points ~ Minutes", NBA, groups="Team")
    fit = model.fit(method="map")
    assert not fit.converged and fit.fit.theta[0] >= 999
    assert "Not converged" in str(fit.summary())
    assert model.fit(method="reml").converged


def test_a_singular_end_point_raises_a_fit_error_naming_the_method(data, monkeypatch):
    """The final profile failing (M or A singular) is a FitError, not a raw LinAlgError."""
    import bayesmm as bmm
    from bayesmm.errors import FitError
    from bayesmm.infer import optimize as opt

    stats = bmm.mixedlm("Yield ~ 1", data("Dyestuff"), groups="Batch").stats

    def singular(theta, stats):
        raise np.linalg.LinAlgError("Matrix is not positive definite")

    monkeypatch.setattr(opt, "profile", singular)
    with pytest.raises(FitError, match="method='reml'.*Drop collinear columns"):
        opt.fit_point(stats, "reml")
