"""Several grouping factors with many levels: REML / Laplace fits at the sizes lme4 users meet.

Simulates the designs of issue #23 (the simulator ships here so every figure can be
reproduced) and fits each in a fresh process, printing wall time (model set-up included),
peak RSS, the log-likelihood, the largest KKT violation (projected gradient of the
criterion) and the estimates.

Designs (rows; levels):
  areas     y ~ x + (1 | school) + (1 | area)                   31,022; 2,410 / 131
  three     y ~ C(a) + C(b) + (1 | pupil) + (1 | teacher) + (1 | school)
                                                                24,613; 10,800 / 1,300 / 80
  students  y ~ x + (1 | s) + (1 | d) + (1 | dept)              73,421; 2,972 / 1,128 / 14
  crossbern y ~ x + (1 | subj) + (1 | item), Bernoulli, Laplace ML 7,584; 316 / 24
  maximal   y ~ A * B * C + (1 + A * B * C | subj) + (1 + A * B * C | item)
            (8 × 8 covariance per factor, 72 θ)                    1,792; 56 / 32
  bern      y ~ x + (1 | g), Bernoulli, Laplace ML                   1,934; 60
  ticks     TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION), Poisson,
            Laplace ML (lme4's grouse-ticks design)                403; 403 / 118 / 63

With ``--nuts`` the three large Gaussian designs are sampled instead (4 chains × 1000 draws
after 1000, the default sampler, a fresh process and compile cache): wall time from the
DataFrame, the smallest bulk ESS, the largest R-hat, divergences, and the largest distance of
a posterior mean from the REML estimate in posterior SDs.

Usage: python benchmarks/multifactor.py [--designs areas three ...] [--timeout S] [--nuts]
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
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

ROOT = Path(__file__).resolve().parents[1]


def sim_areas(seed: int = 1) -> pd.DataFrame:
    """Pupils in 2,410 schools nested in 131 areas (31,022 rows)."""
    rng = np.random.default_rng(seed)
    area_of_school = np.sort(rng.integers(0, 131, 2410))
    area_of_school[:131] = np.arange(131)  # every area has a school
    school = rng.integers(0, 2410, 31022)
    school[:2410] = np.arange(2410)
    area = area_of_school[school]
    x = rng.normal(size=school.size)
    y = 1.0 + 0.5 * x + rng.normal(0, 0.6, 2410)[school] + rng.normal(0, 0.4, 131)[area] \
        + rng.normal(0, 1.0, school.size)
    return pd.DataFrame({"y": y, "x": x, "school": school.astype(str), "area": area.astype(str)})


def sim_three(seed: int = 2) -> pd.DataFrame:
    """Three crossed factors: pupils (~10,800), teachers (1,300), schools (80); 24,613 rows."""
    rng = np.random.default_rng(seed)
    n = 24613
    pupil = rng.integers(0, 10800, n)
    teacher = rng.integers(0, 1300, n)
    school = teacher % 80  # teachers belong to schools; pupils cross both
    a, b = rng.integers(0, 3, n), rng.integers(0, 2, n)
    y = 0.3 * a - 0.2 * b + rng.normal(0, 0.8, 10800)[pupil] + rng.normal(0, 0.5, 1300)[teacher] \
        + rng.normal(0, 0.3, 80)[school] + rng.normal(0, 1.0, n)
    return pd.DataFrame({"y": y, "a": a.astype(str), "b": b.astype(str),
                         "pupil": pupil.astype(str), "teacher": teacher.astype(str),
                         "school": school.astype(str)})


def sim_students(seed: int = 3) -> pd.DataFrame:
    """Students (2,972) × lecturers (1,128) × departments (14); 73,421 rows (InstEval's shape)."""
    rng = np.random.default_rng(seed)
    n = 73421
    s = rng.integers(0, 2972, n)
    d = rng.integers(0, 1128, n)
    dept = d % 14
    x = rng.normal(size=n)
    y = 3.0 + 0.1 * x + rng.normal(0, 0.32, 2972)[s] + rng.normal(0, 0.52, 1128)[d] \
        + rng.normal(0, 0.08, 14)[dept] + rng.normal(0, 1.18, n)
    return pd.DataFrame({"y": y, "x": x, "s": s.astype(str), "d": d.astype(str),
                         "dept": dept.astype(str)})


def sim_crossbern(seed: int = 4) -> pd.DataFrame:
    """Subjects (316) × items (24), every pair once: 7,584 Bernoulli rows."""
    rng = np.random.default_rng(seed)
    subj, item = np.meshgrid(np.arange(316), np.arange(24), indexing="ij")
    subj, item = subj.ravel(), item.ravel()
    x = rng.normal(size=subj.size)
    eta = -0.2 + 0.7 * x + rng.normal(0, 1.0, 316)[subj] + rng.normal(0, 0.6, 24)[item]
    y = rng.binomial(1, expit(eta)).astype(float)
    return pd.DataFrame({"y": y, "x": x, "subj": subj.astype(str), "item": item.astype(str)})


def sim_bern(seed: int = 5) -> pd.DataFrame:
    """One factor of 60 levels, 1,934 Bernoulli rows."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 60, 1934)
    g[:60] = np.arange(60)
    x = rng.normal(size=g.size)
    y = rng.binomial(1, expit(0.3 + 0.8 * x + rng.normal(0, 0.9, 60)[g])).astype(float)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


def sim_ticks(seed: int = 7) -> pd.DataFrame:
    """lme4's grouse-ticks design: 403 counts, an observation-level effect, 118 broods in 63
    locations, an uncentred height (400-530)."""
    rng = np.random.default_rng(seed)
    n = 403
    brood = rng.integers(0, 118, n)
    brood[:118] = np.arange(118)
    loc_of_brood = rng.integers(0, 63, 118)
    loc_of_brood[:63] = np.arange(63)
    loc = loc_of_brood[brood]
    height = rng.uniform(400, 530, n)
    year = rng.integers(0, 3, n)
    eta = -5 + 0.012 * height + 0.5 * (year == 1) - 0.8 * (year == 2) \
        + rng.normal(0, 0.75, 118)[brood] + rng.normal(0, 0.55, 63)[loc] \
        + rng.normal(0, 0.55, n)
    return pd.DataFrame({"TICKS": rng.poisson(np.exp(eta)), "HEIGHT": height,
                         "YEAR": year.astype(str), "BROOD": brood.astype(str),
                         "LOCATION": loc.astype(str), "INDEX": np.arange(n).astype(str)})


def sim_maximal(seed: int = 11) -> pd.DataFrame:
    """56 subjects × 32 items, each pair once (1,792 rows), a 2 × 2 × 2 within-subject and
    within-item design (contrasts ±1 in A, B, C, rotated over items Latin-square fashion)
    with an 8 × 8 covariance of the effects per factor: the "maximal" model."""
    rng = np.random.default_rng(seed)
    subj, item = (g.ravel() for g in np.meshgrid(np.arange(56), np.arange(32), indexing="ij"))
    cond = (subj + item) % 8
    a, b, c = (((cond >> k) & 1) * 2 - 1 for k in range(3))
    X = np.column_stack([np.ones_like(a), a, b, c, a * b, a * c, b * c, a * b * c])

    def chol(sd: np.ndarray) -> np.ndarray:
        A = rng.normal(size=(8, 8))
        V = A @ A.T + 8 * np.eye(8)
        d = np.sqrt(np.diag(V))
        return np.linalg.cholesky(np.outer(sd, sd) * V / np.outer(d, d))

    Ls = chol(np.array([0.6, 0.3, 0.2, 0.2, 0.1, 0.1, 0.1, 0.05]))
    Li = chol(np.array([0.4, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05, 0.05]))
    bs, bi = rng.normal(size=(56, 8)) @ Ls.T, rng.normal(size=(32, 8)) @ Li.T
    y = X @ np.array([0.5, 0.2, -0.1, 0.1, 0.05, 0, 0, 0]) + (X * bs[subj]).sum(1) \
        + (X * bi[item]).sum(1) + rng.normal(0, 1, subj.size)
    return pd.DataFrame({"y": y, "A": a, "B": b, "C": c, "subj": subj.astype(str),
                         "item": item.astype(str)})


DESIGNS = {
    "areas": (sim_areas, "y ~ x + (1 | school) + (1 | area)", "gaussian", "reml"),
    "three": (sim_three, "y ~ C(a) + C(b) + (1 | pupil) + (1 | teacher) + (1 | school)",
              "gaussian", "reml"),
    "students": (sim_students, "y ~ x + (1 | s) + (1 | d) + (1 | dept)", "gaussian", "reml"),
    "crossbern": (sim_crossbern, "y ~ x + (1 | subj) + (1 | item)", "bernoulli", "ml"),
    "bern": (sim_bern, "y ~ x + (1 | g)", "bernoulli", "ml"),
    "maximal": (sim_maximal, "y ~ A * B * C + (1 + A * B * C | subj) + (1 + A * B * C | item)",
                "gaussian", "reml"),
    "ticks": (sim_ticks, "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
              "poisson", "ml"),
}


def _timed_fit(name: str, **fit_kwargs: object) -> tuple[object, pd.DataFrame, float]:
    """Simulate design ``name`` and fit it in this process: (results, data, wall s).

    The wall time runs from the DataFrame to the fit (model set-up included).
    """
    import warnings

    import bayesmm as bmm

    sim, formula, family, _ = DESIGNS[name]
    frame = sim()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bmm.mixedlm(formula, frame, family=family).fit(**fit_kwargs)
    return res, frame, time.perf_counter() - start


def fit_one(name: str) -> dict[str, object]:
    """Simulate and fit one design by REML or Laplace ML; the figures as a dict."""
    method = DESIGNS[name][3]
    res, frame, wall = _timed_fit(name, method=method)
    table = res.cov_table()["Coef."]
    return {"design": name, "rows": len(frame),
            "levels": [f.n_levels for f in res.design.factors], "method": method,
            "wall s": round(wall, 3),
            "peak RSS MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "llf": float(res.llf), "max |KKT|": float(np.abs(res.fit.gradient).max()),
            "converged": bool(res.fit.converged),
            "fe": {k: round(float(v), 5) for k, v in res.fe_params.items()},
            "cov": {k: round(float(v), 5) for k, v in table.items()}}


def nuts_one(name: str) -> dict[str, object]:
    """Sample one Gaussian design with NUTS in this process; the figures as a dict."""
    res, frame, wall = _timed_fit(name, draws=1000, tune=1000, chains=4, random_seed=1,
                                  comparison=True)
    table = res.summary().table
    dist = ((table["Mean"] - table["REML Coef."]).abs() / table["SD"]).dropna()
    diag = res.diagnostics()
    return {"design": name, "rows": len(frame), "build": res.build, "wall s": round(wall, 1),
            "min bulk ESS": round(float(table["ESS bulk"].min())),
            "at": str(table["ESS bulk"].idxmin()), "max R-hat": round(float(diag["max_rhat"]), 4),
            "divergences": int(diag["divergences"]),
            "max |mean - REML| / SD": round(float(dist.max()), 2),
            "peak RSS MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    """Fit every design in its own process and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS))
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--nuts", action="store_true", help="sample the Gaussian designs")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps((nuts_one if args.nuts else fit_one)(args.one)))
        return
    if args.nuts:
        args.designs = [d for d in args.designs if d in ("areas", "three", "students")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.setdefault("PYTENSOR_FLAGS", f"base_compiledir={tempfile.mkdtemp(prefix='bmm-mf-')}")
    for name in args.designs:
        try:
            flags = ["--nuts"] if args.nuts else []
            out = subprocess.run([sys.executable, __file__, "--one", name, *flags], env=env,
                                 capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            print(f"{name}: no fit in {args.timeout:.0f} s", flush=True)
            continue
        lines = out.stdout.strip().splitlines()
        if out.returncode != 0 or not lines:
            print(f"{name}: failed: {out.stderr.strip().splitlines()[-1:]}", flush=True)
            continue
        row = json.loads(lines[-1])
        print("  ".join(f"{k}: {v}" for k, v in row.items()), flush=True)


if __name__ == "__main__":
    main()
