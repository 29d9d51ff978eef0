"""One bambi fit, run under bambi's own Python (it needs formulae < 0.7): prints JSON.

Usage: python bambi_fit.py CSV FORMULA FAMILY SAMPLER DRAWS. A 20-draw fit first compiles the
model, so the timed fit (DataFrame → InferenceData) reuses the compiled C in the disk cache:
bambi's best case, a user's second fit of the same model.
"""

import json
import sys
import time
import warnings

import arviz as az
import bambi as bmb
import numpy as np
import pandas as pd

FAMILIES = {"negbin": "negativebinomial"}  # bayesmm's names bambi spells otherwise


def fit(frame: pd.DataFrame, formula: str, family: str, sampler: str, draws: int) -> object:
    """Build and sample a bambi model."""
    model = bmb.Model(formula, frame, family=FAMILIES.get(family, family))
    return model.fit(draws=draws, tune=draws, chains=4, cores=2, random_seed=1,
                     inference_method=sampler, progressbar=False)


def main() -> None:
    """Warm-up fit, timed fit, JSON line."""
    path, formula, family, sampler, draws = sys.argv[1:6]
    frame = pd.read_csv(path)
    warnings.simplefilter("ignore")
    fit(frame, formula, family, sampler, 20)
    t0 = time.perf_counter()
    idata = fit(frame, formula, family, sampler, int(draws))
    wall = time.perf_counter() - t0
    s = az.summary(idata, kind="diagnostics")
    s = s[np.isfinite(s["r_hat"])]
    print(json.dumps({"wall": wall, "ess": float(s["ess_bulk"].min()),
                      "rhat": float(s["r_hat"].max()),
                      "divergences": int(idata.sample_stats["diverging"].sum())}))


if __name__ == "__main__":
    main()
