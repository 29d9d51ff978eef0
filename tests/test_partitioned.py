"""Dask input: statistics per partition equal the one-shot numpy ones; fits agree; clear errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm import suffstats
from bayesmm.errors import DataError, SpecificationError

dd = pytest.importorskip("dask.dataframe")

STATS = ("ZtZ", "ZtX", "Zty", "XtX", "Xty", "yty", "n_per_block", "XtX_b", "Xty_b", "yty_b")
FORMULA = "y ~ x + c + (x | g)"


def _frame(n: int = 6000, G: int = 40, seed: int = 3) -> pd.DataFrame:
    """Sorted by group, so most partitions miss most groups; a few NaN rows."""
    rng = np.random.default_rng(seed)
    g = np.sort(rng.integers(0, G, n))
    x = rng.normal(size=n)
    c = rng.choice(["lo", "mid", "hi"], n)
    y = (1 + 0.5 * x + 0.8 * (c == "hi") + rng.normal(size=G)[g]
         + 0.3 * rng.normal(size=G)[g] * x + rng.normal(size=n))
    df = pd.DataFrame({"y": y, "x": x, "c": c, "g": [f"s{k:02d}" for k in g]})
    df.loc[[7, 4000], "y"] = np.nan
    df.loc[100, "x"] = np.nan
    return df


def _uneven(df: pd.DataFrame) -> object:
    """Partitions of 1, 17, 900, … rows: uneven, and levels missing from most of them."""
    cuts = [0, 1, 18, 918, 2500, 2501, 4100, len(df) - 1]
    return dd.from_pandas(df, npartitions=1).repartition(divisions=cuts)


def _models(df: pd.DataFrame, formula: str = FORMULA) -> tuple[bmm.MixedLM, bmm.MixedLM]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.MissingDataWarning)
        return bmm.mixedlm(formula, df), bmm.mixedlm(formula, _uneven(df))


def test_an_infinite_value_in_a_partition_is_named() -> None:
    df = _frame()
    df.loc[2600, "x"] = np.inf  # in the sixth partition
    with pytest.raises(bmm.DataError, match=r"infinite values in 'x' \(1 row\(s\): 2600\)"):
        bmm.mixedlm(FORMULA, _uneven(df))


def test_partition_statistics_equal_one_shot() -> None:
    df = _frame()
    ddf = _uneven(df)
    assert ddf.npartitions == 7
    with pytest.warns(bmm.MissingDataWarning, match="dropped 3 of 6000 rows"):
        dask_model = bmm.mixedlm(FORMULA, ddf)
    with pytest.warns(bmm.MissingDataWarning):
        mem_model = bmm.mixedlm(FORMULA, df)
    for name in STATS:
        a, b = getattr(mem_model.stats, name), getattr(dask_model.stats, name)
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12 * np.max(np.abs(a)))
    d1, d2 = mem_model.design, dask_model.design
    assert (d2.n_obs, d2.n_dropped, d2.has_rows) == (5997, 3, False)
    assert d2.factors[0].levels == d1.factors[0].levels and d2.xnames == d1.xnames
    np.testing.assert_array_equal(d2.data_moments.group_counts[0], np.bincount(d1.factors[0].codes))
    for key, prior in mem_model.priors.items():
        for param, value in prior.params.items():
            assert dask_model.priors[key].params[param] == pytest.approx(value, rel=1e-12)


def test_chunked_statistics_equal_one_shot(monkeypatch: pytest.MonkeyPatch) -> None:
    df = _frame().dropna()
    df = df[np.isfinite(df["x"])]
    whole = bmm.mixedlm(FORMULA, df).stats
    monkeypatch.setattr(suffstats, "CHUNK", 37)  # 163 chunks, the last one partial
    chunked = bmm.mixedlm(FORMULA, df).stats
    for name in STATS:
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-12,
                                   atol=1e-12 * np.max(np.abs(getattr(whole, name))))


def test_reml_from_partitions_equals_in_memory() -> None:
    mem, part = (m.fit("reml") for m in _models(_frame()))
    assert part.converged and mem.converged
    np.testing.assert_allclose(part.fe_params, mem.fe_params, rtol=1e-10)
    assert part.scale == pytest.approx(mem.scale, rel=1e-10)
    assert part.llf == pytest.approx(mem.llf, rel=1e-12)
    # Newton on the exact gradient lands both on the same optimum despite summation-order
    # rounding in the statistics (the issue asks for 1e-8; finite differences gave ~1e-6)
    np.testing.assert_allclose(part.cov_re, mem.cov_re, rtol=1e-10)
    assert str(part.summary()).splitlines()[:9] == str(mem.summary()).splitlines()[:9]


def test_nuts_from_partitions_matches_in_memory_posterior(seed: int) -> None:
    mem_model, dask_model = _models(_frame(), "y ~ x + (1 | g)")
    kw = {"draws": 500, "tune": 500, "chains": 2, "cores": 1, "random_seed": seed}
    a, b = dask_model.fit(**kw), mem_model.fit(**kw)
    assert a.build == "marginal" and "observed_data" not in a.idata.groups()
    assert a.posterior["g"].shape == (2, 500, 40, 1)
    for name in ("beta", "sigma", "g_sd"):
        x = a.posterior[name].values.reshape(1000, -1)  # (draws, k)
        y = b.posterior[name].values.reshape(1000, -1)
        mcse = np.hypot(x.std(0), y.std(0)) / np.sqrt(a.sampling.ess_bulk.min())
        assert np.all(np.abs(x.mean(0) - y.mean(0)) < 4 * mcse), name
    with pytest.raises(DataError, match="Dask DataFrame"):
        a.predict()
    new = _frame().dropna().head(20)
    pa = a.predict(new_data=new, kind="mean").values.reshape(1000, -1)  # (draws, rows)
    pb = b.predict(new_data=new, kind="mean").values.reshape(1000, -1)
    mcse = np.hypot(pa.std(0), pb.std(0)) / np.sqrt(a.sampling.ess_bulk.min())
    assert np.all(np.abs(pa.mean(0) - pb.mean(0)) < 4 * mcse)


def test_local_cluster_client_computes_the_statistics() -> None:
    distributed = pytest.importorskip("distributed")
    df = _frame()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bmm.MissingDataWarning)
            model = bmm.mixedlm(FORMULA, _uneven(df))
        assert len(client.scheduler_info()["workers"]) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.MissingDataWarning)
        ref = bmm.mixedlm(FORMULA, df)
    for name in STATS:
        np.testing.assert_allclose(getattr(model.stats, name), getattr(ref.stats, name),
                                   rtol=1e-12, atol=1e-9)


def _crossed_frame(n: int = 5000, seed: int = 4) -> pd.DataFrame:
    """Subjects (60, with slopes) crossed with items (25), nested sites (6); a NaN row."""
    rng = np.random.default_rng(seed)
    s, i = rng.integers(0, 60, n), rng.integers(0, 25, n)
    x = rng.normal(size=n)
    y = (1 + 0.5 * x + rng.normal(size=60)[s] + 0.4 * rng.normal(size=60)[s] * x
         + 0.7 * rng.normal(size=25)[i] + 0.5 * rng.normal(size=6)[s % 6] + rng.normal(size=n))
    df = pd.DataFrame({"y": y, "x": x, "subj": [f"s{k}" for k in s],
                       "item": [f"i{k}" for k in i], "site": [f"t{k % 6}" for k in s]})
    df.loc[11, "y"] = np.nan
    return df.sort_values("subj", ignore_index=True)


BLOCKED = ("D1", "Z1X", "Z1y", "ZrZr", "ZrX", "Zry", "XtX", "Xty", "yty", "n_obs")


@pytest.mark.parametrize("formula", ["y ~ x + (x | subj) + (1 | item)",
                                     "y ~ x + (1 | site/subj) + (1 | item)"])
def test_several_factors_from_partitions_equal_in_memory(formula: str) -> None:
    df = _crossed_frame()
    ddf = dd.from_pandas(df, npartitions=5)
    with pytest.warns(bmm.MissingDataWarning, match="dropped 1 of 5000 rows"):
        dask_model = bmm.mixedlm(formula, ddf)
    with pytest.warns(bmm.MissingDataWarning):
        mem_model = bmm.mixedlm(formula, df)
    a, b = mem_model.stats, dask_model.stats  # BlockedStats, summed over the 5 partitions
    assert b.order == a.order and b.levels == a.levels
    for name in BLOCKED:
        x, y = getattr(a, name), getattr(b, name)
        np.testing.assert_allclose(y, x, rtol=1e-12, atol=1e-12 * np.max(np.abs(x)))
    np.testing.assert_allclose(b.ZrZ1.toarray(), a.ZrZ1.toarray(), rtol=1e-12)
    mem, part = mem_model.fit("reml"), dask_model.fit("reml")
    assert part.converged and mem.converged
    assert part.llf == pytest.approx(mem.llf, rel=1e-10)
    np.testing.assert_allclose(part.fe_params, mem.fe_params, rtol=1e-7)
    np.testing.assert_allclose(part.vcomp, mem.vcomp, rtol=1e-6)
    assert part.design.n_obs == 4999 and not part.design.has_rows
    assert str(part.summary()).splitlines()[:9] == str(mem.summary()).splitlines()[:9]
    for name, effects in mem.random_effects.items():
        np.testing.assert_allclose(part.random_effects[name], effects, rtol=1e-5, atol=1e-7)
    with pytest.raises(DataError, match=r"collapsed build .*fit\(method='reml'\)"):
        dask_model.fit(draws=10, tune=10, chains=1)


@pytest.mark.parametrize(("formula", "kwargs", "error", "match"), [
    ("y ~ x + (1 | g)", {"family": "t"}, SpecificationError, "family='t'"),
    ("y ~ center(x) + (1 | g)", {}, SpecificationError, "center"),
    ("y ~ x + (1 | g)", {"groups": np.zeros(6000)}, DataError, "groups"),
])
def test_dask_input_errors_name_the_argument(formula, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        bmm.mixedlm(formula, _uneven(_frame()), **kwargs)
