"""Scale: simulated y = 2 + 0.5x + b0_g + b1_g x + e with 1000 groups, 10^5 to 10^7 rows.

Per size, in a fresh process each (so peak RSS is that size's own): time to build the design
(formulae) and the sufficient statistics, REML wall time, NUTS (4 chains x 1000 draws after
1000 tuning, marginal build) wall time from DataFrame to InferenceData, min bulk ESS, max
R-hat, the true parameters outside their 95% intervals, and the peak RSS. A 50-draw fit first
fills the PyTensor cache, so the timings are those of a user with a warm cache. The latent
build (what bambi does) at 10^5 rows is the baseline, in the same run.

Usage: python benchmarks/scale.py [--sizes 1e5 1e6 1e7] [--draws 1000] [--no-latent]
       [--sampler pymc|nutpie]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings

os.environ.setdefault("PYTENSOR_FLAGS",
                      f"base_compiledir={tempfile.gettempdir()}/bayesmm-bench-scale")

import arviz as az  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bayesmm as bmm  # noqa: E402

TRUTH = {"Intercept": 2.0, "x": 0.5, "g Var": 1.0, "g x x Cov": 0.0, "x Var": 0.25,
         "Scale": 1.0}


def simulate(n: int, groups: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The benchmark's data: random intercept (SD 1) and slope (SD 0.5), unit noise."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    b0, b1 = rng.normal(0, 1.0, groups), rng.normal(0, 0.5, groups)
    y = 2.0 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": g})


def one(n: int, draws: int, latent: bool, sampler: str = "pymc") -> dict:
    """Run one size and return its figures (called in a child process)."""
    frame = simulate(n)
    t0 = time.perf_counter()
    model = bmm.mixedlm("y ~ x", frame, groups="g", re_formula="~x")
    t_design = time.perf_counter() - t0
    t0 = time.perf_counter()
    _ = model.stats
    t_stats = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.fit(method="reml")
    t_reml = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = bmm.mixedlm("y ~ x", frame, groups="g", re_formula="~x").fit(
        draws=draws, tune=draws, chains=4, cores=2, random_seed=1, comparison=False,
        marginal=False if latent else None, sampler=sampler)
    t_nuts = time.perf_counter() - t0
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")
        s = az.summary(res.draws_table(), hdi_prob=0.95, round_to="none")
    outside = [k for k, v in TRUTH.items()
               if not s.loc[k, "hdi_2.5%"] <= v <= s.loc[k, "hdi_97.5%"]]
    return {"rows": n, "build": res.build, "sampler": sampler, "design s": round(t_design, 2),
            "stats s": round(t_stats, 2), "REML s": round(t_reml, 2),
            "NUTS wall s (DataFrame→idata)": round(t_nuts, 1),
            "min ESS bulk": round(float(s["ess_bulk"].min())),
            "max R-hat": round(float(s["r_hat"].max()), 4),
            "truth outside 95% HDI": outside,
            "peak RSS GB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)}


def main() -> None:
    """Run every size in its own process and print one table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e5, 1e6, 1e7])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--no-latent", action="store_true")
    parser.add_argument("--sampler", default="pymc", choices=["pymc", "nutpie"])
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--latent", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(int(args.one), args.draws, args.latent, args.sampler)))
        return
    warm = [sys.executable, __file__, "--one", "20000", "--draws", "50", "--sampler", args.sampler]
    subprocess.run(warm, capture_output=True, check=True)  # compile once: timings are warm
    jobs = [(int(n), False) for n in args.sizes]
    if not args.no_latent:
        jobs.insert(0, (int(min(args.sizes)), True))
    rows = []
    for n, latent in jobs:
        cmd = [sys.executable, __file__, "--one", str(n), "--draws", str(args.draws),
               "--sampler", "pymc" if latent else args.sampler]
        out = subprocess.run(cmd + (["--latent"] if latent else []), capture_output=True,
                             text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
