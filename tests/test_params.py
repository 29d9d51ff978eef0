"""Reported covariance rows: statsmodels' names and order, variances or SDs/correlations."""

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.params import cov_params, cov_values, re_names

PSI = np.array([[4.0, 1.2], [1.2, 9.0]])


def test_names_and_order_follow_statsmodels(data):
    design = bmm.mixedlm("Weight ~ Time", data("dietox"), groups="Pig",
                         re_formula="~Time").design
    params = cov_params(design)
    assert [p.name for p in params] == ["Pig Var", "Pig x Time Cov", "Time Var"]
    assert [(p.row, p.col) for p in params] == [(0, 0), (1, 0), (1, 1)]
    assert re_names(design.factors[0], prefix=True) == ["Pig", "Pig Time"]


def test_values_on_the_variance_and_the_sd_scale(data):
    design = bmm.mixedlm("Weight ~ Time", data("dietox"), groups="Pig",
                         re_formula="~Time").design
    var = cov_values(design, [PSI], 2.5, "var")
    assert var == {"Pig Var": 4.0, "Pig x Time Cov": 1.2, "Time Var": 9.0, "Scale": 2.5}
    sd = cov_values(design, [PSI], 2.5, "sd")
    assert list(sd) == ["Pig SD", "Pig x Time Corr", "Time SD", "Residual SD"]
    assert sd["Pig x Time Corr"] == pytest.approx(1.2 / (2.0 * 3.0))
    assert sd["Residual SD"] == pytest.approx(np.sqrt(2.5))
    draws = np.broadcast_to(PSI, (3, 5, 2, 2))  # draws keep their leading shape
    assert cov_values(design, [draws], None)["Pig x Time Cov"].shape == (3, 5)
    with pytest.raises(bmm.SpecificationError, match="cov_scale: expected 'var' or 'sd'"):
        cov_values(design, [PSI], 2.5, "corr")


def test_two_factors_prefix_their_slopes_and_variance_components_get_one_row(data):
    crossed = bmm.mixedlm("y ~ x + (x | g) + (1 | h)", _frame()).design
    assert [p.name for p in cov_params(crossed)] == ["g Var", "g x g x Cov", "g x Var",
                                                     "h Var"]
    pastes = bmm.mixedlm("strength ~ 1", data("Pastes"), groups="batch",
                         vc_formula={"cask": "0 + C(cask)"}).design
    # statsmodels: with vc_formula and no re_formula there is no group intercept
    assert [p.name for p in cov_params(pastes)] == ["cask Var"]


def _frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"y": rng.normal(size=40), "x": rng.normal(size=40),
                         "g": np.repeat(list("abcd"), 10), "h": np.tile(list("uvwxy"), 8)})
