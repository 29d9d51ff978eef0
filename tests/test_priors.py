"""Default priors scale with the data; overrides replace exactly the named parameter."""

import numpy as np
import pytest
from scipy.special import logit

import bayesmm as bmm
from bayesmm.priors import default_priors, resolve_priors


def test_gaussian_defaults_are_scaled_by_the_response_and_the_predictors(data):
    frame = data("sleepstudy")
    design = bmm.mixedlm("Reaction ~ Days + (Days | Subject)", frame).design
    pri = default_priors(design)
    sy, sx = frame["Reaction"].std(ddof=0), frame["Days"].std(ddof=0)
    assert pri["Intercept"].dist == "Normal"
    assert pri["Intercept"].params == pytest.approx({"mu": frame["Reaction"].mean(),
                                                     "sigma": 2.5 * sy})
    assert pri["Days"].params == pytest.approx({"mu": 0.0, "sigma": 2.5 * sy / sx})
    assert pri["sd(Intercept|Subject)"].params == pytest.approx({"sigma": sy})
    assert pri["sd(Days|Subject)"].params == pytest.approx({"sigma": sy / sx})
    assert pri["corr(Subject)"].dist == "LKJ" and pri["corr(Subject)"].params == {"eta": 2.0}
    assert pri["sigma"].dist == "HalfNormal"


def test_logit_intercept_is_centred_on_the_pooled_proportion(data):
    frame = data("cbpp")
    design = bmm.mixedlm("incidence / size ~ C(period) + (1 | herd)", frame,
                         family="binomial").design
    pooled = (frame["incidence"].sum() + 0.5) / (frame["size"].sum() + 1.0)
    pri = default_priors(design)
    assert pri["Intercept"].params["mu"] == pytest.approx(logit(pooled))
    assert pri["sd(Intercept|herd)"].params == {"sigma": 1.0}  # the link scale


def test_overrides_replace_one_prior_and_unknown_names_are_refused(data):
    design = bmm.mixedlm("Reaction ~ Days + (Days | Subject)", data("sleepstudy")).design
    out = resolve_priors(design, {"Days": bmm.Prior("Normal", mu=10.0, sigma=1.0),
                                  "sigma": ("Exponential", {"lam": 0.1})})
    base = default_priors(design)
    assert out["Days"].params == {"mu": 10.0, "sigma": 1.0}
    assert out["sigma"].dist == "Exponential" and out["sigma"].params == {"lam": 0.1}
    assert {k: (v.dist, v.params) for k, v in out.items() if k not in ("Days", "sigma")} == \
        {k: (v.dist, v.params) for k, v in base.items() if k not in ("Days", "sigma")}
    with pytest.raises(bmm.SpecificationError, match="priors: unknown parameter 'slope'"):
        resolve_priors(design, {"slope": bmm.Prior("Normal", mu=0, sigma=1)})
    with pytest.raises(bmm.SpecificationError, match=r"priors\['Days'\]: expected bmm.Prior"):
        resolve_priors(design, {"Days": 3.0})
    np.testing.assert_allclose(base["Days"].params["sigma"], out["Intercept"].params["sigma"]
                               / data("sleepstudy")["Days"].std(ddof=0))


def test_a_correlated_block_refuses_mixed_sd_families_instead_of_replacing_them(data):
    sleep = data("sleepstudy")
    design = bmm.mixedlm("Reaction ~ Days + (Days | Subject)", sleep).design
    mixed = {"sd(Days|Subject)": bmm.Prior("HalfStudentT", nu=4.0, sigma=10.0)}
    with pytest.raises(bmm.SpecificationError,
                       match=r"sd\(Intercept\|Subject\): HalfNormal\(sigma\), "
                             r"sd\(Days\|Subject\): HalfStudentT\(nu, sigma\)"):
        resolve_priors(design, mixed)
    # one family, different values: kept as given
    same = resolve_priors(design, {"sd(Days|Subject)": bmm.Prior("HalfNormal", sigma=3.0)})
    assert same["sd(Days|Subject)"].params == {"sigma": 3.0}
    # uncorrelated effects may mix families
    diag = bmm.mixedlm("Reaction ~ Days + (Days || Subject)", sleep).design
    assert resolve_priors(diag, mixed)["sd(Days|Subject)"].dist == "HalfStudentT"
