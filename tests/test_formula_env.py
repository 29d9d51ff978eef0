"""Formulas that call the caller's functions or code a factor with ``Poly``, as statsmodels."""

import warnings

import numpy as np
import pytest

import bayesmm as bmm
from bayesmm import formula_env  # not `Poly` itself: patsy would find it in this module


def test_poly_equals_rs_contr_poly():
    # R: contr.poly(4)
    q = formula_env.Poly().code_without_intercept(["8", "10", "12", "14"])
    assert q.labels == [".Linear", ".Quadratic", ".Cubic"]
    want = np.array([[-0.6708204, 0.5, -0.2236068], [-0.2236068, -0.5, 0.6708204],
                     [0.2236068, -0.5, -0.6708204], [0.6708204, 0.5, 0.2236068]])
    np.testing.assert_allclose(q.matrix, want, atol=5e-8)
    full = formula_env.Poly(scores=[1, 2, 4]).code_with_intercept(["a", "b", "c"])
    assert full.labels == [".Constant", ".Linear", ".Quadratic"]
    np.testing.assert_allclose(full.matrix[:, 0], 1.0)
    np.testing.assert_allclose(full.matrix[:, 1:].T @ full.matrix[:, 1:], np.eye(2), atol=1e-12)
    np.testing.assert_allclose(full.matrix[:, 1:].sum(axis=0), 0.0, atol=1e-12)


def test_caller_namespace_takes_functions_and_modules_not_values():
    def times_two(v):
        return 2 * v

    age = np.arange(3)  # a plain value: formulas take variables from the data
    found = formula_env.caller_namespace(["y ~ times_two(age) + np.log(x) + undefined(x)"])
    assert found["times_two"] is times_two and found["np"] is np
    assert "age" not in found and "undefined" not in found and found["Poly"] is formula_env.Poly
    assert age.size == 3


@pytest.mark.parametrize("formula", ["distance ~ times_two(age)", "distance ~ C(age, Poly)"])
def test_formulas_with_the_callers_names_fit_as_statsmodels(data, formula):
    smf = pytest.importorskip("statsmodels.formula.api")

    def times_two(v):
        return 2 * v

    frame = data("Orthodont")
    res = bmm.mixedlm(formula, frame, groups="Subject").fit(method="reml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = smf.mixedlm(formula, frame, groups="Subject").fit(reml=True, method=["bfgs"],
                                                               gtol=1e-12)
    # patsy names Poly columns C(age, Poly).Linear, formulae C(age, Poly)[.Linear]
    assert [n.replace("[", "").replace("]", "") for n in res.params.index] == list(sm.params.index)
    np.testing.assert_allclose(res.params.to_numpy(), np.asarray(sm.params), rtol=1e-5)
    assert res.llf == pytest.approx(sm.llf, rel=1e-8)
    rows = frame.iloc[[0, 5]]
    np.testing.assert_allclose(res.predict(rows), np.asarray(sm.predict(rows)), rtol=1e-6)
    assert times_two(1) == 2
