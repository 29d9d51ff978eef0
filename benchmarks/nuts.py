"""NUTS: latent build (what bambi does) vs marginal build, same priors, same run.

For each data set: wall time from DataFrame to InferenceData, minimum bulk ESS over every
parameter (random effects included), ESS per second, divergences and max R-hat; 4 chains x
1000 draws after 1000 tuning steps. The PyTensor cache starts empty: "cold s" is the first fit
of each model with 50 draws (C compilation included), "wall s" a second, full fit (what a user
with a warm cache pays, compilation of the model function included). ESS/s uses the second.

The latent build always samples with PyMC (bambi's default); ``--sampler`` picks the marginal
build's sampler (pymc, nutpie or numpyro).

Usage: python benchmarks/nuts.py [--draws N] [--sampler pymc|nutpie|numpyro] [--only NAME]
       [data_dir]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ["PYTENSOR_FLAGS"] = f"compiledir={tempfile.mkdtemp(prefix='bayesmm-bench-')}"

import arviz as az  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bayesmm as bmm  # noqa: E402

CASES = [
    ("dietox", "Weight ~ Time", {"groups": "Pig", "re_formula": "~Time"}),
    ("sleepstudy", "Reaction ~ Days", {"groups": "Subject", "re_formula": "~Days"}),
    ("radon", "log_radon ~ basement + uranium", {"groups": "county"}),
    ("Exam", "normexam ~ standLRT", {"groups": "school", "re_formula": "~standLRT"}),
    ("Dyestuff2", "Yield ~ 1", {"groups": "Batch"}),
]


def fit(frame, formula, kw, marginal, args, draws):
    t0 = time.perf_counter()
    res = bmm.mixedlm(formula, frame, **kw).fit(
        draws=draws, tune=draws, chains=4, cores=2, random_seed=1, reml=False,
        marginal=marginal, sampler="pymc" if marginal is False else args.sampler)
    return res, time.perf_counter() - t0


def run(frame, formula, kw, marginal, args):
    _, cold = fit(frame, formula, kw, marginal, args, 50)
    res, wall = fit(frame, formula, kw, marginal, args, args.draws)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")
        s = az.summary(res.idata, kind="diagnostics")
    s = s[np.isfinite(s["r_hat"])]  # constant entries (corr diagonal)
    ess = float(s["ess_bulk"].min())
    return {"build": res.build, "sampler": "pymc" if marginal is False else args.sampler,
            "cold s": cold, "wall s": wall, "min ESS bulk": ess,
            "ESS/s": ess / wall,
            "divergences": int(res.idata.sample_stats["diverging"].sum()),
            "max R-hat": float(s["r_hat"].max())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", nargs="?",
                        default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--sampler", default="pymc")
    parser.add_argument("--only", default=None)
    args = parser.parse_args()
    rows = []
    for name, formula, kw in CASES:
        if args.only and name != args.only:
            continue
        frame = pd.read_csv(Path(args.data_dir) / f"{name}.csv").rename(
            columns={"log.radon": "log_radon"})
        for marginal in (False, None):
            row = {"data": name, **run(frame, formula, kw, marginal, args)}
            rows.append(row)
            print(row, file=sys.stderr, flush=True)
    table = pd.DataFrame(rows).set_index(["data", "build"])
    speed = table["ESS/s"].unstack("build")
    table = table.join((speed["marginal"] / speed["latent"]).rename("ESS/s ratio"), on="data")
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.float_format", "{:.3f}".format):
        print(table)


if __name__ == "__main__":
    main()
