"""Compile the common model structures once per installation (``bayesmm warmup``).

A first fit of a structure pays Numba's compile of its density (20–35 s), and the density's
key ignores names, data and sizes (:mod:`bayesmm.infer.compiled`): what remains is the
number of random-effect columns q, the number of fixed effects p (unrolled for speed), the
covariance blocks, the family and the prior families. Fitting one small simulated data set
of each common Gaussian structure — a random intercept or a correlated intercept and slope,
with one to three fixed effects — leaves their functions in PyTensor's ``compiledir``, where
every later fit of such a model (any data, any names) finds them.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from .api import mixedlm
from .diagnostics import SamplingWarning

__all__ = ["STRUCTURES", "structure_formula", "warmup"]

STRUCTURES = tuple((q, p) for q in (1, 2) for p in (1, 2, 3))  # (q, p)


def structure_formula(q: int, p: int) -> str:
    """Return the lme4 formula of ``q`` random-effect columns and ``p`` fixed effects."""
    fixed = " + ".join(["1", *(f"x{j}" for j in range(1, p))])
    random = "1" if q == 1 else "1 + z"
    return f"y ~ {fixed} + ({random} | g)"


def _frame(rng: np.random.Generator) -> pd.DataFrame:
    """12 groups × 8 rows with predictors x1, x2 and a slope column z."""
    g = np.repeat(np.arange(12), 8)
    x = rng.normal(size=(g.size, 3))  # x1, x2, z
    y = x[:, 0] + rng.normal(size=12)[g] + x[:, 2] * rng.normal(0, 0.5, 12)[g] \
        + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x1": x[:, 0], "x2": x[:, 1], "z": x[:, 2],
                         "g": [f"g{k}" for k in g]})


def warmup(structures: tuple[tuple[int, int], ...] = STRUCTURES,
           report: Callable[[str], None] | None = None) -> list[tuple[str, float]]:
    """Fit one short NUTS run of each structure, so that its compiled density is cached.

    Parameters
    ----------
    structures : tuple of (q, p)
    report : callable, optional
        Called with a line per structure (formula and seconds).

    Returns
    -------
    list of (formula, seconds)
    """
    frame = _frame(np.random.default_rng(0))
    done = []
    for q, p in structures:
        formula = structure_formula(q, p)
        start = time.perf_counter()
        with warnings.catch_warnings():  # 20 draws: the sampling warnings are expected
            warnings.simplefilter("ignore", SamplingWarning)
            # two chains on two cores: also builds the GIL-free callbacks (infer/native)
            # that later fits then run their chains on at once
            mixedlm(formula, frame).fit(draws=20, tune=20, chains=2, cores=2,
                                        comparison=False, progressbar=False, random_seed=0)
        done.append((formula, time.perf_counter() - start))
        if report is not None:
            report(f"{formula}: {done[-1][1]:.1f} s")
    return done
