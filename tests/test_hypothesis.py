"""brms' hypothesis() semantics on draws with known answers, and on a posterior fit."""

import numpy as np
import pytest

from bayesmm.errors import SpecificationError
from bayesmm.hypothesis import hypothesis_table

# 1000 equally spaced draws: every quantile and share is known exactly
A = (np.arange(1000) + 0.5) / 1000  # uniform on (0, 1)
ROWS = {"Days": A, "Subject SD": 2 * A, "Residual SD": np.full(1000, 0.25)}


def test_one_sided_greater_gives_the_share_and_its_odds():
    row = hypothesis_table("Days > 0.8", ROWS).iloc[0]
    assert row["Hypothesis"] == "(Days)-(0.8) > 0"
    assert row["Post.Prob"] == pytest.approx(0.2)
    assert row["Evid.Ratio"] == pytest.approx(0.25)
    assert row["CI.Lower"] == pytest.approx(np.quantile(A, 0.05) - 0.8)
    assert row["CI.Upper"] == np.inf
    assert row["Estimate"] == pytest.approx(0.5 - 0.8)
    assert row["Est.Error"] == pytest.approx(A.std(ddof=1))
    assert row["Star"] == ""  # the interval [−0.75, ∞) holds 0


def test_one_sided_less_and_a_star_when_zero_is_outside():
    row = hypothesis_table("Residual SD < Subject SD + 1", ROWS).iloc[0]
    assert row["Post.Prob"] == 1.0 and row["Evid.Ratio"] == np.inf
    assert row["CI.Lower"] == -np.inf
    assert row["CI.Upper"] == pytest.approx(0.25 - 1 - 2 * np.quantile(A, 0.05))
    assert row["Star"] == "*"


def test_two_sided_equality_has_an_equal_tailed_interval_and_no_evidence_ratio():
    rows = hypothesis_table(["Subject SD = 2 * Days", "sqrt(Days) = 0.5"], ROWS)
    exact = rows.iloc[0]
    assert exact["Estimate"] == pytest.approx(0.0) and exact["Est.Error"] == pytest.approx(0)
    assert np.isnan(exact["Post.Prob"]) and np.isnan(exact["Evid.Ratio"])
    root = rows.iloc[1]
    lo, hi = np.quantile(np.sqrt(A), [0.025, 0.975]) - 0.5
    assert (root["CI.Lower"], root["CI.Upper"]) == pytest.approx((lo, hi))
    assert root["Hypothesis"] == "(sqrt(Days))-(0.5) = 0"


@pytest.mark.parametrize(("text", "match"), [
    ("Days", "expected one of '=', '<' or '>'"),
    ("Dayz > 1", "unknown name 'Dayz'"),
    ("Days > max(Days)", "unsupported syntax"),
    ("Days > (1", "could not parse"),
])
def test_bad_hypotheses_name_the_argument(text, match):
    with pytest.raises(SpecificationError, match=match):
        hypothesis_table(text, ROWS)
