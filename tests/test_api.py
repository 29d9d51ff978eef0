"""Front end: the three spellings, the seed examples, and recovery of known parameters."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from tests.conftest import NBA

FAST = {"draws": 500, "tune": 500, "chains": 2, "random_seed": 7}


def _within_2sd(res, expected):
    post = res.idata.posterior["beta"]
    mean, sd = post.mean(("chain", "draw")).values, post.std(("chain", "draw")).values
    assert np.all(np.abs(mean - np.asarray(expected)) <= 2 * sd), (mean, expected, sd)


@pytest.mark.parametrize(
    ("kwargs", "cov_re"),
    [
        ({}, "full"),  # seed 002 step 2: random intercept
        ({"re_formula": "~Time"}, "full"),  # step 3: random intercept and slope
        ({"re_formula": "~Time"}, "diagonal"),  # step 4: independent (statsmodels' free=)
    ],
)
def test_seed_002_dietox_posterior_near_statsmodels_reml(data, kwargs, cov_re, seed):
    smf = pytest.importorskip("statsmodels.formula.api")
    sm = pytest.importorskip("statsmodels.api")
    frame = data("dietox")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        md = smf.mixedlm("Weight ~ Time", frame, groups=frame["Pig"], **kwargs)
        if cov_re == "diagonal":
            free = sm.regression.mixed_linear_model.MixedLMParams.from_components(
                np.ones(2), np.eye(2))
            ref = md.fit(free=free)
        else:
            ref = md.fit()
    res = bmm.mixedlm("Weight ~ Time", frame, groups=frame["Pig"], cov_re=cov_re,
                      **kwargs).fit(**{**FAST, "random_seed": seed}, comparison=False)
    _within_2sd(res, ref.fe_params.values)
    assert res.build == "marginal"
    assert "Group" in res.idata.posterior.data_vars  # array groups are called "Group"
    if cov_re == "diagonal":
        assert "Group_corr" not in res.idata.posterior.data_vars


def test_seed_003_nba_formula_and_direct_api_give_identical_draws():
    sm = pytest.importorskip("statsmodels.api")
    a = bmm.MixedLM.from_formula("Points ~ Minutes", NBA, groups="Team").fit(
        **FAST, comparison=False)
    exog = sm.add_constant(NBA["Minutes"])
    b = bmm.MixedLM(NBA["Points"], exog, NBA["Team"]).fit(**FAST, comparison=False)
    np.testing.assert_array_equal(a.idata.posterior["beta"].values,
                                  b.idata.posterior["beta"].values)
    np.testing.assert_array_equal(a.idata.posterior["sigma"].values,
                                  b.idata.posterior["sigma"].values)
    assert list(b.fe_params.index) == ["const", "Minutes"]


@pytest.mark.parametrize(
    ("name", "formula", "lme4"),
    [
        # lme4 REML fits (Bates, lme4 book ch. 2): Pastes batch 1.657, sample (cask:batch)
        # 8.434, residual 0.678; Penicillin plate 0.7169, sample 3.7311, residual 0.3024.
        ("Pastes", "strength ~ 1 + (1 | batch/cask)",
         {"batch": 1.657, "batch:cask": 8.434, "Scale": 0.678}),
        ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)",
         {"plate": 0.7169, "sample": 3.7311, "Scale": 0.3024}),
    ],
)
def test_nested_and_crossed_variance_components_match_lme4(data, name, formula, lme4, seed):
    model = bmm.mixedlm(formula, data(name))
    reml = model.fit(method="reml").cov_table()["Coef."]
    rows = {key: key if key == "Scale" else f"{key} Var" for key in lme4}
    for key, value in lme4.items():  # lme4 prints four significant digits
        assert reml[rows[key]] == pytest.approx(value, rel=1e-3), (key, reml[rows[key]])
    res = model.fit(draws=500, tune=1000, chains=2, random_seed=seed, target_accept=0.95)
    assert res.build == "collapsed"  # the larger factor and β integrated out
    draws = res.draws_table()
    # the posterior (weakly informative priors) is consistent with lme4's REML estimate:
    # each lies inside the central 99% posterior interval
    for key, value in lme4.items():
        lo, hi = np.quantile(draws[rows[key]].values, [0.005, 0.995])
        assert lo < value < hi, (key, lo, value, hi)


@pytest.mark.slow
def test_parameter_recovery_on_simulated_growth_curves(seed):
    truth = {"Intercept": 15.0, "Time": 7.0, "Pig": 5.0, "Time_sd": 0.7, "sigma": 2.5}
    # seed 0: the 60 drawn slopes have SD 0.66 (truth 0.7). Seed 42 drew SD 0.50, 3.1
    # sampling SDs low, a data set on which no estimator recovers 0.7.
    frame = bmm.simulate_growth(n_pigs=60, seed=0)
    res = bmm.mixedlm("Weight ~ Time + (Time | Pig)", frame).fit(
        draws=1000, tune=1000, chains=2, random_seed=seed, comparison=False)
    post = res.idata.posterior
    checks = {
        "Intercept": post["beta"].sel(coef="Intercept"),
        "Time": post["beta"].sel(coef="Time"),
        "Pig": post["Pig_sd"].sel(Pig_sd_dim="Intercept"),
        "Time_sd": post["Pig_sd"].sel(Pig_sd_dim="Time"),
        "sigma": post["sigma"],
    }
    # Five central 99.8% intervals: all contain the truth with probability ≥ 99% if calibrated.
    for key, draws in checks.items():
        lo, hi = np.quantile(draws.values, [0.001, 0.999])
        assert lo < truth[key] < hi, (key, lo, hi)


def test_fit_argument_errors():
    model = bmm.mixedlm("Points ~ Minutes", NBA, groups="Team")
    with pytest.raises(bmm.SpecificationError, match="draws: expected a positive integer"):
        model.fit(draws=0)
    with pytest.raises(bmm.SpecificationError, match="chains: expected a positive integer"):
        model.fit(chains=-1)
    with pytest.raises(bmm.SpecificationError, match="method: expected one of .*'bfgs'.* "
                       "statsmodels' fit\\(method=\\) names its optimiser.*reml=True"):
        model.fit(method="bfgs")
    with pytest.raises(bmm.SpecificationError, match="received \\['lbfgs', 'cg'\\]. stat"):
        model.fit(method=["lbfgs", "cg"])  # statsmodels' default list
    with pytest.raises(bmm.SpecificationError, match=r"received 'nut'\.$"):
        model.fit(method="nut")
    with pytest.raises(bmm.SpecificationError, match="sampler: expected one of"):
        model.fit(sampler="stan")
    with pytest.raises(bmm.SpecificationError, match="priors: unknown parameter 'slope'"):
        model.fit(priors={"slope": bmm.Prior("Normal", mu=0, sigma=1)})
    with pytest.raises(bmm.SpecificationError, match="priors\\['sigma'\\]: expected bmm.Prior"):
        bmm.mixedlm("Points ~ Minutes", NBA, groups="Team", priors={"sigma": 3})


def test_groups_array_must_match_rows():
    with pytest.raises(bmm.DataError, match="groups: expected a column name or an array of 10"):
        bmm.mixedlm("Points ~ Minutes", NBA, groups=np.array(["a", "b"]))


def test_priors_are_scaled_to_the_data():
    model = bmm.mixedlm("Points ~ Minutes", NBA, groups="Team")
    priors = model.priors
    sy = NBA["Points"].std(ddof=0)
    assert priors["sigma"] == bmm.Prior("HalfNormal", sigma=sy)
    assert priors["Minutes"].params["sigma"] == pytest.approx(2.5 * sy / NBA["Minutes"].std(ddof=0))
    assert priors["Intercept"].params["mu"] == pytest.approx(NBA["Points"].mean())
    assert set(priors) == {"Intercept", "Minutes", "sigma", "sd(Intercept|Team)"}


def test_prior_override_changes_the_posterior():
    model = bmm.mixedlm("Points ~ Minutes", NBA, groups="Team")
    tight = model.fit(**FAST, comparison=False,
                      priors={"Minutes": bmm.Prior("Normal", mu=5.0, sigma=0.01)})
    assert float(tight.idata.posterior["beta"].sel(coef="Minutes").mean()) == pytest.approx(
        5.0, abs=0.01)


@pytest.mark.parametrize(("marginal", "build"), [(None, "marginal"), (False, "latent")])
def test_random_effects_have_statsmodels_layout(marginal, build):
    res = bmm.mixedlm("Points ~ Minutes", NBA, groups="Team").fit(**FAST, marginal=marginal)
    assert res.build == build
    re = res.random_effects
    assert set(re) == {"TeamG", "TeamR"}
    assert list(re["TeamG"].index) == ["Team"]
    means = res.idata.posterior["Team"].mean(("chain", "draw")).values  # (G, 1)
    levels = res.design.factors[0].levels
    for g, level in enumerate(levels):
        assert re[str(level)].iloc[0] == pytest.approx(means[g, 0], rel=1e-12)
    assert isinstance(res.cov_re, pd.DataFrame) and res.cov_re.shape == (1, 1)
    sd = res.idata.posterior["Team_sd"].values.reshape(-1)
    assert res.cov_re.iloc[0, 0] == pytest.approx(np.mean(sd**2), rel=1e-12)
    assert res.reml is not None and res.reml.converged


def test_factories_spell_out_the_constructors_signatures():
    import inspect

    def params(fn, skip=0):
        return [(p.name, p.kind, p.default)
                for p in list(inspect.signature(fn).parameters.values())[skip:]]

    assert params(bmm.mixedlm) == params(bmm.MixedLM.from_formula)
    assert params(bmm.mixture) == params(bmm.MixtureModel.__init__, skip=1)
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD
                   for fn in (bmm.mixedlm, bmm.mixture)
                   for p in inspect.signature(fn).parameters.values())


def _dietox_pair(data, re_formula):
    """bayesmm's and statsmodels' dietox models, the REML fit, and a point moved off it.

    The point moves β, the variances and the covariance; ``moved`` is in ``params``' layout
    and ``point`` the same values as statsmodels' MixedLMParams.
    """
    import warnings

    smf = pytest.importorskip("statsmodels.formula.api")
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    frame = data("dietox")
    kw = {"groups": "Pig"} | ({"re_formula": re_formula} if re_formula else {})
    model = bmm.mixedlm("Weight ~ Time", frame, **kw)
    res = model.fit(method="reml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = smf.mixedlm("Weight ~ Time", frame, **kw)
        fits = {reml: sm.fit(reml=reml) for reml in (True, False)}  # sets its penalties
    moved = res.params.to_numpy() * np.r_[1.02, 0.97, np.full(res.params.size - 2, 1.3)]
    q = 2 if re_formula else 1
    cov = np.zeros((q, q))
    cov[np.tril_indices(q)] = moved[2:]  # statsmodels' order: Var, Cov, Var (row by row)
    cov = cov + np.tril(cov, -1).T
    point = MixedLMParams.from_components(moved[:2], cov_re=cov)
    return model, res, sm, fits, moved, point


@pytest.mark.parametrize("re_formula", [None, "~Time"])
def test_model_loglike_equals_statsmodels_loglike_anywhere(data, re_formula):
    # statsmodels' MixedLM.loglike(params, profile_fe=False), REML and ML, at the REML
    # estimates and at a point moved off them
    model, res, sm, _, moved, point = _dietox_pair(data, re_formula)
    assert model.loglike(res.params) == pytest.approx(res.llf, rel=1e-12)
    for reml in (True, False):
        sm.reml = reml
        assert model.loglike(moved, reml=reml) == pytest.approx(
            sm.loglike(point, profile_fe=False), rel=1e-10)
    with pytest.raises(bmm.SpecificationError, match="params: expected"):
        model.loglike(moved[:-1])


@pytest.mark.parametrize("re_formula", [None, "~Time"])
def test_model_score_and_hessian_equal_statsmodels(data, re_formula):
    # statsmodels' score(params, profile_fe=False) in its direct (use_sqrt=False)
    # parameterisation, REML and ML, at a point off the optimum, to 1e-7 of its scale; and
    # its hessian(params) at its own REML and ML estimates (off them it holds σ² at its
    # estimate instead of differentiating the profiled loglike), to 1e-5 of its largest entry
    model, _, sm, fits, moved, point = _dietox_pair(data, re_formula)
    sm.use_sqrt = False
    for reml, fit in fits.items():
        sm.reml = reml
        expected = sm.score(point, profile_fe=False)
        np.testing.assert_allclose(model.score(moved, reml=reml), expected,
                                   atol=1e-7 * np.abs(expected).max())
        hess, singular = model.hessian(fit.params.to_numpy(), reml=reml)
        sm_hess, sm_singular = sm.hessian(fit.params_object)
        np.testing.assert_allclose(hess, sm_hess, atol=1e-5 * np.abs(sm_hess).max())
        assert singular is sm_singular is False


def test_score_on_several_factors_is_the_derivative_of_loglike(data):
    # crossed factors (blocked statistics, exact gradient): against Richardson differences
    # of loglike itself, whose rounding (~1e-10 at these steps) sets the tolerance
    from bayesmm.infer.numdiff import richardson_jacobian

    model = bmm.mixedlm("diameter ~ 1 + (1 | plate) + (1 | sample)", data("Penicillin"))
    x = model.fit(method="reml").params.to_numpy() * np.r_[1.01, 1.2, 0.8]
    for reml in (True, False):
        numeric = richardson_jacobian(lambda v, r=reml: np.array(model.loglike(v, r)), x,
                                      1e-3 * np.maximum(np.abs(x), 0.1))
        np.testing.assert_allclose(model.score(x, reml=reml), numeric, rtol=1e-6,
                                   atol=1e-6)
