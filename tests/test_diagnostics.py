"""Sampling problems are surfaced: warnings naming the parameters, and the summary footer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.diagnostics import Diagnostics


def test_problems_name_the_parameters() -> None:
    d = Diagnostics(3, pd.Series({"Intercept": 1.002, "Batch Var": 1.08}),
                    pd.Series({"Intercept": 900.0, "Batch Var": 150.0}))
    text = " ".join(d.problems())
    assert "3 divergent transitions" in text
    assert "R-hat above 1.01 for ['Batch Var']" in text
    assert "bulk ESS below 400 for ['Batch Var']" in text
    assert not Diagnostics(0, pd.Series({"a": 1.0}), pd.Series({"a": 1000.0})).problems()


def test_short_run_and_singular_reml_warn_and_reach_the_footer(data: object) -> None:
    frame = data("Dyestuff2")  # type: ignore[operator]
    model = bmm.mixedlm("Yield ~ 1", frame, groups="Batch")
    with pytest.warns(bmm.SamplingWarning) as record:
        res = model.fit(draws=40, tune=100, chains=2, cores=1, random_seed=3)
    messages = [str(w.message) for w in record if issubclass(w.category, bmm.SamplingWarning)]
    assert any("REML fit is singular: ['Batch Var']" in m for m in messages)
    assert any(m.startswith("bulk ESS below 400 for [") for m in messages)
    footer = "\n".join(res.summary().notes)
    for problem in res.sampling.problems():
        assert f"Warning: {problem}" in footer


def test_numpy_kernels_give_arvizs_numbers_and_restore_the_setting() -> None:
    import arviz as az

    from bayesmm.diagnostics import numpy_kernels

    draws = {"a": np.random.default_rng(0).normal(size=(4, 500)).cumsum(axis=1)}
    az.Numba.enable_numba()
    with_numba = az.summary(draws, kind="diagnostics", round_to="none")
    with numpy_kernels():
        assert not az.Numba.numba_flag
        plain = az.summary(draws, kind="diagnostics", round_to="none")
    assert az.Numba.numba_flag  # the user's setting is back
    pd.testing.assert_frame_equal(plain, with_numba, rtol=1e-10)


def test_diagnose_reports_arvizs_summary_r_hat_and_bulk_ess() -> None:
    import arviz as az
    import xarray as xr

    from bayesmm.diagnostics import diagnose

    rng = np.random.default_rng(4)
    walk = np.cumsum(rng.normal(size=(4, 300)), axis=1)  # (chain, draw): poorly mixed
    draws = xr.Dataset({"a": (("chain", "draw"), rng.normal(size=(4, 300))),
                        "b": (("chain", "draw"), walk),
                        "fixed": (("chain", "draw"), np.ones((4, 300)))})  # no R-hat
    idata = az.InferenceData(sample_stats=xr.Dataset(
        {"diverging": (("chain", "draw"), np.zeros((4, 300), dtype=bool))}))
    got = diagnose(draws, idata)
    with np.errstate(invalid="ignore", divide="ignore"):  # the constant's 0/0
        want = az.summary(draws, kind="diagnostics", round_to="none").drop("fixed")
    pd.testing.assert_series_equal(got.rhat, want["r_hat"], rtol=1e-12)
    pd.testing.assert_series_equal(got.ess_bulk, want["ess_bulk"], rtol=1e-12)
    assert got.max_rhat > 1.1 and got.divergences == 0


@pytest.mark.parametrize("shape", [(4, 1000), (4, 1001), (2, 50), (1, 100), (4, 3)])
@pytest.mark.parametrize("kind", ["normal", "walk", "constant", "shifted chain"])
def test_rank_diagnostics_are_arvizs_rhat_and_bulk_ess(shape: tuple[int, int], kind: str
                                                       ) -> None:
    import arviz as az

    from bayesmm.diagnostics import numpy_kernels, rank_diagnostics

    rng = np.random.default_rng(7)
    x = {"normal": rng.normal(size=shape), "walk": rng.normal(size=shape).cumsum(axis=1),
         "constant": np.ones(shape),
         "shifted chain": rng.normal(size=shape) + 5.0 * (np.arange(shape[0]) == 0)[:, None],
         }[kind]
    with numpy_kernels(), np.errstate(invalid="ignore", divide="ignore"):
        rhat, ess = rank_diagnostics(x)
        want = float(az.rhat(x, method="rank")), float(az.ess(x, method="bulk"))
    np.testing.assert_array_equal([rhat, ess], want)  # NaN where ArviZ gives NaN
