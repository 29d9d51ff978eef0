"""Families: log-densities against scipy, scores and Fisher weights by differentiation, support."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from bayesmm.errors import DataError, SpecificationError
from bayesmm.families import FAMILIES, get_family

RNG = np.random.default_rng(7)
ETA = RNG.normal(0.3, 0.8, 40)
TRIALS = RNG.integers(1, 12, 40).astype(float)
AUX = {"sigma": 1.7, "nu": 4.5, "alpha": 2.3}


def _data(name: str) -> tuple[np.ndarray, np.ndarray | None]:
    fam = get_family(name)
    trials = TRIALS if name == "binomial" else None
    y = fam.sample(np.random.default_rng(1), ETA, trials, AUX)
    return y, trials


def test_logpdf_matches_scipy() -> None:
    mu = np.exp(ETA)
    p = special.expit(ETA)
    ref = {
        "gaussian": lambda y: stats.norm.logpdf(y, ETA, AUX["sigma"]),
        "t": lambda y: stats.t.logpdf(y, AUX["nu"], ETA, AUX["sigma"]),
        "bernoulli": lambda y: stats.bernoulli.logpmf(y, p),
        "binomial": lambda y: stats.binom.logpmf(y, TRIALS, p),
        "poisson": lambda y: stats.poisson.logpmf(y, mu),
        "negbin": lambda y: stats.nbinom.logpmf(y, AUX["alpha"],
                                                AUX["alpha"] / (AUX["alpha"] + mu)),
    }
    assert set(ref) == set(FAMILIES)
    for name, fn in ref.items():
        y, trials = _data(name)
        np.testing.assert_allclose(get_family(name).logpdf(y, ETA, trials, AUX), fn(y),
                                   rtol=1e-10, err_msg=name)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_score_is_the_derivative_and_weight_the_expected_information(name: str) -> None:
    fam = get_family(name)
    y, trials = _data(name)
    h = 1e-6
    num = (fam.logpdf(y, ETA + h, trials, AUX) - fam.logpdf(y, ETA - h, trials, AUX)) / (2 * h)
    score, weight = fam.score_weight(y, ETA, trials, AUX)
    np.testing.assert_allclose(score, num, rtol=1e-5, atol=1e-6)
    # Fisher weight = Var(score) under the model: check by simulation on one η
    eta = np.full(200_000, 0.4)
    n = np.full(eta.size, 7.0) if name == "binomial" else None
    ys = fam.sample(np.random.default_rng(3), eta, n, AUX)
    s, w = fam.score_weight(ys, eta, n, AUX)
    assert abs(s.mean()) < 5 * s.std() / np.sqrt(eta.size)
    assert s.var() == pytest.approx(w[0], rel=0.03)


@pytest.mark.parametrize(("name", "y", "trials", "match"), [
    ("bernoulli", [0.0, 1.0, 2.0], None, "0/1 response"),
    ("poisson", [0.0, -1.0, 2.0], None, "counts"),
    ("poisson", [0.0, 1.5, 2.0], None, "counts"),
    ("negbin", [3.0, -2.0], None, "counts"),
    ("binomial", [1.0, 5.0], [3.0, 4.0], "more successes than trials"),
    ("binomial", [1.0, 2.0], [3.0, 0.0], "trials"),
    ("binomial", [1.0, 2.0], None, "needs the number of trials"),
])
def test_support_violations(name: str, y: list, trials: list | None, match: str) -> None:
    arr = None if trials is None else np.array(trials)
    with pytest.raises((DataError, SpecificationError), match=match):
        get_family(name).check(np.array(y), arr)


def test_unknown_family_lists_the_choices() -> None:
    with pytest.raises(SpecificationError, match="family: expected one of"):
        get_family("gamma")
