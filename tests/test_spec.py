import pytest

from bayesmm.errors import FormulaError, SpecificationError
from bayesmm.spec import RETerm, VCTerm, parse_lme4, spec_from_formula


def test_correlated_independent_nested_and_crossed_terms():
    resp, fixed, terms = parse_lme4("y ~ x + C(f) + (x | g) + (1 + x || h) + (1 | a/b)")
    assert resp == "y"
    assert fixed.replace(" ", "") == "y~x+C(f)"
    assert terms == [
        RETerm("x", "g", True),
        RETerm("1 + x", "h", False),
        RETerm("1", "a", True),
        RETerm("1", "a:b", True),
    ]


def test_crossed_factors_keep_order():
    spec = spec_from_formula("diameter ~ 1 + (1 | plate) + (1 | sample)")
    assert spec.factors == ("plate", "sample")
    assert spec.fixed.replace(" ", "") == "diameter~1"


def test_statsmodels_spelling_with_vc_and_diagonal():
    spec = spec_from_formula("strength ~ 1", groups="batch", re_formula="~1",
                             vc_formula={"cask": "0 + C(cask)"}, cov_re="diagonal")
    (term,) = spec.re_terms
    assert term == RETerm("1", "batch", False, "batch", (VCTerm("cask", "0 + C(cask)"),))
    # statsmodels: variance components without re_formula carry no random intercept
    (term,) = spec_from_formula("strength ~ 1", groups="batch", vc_formula={"c": "0 + C(cask)"}
                                ).re_terms
    assert term.expr == "0"


@pytest.mark.parametrize(
    ("formula", "kwargs", "error", "fragment"),
    [
        ("y ~ x + (x | g", {}, FormulaError, "unbalanced parentheses"),
        ("y ~ x | g", {}, FormulaError, "wrapped in parentheses"),
        ("y x", {}, FormulaError, "exactly one '~'"),
        (" ~ x + (1|g)", {}, FormulaError, "response"),
        ("y ~ x + ( | g)", {}, FormulaError, "(expr | group)"),
        ("y ~ x", {}, SpecificationError, "needs random effects"),
        ("y ~ x + (1|g)", {"groups": "g"}, SpecificationError, "both lme4"),
        ("y ~ x", {"groups": "g", "cov_re": "banded"}, SpecificationError, "cov_re"),
        ("y ~ x", {"groups": "g", "family": "weibull"}, SpecificationError, "family"),
        ("y ~ x", {"re_formula": "~x"}, SpecificationError, "need groups="),
        ("y ~ x", {"groups": "g", "re_formula": "x ~ z"}, FormulaError, "re_formula"),
    ],
)
def test_formula_errors_name_the_argument(formula, kwargs, error, fragment):
    with pytest.raises(error) as info:
        spec_from_formula(formula, **kwargs)
    assert fragment in str(info.value)
    assert str(info.value).split(":")[0] in {"formula", "groups", "cov_re", "family", "re_formula"}


def test_bar_terms_are_found_on_tokens_not_characters():
    # a '|', '+', '/' or ')' inside a string literal or a back-quoted name is not structure
    resp, fixed, terms = parse_lme4(
        'y ~ C(f, levels=["a|b", "c)"]) + (1 + `x + z` || a/b) + (0 + x | `g/h`)')
    assert fixed == 'y ~ C(f, levels=["a|b", "c)"])'
    assert terms == [
        RETerm("1 + `x + z`", "a", False),
        RETerm("1 + `x + z`", "a:b", False),
        RETerm("0 + x", "g/h", True),  # a grouping column's name, unquoted
    ]


@pytest.mark.parametrize("formula", ["y ~ x + (1 | g | h)", "y ~ x + (1 ||| g)",
                                     "y ~ x + ((1 | g))",
                                     "y ~ x + (1 | g)(1 | h)", "y ~ x + (1 | g):z"])
def test_malformed_bar_terms_are_rejected(formula):
    with pytest.raises(FormulaError, match="^formula: "):
        parse_lme4(formula)


def test_formula_names_skip_string_contents():
    from bayesmm.formula_tokens import names

    assert names('y ~ C(f, levels=["a", "b"]) + `my col` + np.log(x)') == {
        "y", "C", "f", "levels", "my col", "np.log", "x"}
