"""statsmodels' indicator variance components become nested grouping factors when large."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.nesting import NEST_MIN_LEVELS, indicator_column


def vcomp_2_data() -> tuple[pd.DataFrame, np.ndarray]:
    """statsmodels' test_lme.py::test_vcomp_2 data, generated exactly as there."""
    rs = np.random.RandomState(6241)
    n = 1600
    exog = rs.normal(size=(n, 2))
    groups = np.kron(np.arange(n / 16), np.ones(16))
    exog_re = rs.normal(size=(n, 2))
    slopes = np.kron(rs.normal(size=(n // 16, 2)), np.ones((16, 1))) * exog_re
    errors = slopes.sum(1)
    v1 = np.kron(np.arange(n / 4), np.ones(4))
    errors += np.kron(2 * rs.normal(size=n // 4), np.ones(4))
    v2 = np.kron(np.arange(n / 2), np.ones(2))
    errors += np.kron(2 * rs.normal(size=n // 2), np.ones(2))
    errors += rs.normal(size=n)
    frame = pd.DataFrame({"y": exog.sum(1) + errors, "x1": exog[:, 0], "x2": exog[:, 1],
                          "z1": exog_re[:, 0], "z2": exog_re[:, 1], "v1": v1, "v2": v2})
    return frame, groups


def test_statsmodels_vcomp_2_takes_the_blocked_path_and_matches_r():
    frame, groups = vcomp_2_data()
    model = bmm.mixedlm("y ~ x1 + x2", frame, groups=groups, re_formula="0+z1+z2",
                        vc_formula={"a": "0 + C(v1)", "b": "0 + C(v2)"})
    assert [(f.label, f.q, f.n_levels) for f in model.design.factors] == [
        ("Group", 2, 100), ("a", 1, 400), ("b", 1, 800)]
    res = model.fit(method="reml")
    # R's lmer(y ~ x1 + x2 + (0 + z1 + z2 | groups) + (1 | v1) + (1 | v2)), as statsmodels'
    # test stores it
    np.testing.assert_allclose(res.fe_params, [0.16527, 0.99911, 0.96217], rtol=1e-4)
    np.testing.assert_allclose(res.cov_re, [[1.244, 0.146], [0.146, 1.371]], rtol=1e-3)
    np.testing.assert_allclose(res.vcomp, [4.024, 3.997], rtol=1e-3)
    np.testing.assert_allclose(res.bse.iloc[:3], [0.12610, 0.03938, 0.03848], rtol=1e-3)
    # statsmodels 0.14 fits it to llf -3620.1741872425 (its default fit, 1.2 s here)
    assert res.llf >= -3620.1741872425 - 1e-8
    rows = res.summary().tables[1].index[3:]
    assert list(rows) == ["z1 Var", "z1 x z2 Cov", "z2 Var", "a Var", "b Var"]


def test_small_components_stay_in_their_group_and_lonely_groups_go(data):
    pastes = bmm.mixedlm("strength ~ 1", data("Pastes"), groups="batch", re_formula="~1",
                         vc_formula={"cask": "0 + C(cask)"})
    (factor,) = pastes.design.factors
    assert [b.kind for b in factor.blocks] == ["diag", "vc"]
    frame, groups = vcomp_2_data()
    vc_only = bmm.mixedlm("y ~ x1", frame.assign(g=groups), groups="g",
                          vc_formula={"a": "0 + C(v1)"})
    # statsmodels: no random intercept with vc_formula alone; the moved component leaves
    # the group with no column, so the group term goes
    assert [(f.name, f.label) for f in vc_only.design.factors] == [("g:v1", "a")]
    assert frame["v1"].nunique() > NEST_MIN_LEVELS


@pytest.mark.parametrize(("formula", "column"), [
    ("0 + C(v1)", "v1"), (" 0+C( cask ) ", "cask"), ("0 + C(v1) + C(v2)", None),
    ("0 + x", None), ("C(v1)", None), ("0 + C(v1):x", None)])
def test_indicator_column_recognises_one_categorical_without_intercept(formula, column):
    assert indicator_column(formula) == column
