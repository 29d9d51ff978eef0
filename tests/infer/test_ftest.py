"""Joint F-tests of several contrasts against lmerTest's contestMD (Satterthwaite, KR)."""

from __future__ import annotations

import numpy as np
import pytest

import bayesmm as bmm
from bayesmm.errors import SpecificationError
from bayesmm.infer.ddf import fstat_ddf

# Rscript benchmarks/r/ftest_reference.R ../shared/data (lmerTest 3.1, pbkrtest 0.5; REML):
# contest(m, L, joint = TRUE, ddf = ..., rhs = ...) -> (F value, NumDF, DenDF, Pr(>F))
R_F = {
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", "sleepstudy",
                   "Intercept = 250, Days = 10", {
                       "satterthwaite": (0.0769025822332, 2, 16.9998460493, 0.926300317008),
                       "kenward-roger": (0.0723789009254, 2, 16.0, 0.930481166412)}),
    "dietox": ("Weight ~ Time + Cu + (1 | Pig)", "dietox",
               "Cu[Cu035] = 0, Cu[Cu175] = 0", {
                   "satterthwaite": (1.04637920344, 2, 69.0082064779, 0.356712018921),
                   "kenward-roger": (1.04637919597, 2, 69.0005264877, 0.356712626822)}),
    "orthodont": ("distance ~ age + Sex + (age | Subject)", "Orthodont",
                  np.array([[0.0, 1, 0], [0, 0, 1]]), {
                      "satterthwaite": (46.9343903217, 2, 25.4899822472, 2.84890182401e-09),
                      "kenward-roger": (45.7252953103, 2, 33.2876840312, 2.82591438479e-10)}),
    "ergostool": ("effort ~ Type + (1 | Subject)", "ergoStool",
                  np.c_[np.zeros(3), np.eye(3)], {
                      "satterthwaite": (22.3556405463, 3, 24.0000000069, 3.93456378494e-07),
                      "kenward-roger": (22.3556405463, 3, 24.0, 3.93456379269e-07)}),
}


@pytest.fixture(scope="module")
def fits(data):
    return {name: bmm.mixedlm(formula, data(ds)).fit(method="reml")
            for name, (formula, ds, _, _) in R_F.items()}


@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
@pytest.mark.parametrize("name", list(R_F))
def test_joint_f_test_matches_lmertest_contestmd(fits, name, ddf):
    hypothesis, ref = R_F[name][2], R_F[name][3][ddf]
    table = fits[name].f_test(hypothesis, ddf)
    assert list(table.columns) == ["F", "NumDF", "DenDF", "P>F"]
    row = table.iloc[0]
    # F rests on the optimum, which agrees with lme4's to ~2e-5 (Orthodont)
    assert row["F"] == pytest.approx(ref[0], rel=1e-4)
    assert row["NumDF"] == ref[1]
    assert row["DenDF"] == pytest.approx(ref[2], rel=1e-3)
    assert row["P>F"] == pytest.approx(ref[3], abs=1e-4, rel=1e-3)


def test_one_row_f_is_the_square_of_t(fits):
    res = fits["orthodont"]
    for ddf in ("satterthwaite", "kenward-roger"):
        t = res.t_test("age = 0.5", ddf)
        f = res.f_test("age = 0.5", ddf)
        assert f["F"].iloc[0] == pytest.approx(t["t"].iloc[0] ** 2, rel=1e-10)
        assert f["DenDF"].iloc[0] == pytest.approx(t["df"].iloc[0], rel=1e-10)
        assert f["P>F"].iloc[0] == pytest.approx(t["P>|t|"].iloc[0], rel=1e-8)


def test_satterthwaite_drops_a_redundant_row_and_kenward_roger_refuses_it(fits):
    res = fits["dietox"]
    two = res.f_test("Cu[Cu035] = 0, Cu[Cu175] = 0")
    three = res.f_test("Cu[Cu035] = 0, Cu[Cu175] = 0, Cu[Cu035] + Cu[Cu175] = 0")
    assert three["NumDF"].iloc[0] == 2
    np.testing.assert_allclose(three.values, two.values, rtol=1e-8)
    with pytest.raises(SpecificationError, match="rank 2"):
        res.f_test("Cu[Cu035] = 0, Cu[Cu175] = 0, Cu[Cu035] + Cu[Cu175] = 0",
                   "kenward-roger")


def test_fstat_ddf_follows_lmertest():
    assert fstat_ddf(np.array([7.0])) == 7.0
    assert fstat_ddf(np.array([12.0, 12.0])) == 12.0
    assert fstat_ddf(np.array([1.5, 30.0])) == 2.0
    e = 10 / 8 + 30 / 28
    assert fstat_ddf(np.array([10.0, 30.0])) == pytest.approx(2 * e / (e - 2))


def test_wald_test_matches_statsmodels(fits, data):
    sm = pytest.importorskip("statsmodels.formula.api")
    frame = data("dietox")
    ref = sm.mixedlm("Weight ~ Time + Cu", frame, groups=frame["Pig"]).fit(
        reml=True, method="bfgs", gtol=1e-10)
    want = ref.wald_test("Cu[T.Cu035] = 0, Cu[T.Cu175] = 0", scalar=True)
    got = fits["dietox"].wald_test("Cu[Cu035] = 0, Cu[Cu175] = 0")
    assert got["df"].iloc[0] == 2
    assert got["chi2"].iloc[0] == pytest.approx(float(want.statistic), rel=1e-4)
    assert got["P>chi2"].iloc[0] == pytest.approx(float(want.pvalue), rel=1e-3)


def test_wald_test_drops_a_redundant_row(fits):
    res = fits["dietox"]
    two = res.wald_test("Cu[Cu035] = 0, Cu[Cu175] = 0")
    three = res.wald_test("Cu[Cu035] = 0, Cu[Cu175] = 0, Cu[Cu035] - Cu[Cu175] = 0")
    assert three["df"].iloc[0] == 2
    np.testing.assert_allclose(three.to_numpy(), two.to_numpy(), rtol=1e-8)
    # the quadratic form by hand: (Lβ̂)ᵀ (L V Lᵀ)⁻¹ (Lβ̂) on the two independent rows
    L = np.zeros((2, res.k_fe))
    names = list(res.fe_params.index)
    L[0, names.index("Cu[Cu035]")] = L[1, names.index("Cu[Cu175]")] = 1.0
    diff = L @ res.fe_params.to_numpy()
    V = res.fit.cov_beta
    assert two["chi2"].iloc[0] == pytest.approx(diff @ np.linalg.solve(L @ V @ L.T, diff),
                                                rel=1e-10)
