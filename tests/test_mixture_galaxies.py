"""Galaxies: ordered mixtures of K = 2…5 that extend themselves until they converge, by LOO.

In a file of its own, so that `make test`'s two workers (``--dist loadfile``) can run it
beside the other mixture tests.
"""

import warnings

import arviz as az
import pytest

import bayesmm as bmm


@pytest.mark.slow
def test_galaxies_ordered_model_converges_and_compares_by_loo(data, seed):
    # Chains start near the EM mode (nutpie, 4 chains) and extend themselves (max_draws)
    # until every parameter has R-hat <= 1.01 and bulk ESS >= 400. Measured
    # (benchmarks/mixture_mixing.py, docs/priors.md "How many components"):
    # - K = 4: the two bulk components overlap and trade width, ~1 ESS per 20 draws: it
    #   stops at 4 x 5,000-10,000 draws;
    # - K = 5 with Dirichlet(1): a component empties and wanders below the data through a
    #   funnel (67-225 divergences), R-hat 1.014 and 1.037 at 4 x 20000; Dirichlet(4)
    #   (Fruhwirth-Schnatter 2006: bounded away from empty components) converges.
    frame = data("galaxies").assign(v=lambda f: f["dat"] / 1000.0)
    runs = {"K=2": (2, 1.0), "K=3": (3, 1.0), "K=4": (4, 1.0), "K=5, alpha=4": (5, 4.0)}
    fits = {}
    for name, (k, alpha) in runs.items():
        res = bmm.mixture("v ~ 1", frame, k=k, alpha=alpha).fit(
            draws=1000, max_draws=30000, tune=1000, chains=4, random_seed=seed,
            target_accept=0.95)
        summary = res.summary()
        table = summary.table
        converged = table["R-hat"].max() <= 1.01 and table["ESS bulk"].min() >= 400
        if k in (3, 4):  # the stopping rule held
            assert converged, (name, table)
        elif k == 5 and not converged:
            # K = 5 reaches the 4 x 30000 cap unconverged on some seeds (seed 0: R-hat
            # 1.025 for the weights; benchmarks/seed_sweep.py): the summary must say so
            flagged = [n for n in summary.notes if n.startswith("Not converged: ")]
            assert len(flagged) == 1, summary.notes
            high = table.index[table["R-hat"] > 1.01]
            low = table.index[table["ESS bulk"] < 400]
            assert all(p in flagged[0] for p in [*high, *low]), (flagged, table)
        fits[name] = res.idata
    with warnings.catch_warnings():  # Pareto-k warnings on 82 points; arviz 0.23 uses a
        warnings.simplefilter("ignore")  # pandas API that pandas 3.1 deprecates
        table = az.compare(fits)
    assert set(table.index) == set(runs)
    assert table.index[-1] == "K=2"  # two clusters describe the velocities worst
