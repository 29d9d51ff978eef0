"""The one-factor criterion on the C kernel equals the NumPy profiled deviance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.deviance import deviance
from bayesmm.infer import fast_deviance
from bayesmm.infer.fast_deviance import deviance_function


def _frame(seed: int = 0, n_groups: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_groups * 9
    g = np.repeat(np.arange(n_groups), 9)
    x, z = rng.normal(size=n), rng.uniform(size=n)
    b = rng.normal(size=(n_groups, 3)) * [1.0, 0.5, 0.3]
    y = 1.0 + 0.5 * x + b[g, 0] + b[g, 1] * x + b[g, 2] * z + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "z": z, "g": g, "h": rng.integers(0, 4, size=n)})


@pytest.mark.parametrize("formula", [
    "y ~ x + (1 | g)",                 # q = 1
    "y ~ x + (x | g)",                 # q = 2
    "y ~ x + z + (x + z | g)",         # q = 3, the generic normal equations
    "y ~ 0 + x + (1 | g)",             # no intercept
    "y ~ x + (x || g)",                # independent blocks
])
@pytest.mark.parametrize("method", ["reml", "ml", "map"])
def test_kernel_criterion_equals_the_numpy_deviance(formula: str, method: str) -> None:
    stats = bmm.mixedlm(formula, _frame()).stats
    fast = deviance_function(stats, method)  # type: ignore[arg-type]
    assert isinstance(fast, fast_deviance._KernelCriterion)
    rng = np.random.default_rng(1)
    diag = stats.tmap.on_diagonal
    for scale in (1e-3, 0.3, 1.0, 5.0):
        theta = rng.normal(size=stats.tmap.n_theta) * scale
        theta = np.where(diag, np.abs(theta), theta)
        expected = deviance(theta, stats, method)  # type: ignore[arg-type]
        np.testing.assert_allclose(fast(theta), expected, rtol=1e-11)
    if method != "map":  # at the boundary θ = 0 (MAP's penalty is infinite there)
        zero = np.zeros(stats.tmap.n_theta)
        np.testing.assert_allclose(fast(zero), deviance(zero, stats, method), rtol=1e-12)


def test_undefined_points_are_infinite_as_in_numpy() -> None:
    stats = bmm.mixedlm("y ~ x + (x | g)", _frame()).stats
    theta = np.array([np.nan, 0.1, 0.5])
    assert deviance(theta, stats, "reml") == np.inf  # type: ignore[arg-type]
    assert deviance_function(stats, "reml")(theta) == np.inf  # type: ignore[arg-type]


def test_several_factors_and_no_library_keep_the_numpy_criterion(
        monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _frame()
    blocked = bmm.mixedlm("y ~ x + (1 | g) + (1 | h)", frame).stats
    fn = deviance_function(blocked, "reml")  # type: ignore[arg-type]
    assert not isinstance(fn, fast_deviance._KernelCriterion)
    theta = np.array([0.7, 0.2])
    assert fn(theta) == deviance(theta, blocked, "reml")  # type: ignore[arg-type]
    monkeypatch.setattr(fast_deviance, "profile_function", lambda: None)
    stats = bmm.mixedlm("y ~ x + (1 | g)", frame).stats
    fn = deviance_function(stats, "ml")  # type: ignore[arg-type]
    assert not isinstance(fn, fast_deviance._KernelCriterion)
    assert fn(np.array([0.4])) == deviance(np.array([0.4]), stats, "ml")  # type: ignore[arg-type]


def test_fits_on_the_kernel_reach_the_numpy_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    model = bmm.mixedlm("y ~ x + z + (x + z | g)", _frame(3))
    fast = model.fit(method="reml")
    monkeypatch.setattr(fast_deviance, "profile_function", lambda: None)
    slow = model.fit(method="reml")
    assert fast.converged and slow.converged
    np.testing.assert_allclose(fast.llf, slow.llf, rtol=1e-10)
    np.testing.assert_allclose(fast.fit.theta, slow.fit.theta, atol=1e-5)
