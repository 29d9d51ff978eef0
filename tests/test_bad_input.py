"""Every bad input gets a bayesmm error naming the argument and what was wrong (table-driven).

Each case: a call, the exception class, and fragments the message must contain — the
argument's name first, then the offending value or column.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm

RNG = np.random.default_rng(0)
N = 40
FRAME = pd.DataFrame({
    "y": RNG.normal(size=N), "x": RNG.normal(size=N), "z": RNG.normal(size=N),
    "g": np.repeat(list("abcdefgh"), 5), "count": RNG.poisson(3, N).astype(float),
    "n": np.full(N, 10.0), "word": ["w"] * N,
})


def frame(**changes: object) -> pd.DataFrame:
    """A copy of FRAME with columns replaced."""
    out = FRAME.copy()
    for key, value in changes.items():
        out[key] = value
    return out


def fit(model: bmm.MixedLM, **kwargs: object) -> object:
    return model.fit(**kwargs)


M = bmm.mixedlm("y ~ x", FRAME, groups="g")

CASES: list[tuple[str, Callable[[], object], type, tuple[str, ...]]] = [
    ("unknown fixed column", lambda: bmm.mixedlm("y ~ xx", FRAME, groups="g"),
     bmm.FormulaError, ("formula", "'xx'")),
    ("unknown response", lambda: bmm.mixedlm("yy ~ x", FRAME, groups="g"),
     bmm.FormulaError, ("formula", "'yy'")),
    ("unknown grouping column", lambda: bmm.mixedlm("y ~ x", FRAME, groups="gg"),
     bmm.FormulaError, ("groups", "'gg'")),
    ("unknown lme4 group", lambda: bmm.mixedlm("y ~ x + (1 | gg)", FRAME),
     bmm.FormulaError, ("groups", "'gg'")),
    ("dangling operator", lambda: bmm.mixedlm("y ~ x +", FRAME, groups="g"),
     bmm.FormulaError, ("formula",)),
    ("no tilde", lambda: bmm.mixedlm("y x", FRAME, groups="g"),
     bmm.FormulaError, ("formula", "'~'")),
    ("two tildes", lambda: bmm.mixedlm("y ~ x ~ z", FRAME, groups="g"),
     bmm.FormulaError, ("formula", "one '~'")),
    ("unbalanced parentheses", lambda: bmm.mixedlm("y ~ x + (1 | g", FRAME),
     bmm.FormulaError, ("formula", "unbalanced")),
    ("bar without parentheses", lambda: bmm.mixedlm("y ~ x + 1 | g", FRAME),
     bmm.FormulaError, ("formula", "parentheses")),
    ("no random effects", lambda: bmm.mixedlm("y ~ x", FRAME),
     bmm.SpecificationError, ("groups", "'( | g)'")),
    ("one-level group", lambda: bmm.mixedlm("y ~ x", frame(g="a"), groups="g"),
     bmm.DataError, ("groups", "1 level")),
    ("all-singleton groups with a slope",
     lambda: bmm.mixedlm("y ~ x", frame(g=np.arange(N).astype(str)), groups="g",
                         re_formula="~x"),
     bmm.DataError, ("groups", "40 levels for 40 rows")),
    ("constant predictor", lambda: bmm.mixedlm("y ~ x + c", frame(c=1.0), groups="g"),
     bmm.DataError, ("formula", "rank", "'c'")),
    ("collinear predictors", lambda: bmm.mixedlm("y ~ x + x2", frame(x2=2 * FRAME["x"]),
                                                 groups="g"),
     bmm.DataError, ("formula", "collinear")),
    ("non-numeric response", lambda: bmm.mixedlm("word ~ x", FRAME, groups="g"),
     bmm.DataError, ("formula", "'word'", "numeric")),
    ("groups of mixed types",
     lambda: bmm.mixedlm("y ~ x", frame(g=[1, "a"] * (N // 2)), groups="g"),
     bmm.DataError, ("groups", "mixes value types")),
    ("groups array of wrong length", lambda: bmm.mixedlm("y ~ x", FRAME, groups=np.ones(3)),
     bmm.DataError, ("groups", "40 labels")),
    ("mixture: k above the rows", lambda: bmm.mixture("y ~ 1", FRAME.head(5), k=6),
     bmm.DataError, ("k", "6 components")),
    ("mixture: unknown order", lambda: bmm.mixture("y ~ 1", FRAME, k=2, order="sigma"),
     bmm.SpecificationError, ("order", "'sigma'")),
    ("unknown prior distribution",
     lambda: bmm.mixedlm("y ~ x", FRAME, groups="g", priors={"sigma": ("Banana", {})}),
     bmm.SpecificationError, ("priors", "'Banana'")),
    ("prior for an unknown parameter",
     lambda: bmm.mixedlm("y ~ x", FRAME, groups="g",
                         priors={"slope": bmm.Prior("Normal", mu=0, sigma=1)}),
     bmm.SpecificationError, ("priors", "'slope'")),
    ("non-finite prior parameter", lambda: bmm.Prior("Normal", mu=0, sigma=np.inf),
     bmm.SpecificationError, ("priors", "sigma=inf")),
    ("malformed prior", lambda: bmm.mixedlm("y ~ x", FRAME, groups="g",
                                            priors={"sigma": 3.0}),
     bmm.SpecificationError, ("priors['sigma']", "3.0")),
    ("poisson with negative counts",
     lambda: bmm.mixedlm("y ~ x", FRAME, groups="g", family="poisson"),
     bmm.DataError, ("formula", "'poisson'", "counts")),
    ("negbin with fractions",
     lambda: bmm.mixedlm("c ~ x", frame(c=FRAME["count"] + 0.5), groups="g",
                         family="negbin"),
     bmm.DataError, ("formula", "'negbin'", "counts")),
    ("bernoulli with counts",
     lambda: bmm.mixedlm("count ~ x", FRAME, groups="g", family="bernoulli"),
     bmm.DataError, ("formula", "0/1")),
    ("successes above trials",
     lambda: bmm.mixedlm("count ~ x", frame(n=1.0), groups="g", family="binomial",
                         trials="n"),
     bmm.DataError, ("formula", "more successes than trials")),
    ("non-numeric trials",
     lambda: bmm.mixedlm("count ~ x", FRAME, groups="g", family="binomial", trials="word"),
     bmm.DataError, ("trials", "'word'")),
    ("unknown family", lambda: bmm.mixedlm("y ~ x", FRAME, groups="g", family="gamma"),
     bmm.SpecificationError, ("family", "'gamma'")),
    ("offset on a Gaussian model",
     lambda: bmm.mixedlm("y ~ x", FRAME, groups="g", offset="z"),
     bmm.SpecificationError, ("offset",)),
    ("draws zero", lambda: fit(M, draws=0), bmm.SpecificationError, ("draws", "0")),
    ("chains negative", lambda: fit(M, chains=-1), bmm.SpecificationError, ("chains", "-1")),
    ("tune negative", lambda: fit(M, tune=-5), bmm.SpecificationError, ("tune", "-5")),
    ("unknown method", lambda: fit(M, method="gibbs"),
     bmm.SpecificationError, ("method", "'gibbs'")),
    ("unknown sampler", lambda: fit(M, sampler="stan"),
     bmm.SpecificationError, ("sampler", "'stan'")),
    ("REML of a Poisson model",
     lambda: fit(bmm.mixedlm("count ~ x", FRAME, groups="g", family="poisson"),
                 method="reml"),
     bmm.SpecificationError, ("method", "'reml'")),
    ("unknown cov_re", lambda: bmm.mixedlm("y ~ x", FRAME, groups="g", cov_re="banded"),
     bmm.SpecificationError, ("cov_re", "'banded'")),
    ("re_formula without groups", lambda: bmm.mixedlm("y ~ x", FRAME, re_formula="~x"),
     bmm.SpecificationError, ("groups", "re_formula")),
    ("vc_formula not a string",
     lambda: bmm.mixedlm("y ~ x", FRAME, groups="g", vc_formula={"c": 3}),
     bmm.FormulaError, ("vc_formula['c']", "3")),
    ("groups and bar terms together",
     lambda: bmm.mixedlm("y ~ x + (1 | g)", FRAME, groups="g"),
     bmm.SpecificationError, ("groups", "one spelling")),
    ("mismatched array lengths",
     lambda: bmm.MixedLM(FRAME["y"], FRAME[["x"]].head(30), FRAME["g"]),
     bmm.DataError, ("exog", "30 rows", "40")),
    ("non-numeric exog",
     lambda: bmm.MixedLM(FRAME["y"], FRAME[["word"]], FRAME["g"]),
     bmm.DataError, ("exog", "numeric")),
    ("two-column endog",
     lambda: bmm.MixedLM(FRAME[["y", "x"]], FRAME[["x"]], FRAME["g"]),
     bmm.DataError, ("endog", "one column")),
    ("duplicate column names",
     lambda: bmm.mixedlm("y ~ x", pd.concat([FRAME, FRAME[["x"]]], axis=1), groups="g"),
     bmm.DataError, ("data", "duplicate", "'x'")),
    ("empty DataFrame", lambda: bmm.mixedlm("y ~ x", FRAME.head(0), groups="g"),
     bmm.DataError, ("data", "empty")),
    ("data not a DataFrame", lambda: bmm.mixedlm("y ~ x", FRAME.to_dict(), groups="g"),
     bmm.DataError, ("data", "DataFrame")),
    ("formula not a string", lambda: bmm.mixedlm(3, FRAME, groups="g"),
     bmm.FormulaError, ("formula", "string")),
    ("all rows missing",
     lambda: bmm.mixedlm("y ~ x", frame(y=np.nan), groups="g"),
     bmm.DataError, ("data", "no rows left")),
]


@pytest.mark.parametrize(("name", "call", "error", "fragments"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_input(name: str, call: Callable[[], object], error: type,
                   fragments: tuple[str, ...]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.MissingDataWarning)
        with pytest.raises(error) as info:
            call()
    message = str(info.value)
    assert isinstance(info.value, bmm.BayesMMError)
    assert message.startswith(fragments[0]), message
    for fragment in fragments[1:]:
        assert fragment in message, (fragment, message)


@pytest.mark.parametrize(("column", "value"), [("y", np.nan), ("x", np.nan), ("g", None)])
def test_missing_values_are_dropped_with_a_count(column: str, value: object) -> None:
    data = FRAME.copy()
    data[column] = data[column].astype(object)
    data.loc[[3, 17], column] = value
    if column != "g":
        data[column] = data[column].astype(float)
    with pytest.warns(bmm.MissingDataWarning, match="dropped 2 of 40 rows"):
        model = bmm.mixedlm("y ~ x", data, groups="g")
    assert model.design.n_obs == 38 and model.design.n_dropped == 2
    assert "Dropped (missing)" in str(model.fit(method="reml").summary())


@pytest.mark.parametrize(("column", "value"), [("y", np.inf), ("x", -np.inf)])
def test_infinite_values_are_bad_data_named_by_column_and_row(column: str, value: float
                                                              ) -> None:
    data = FRAME.copy()
    data.loc[[3, 17], column] = value
    with pytest.raises(bmm.DataError) as info:
        bmm.mixedlm("y ~ x", data, groups="g")
    message = str(info.value)
    assert message.startswith("data: infinite values in")
    assert f"{column!r} (2 row(s): 3, 17)" in message and "set it to NaN" in message
