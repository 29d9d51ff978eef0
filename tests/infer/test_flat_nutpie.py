"""The self-extending nutpie run: its stopping rule and where it cuts the trace."""

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesmm as bmm
from bayesmm.infer.flat_nutpie import StopRule, _completed_draws, _sample_until_converged


def _trace(x: np.ndarray) -> az.InferenceData:
    """InferenceData with one scalar parameter ``a`` of draws ``x`` (C, D)."""
    return az.from_dict(posterior={"a": x},
                        sample_stats={"diverging": np.zeros(x.shape, bool)})


def test_stop_rule_holds_for_agreeing_chains_and_fails_for_a_shifted_one():
    rng = np.random.default_rng(0)
    good = rng.normal(size=(4, 1000))
    assert StopRule().met(_trace(good).posterior)
    shifted = good.copy()
    shifted[3] += 0.5  # R-hat ≈ 1.03
    assert not StopRule().met(_trace(shifted).posterior)
    sticky = np.cumsum(rng.normal(size=(4, 1000)), axis=1) * 0.01 + good * 0.0
    assert not StopRule().met(_trace(sticky).posterior)  # a random walk: ESS far below 400
    constant = np.stack([good, np.ones_like(good)], axis=2)  # (C, D, 2)
    assert StopRule().met(az.from_dict(posterior={"a": constant}).posterior)


def test_completed_draws_count_the_draws_every_chain_has_finished():
    x = np.random.default_rng(1).normal(size=(3, 10))
    x[0, 6:] = np.nan
    x[2, 4:] = np.nan
    assert _completed_draws(_trace(x)) == 4
    empty = xr.Dataset({"a": (("chain", "draw"), np.empty((3, 0)))})
    assert _completed_draws(az.InferenceData(posterior=empty)) == 0


class FakeSampler:
    """Stands in for nutpie's background sampler: ``per_call`` more draws at each look."""

    def __init__(self, draws: np.ndarray, per_call: int) -> None:
        self.draws, self.per_call, self.done, self.aborted = draws, per_call, 0, False

    def _view(self) -> az.InferenceData:
        x = self.draws.copy()
        x[:, self.done:] = np.nan
        return _trace(x)

    @property
    def is_finished(self) -> bool:  # a property in nutpie, raising while the chains run
        if self.done >= self.draws.shape[1]:
            return True
        raise TimeoutError("Timeout while waiting for sampler to finish")

    def inspect(self) -> az.InferenceData:
        self.done = min(self.done + self.per_call, self.draws.shape[1])
        return self._view()

    def abort(self) -> az.InferenceData:
        self.aborted = True
        return self._view()

    def wait(self) -> az.InferenceData:
        self.done = self.draws.shape[1]
        return self._view()


@pytest.mark.parametrize("per_call", [70, 250, 5000])
def test_the_run_is_cut_at_the_first_checkpoint_that_meets_the_rule(per_call):
    # chain 3 sits 0.5 SD off for its first 1,500 draws, then joins the others: the rule
    # first holds at a checkpoint after that, whatever the pace at which draws arrive
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 8000))
    x[3, :1500] += 0.5
    checkpoints = [k * 500 for k in range(1, 16)]
    first = next(c for c in checkpoints if StopRule().met(_trace(x[:, :c]).posterior))
    sampler = FakeSampler(x, per_call)
    out = _sample_until_converged(sampler, 500, 8000, StopRule(), poll=0.0)
    assert out.posterior.sizes["draw"] == first and first > 1500
    np.testing.assert_array_equal(out.posterior["a"].values, x[:, :first])
    assert out.sample_stats.sizes["draw"] == first
    assert sampler.aborted == (first < 8000) or per_call >= 8000


def test_a_run_that_never_converges_returns_every_draw():
    x = np.random.default_rng(3).normal(size=(4, 3000))
    x[3] += 1.0
    out = _sample_until_converged(FakeSampler(x, 400), 1000, 3000, StopRule(), poll=0.0)
    assert out.posterior.sizes["draw"] == 3000


def test_mixture_fit_extends_itself_deterministically(data, seed):
    pytest.importorskip("nutpie")
    model = bmm.mixture("waiting ~ 1", data("faithful"), k=2)
    kw = {"draws": 100, "max_draws": 3000, "tune": 300, "chains": 4, "random_seed": seed}
    a, b = model.fit(**kw), model.fit(**kw)
    n = a.idata.posterior.sizes["draw"]
    assert n % 100 == 0 and n <= 3000
    np.testing.assert_array_equal(a.idata.posterior["sigma"].values,
                                  b.idata.posterior["sigma"].values)
    table = a.summary().table
    if n < 3000:  # stopped because the rule held
        assert table["R-hat"].max() <= 1.01 and table["ESS bulk"].min() >= 400
    # a run that reaches its cap: 4 x 10 draws cannot give bulk ESS 400 (ArviZ caps the
    # ESS of N draws at N log10 N = 64), so the rule fails at the only checkpoint
    capped = model.fit(draws=10, max_draws=20, tune=100, chains=4, random_seed=seed)
    assert capped.idata.posterior.sizes["draw"] == 20
    with pytest.raises(bmm.SpecificationError, match="max_draws: expected an integer ≥ draws"):
        model.fit(draws=500, max_draws=100)
    with pytest.raises(bmm.SpecificationError, match="max_draws: a run that extends itself"):
        model.fit(sampler="pymc", max_draws=2000)


def test_an_unconverged_mixture_summary_says_so_in_words():
    frame = pd.DataFrame({"y": np.r_[np.zeros(5), np.ones(5)] + np.arange(10) * 0.01})
    design = bmm.mixture("y ~ 1", frame, k=2).design
    rng = np.random.default_rng(0)
    C, D = 4, 200
    beta = rng.normal([0.0, 5.0], 0.1, (C, D, 2))[..., None]
    beta[1, :, 1, 0] += 0.05  # chain 1's second component sits half an SD off: R-hat > 1.01
    w0 = rng.uniform(0.4, 0.6, (C, D, 1))
    post = {"beta": beta, "sigma": rng.uniform(0.9, 1.1, (C, D, 2)),
            "w": np.concatenate([w0, 1 - w0], axis=2)}
    res = bmm.MixtureResults(design, 2, "mu", az.from_dict(
        posterior=post, sample_stats={"diverging": np.zeros((C, D), bool)}), None)
    (note,) = [n for n in res.summary().notes if n.startswith("Not converged")]
    assert "R-hat above 1.01 for Intercept[1]" in note and "max_draws" in note
