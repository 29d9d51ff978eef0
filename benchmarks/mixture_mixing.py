"""Mixing of the ordered Gaussian mixture on galaxies (MASS) as K grows, default priors.

For each K and sampler: NUTS fits through the public API (4 chains started near the EM
mode), printing wall time (the first fit, which compiles, and a refit), max R-hat and min
bulk ESS over the weights, intercepts and SDs, the divergences, the chains that
:meth:`MixtureResults.label_switching` flags, and the per-chain mean of the lowest
component's intercept (it moves when a component leaves the data). Used for issue #6
(R-hat ≤ 1.01 at K = 3…5). The samplers are nutpie on the cached Numba density (the
default when installed) and PyMC's NUTS on 2 cores (the baseline); ``--alpha`` sets the
Dirichlet concentration.

Usage: python benchmarks/mixture_mixing.py [--draws N] [--tune N] [--seed S] [--k 3 4 5]
       [--alpha A] [--samplers nutpie pymc] [data_dir]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("PYTENSOR_FLAGS",
                      f"base_compiledir={tempfile.mkdtemp(prefix='bayesmm-bench-')}")

import numpy as np  # noqa: E402

import bayesmm as bmm  # noqa: E402


def one_fit(frame: object, k: int, alpha: float, sampler: str, draws: int, tune: int,
            seed: int) -> dict[str, object]:
    """Fit K components and return the mixing figures."""
    model = bmm.mixture("v ~ 1", frame, k=k, alpha=alpha)
    walls = []
    for _ in range(2):  # the first fit compiles the structure; the second reuses it
        start = time.perf_counter()
        res = model.fit(draws=draws, tune=tune, chains=4, cores=2, random_seed=seed,
                        target_accept=0.95, sampler=sampler)
        walls.append(time.perf_counter() - start)
    cold, wall = walls
    table = res.summary().table
    low = res.idata.posterior["beta"].values[..., 0, 0].mean(axis=1)  # (C,)
    return {"K": k, "sampler": sampler, "cold s": cold, "wall s": wall,
            "max R-hat": float(table["R-hat"].max()),
            "min ESS": float(table["ESS bulk"].min()),
            "divergences": int(res.idata.sample_stats["diverging"].sum()),
            "flagged chains": list(np.flatnonzero(res.label_switching().to_numpy())),
            "min ESS/s": float(table["ESS bulk"].min()) / wall,
            "lowest intercept by chain": np.round(low, 2).tolist()}


def main() -> None:
    """Run the study and print one line per K."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--k", type=int, nargs="+", default=[3, 4, 5])
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--samplers", nargs="+", default=["nutpie", "pymc"])
    parser.add_argument("data_dir", nargs="?",
                        default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    frame = bmm.load_dataset("galaxies", data_home=args.data_dir)
    frame = frame.assign(v=frame["dat"] / 1000.0)
    print(f"galaxies, ordered by intercept, default priors but Dirichlet({args.alpha:g}), "
          f"4 chains x {args.draws} draws after {args.tune}, seed {args.seed}; 'cold s' is "
          "the first fit (it compiles), 'wall s' the same fit again; ESS/s uses wall s")
    for k in args.k:
        for sampler in args.samplers:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                row = one_fit(frame, k, args.alpha, sampler, args.draws, args.tune, args.seed)
            print("  ".join(f"{key}: {val:.3f}" if isinstance(val, float) else f"{key}: {val}"
                            for key, val in row.items()), flush=True)


if __name__ == "__main__":
    main()
