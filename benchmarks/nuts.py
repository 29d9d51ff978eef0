"""NUTS: latent build (what bambi does) vs marginal build, same priors, same run.

For each data set: wall time from DataFrame to InferenceData, minimum bulk ESS over every
parameter (random effects included), ESS per second, divergences and max R-hat; 4 chains x
1000 draws after 1000 tuning steps. The PyTensor cache starts empty: "cold s" is the first fit
of each model with 50 draws (C or Numba compilation included), "wall s" a second, full fit in
the same process (what a user refitting in a session pays: the marginal build's compiled
density comes from bayesmm's in-memory cache, the latent build recompiles its graph), and
"new process s" the same full fit in a fresh Python process with the disk caches warm (what
the next session pays: the marginal build unpickles its density). ESS/s uses "wall s";
"ESS/s new" uses "new process s".

The latent build always samples with PyMC (bambi's default); ``--sampler`` picks the marginal
build's sampler (default: the package's, nutpie when installed; or pymc, numpyro).

Usage: python benchmarks/nuts.py [--draws N] [--sampler pymc|nutpie|numpyro] [--only NAME]
       [data_dir]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

# base_compiledir: C modules, Numba's machine code and the compiled densities start empty (a
# truly cold first fit); the fresh-process fits inherit the run's folder (warm disk caches)
_CACHE = os.environ.setdefault("BAYESMM_BENCH_CACHE", tempfile.mkdtemp(prefix="bayesmm-bench-"))
os.environ["PYTENSOR_FLAGS"] = f"base_compiledir={_CACHE}"

import arviz as az  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bayesmm as bmm  # noqa: E402
from bayesmm.infer.nuts import default_sampler  # noqa: E402

CASES = [
    ("dietox", "Weight ~ Time", {"groups": "Pig", "re_formula": "~Time"}),
    ("sleepstudy", "Reaction ~ Days", {"groups": "Subject", "re_formula": "~Days"}),
    ("radon", "log_radon ~ basement + uranium", {"groups": "county"}),
    ("Exam", "normexam ~ standLRT", {"groups": "school", "re_formula": "~standLRT"}),
    ("Dyestuff2", "Yield ~ 1", {"groups": "Batch"}),
]


def fit(frame, formula, kw, marginal, sampler, draws):
    t0 = time.perf_counter()
    res = bmm.mixedlm(formula, frame, **kw).fit(
        draws=draws, tune=draws, chains=4, cores=2, random_seed=1, comparison=False,
        marginal=marginal, sampler="pymc" if marginal is False else sampler)
    return res, time.perf_counter() - t0


def diagnostics(res):
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")
        s = az.summary(res.idata, kind="diagnostics")
    return s[np.isfinite(s["r_hat"])]  # constant entries (corr diagonal)


def load(data_dir, name):
    return pd.read_csv(Path(data_dir) / f"{name}.csv").rename(columns={"log.radon": "log_radon"})


def child(args):
    """One full fit in this (fresh) process; prints wall time and min ESS as JSON."""
    name, marginal = args.child
    formula, kw = {c[0]: c[1:] for c in CASES}[name]
    res, wall = fit(load(args.data_dir, name), formula, kw,
                    None if marginal == "marginal" else False, args.sampler, args.draws)
    print(json.dumps({"wall": wall, "ess": float(diagnostics(res)["ess_bulk"].min())}))


def new_process(name, marginal, args):
    cmd = [sys.executable, __file__, str(args.data_dir), "--draws", str(args.draws),
           "--child", name, "latent" if marginal is False else "marginal"]
    if args.sampler:
        cmd += ["--sampler", args.sampler]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run(name, frame, formula, kw, marginal, args):
    _, cold = fit(frame, formula, kw, marginal, args.sampler, 50)
    res, wall = fit(frame, formula, kw, marginal, args.sampler, args.draws)
    s = diagnostics(res)
    ess = float(s["ess_bulk"].min())
    fresh = new_process(name, marginal, args)
    sampler = "pymc" if marginal is False else args.sampler or default_sampler(True)
    return {"build": res.build, "sampler": sampler,
            "cold s": cold, "wall s": wall, "min ESS bulk": ess,
            "ESS/s": ess / wall, "new process s": fresh["wall"],
            "ESS/s new": fresh["ess"] / fresh["wall"],
            "divergences": int(res.idata.sample_stats["diverging"].sum()),
            "max R-hat": float(s["r_hat"].max())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", nargs="?",
                        default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--sampler", default=None)
    parser.add_argument("--only", default=None)
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return child(args)
    rows = []
    for name, formula, kw in CASES:
        if args.only and name != args.only:
            continue
        frame = load(args.data_dir, name)
        for marginal in (False, None):
            row = {"data": name, **run(name, frame, formula, kw, marginal, args)}
            rows.append(row)
            print(row, file=sys.stderr, flush=True)
    table = pd.DataFrame(rows).set_index(["data", "build"])
    for col in ("ESS/s", "ESS/s new"):
        speed = table[col].unstack("build")
        table = table.join((speed["marginal"] / speed["latent"]).rename(f"{col} ratio"),
                           on="data")
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.float_format", "{:.3f}".format):
        print(table)


if __name__ == "__main__":
    main()
