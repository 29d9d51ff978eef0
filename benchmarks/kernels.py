"""A gradient of the C kernels against the model's compiled PyTensor graph, same point.

For each case: microseconds per call of ``logp_grad`` (the density's log density and
gradient, called from Python, median of 7 repeats of a timed loop) on bayesmm's C kernel
(``infer/csrc``, what nutpie's threads call) and on the PyMC model's graph compiled by
``infer/compiled.compile_density`` with PyTensor's Numba backend (the path the kernels
replaced), and the largest relative difference of the two gradients.

Usage: python benchmarks/kernels.py [data_dir]
"""

from __future__ import annotations

import sys
import time
import timeit
from pathlib import Path

import numpy as np
import pandas as pd

import bayesmm as bmm
from bayesmm.build.latent import build_latent
from bayesmm.build.marginal import build_marginal
from bayesmm.infer.compiled import compile_density
from bayesmm.infer.kernel_density import kernel_density, latent_kernel_density


def _groups(n_groups: int, slopes: bool) -> pd.DataFrame:
    """``n_groups`` groups of 10 rows, p = 3; a random slope on x1 with ``slopes``."""
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(n_groups), 10)
    x = rng.normal(size=(g.size, 2))
    y = 1.0 + x @ [0.5, -0.3] + rng.normal(size=n_groups)[g] + rng.normal(size=g.size)
    if slopes:
        y = y + x[:, 0] * rng.normal(0, 0.5, n_groups)[g]
    return pd.DataFrame({"y": y, "x1": x[:, 0], "x2": x[:, 1], "g": g})


def cases(data_dir: Path) -> dict[str, tuple[object, object]]:
    """Name: (kernel density, PyMC model of the same build)."""
    out = {}
    for name, formula, frame in [
        ("dietox (Time | Pig), G = 72", "Weight ~ Time + (Time | Pig)",
         pd.read_csv(data_dir / "dietox.csv")),
        ("10,000 groups × 10 rows, p = 3, q = 1", "y ~ x1 + x2 + (1 | g)",
         _groups(10_000, False)),
        ("10,000 groups × 10 rows, p = 3, q = 2", "y ~ x1 + x2 + (1 + x1 | g)",
         _groups(10_000, True)),
    ]:
        model = bmm.mixedlm(formula, frame)
        out[name] = (kernel_density(model.design, model.priors, model.stats),
                     build_marginal(model.design, model.priors, model.stats))
    cbpp = bmm.mixedlm("incidence / size ~ C(period) + (1 | herd)",
                       pd.read_csv(data_dir / "cbpp.csv"), family="binomial")
    out["cbpp binomial (1 | herd), N = 56"] = (
        latent_kernel_density(cbpp.design, cbpp.priors), build_latent(cbpp.design, cbpp.priors))
    return out


def per_call(fn: object, x: np.ndarray) -> float:
    """Median microseconds per call of ``fn(x)`` over 7 timed loops."""
    number = max(1, int(0.05 / max(timeit.timeit(lambda: fn(x), number=1), 1e-7)))
    loops = timeit.repeat(lambda: fn(x), number=number, repeat=7)
    return float(np.median(loops)) / number * 1e6


def main() -> None:
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/data")
    rows = []
    for name, (kernel, pm_model) in cases(data_dir).items():
        start = time.perf_counter()
        graph = compile_density(pm_model, "NUMBA")
        compile_s = time.perf_counter() - start
        x = kernel.x0 + np.random.default_rng(1).normal(0, 0.3, kernel.n_dim)
        g_kernel, g_graph = kernel.logp_grad(x)[1], graph.logp_grad(x)[1]
        rows.append({"case": name, "C kernel µs": per_call(kernel.logp_grad, x),
                     "PyTensor graph µs": per_call(graph.logp_grad, x),
                     "graph compile or load s": compile_s,
                     "max rel. gradient difference": float(
                         np.max(np.abs(g_kernel - g_graph)) / np.max(np.abs(g_graph)))})
    with pd.option_context("display.width", 200, "display.max_columns", 10,
                           "display.float_format", "{:.3g}".format):
        print(pd.DataFrame(rows).set_index("case"))


if __name__ == "__main__":
    main()
