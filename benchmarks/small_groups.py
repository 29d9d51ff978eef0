"""Actual coverage of nominal 95% intervals with 5, 10 and 20 groups, every method in one table.

Simulates ``y = 1 + 0.5 x + 0.5 w_g + b_g + ε`` with ``b_g ~ N(0, 1)``, ``ε ~ N(0, 1)``, six
rows per group, ``x`` varying within groups and ``w`` between them; fits REML and counts how
often each interval holds the truth:

* fixed effects (the intercept, the between-group ``w`` and the within-group ``x``): z/Wald,
  Satterthwaite, Kenward-Roger, profile, parametric bootstrap (percentile) and, with
  ``--posterior``, the posterior's 95% HDI under the default priors;
* the group SD: Wald (delta method on the SD), profile, bootstrap and the posterior HDI.

Each cell prints the coverage and its Monte Carlo standard error ``sqrt(p(1−p)/n)``.

Usage: python benchmarks/small_groups.py [--datasets 1000] [--nsim 200] [--posterior]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import bayesmm as bmm

TRUTH = {"Intercept": 1.0, "w": 0.5, "x": 0.5, "g SD": 1.0}
FIXED = ["Intercept", "w", "x"]


def simulate(n_groups: int, rng: np.random.Generator, per_group: int = 6) -> pd.DataFrame:
    """One data set of the design."""
    g = np.repeat(np.arange(n_groups), per_group)
    w = rng.normal(size=n_groups)[g]
    x = rng.normal(size=g.size)
    b = rng.normal(size=n_groups)[g]
    y = TRUTH["Intercept"] + TRUTH["x"] * x + TRUTH["w"] * w + b + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "w": w, "g": g.astype(str)})


def intervals(frame: pd.DataFrame, nsim: int, seed: int, posterior: bool
              ) -> dict[str, dict[str, tuple[float, float]]]:
    """Every method's 95% interval of every target, for one data set."""
    model = bmm.mixedlm("y ~ x + w + (1 | g)", frame)
    pt = model.fit(method="reml")
    out: dict[str, dict[str, tuple[float, float]]] = {}
    wald = pt.conf_int()
    out["z / Wald"] = {k: tuple(wald.loc[k]) for k in FIXED}
    sd_row = pt.cov_table("sd").loc["g SD"]
    half = 1.959964 * sd_row["Std.Err."]
    out["z / Wald"]["g SD"] = (sd_row["Coef."] - half, sd_row["Coef."] + half)
    for ddf, label in (("satterthwaite", "Satterthwaite"), ("kenward-roger", "Kenward-Roger")):
        t = pt.t_test(np.eye(3), ddf)
        out[label] = {k: (t.iloc[i, 5], t.iloc[i, 6]) for i, k in enumerate(FIXED)}
    prof = pt.conf_int(method="profile")
    out["profile"] = {k: tuple(prof.loc[k]) for k in TRUTH}
    boot = pt.conf_int(method="boot", nsim=nsim, seed=seed, progressbar=False)
    out["bootstrap"] = {k: tuple(boot.loc[k]) for k in TRUTH}
    if posterior:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = model.fit(draws=500, tune=500, chains=2, random_seed=seed, progressbar=False)
        hdi = res.conf_int()
        sd_draws = res.draws_table("sd")["g SD"].values.ravel()
        import arviz as az

        out["posterior HDI"] = {k: tuple(hdi.loc[k]) for k in FIXED}
        out["posterior HDI"]["g SD"] = tuple(az.hdi(sd_draws, hdi_prob=0.95))
    return out


def main() -> None:
    """Run the study and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--nsim", type=int, default=200, help="bootstrap replicates")
    parser.add_argument("--groups", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--posterior", action="store_true", help="also NUTS (slow)")
    args = parser.parse_args()
    rows = []
    for n_groups in args.groups:
        rng = np.random.default_rng(n_groups)
        hits: dict[tuple[str, str], list[bool]] = {}
        t0 = time.perf_counter()
        for i in range(args.datasets):
            frame = simulate(n_groups, rng)
            for method, cis in intervals(frame, args.nsim, i, args.posterior).items():
                for target, (lo, hi) in cis.items():
                    hits.setdefault((method, target), []).append(bool(lo <= TRUTH[target] <= hi))
        secs = time.perf_counter() - t0
        for (method, target), h in hits.items():
            p = float(np.mean(h))
            rows.append({"groups": n_groups, "method": method, "target": target,
                         "cell": f"{p:.3f} ({np.sqrt(p * (1 - p) / len(h)):.3f})"})
        print(f"{n_groups} groups: {args.datasets} data sets in {secs:.0f} s", flush=True)
        table = pd.DataFrame(rows).pivot_table(index=["groups", "method"], columns="target",
                                               values="cell", aggfunc="first")
        print(f"\nCoverage of nominal 95% intervals (Monte Carlo SE), {args.datasets} data "
              f"sets per row, bootstrap {args.nsim} replicates")
        print(table[list(TRUTH)].fillna("").to_string(), flush=True)


if __name__ == "__main__":
    main()
