"""statsmodels' results API on point fits, against statsmodels' own MixedLM."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import bayesmm as bmm


def _statsmodels(frame: pd.DataFrame, reml: bool, **kwargs: object) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = smf.mixedlm("Weight ~ Time", frame, groups="Pig", **kwargs)
        # BFGS to gtol 1e-12: statsmodels' default L-BFGS stops 2e-5 (relative) short in
        # Group Var, below this package's (and lme4's) optimum
        return model.fit(reml=reml, method=["bfgs"], gtol=1e-12, maxiter=2000)


@pytest.fixture(scope="module")
def dietox(data):
    return data("dietox")


def test_reml_results_api_equals_statsmodels_on_dietox(dietox):
    sm = _statsmodels(dietox, reml=True)
    res = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig").fit(method="reml")
    assert list(res.params.index) == list(sm.params.index)  # Intercept, Time, Group Var
    for name in ("params", "bse", "tvalues"):
        np.testing.assert_allclose(getattr(res, name).to_numpy(),
                                   np.asarray(getattr(sm, name)), rtol=1e-5, err_msg=name)
    # Pig Var's p-value is 2.5e-8: 3.5e-6 relative in its z moves it 1.1e-4 relative
    np.testing.assert_allclose(res.pvalues.to_numpy(), np.asarray(sm.pvalues), rtol=1e-5,
                               atol=1e-10)
    np.testing.assert_allclose(res.conf_int().to_numpy(), np.asarray(sm.conf_int()),
                               rtol=1e-5)
    # entries relative to sqrt(cov_ii cov_jj): the β–variance covariances are ~1e-4 of it
    ours, theirs = res.cov_params().to_numpy(), np.asarray(sm.cov_params())
    sd = np.sqrt(np.diag(theirs))
    assert np.all(np.abs(ours - theirs) <= 1e-5 * np.outer(sd, sd))
    np.testing.assert_allclose(res.bse_re, sm.bse_re, rtol=1e-5)
    np.testing.assert_allclose(res.fittedvalues, np.asarray(sm.fittedvalues), rtol=1e-6)
    np.testing.assert_allclose(res.resid, np.asarray(sm.resid), rtol=1e-5, atol=1e-6)
    assert res.llf == pytest.approx(sm.llf, rel=1e-8)
    assert (res.k_fe, res.df_resid) == (sm.k_fe, sm.df_resid)
    assert np.isnan(res.aic) and np.isnan(sm.aic)


def test_ml_information_criteria_equal_statsmodels_on_dietox(dietox):
    sm = _statsmodels(dietox, reml=False)
    res = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig").fit(reml=False)  # as statsmodels
    assert res.method == "ML"
    assert res.llf == pytest.approx(sm.llf, rel=1e-8)
    assert res.aic == pytest.approx(sm.aic, rel=1e-8)
    assert res.bic == pytest.approx(sm.bic, rel=1e-8)
    np.testing.assert_allclose(res.bse.to_numpy(), np.asarray(sm.bse), rtol=1e-5)


def test_random_slopes_parameter_layout_is_statsmodels(dietox):
    # statsmodels' default and BFGS runs fail here (|grad| = 31.6, 3.3 below in llf);
    # L-BFGS to gtol 1e-10 stops 3.9e-6 below this package's optimum, with Pig Var 5e-4
    # (relative) away: the values agree to that, the layout exactly
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = smf.mixedlm("Weight ~ Time", dietox, groups="Pig", re_formula="~Time"
                         ).fit(reml=True, method=["lbfgs"], gtol=1e-10)
    res = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig", re_formula="~Time"
                      ).fit(method="reml")
    assert list(res.params.index) == list(sm.params.index)  # Pig Var, Pig x Time Cov, …
    assert res.llf >= sm.llf - 1e-9
    np.testing.assert_allclose(res.params.to_numpy(), np.asarray(sm.params), rtol=2e-3)
    np.testing.assert_allclose(res.bse.to_numpy(), np.asarray(sm.bse), rtol=2e-3)


def test_conf_int_rejects_a_bad_alpha(dietox):
    res = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig").fit(method="reml")
    with pytest.raises(bmm.SpecificationError, match="alpha: expected a number in"):
        res.conf_int(alpha=1.5)


def test_reml_switch_conflicting_with_method_names_both(dietox):
    model = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig")
    assert model.fit(reml=True).method == "REML"
    with pytest.raises(bmm.SpecificationError, match="reml=False with method='nuts'"):
        model.fit(method="nuts", reml=False)


def test_predict_is_statsmodels_fixed_part_and_lme4_conditional_part(dietox):
    sm = _statsmodels(dietox, reml=True)
    res = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig").fit(method="reml")
    rows = dietox.iloc[[3, 50, 400]]
    np.testing.assert_allclose(res.predict(), np.asarray(sm.predict()), rtol=1e-6)
    got = res.predict(rows)
    assert list(got.index) == list(rows.index)
    np.testing.assert_allclose(got.to_numpy(), np.asarray(sm.predict(rows)), rtol=1e-6)
    # with the conditional modes: the fitted values on the fitted rows (lme4's default)
    np.testing.assert_allclose(res.predict(rows, random_effects=True).to_numpy(),
                               res.fittedvalues[[3, 50, 400]], rtol=1e-12)
    # a pig the fit never saw gets effect 0, or an error naming it
    new = rows.assign(Pig=[rows["Pig"].iloc[0], -1, -1])
    both = res.predict(new, random_effects=True).to_numpy()
    assert both[0] == pytest.approx(res.fittedvalues[3], rel=1e-12)
    np.testing.assert_allclose(both[1:], got.to_numpy()[1:], rtol=1e-12)
    with pytest.raises(bmm.DataError, match=r"levels \[-1\] of 'Pig'"):
        res.predict(new, random_effects=True, new_groups="error")


def test_random_effects_cov_and_cov_re_unscaled_equal_statsmodels_on_dietox(dietox):
    sm = _statsmodels(dietox, reml=True)
    res = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig").fit(method="reml")
    np.testing.assert_allclose(res.cov_re_unscaled.to_numpy(),
                               np.asarray(sm.cov_re_unscaled), rtol=1e-5)
    ours, theirs = res.random_effects_cov, sm.random_effects_cov
    assert list(ours) == list(theirs)
    for level in list(theirs)[:5]:
        np.testing.assert_allclose(ours[level].to_numpy(), theirs[level].to_numpy(), rtol=1e-5)


def test_random_effects_cov_is_psi_less_its_fit_by_brute_force(data):
    # Ψ − Ψ Z_gᵀ V_g⁻¹ Z_g Ψ with V_g = Z_g Ψ Z_gᵀ + σ² I, at the REML estimates, q = 2
    frame = data("sleepstudy")
    res = bmm.mixedlm("Reaction ~ Days", frame, groups="Subject", re_formula="~Days"
                      ).fit(method="reml")
    psi, scale = res.cov_re.to_numpy(), res.scale
    for level, cov in list(res.random_effects_cov.items())[:4]:
        rows = frame[frame["Subject"].astype(str) == str(level)]
        Z = np.column_stack([np.ones(len(rows)), rows["Days"]])  # (n_g, 2)
        V = Z @ psi @ Z.T + scale * np.eye(len(rows))
        expected = psi - psi @ Z.T @ np.linalg.solve(V, Z @ psi)
        np.testing.assert_allclose(cov.to_numpy(), expected, rtol=1e-10, atol=1e-12)
        assert list(cov.index) == list(res.cov_re.index)


def test_summary_takes_statsmodels_names_title_and_alpha(dietox):
    sm = _statsmodels(dietox, reml=True)
    res = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig").fit(method="reml")
    kw = {"yname": "kg", "xname_fe": ["const", "week"], "xname_re": ["pig var"],
          "title": "Pigs", "alpha": 0.1}
    theirs = sm.summary(**kw).tables[1]
    ours = res.summary(**kw)
    assert list(ours.table.index) == list(theirs.index)
    assert list(ours.table.columns) == list(theirs.columns)  # [0.05, 0.95]
    assert ours.title == "Pigs" and ("Dependent Variable", "kg") in ours.header
    for col in ("Coef.", "[0.05", "0.95]"):
        given = theirs[col].iloc[:2].astype(float).to_numpy()
        # printed to 3 decimals (5e-4), and the two optima agree to 1e-5 relative
        gap = np.abs(ours.table[col].iloc[:2].to_numpy() - given)
        assert np.all(gap <= 5e-4 + 1e-5 * np.abs(given) + 1e-9), (col, gap)
    with pytest.raises(bmm.SpecificationError, match=r"xname_fe: expected a list of 2"):
        res.summary(xname_fe=["a"])


def test_profile_re_equals_statsmodels_on_a_random_intercept(dietox):
    # statsmodels' grid is centred on its own estimate, 2e-6 (relative) from ours: the
    # variances agree to that and the log-likelihoods to its shift times the profile's slope
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = smf.mixedlm("Weight ~ Time", dietox, groups=dietox["Pig"]).fit()
        expected = sm.profile_re(0, "re", num_low=2, dist_low=5.0, num_high=2, dist_high=5.0)
    res = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig").fit(method="reml")
    got = res.profile_re(0, "re", num_low=2, dist_low=5.0, num_high=2, dist_high=5.0)
    np.testing.assert_allclose(got[:, 0], expected[:, 0], rtol=1e-5)
    np.testing.assert_allclose(got[:, 1], expected[:, 1], atol=2e-5)
    np.testing.assert_array_equal(got, res.profile_re("Pig Var", "re", 2, 5.0, 2, 5.0))


def test_profile_re_of_a_slope_variance_is_the_constrained_maximum(dietox):
    # the slope variance over σ² fixed, the rest by brute force: Nelder-Mead over the other
    # two covariance parameters (in params' own layout, not θ), β and σ² profiled
    from scipy import optimize

    from bayesmm.deviance import deviance
    from bayesmm.params import theta_from_params

    model = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig", re_formula="~Time")
    res = model.fit(method="reml")
    got = res.profile_re(1, "re", num_low=1, dist_low=0.1, num_high=1, dist_high=0.1)
    var = res.cov_re.iloc[1, 1]
    # the centre row is the fit itself, re-optimised (L-BFGS-B on differences: 1e-6)
    assert got[1, 0] == pytest.approx(var, rel=1e-6)
    assert got[1, 1] == pytest.approx(res.llf, abs=1e-8)
    start = res.params.to_numpy()[2:4]  # Var and Cov over σ²

    def neg_llf(z, ratio):
        try:
            theta = theta_from_params(model.design, np.r_[z, ratio])
        except np.linalg.LinAlgError:
            return np.inf
        return 0.5 * deviance(theta, model.stats, "reml")

    for row, ratio in ((0, (var - 0.1) / res.scale), (2, (var + 0.1) / res.scale)):
        best = optimize.minimize(neg_llf, start, (ratio,), method="Nelder-Mead",
                                 options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
        assert got[row, 1] == pytest.approx(-best.fun, abs=1e-7)


def test_profile_re_names_its_arguments_when_they_are_wrong(dietox):
    res = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig").fit(method="reml")
    with pytest.raises(bmm.SpecificationError, match=r"dist_low: .*smaller dist_low"):
        res.profile_re(0, "re", dist_low=1e3)
    with pytest.raises(bmm.SpecificationError, match=r"re_ix: .*\['Pig Var'\]"):
        res.profile_re("Group Var", "re")
    with pytest.raises(bmm.SpecificationError, match="vtype: expected 're' or 'vc'"):
        res.profile_re(0, "x")


@pytest.mark.parametrize(("name", "formula", "kw"), [
    ("sleepstudy", "Reaction ~ Days", {"groups": "Subject", "re_formula": "~Days"}),
    ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", {}),
    ("sleepstudy", "Reaction ~ Days + (Days | Subject) + (1 | day)", {}),
])
def test_start_params_reach_the_same_optimum(data, name, formula, kw):
    # a start away from the optimum (variances × 3, the covariance × 0.5), the multi-start
    # (one factor) and the blocked (several; scalar and vector terms) searches: the same
    # REML optimum
    frame = data(name)
    if name == "sleepstudy":
        frame = frame.assign(day=frame["Days"].astype(str))
    model = bmm.mixedlm(formula, frame, **kw)
    res = model.fit(method="reml")
    moved = res.params.copy()
    cov = moved.index[res.k_fe:]
    moved[cov] = [v * (3.0 if n.endswith("Var") else 0.5) for n, v in moved[cov].items()]
    again = model.fit(method="reml", start_params=moved)
    assert again.llf == pytest.approx(res.llf, abs=1e-8)
    np.testing.assert_allclose(again.params, res.params, rtol=1e-4, atol=1e-8)


def test_start_params_errors_name_the_argument(dietox):
    model = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig", re_formula="~Time")
    with pytest.raises(bmm.SpecificationError, match="start_params: expected 5 values"):
        model.fit(method="reml", start_params=[1.0, 2.0])
    with pytest.raises(bmm.SpecificationError, match="start_params: a covariance block is not"):
        model.fit(method="reml", start_params=[15.0, 7.0, 1.0, 5.0, 1.0])  # |cov| > sds
    with pytest.raises(bmm.SpecificationError, match="start_params: taken by point fits"):
        model.fit(start_params=[15.0, 7.0, 5.0, 0.1, 0.1])


def _independent_slopes() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """statsmodels' test_vcomp_1 data: two independent random slopes, 100 groups of 4."""
    rs = np.random.RandomState(4279)
    exog, exog_re = rs.normal(size=(400, 1)), rs.normal(size=(400, 2))
    groups = np.kron(np.arange(100), np.ones(4))
    slopes = rs.normal(size=(100, 2)) * [1.0, 2.0]
    endog = exog.sum(1) + (np.kron(slopes, np.ones((4, 1))) * exog_re).sum(1) + rs.normal(
        size=400)
    return endog, exog, groups, exog_re


@pytest.mark.parametrize("reml", [True, False])
def test_free_identity_fits_statsmodels_independent_random_effects(reml):
    from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams

    endog, exog, groups, exog_re = _independent_slopes()
    free = MixedLMParams.from_components(np.ones(1), np.eye(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = MixedLM(endog, exog, groups, exog_re=exog_re).fit(
            reml=reml, free=free, method=["bfgs"], gtol=1e-12, maxiter=2000)
    model = bmm.MixedLM(endog, exog, groups, exog_re)
    res = model.fit(reml=reml, free=free)
    assert res.llf == pytest.approx(sm.llf, abs=1e-7) and res.llf >= sm.llf - 1e-9
    np.testing.assert_allclose(res.fe_params, sm.fe_params, rtol=1e-6)
    np.testing.assert_allclose(res.cov_re, sm.cov_re, rtol=1e-5, atol=1e-12)
    assert res.cov_re.to_numpy()[0, 1] == 0.0
    assert res.scale == pytest.approx(sm.scale, rel=1e-5)
    # a start in the model's full layout (a nonzero covariance) is moved into the blocks
    start = model.fit(reml=reml).params
    again = model.fit(reml=reml, free=free, start_params=start)
    assert again.llf == pytest.approx(res.llf, abs=1e-8)
    # the same model as uncorrelated effects written in the formula
    frame = pd.DataFrame({"y": endog, "x": exog[:, 0], "z0": exog_re[:, 0],
                          "z1": exog_re[:, 1], "g": groups})
    by_formula = bmm.mixedlm("y ~ 0 + x + (0 + z0 + z1 || g)", frame).fit(reml=reml)
    assert res.llf == pytest.approx(by_formula.llf, abs=1e-8)


def test_free_patterns_that_are_not_independent_blocks_are_errors(dietox):
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    model = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig", re_formula="~Time")
    everything = MixedLMParams.from_components(np.ones(2), np.ones((2, 2)))
    assert model.fit(reml=True, free=everything).llf == pytest.approx(
        model.fit(reml=True).llf, abs=1e-10)
    cases = [(MixedLMParams.from_components(np.array([1.0, 0.0]), np.eye(2)), "fe_params"),
             (MixedLMParams.from_components(np.ones(2), np.diag([1.0, 0.0])), "variance"),
             (MixedLMParams.from_components(np.ones(2), np.eye(3)), "2 x 2"),
             (np.eye(2), "expected statsmodels' MixedLMParams")]
    for free, message in cases:
        with pytest.raises(bmm.SpecificationError, match=f"free: .*{message}"):
            model.fit(reml=True, free=free)
    three = bmm.mixedlm("Weight ~ Time", dietox.assign(t2=dietox["Time"] ** 2),
                        groups="Pig", re_formula="~Time + t2")
    chain = MixedLMParams.from_components(np.ones(2), np.array(
        [[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]]))
    with pytest.raises(bmm.SpecificationError, match="free: cov_re's 1s must group"):
        three.fit(reml=True, free=chain)
    with pytest.raises(bmm.SpecificationError, match="free: taken by point fits"):
        model.fit(free=everything)


def test_full_output_keeps_every_evaluation_of_the_criterion(dietox):
    from bayesmm.deviance import deviance

    model = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig", re_formula="~Time")
    res = model.fit(reml=True, full_output=True)
    hist = res.hist
    assert list(hist.columns) == [*model.stats.tmap.names, "criterion"]
    assert hist["criterion"].min() == pytest.approx(-2 * res.llf, abs=1e-8)
    for _, row in hist.iloc[[0, len(hist) // 2, -1]].iterrows():
        theta = row.to_numpy()[:-1]
        # recorded from the C kernel's criterion: the NumPy deviance to rounding
        assert row["criterion"] == pytest.approx(deviance(theta, model.stats, "reml"),
                                                 rel=1e-11)
    assert model.fit(reml=True).hist is None


def test_statsmodels_optimiser_options_are_named_and_not_used(dietox):
    model = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig")
    with pytest.warns(FutureWarning, match="Argument cov_type not used"):
        res = model.fit(reml=True, cov_type="hc1")
    assert res.llf == model.fit(reml=True).llf
    with pytest.warns(bmm.UnusedArgumentWarning, match="Argument gtol not used"):
        model.fit(reml=True, gtol=1e-7)
    with pytest.raises(bmm.SpecificationError, match=r"fit: unexpected argument\(s\) \['drws'\]"):
        model.fit(drws=100)


def _lasso_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """600 rows in 60 groups, five predictors of which two have no effect."""
    rs = np.random.RandomState(3)
    X = np.column_stack([np.ones(600), rs.normal(size=(600, 5))])
    groups = np.repeat(np.arange(60), 10)
    y = X @ [1.0, 2.0, 0.0, 0.05, 0.0, -1.0] + rs.normal(size=60)[groups] + rs.normal(size=600)
    return y, X, groups


@pytest.mark.parametrize(("alpha", "reml"), [(40.0, True), (40.0, False),
                                             ([0.0, 10.0, 10.0, 10.0, 10.0, 10.0], True)])
def test_fit_regularized_equals_statsmodels_coordinate_descent(alpha, reml):
    from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams
    from statsmodels.tools.numdiff import approx_hess

    y, X, groups = _lasso_data()
    sm_model = MixedLM(y, X, groups)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = sm_model.fit_regularized(alpha=alpha, reml=reml, ptol=1e-12, maxit=5000)
        sm_base = sm_model.fit(reml=reml)
    model = bmm.MixedLM(y, X, groups)
    assert model.fit(reml=reml).llf == pytest.approx(sm_base.llf, abs=1e-8)  # same start
    res = model.fit_regularized(alpha=alpha, reml=reml, ptol=1e-12, maxit=5000)
    # the sweeps run to ptol 1e-12; what is left is the base fits' difference: statsmodels'
    # L-BFGS leaves Group Var 1.3e-6 (relative) from the optimum (its llf 1e-8 from ours),
    # which moves the penalised β by up to 4.2e-7 and σ² by 1.2e-7 (relative)
    np.testing.assert_allclose(res.fe_params, sm.fe_params, rtol=0, atol=2e-6)
    assert (res.fe_params == 0).sum() >= 1
    assert res.scale == pytest.approx(sm.scale, rel=1e-6)
    # statsmodels' analytic Hessian is not its loglike's off the optimum, and its llf reads
    # cov_re (absolute) as unscaled; against its own loglike, differentiated numerically:
    sm_model.reml = reml

    def loglike(x: np.ndarray) -> float:
        point = MixedLMParams.from_components(x[:6], cov_re=np.array([[x[6]]]))
        return sm_model.loglike(point, profile_fe=False)

    params = res.params.to_numpy()
    assert res.llf == pytest.approx(loglike(params), abs=1e-8)
    keep = params != 0
    cov = np.linalg.inv(-approx_hess(params, loglike)[np.ix_(keep, keep)])
    np.testing.assert_allclose(res.bse.to_numpy()[keep], np.sqrt(np.diag(cov)), rtol=1e-4)
    assert np.isnan(res.bse.to_numpy()[~keep]).all()


def test_fit_regularized_without_penalty_is_the_fit_and_checks_its_arguments():
    y, X, groups = _lasso_data()
    model = bmm.MixedLM(y, X, groups)
    np.testing.assert_allclose(model.fit_regularized(alpha=0.0).fe_params,
                               model.fit(reml=True).fe_params, rtol=1e-12)
    for alpha, message in [(-1.0, "alpha: expected a non-negative"),
                           ([1.0, 2.0], "alpha: expected a non-negative number or 6")]:
        with pytest.raises(bmm.SpecificationError, match=message):
            model.fit_regularized(alpha=alpha)
    with pytest.raises(bmm.SpecificationError, match="method: fit_regularized takes 'l1'"):
        model.fit_regularized(method="l2", alpha=1.0)


def test_exog_vc_in_every_format_equals_statsmodels_variance_components():
    from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams, VCSpec

    endog, exog, groups, exog_re = _independent_slopes()
    labels = sorted(set(groups))
    by_group = {name: {g: exog_re[groups == g, j:j + 1] for g in labels}
                for j, name in enumerate("ab")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels deprecates the dict format
        sm = MixedLM(endog, exog, groups, exog_vc=by_group).fit(
            method=["bfgs"], gtol=1e-12, maxiter=2000)
    spec = VCSpec(["a", "b"], [["a"], ["b"]],
                  [[by_group[n][g] for g in labels] for n in "ab"])
    rows = {"a": exog_re[:, :1], "b": exog_re[:, 1]}
    fits = [bmm.MixedLM(endog, exog, groups, exog_vc=vc).fit(reml=True)
            for vc in (by_group, spec, rows)]
    for res in fits:
        assert list(res.params.index) == ["x1", "a Var", "b Var"]
        assert res.llf == pytest.approx(sm.llf, abs=1e-8)
        np.testing.assert_allclose(res.params, sm.params, rtol=1e-6)
        np.testing.assert_allclose(res.bse, sm.bse, rtol=1e-5)
    # the same model as independent random slopes (statsmodels' test_vcomp_1)
    free = MixedLMParams.from_components(np.ones(1), np.eye(2))
    slopes = bmm.MixedLM(endog, exog, groups, exog_re).fit(reml=True, free=free)
    assert slopes.llf == pytest.approx(fits[0].llf, abs=1e-8)
    np.testing.assert_allclose(np.diag(slopes.cov_re), fits[0].vcomp, rtol=1e-6)


def test_exog_vc_errors_name_the_component_and_group():
    endog, exog, groups, exog_re = _independent_slopes()
    labels = sorted(set(groups))
    missing = {"a": {g: exog_re[groups == g, :1] for g in labels[1:]}}
    with pytest.raises(bmm.DataError, match="exog_vc: component 'a' has no matrix for group"):
        bmm.MixedLM(endog, exog, groups, exog_vc=missing)
    short = {"a": {g: exog_re[groups == g, :1][:3] for g in labels}}
    with pytest.raises(bmm.DataError, match="exog_vc: component 'a', group 0.0: 3 rows"):
        bmm.MixedLM(endog, exog, groups, exog_vc=short)
    with pytest.raises(bmm.SpecificationError, match="exog_vc: expected"):
        bmm.MixedLM(endog, exog, groups, exog_vc=[1, 2])


def test_model_predict_is_statsmodels_fixed_effects_mean(dietox):
    sm_model = smf.mixedlm("Weight ~ Time", dietox, groups="Pig")
    model = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig")
    res = model.fit(reml=True)
    np.testing.assert_allclose(model.predict(res.params), sm_model.predict(res.params.to_numpy()),
                               rtol=1e-14)
    new = np.array([[1.0, 2.0], [1.0, 5.5]])
    np.testing.assert_allclose(model.predict(res.fe_params, new), new @ res.fe_params.to_numpy())
    with pytest.raises(bmm.SpecificationError, match="params/exog: expected at least 2"):
        model.predict([1.0])


def test_zero_variances_names_the_var_rows_estimated_at_zero() -> None:
    # within every g the two levels of h hold the same responses, so h's REML variance is 0
    rng = np.random.default_rng(0)
    per_g = rng.normal(size=(8, 3)) + rng.normal(scale=2.0, size=(8, 1))  # (G, 3)
    y = np.concatenate([per_g, per_g], axis=1).ravel()  # (G × 6,) h-halves identical
    frame = pd.DataFrame({"y": y, "g": np.repeat(np.arange(8), 6),
                          "h": np.tile(np.repeat(["a", "b"], 3), 8)})
    res = bmm.mixedlm("y ~ 1 + (1 | g) + (1 | h)", frame).fit(method="reml")
    table = res.cov_table()["Coef."]
    assert res.singular
    assert res.zero_variances == ["h Var"]
    assert table["h Var"] < 1e-8 * res.scale < table["g Var"]
