"""Property-based: on generated data frames and formulas bayesmm fits or raises a BayesMMError.

Never another exception type (a NumPy, pandas, formulae or SciPy traceback is a bug).
Point fits only (REML / Laplace ML / EM), so that hundreds of cases run in seconds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import bayesmm as bmm

from .conftest import SEED

# Hypothesis draws its examples from SEED: the suite's verdict is fixed, and
# benchmarks/seed_sweep.py explores ten other sets of examples.
pytestmark = pytest.mark.statistical

FORMULAS = [
    ("y ~ x", {"groups": "g"}),
    ("y ~ x", {"groups": "g", "re_formula": "~x"}),
    ("y ~ 1 + (1 | g)", {}),
    ("y ~ x + (x || g)", {}),
    ("y ~ x + (1 | g) + (1 | h)", {}),
    ("y ~ C(h) + (1 | g)", {}),
    ("y ~ x + (1 | g/h)", {}),
    ("y ~ x", {"groups": "h", "cov_re": "diagonal", "re_formula": "~x"}),
    ("y ~ x + z", {"groups": "g"}),
    ("y ~ x", {"groups": "g", "family": "poisson"}),
    ("y ~ x", {"groups": "g", "family": "bernoulli"}),
]

floats = st.one_of(
    st.floats(-1e3, 1e3, allow_nan=False),
    st.floats(-1e3, 1e3, allow_nan=False),
    st.floats(-1e3, 1e3, allow_nan=False),
    st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0]),
)
LABELS = {"str": st.sampled_from(["a", "b", "c", "d"]), "int": st.integers(0, 4),
          "mixed": st.one_of(st.sampled_from(["a", "b"]), st.integers(0, 2), st.none())}


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    """Small frames with numeric, label and occasionally broken columns."""
    n = draw(st.integers(0, 40))
    labels = LABELS[draw(st.sampled_from(["str", "str", "int", "int", "mixed"]))]
    data = {
        "y": draw(st.lists(floats, min_size=n, max_size=n)),
        "x": draw(st.lists(floats, min_size=n, max_size=n)),
        "g": draw(st.lists(labels, min_size=n, max_size=n)),
        "h": draw(st.lists(st.sampled_from(["u", "v"]), min_size=n, max_size=n)),
    }
    if draw(st.booleans()):
        data["z"] = draw(st.lists(st.sampled_from(["p", "q", 1.5]), min_size=n, max_size=n))
    return pd.DataFrame(data)


@seed(SEED)
@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames(), which=st.integers(0, len(FORMULAS) - 1))
def test_mixed_models_fit_or_raise_bayesmm_errors(frame: pd.DataFrame, which: int) -> None:
    formula, kwargs = FORMULAS[which]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = bmm.mixedlm(formula, frame, **kwargs)
            method = "reml" if kwargs.get("family", "gaussian") == "gaussian" else "ml"
            res = model.fit(method=method)
        except bmm.BayesMMError:
            return
    assert np.all(np.isfinite(res.fe_params.to_numpy()))
    assert res.nobs == model.design.n_obs <= len(frame)


@seed(SEED)
@settings(max_examples=60, deadline=None, database=None)
@given(frame=frames(), k=st.integers(-1, 4))
def test_mixtures_fit_or_raise_bayesmm_errors(frame: pd.DataFrame, k: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = bmm.mixture("y ~ 1", frame, k=k).fit(method="map", n_restarts=2)
        except bmm.BayesMMError:
            return
    assert np.isclose(res.weights.sum(), 1.0)
