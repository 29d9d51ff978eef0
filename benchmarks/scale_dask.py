"""Dask: 10^7 rows from Parquet through a LocalCluster, beside the in-memory path, same data.

A child process writes the scale benchmark's data (y = 2 + 0.5x + b0_g + b1_g x + e, 1000
groups) as Parquet files, chunk by chunk. Then, each in a fresh process so peak RSS is its own:

* ``dask``: the client reads the files lazily with ``dask.dataframe.read_parquet``, a
  ``LocalCluster`` (2 worker processes, loopback only) computes the statistics partition by
  partition, and the client fits REML and NUTS (4 x 1000 after 1000, marginal build);
* ``pandas``: the baseline reads the same files into one DataFrame and fits the same.

A 50-draw fit first fills the PyTensor cache, so both paths time a warm cache. Printed per
path: statistics time, REML wall time, NUTS wall time, min bulk ESS, client peak RSS; then
the largest relative difference between the two paths' REML estimates.

Usage: python benchmarks/scale_dask.py [--rows 1e7] [--files 20] [--draws 1000]
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
from pathlib import Path

os.environ.setdefault("PYTENSOR_FLAGS",
                      f"base_compiledir={tempfile.gettempdir()}/bayesmm-bench-scale")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bayesmm as bmm  # noqa: E402

GROUPS = 1000


def write(rows: int, files: int, folder: Path, seed: int = 0) -> None:
    """Write ``rows`` simulated rows as ``files`` Parquet files (never all in memory)."""
    rng = np.random.default_rng(seed)
    b0, b1 = rng.normal(0, 1.0, GROUPS), rng.normal(0, 0.5, GROUPS)
    per = rows // files
    for k in range(files):
        r = np.random.default_rng([seed, k])
        g = r.integers(0, GROUPS, per)
        x = r.normal(size=per)
        y = 2.0 + 0.5 * x + b0[g] + b1[g] * x + r.normal(size=per)
        pd.DataFrame({"y": y, "x": x, "g": g}).to_parquet(folder / f"part{k:03d}.parquet")


def fit(path: str, folder: Path, draws: int) -> dict:
    """Statistics, REML and NUTS on one path; returns figures and REML estimates."""
    if path == "dask":
        import dask.dataframe as dd
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)
        data = dd.read_parquet(str(folder))
    else:
        data = pd.read_parquet(folder)
    t0 = time.perf_counter()
    model = bmm.mixedlm("y ~ x", data, groups="g", re_formula="~x")
    _ = model.stats
    t_stats = time.perf_counter() - t0
    if path == "dask":
        client.close()
        cluster.close()
    t0 = time.perf_counter()
    reml = model.fit(method="reml")
    t_reml = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(draws=draws, tune=draws, chains=4, cores=2, random_seed=1, comparison=False)
    t_nuts = time.perf_counter() - t0
    return {"path": path, "rows": model.design.n_obs, "partitions":
            getattr(data, "npartitions", 1), "stats s": round(t_stats, 1),
            "REML s": round(t_reml, 2), "NUTS s": round(t_nuts, 1),
            "min ESS bulk": round(float(res.sampling.ess_bulk.min())),
            "client peak RSS GB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                                        2),
            "estimates": {"fe": reml.fe_params.tolist(), "cov_re": reml.cov_re.values.ravel()
                          .tolist(), "scale": reml.scale, "llf": reml.llf}}


def _rel(a: list, b: list) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def main() -> None:
    """Write the files, run both paths in their own processes, print the comparison."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=float, default=1e7)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(fit(args.one, Path(args.folder), args.draws)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                f"from scale_dask import write; from pathlib import Path; "
                f"write({int(args.rows)}, {args.files}, Path({tmp!r}))")
        subprocess.run([sys.executable, "-c", code], check=True)
        warm = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                "from scale import simulate; import bayesmm as bmm; "
                "bmm.mixedlm('y ~ x', simulate(20000), groups='g', re_formula='~x')"
                ".fit(draws=50, tune=50, chains=4, cores=2)")
        subprocess.run([sys.executable, "-c", warm], check=True, capture_output=True)
        print(f"wrote {int(args.rows)} rows in {args.files} Parquet files "
              f"({sum(p.stat().st_size for p in folder.iterdir()) / 1e6:.0f} MB) in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        rows = []
        for path in ("dask", "pandas"):
            out = subprocess.run([sys.executable, __file__, "--one", path, "--folder", tmp,
                                  "--draws", str(args.draws)], capture_output=True, text=True,
                                 check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "estimates"}),
                  flush=True)
    a, b = rows[0]["estimates"], rows[1]["estimates"]
    print(pd.DataFrame([{k: v for k, v in r.items() if k != "estimates"} for r in rows])
          .to_string(index=False))
    print("max relative difference, Dask vs pandas REML: "
          + ", ".join(f"{k} {_rel(a[k], b[k]):.1e}" for k in ("fe", "cov_re", "scale", "llf")))
    ca, cb = np.asarray(a["cov_re"]), np.asarray(b["cov_re"])
    per_entry = (np.abs(ca - cb) / np.abs(cb)).tolist()
    print(f"cov_re pandas {cb.round(6).tolist()}; per entry {per_entry}; relative to the "
          f"largest entry {np.max(np.abs(ca - cb)) / np.max(np.abs(cb)):.1e}")


if __name__ == "__main__":
    main()
