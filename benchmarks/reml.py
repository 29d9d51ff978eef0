"""REML wall time and log-likelihood: bayesmm vs statsmodels on the shared data sets, one run.

Usage: python benchmarks/reml.py [path/to/shared/data]
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import pandas as pd

import bayesmm as bmm

CASES = [
    ("dietox", "Weight ~ Time", {"groups": "Pig", "re_formula": "~Time"}),
    ("sleepstudy", "Reaction ~ Days", {"groups": "Subject", "re_formula": "~Days"}),
    ("Dyestuff", "Yield ~ 1", {"groups": "Batch"}),
    ("Dyestuff2", "Yield ~ 1", {"groups": "Batch"}),
    ("radon", "log_radon ~ basement + uranium", {"groups": "county"}),
    ("Exam", "normexam ~ standLRT", {"groups": "school", "re_formula": "~standLRT"}),
    ("Orthodont", "distance ~ age", {"groups": "Subject", "re_formula": "~age"}),
    ("Rail", "travel ~ 1", {"groups": "Rail"}),
    ("Pastes", "strength ~ 1",
     {"groups": "batch", "re_formula": "~1", "vc_formula": {"cask": "0 + C(cask)"}}),
]


def best_of(fit, formula, frame, kw, repeat=3):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fit(formula, frame, kw)
        times.append(time.perf_counter() - t0)
    return min(times), out


def fit_bayesmm(formula, frame, kw):
    return bmm.mixedlm(formula, frame, **kw).fit(method="reml")


def fit_statsmodels(formula, frame, kw):
    import statsmodels.formula.api as smf

    return smf.mixedlm(formula, frame, **kw).fit(reml=True)


def main(data_dir: Path) -> None:
    rows = []
    for name, formula, kw in CASES:
        frame = pd.read_csv(data_dir / f"{name}.csv").rename(columns={"log.radon": "log_radon"})
        t_b, res = best_of(fit_bayesmm, formula, frame, kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                t_s, ref = best_of(fit_statsmodels, formula, frame, kw)
                llf_s, conv_s = ref.llf, ref.converged
            except Exception as exc:  # noqa: BLE001
                t_s, llf_s, conv_s = float("nan"), float("nan"), f"error: {type(exc).__name__}"
        rows.append({"data": name, "bayesmm s": t_b, "statsmodels s": t_s,
                     "bayesmm llf": res.llf, "statsmodels llf": llf_s,
                     "llf gain": res.llf - llf_s, "bayesmm conv": res.converged,
                     "statsmodels conv": conv_s})
    table = pd.DataFrame(rows).set_index("data")
    with pd.option_context("display.width", 250, "display.max_columns", 20,
                           "display.float_format", "{:.4f}".format):
        print(table)


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
