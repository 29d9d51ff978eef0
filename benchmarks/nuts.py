"""NUTS against the peers: bayesmm's first and repeat fits beside bambi and brms, one run.

For each data set, 4 chains x 1000 draws after 1000 tuning steps, 2 cores, the wall time from
DataFrame to posterior and the minimum bulk ESS over every parameter (random effects
included), so ESS/s = min bulk ESS / wall s:

* ``bayesmm first``: ``fit()`` with its defaults in a fresh Python process whose caches
  (PyTensor's C modules, Numba's machine code, bayesmm's compiled densities) start empty for
  this data set: what a new user's first fit of a model structure costs.
* ``bayesmm installed``: the first fit of this data set in a fresh process whose caches hold
  only what ``bayesmm warmup`` (run by ``make demo``, once per installation) compiled into an
  empty directory: a new user's first fit after installing. The issue allows this ("one
  compilation ... can be done once per installation"); the warm-up's own wall time is printed.
* ``bayesmm repeat``: the same fit in another fresh process with the first fit's caches kept.
  This is the issue's target (b). ``import s`` beside it is ``import bayesmm``, outside every
  tool's ``wall``.
* ``bayesmm in process``: the same fit again in that process, the peers' protocol below
  (bambi's second fit, brms's ``update()``); not a target, shown to compare like with like.
* ``bambi pymc`` / ``bambi nutpie``: bambi 0.17 under its own interpreter (``--bambi-python``,
  default ``$BAMBI_PYTHON``; it needs formulae < 0.7, see DEVELOPERS.md), timed on a second
  fit in the same process after a 20-draw fit, so its compilation is cached: its best case.
* ``brms``: ``brm()`` through ``Rscript`` (Stan); ``wall`` is an ``update()`` of the compiled
  model (sampling only, its best case) and ``first s`` the first call with the C++ compile.

Two rows beyond the issue's six, ``cbpp:negbin`` (negative binomial) and ``sleepstudy:t``
(Student-t), show families whose first fit compiled a PyTensor graph until their C kernels.
A peer that is not installed is skipped with a line saying so. Each tool uses its own default
priors; the ratios compare bayesmm's ESS/s with the best peer's.

Usage: python benchmarks/nuts.py [--draws N] [--only NAME ...] [--bambi-python PATH]
       [--no-brms] [--no-installed] [data_dir]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent

# name: (bayesmm formula, bayesmm keywords, bambi formula, brms formula, family)
CASES = {
    "dietox": ("Weight ~ Time", {"groups": "Pig", "re_formula": "~Time"},
               "Weight ~ Time + (Time | Pig)", "Weight ~ Time + (Time | Pig)", "gaussian"),
    "sleepstudy": ("Reaction ~ Days", {"groups": "Subject", "re_formula": "~Days"},
                   "Reaction ~ Days + (Days | Subject)", "Reaction ~ Days + (Days | Subject)",
                   "gaussian"),
    "radon": ("log_radon ~ basement + uranium", {"groups": "county"},
              "log_radon ~ basement + uranium + (1 | county)",
              "log_radon ~ basement + uranium + (1 | county)", "gaussian"),
    "Exam": ("normexam ~ standLRT", {"groups": "school", "re_formula": "~standLRT"},
             "normexam ~ standLRT + (standLRT | school)",
             "normexam ~ standLRT + (standLRT | school)", "gaussian"),
    "Dyestuff2": ("Yield ~ 1", {"groups": "Batch"}, "Yield ~ 1 + (1 | Batch)",
                  "Yield ~ 1 + (1 | Batch)", "gaussian"),
    "cbpp": ("incidence / size ~ C(period) + (1 | herd)", {"family": "binomial"},
             "p(incidence, size) ~ C(period) + (1 | herd)",
             "incidence | trials(size) ~ factor(period) + (1 | herd)", "binomial"),
    # not among the rows: families whose first fit compiled a graph until stop 38
    "cbpp:negbin": ("incidence ~ C(period) + (1 | herd)", {"family": "negbin"},
                    "incidence ~ C(period) + (1 | herd)",
                    "incidence ~ factor(period) + (1 | herd)", "negbin"),
    "sleepstudy:t": ("Reaction ~ Days", {"groups": "Subject", "family": "t"},
                     "Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (1 | Subject)", "t"),
}


def load(data_dir: Path, name: str) -> pd.DataFrame:
    """A data set (``name``, or ``name:variant``) with R's dotted column names made Python's."""
    return pd.read_csv(data_dir / f"{name.split(':')[0]}.csv").rename(
        columns={"log.radon": "log_radon"})


def min_diagnostics(idata: object) -> dict[str, float]:
    """Min bulk ESS, max R-hat and divergences over the posterior's non-constant entries."""
    import arviz as az

    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")
        s = az.summary(idata, kind="diagnostics")
    s = s[np.isfinite(s["r_hat"])]  # constant entries (a correlation's diagonal)
    return {"ess": float(s["ess_bulk"].min()), "rhat": float(s["r_hat"].max()),
            "divergences": int(idata.sample_stats["diverging"].sum())}


def child(name: str, data_dir: Path, draws: int) -> None:
    """One bayesmm fit with its defaults in this process; prints a JSON line.

    ``import s`` is ``import bayesmm``'s wall time in this process (numpy and pandas are
    imported already), outside ``wall`` as every peer's imports are.
    """
    t_import = time.perf_counter()
    import bayesmm as bmm
    from bayesmm.infer.nuts import default_sampler
    t_import = time.perf_counter() - t_import

    formula, kw, *_ = CASES[name]
    frame = load(data_dir, name)
    walls = []
    for _ in range(2):  # the second: the peers' protocol (a fit after one in this process)
        t0 = time.perf_counter()
        res = bmm.mixedlm(formula, frame, **kw).fit(draws=draws, tune=draws, chains=4,
                                                    cores=2, random_seed=1, comparison=False)
        walls.append(time.perf_counter() - t0)
    print(json.dumps({"wall": walls[0], "again": walls[1], "import s": t_import,
                      **min_diagnostics(res.idata), "build": res.build,
                      "sampler": default_sampler(res.build)}))


def run_json(cmd: list[str], env: dict[str, str] | None = None) -> dict:
    """Run a child and parse its last stdout line; a failure is reported, not raised."""
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": (out.stderr.strip().splitlines() or ["no output"])[-1][:120]}


def cache_env(cache: str | Path) -> dict[str, str]:
    """The environment whose PyTensor, Numba and bayesmm caches all live in ``cache``."""
    return {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache}",
            "NUMBA_CACHE_DIR": str(Path(cache) / "numba")}


def warmed_cache() -> tuple[str, float]:
    """An empty cache directory after ``bayesmm warmup``, and the warm-up's wall time."""
    cache = tempfile.mkdtemp(prefix="bayesmm-nuts-installed-")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bayesmm", "warmup"], env=cache_env(cache),
                   capture_output=True, check=True)
    return cache, time.perf_counter() - t0


def bayesmm_rows(name: str, args: argparse.Namespace, installed: str | None) -> list[dict]:
    """First fit (empty caches), first fit after the warm-up, repeat fit; fresh processes."""
    cmd = [sys.executable, __file__, str(args.data_dir), "--draws", str(args.draws),
           "--child", name]
    rows = []
    cache = tempfile.mkdtemp(prefix=f"bayesmm-nuts-{name}-")
    try:
        rows.append({"data": name, "tool": "bayesmm first", **run_json(cmd, cache_env(cache))})
        if installed is not None:
            copy = tempfile.mkdtemp(prefix=f"bayesmm-nuts-{name}-installed-")
            shutil.copytree(installed, copy, dirs_exist_ok=True)
            rows.append({"data": name, "tool": "bayesmm installed",
                         **run_json(cmd, cache_env(copy))})
            shutil.rmtree(copy, ignore_errors=True)
        repeat = run_json(cmd, cache_env(cache))
        rows.append({"data": name, "tool": "bayesmm repeat", **repeat})
        if "again" in repeat:  # same seed, so the same draws and ESS
            rows.append({**rows[-1], "tool": "bayesmm in process", "wall": repeat["again"],
                         "import s": np.nan})
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return rows


def peer_frame(name: str, args: argparse.Namespace, tmp: Path) -> Path:
    """The data set written where the peers read it."""
    path = tmp / f"{name.split(':')[0]}.csv"
    load(args.data_dir, name).to_csv(path, index=False)
    return path


def bambi_rows(name: str, csv: Path, args: argparse.Namespace) -> list[dict]:
    """bambi with PyMC's and nutpie's samplers."""
    _, _, formula, _, family = CASES[name]
    return [{"data": name, "tool": f"bambi {s}",
             **run_json([args.bambi_python, str(HERE / "peers" / "bambi_fit.py"), str(csv),
                         formula, family, s, str(args.draws)])}
            for s in ("pymc", "nutpie")]


def brms_rows(name: str, csv: Path, args: argparse.Namespace) -> list[dict]:
    """brms (Stan), compiled once, timed on the update."""
    _, _, _, formula, family = CASES[name]
    row = run_json(["Rscript", str(HERE / "peers" / "brms_fit.R"), str(csv), formula, family,
                    str(args.draws)])
    if "wall_first" in row:
        row["first s"] = row.pop("wall_first")
    return [{"data": name, "tool": "brms", **row}]


def peers_available(args: argparse.Namespace) -> tuple[bool, bool]:
    """Which peers this machine has; a missing one is named on stderr."""
    bambi = bool(args.bambi_python) and subprocess.run(
        [args.bambi_python, "-c", "import bambi, nutpie"], capture_output=True).returncode == 0
    if not bambi:
        print("bambi skipped: no interpreter with bambi and nutpie (--bambi-python)",
              file=sys.stderr)
    brms = not args.no_brms and shutil.which("Rscript") is not None and subprocess.run(
        ["Rscript", "-e", "library(brms); library(posterior)"],
        capture_output=True).returncode == 0
    if not brms:
        print("brms skipped: Rscript with brms and posterior not found", file=sys.stderr)
    return bambi, brms


def report(rows: list[dict]) -> pd.DataFrame:
    """One row per data set and tool, with bayesmm's ESS/s over the best peer's."""
    table = pd.DataFrame(rows).drop(columns="again", errors="ignore")
    table["ESS/s"] = table["ess"] / table["wall"]
    best = table[~table["tool"].str.startswith("bayesmm")].groupby("data")["ESS/s"].max()
    table["x best peer"] = table["ESS/s"] / table["data"].map(best)
    table.loc[~table["tool"].str.startswith("bayesmm"), "x best peer"] = np.nan
    return table.set_index(["data", "tool"])


def main() -> None:
    """Run every case and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", type=Path,
                        default=Path(os.environ.get("BAYESMM_DATA",
                                                    HERE.parents[1] / "shared" / "data")))
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--bambi-python", default=os.environ.get("BAMBI_PYTHON"))
    parser.add_argument("--no-brms", action="store_true")
    parser.add_argument("--no-installed", action="store_true",
                        help="skip the warm-up and the 'bayesmm installed' rows")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return child(args.child, args.data_dir, args.draws)
    bambi, brms = peers_available(args)
    rows: list[dict] = []
    installed = None
    if not args.no_installed:
        installed, warm_wall = warmed_cache()
        print(f"bayesmm warmup into an empty cache: {warm_wall:.1f} s", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bayesmm-peers-") as tmp:
        for name in args.only or CASES:
            csv = peer_frame(name, args, Path(tmp))
            new = bayesmm_rows(name, args, installed)
            new += bambi_rows(name, csv, args) if bambi else []
            new += brms_rows(name, csv, args) if brms else []
            for row in new:
                print(row, file=sys.stderr, flush=True)
            rows += new
    if installed is not None:
        shutil.rmtree(installed, ignore_errors=True)
        print(f"bayesmm warmup (once per installation, before 'bayesmm installed'): "
              f"{warm_wall:.1f} s")
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.float_format", "{:.3g}".format):
        print(report(rows))


if __name__ == "__main__":
    main()
