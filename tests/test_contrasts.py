"""Linear hypotheses parsed from strings and matrices."""

import numpy as np
import pytest

from bayesmm.contrasts import parse_contrasts
from bayesmm.errors import SpecificationError

NAMES = ["Intercept", "Time", "Cu[Cu035]", "Cu[Cu175]", "Time:Cu[Cu035]"]


@pytest.mark.parametrize(("text", "row", "rhs"), [
    ("Intercept + 5*Time = 300", [1, 5, 0, 0, 0], 300.0),
    ("Time", [0, 1, 0, 0, 0], 0.0),
    ("Cu[Cu035] = Cu[Cu175]", [0, 0, 1, -1, 0], 0.0),
    ("2*(Time - 1) = Intercept/4", [-0.25, 2, 0, 0, 0], 2.0),
    ("-Time:Cu[Cu035] + Time = -1.5", [0, 1, 0, 0, -1], -1.5),
    ("Time = 7", [0, 1, 0, 0, 0], 7.0),
])
def test_one_equation(text, row, rhs):
    c = parse_contrasts(text, NAMES)
    np.testing.assert_allclose(c.L, [row])
    np.testing.assert_allclose(c.rhs, [rhs])
    assert c.labels == (text,)


def test_comma_separated_equations_give_one_row_each():
    c = parse_contrasts("Time = 7, Intercept + Time = 0", NAMES)
    np.testing.assert_allclose(c.L, [[0, 1, 0, 0, 0], [1, 1, 0, 0, 0]])
    np.testing.assert_allclose(c.rhs, [7, 0])


def test_matrix_rows_are_tested_against_zero_with_readable_labels():
    c = parse_contrasts([1, 0, 0, 0, -2], NAMES)
    np.testing.assert_allclose(c.rhs, [0])
    assert c.labels == ("1*Intercept + -2*Time:Cu[Cu035]",)


@pytest.mark.parametrize(("text", "match"), [
    ("Time * Intercept = 0", "product or quotient of coefficients"),
    ("Tim = 0", "unknown name 'Tim'"),
    ("3 = 3", "involves no coefficient"),
    ("Time = 1 = 2", "at most one '='"),
    ("Time +* 2", "could not parse"),
    ("Time / Intercept", "product or quotient"),
])
def test_bad_hypotheses_name_the_argument(text, match):
    with pytest.raises(SpecificationError, match=match) as err:
        parse_contrasts(text, NAMES)
    assert str(err.value).startswith("hypothesis")


def test_matrix_of_the_wrong_width_is_refused():
    with pytest.raises(SpecificationError, match="5 columns"):
        parse_contrasts(np.eye(3), NAMES)
