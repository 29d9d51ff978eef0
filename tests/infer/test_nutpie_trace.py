"""nutpie's raw trace converted in one step is the InferenceData nutpie's own conversion gives."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from nutpie.sample import _arrow_to_arviz

import bayesmm as bmm
from bayesmm.infer import flat_nutpie
from bayesmm.infer.kernel_density import kernel_density
from bayesmm.infer.nutpie_trace import SKIPPED_STATS, to_inference_data


@pytest.fixture(scope="module")
def raw(data):
    """A raw nutpie trace of Dyestuff's kernel (4 chains, 60 draws after 60), and its model."""
    import nutpie

    model = bmm.mixedlm("Yield ~ 1 + (1 | Batch)", data("Dyestuff"))
    density = kernel_density(model.design, model.priors, model.stats)
    compiled = flat_nutpie._native_model_from(density, None, 3)
    results = nutpie.sample(compiled, draws=60, tune=60, chains=4, cores=2, seed=3,
                            progress_bar=False, save_warmup=False, return_raw_trace=True)
    return results.get_arrow_trace(), compiled


def _nutpies(draws, stats, compiled):
    skip = sorted(SKIPPED_STATS - {"chain", "draw"})  # nutpie drops the indices itself
    return _arrow_to_arviz(draws, stats, skip_vars=skip, save_warmup=False,
                           coords={k: pd.Index(v) for k, v in compiled.coords.items()})


def _assert_same(got, want):
    for group in ("posterior", "sample_stats"):
        a, b = getattr(got, group), getattr(want, group)
        assert list(a.data_vars) == list(b.data_vars)
        assert {k: a[k].dtype for k in a.data_vars} == {k: b[k].dtype for k in b.data_vars}
        assert set(a.attrs) == set(b.attrs)
        xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())


def test_a_finished_trace_converts_to_nutpies_inference_data(raw):
    (draws, stats), compiled = raw
    got = to_inference_data(draws, stats, compiled.coords)
    _assert_same(got, _nutpies(draws, stats, compiled))
    assert got.posterior.sizes == {"chain": 4, "draw": 60, "Batch_sd_dim": 1}
    assert "warmup_posterior" not in got.groups()


def test_a_trace_under_way_pads_the_shorter_chains_with_nan(raw):
    # a self-extending run inspects chains that have run different numbers of draws
    (draws, stats), compiled = raw
    lengths = [120, 95, 60, 71]  # 60 tuning rows each, then 60, 35, 0 and 11 draws
    draws = [d.slice(0, n) for d, n in zip(draws, lengths, strict=True)]
    stats = [s.slice(0, n) for s, n in zip(stats, lengths, strict=True)]
    got = to_inference_data(draws, stats, compiled.coords)
    _assert_same(got, _nutpies(draws, stats, compiled))
    sigma = got.posterior["sigma"].values  # (4, 60)
    assert np.isnan(sigma[1, 35:]).all() and np.isfinite(sigma[1, :35]).all()
    assert np.isnan(sigma[2]).all()
