import numpy as np
import pandas as pd
import pytest

from bayesmm.design import MissingDataWarning, design_from_arrays, make_design
from bayesmm.errors import BayesMMError, DataError, FormulaError
from bayesmm.spec import spec_from_formula


def _design(formula, frame, **kw):
    return make_design(spec_from_formula(formula, **kw), frame)


def test_dietox_random_slope_design(data):
    frame = data("dietox")
    d = _design("Weight ~ Time", frame, groups="Pig", re_formula="~Time")
    (f,) = d.factors
    assert d.X.shape == (861, 2) and d.xnames == ("Intercept", "Time")
    assert f.Z.shape == (861, 2) and f.znames == ("Intercept", "Time")
    assert f.n_levels == 72 and f.blocks[0].kind == "corr"
    np.testing.assert_array_equal(np.bincount(f.codes).min(), 11)


def test_missing_rows_dropped_with_count(data):
    frame = data("dietox")
    with pytest.warns(MissingDataWarning, match="dropped 72 of 861 rows"):
        d = _design("Weight ~ Time + Feed", frame, groups="Pig")
    assert d.n_obs == 789 and d.n_dropped == 72


def test_unused_missing_column_drops_nothing(data):
    d = _design("Weight ~ Time", data("dietox"), groups="Pig")
    assert d.n_dropped == 0


def test_vc_design_pads_columns_per_group(data):
    d = _design("strength ~ 1", data("Pastes"), groups="batch", re_formula="~1",
                vc_formula={"cask": "0 + C(cask)"})
    (f,) = d.factors
    assert f.znames == ("Intercept", "cask[C(cask)[a]]", "cask[C(cask)[b]]", "cask[C(cask)[c]]")
    assert [b.kind for b in f.blocks] == ["diag", "vc"]


def test_nested_lme4_term_is_two_factors(data):
    d = _design("strength ~ 1 + (1 | batch/cask)", data("Pastes"))
    assert [f.name for f in d.factors] == ["batch", "batch:cask"]
    assert [f.n_levels for f in d.factors] == [10, 30]


@pytest.mark.parametrize(
    ("formula", "kwargs", "frame_fn", "error", "fragments"),
    [
        ("Weight ~ Tim", {"groups": "Pig"}, None, FormulaError, ["unknown column", "'Tim'"]),
        ("Weight ~ Time +", {"groups": "Pig"}, None, FormulaError, ["could not parse"]),
        ("Weight ~ Time", {"groups": "Pgi"}, None, FormulaError, ["grouping column 'Pgi'"]),
        ("Weight ~ Time", {"groups": "One"}, lambda f: f.assign(One=1), DataError, ["1 level"]),
        ("Evit ~ Time", {"groups": "Pig"}, None, DataError, ["must be numeric", "Evit"]),
        ("Weight ~ Time", {"groups": "Pig"}, lambda f: f.iloc[:0], DataError, ["empty"]),
        ("Weight ~ Time + T2", {"groups": "Pig"}, lambda f: f.assign(T2=2 * f.Time), DataError,
         ["rank", "T2"]),
        ("Weight ~ Time", {"groups": "Mixed"},
         lambda f: f.assign(Mixed=[1 if i % 2 else "a" for i in range(len(f))]), DataError,
         ["mixes value types"]),
    ],
)
def test_bad_input_errors(data, formula, kwargs, frame_fn, error, fragments):
    frame = data("dietox")
    frame = frame_fn(frame) if frame_fn else frame
    with pytest.raises(error) as info:
        _design(formula, frame, **kwargs)
    assert isinstance(info.value, BayesMMError)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_direct_api_length_mismatch():
    with pytest.raises(DataError, match="exog: has 3 rows but endog has 4"):
        design_from_arrays(np.arange(4.0), np.ones((3, 1)), np.array([0, 0, 1, 1]))


def test_direct_api_names_from_pandas():
    X = pd.DataFrame({"const": 1.0, "x": [1.0, 2, 3, 4]})
    d = design_from_arrays(pd.Series([1.0, 2, 3, 5], name="y1"), X, ["a", "a", "b", "b"])
    assert d.response == "y1" and d.xnames == ("const", "x")
    assert d.factors[0].levels == ("a", "b")


def test_interaction_grouping_labels_join_the_columns():
    from bayesmm.design import group_labels

    frame = pd.DataFrame({"a": [1, 2, 1], "b": ["x", "y", "y"]})
    assert group_labels(frame, "a:b").tolist() == ["1:x", "2:y", "1:y"]
