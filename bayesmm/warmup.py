"""Check the NUTS kernels once per installation (``bayesmm warmup``).

The Gaussian marginal build of one factor and the latent build of binomial, Bernoulli, Poisson,
negative binomial, Student-t and Gaussian models, under the default prior families, run on C
kernels that ``pip install`` builds (:mod:`bayesmm.infer.kernel_library`): a first fit of any
such model compiles nothing. One short Gaussian fit and one binomial fit check that they load
and sample (and compile the sources, about 1 s, where the installation did not build them).
Other models compile their PyTensor graph per structure on their first fit (20–35 s), keyed
without names, data or sizes (:mod:`bayesmm.infer.compiled`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from .api import mixedlm
from .diagnostics import SamplingWarning

__all__ = ["LATENT", "STRUCTURES", "structure_formula", "warmup"]

STRUCTURES = ((2, 2),)  # (q, p): one Gaussian fit on the kernel serving them all
# family: random-intercept formula on _frame's columns (the latent kernel: every family it
# covers, any p and factors)
LATENT = {"binomial": "k / n ~ 1 + (1 | g)"}


def structure_formula(q: int, p: int) -> str:
    """Return the lme4 formula of ``q`` random-effect columns and ``p`` fixed effects."""
    fixed = " + ".join(["1", *(f"x{j}" for j in range(1, p))])
    random = "1" if q == 1 else "1 + z"
    return f"y ~ {fixed} + ({random} | g)"


def _frame(rng: np.random.Generator) -> pd.DataFrame:
    """12 groups × 8 rows: predictors x1, x2, a slope column z; counts k of n = 5, binary b."""
    g = np.repeat(np.arange(12), 8)
    x = rng.normal(size=(g.size, 3))  # x1, x2, z
    y = x[:, 0] + rng.normal(size=12)[g] + x[:, 2] * rng.normal(0, 0.5, 12)[g] \
        + rng.normal(size=g.size)
    k = rng.binomial(5, 1.0 / (1.0 + np.exp(-0.5 * y)))  # (N,) successes of 5
    return pd.DataFrame({"y": y, "x1": x[:, 0], "x2": x[:, 1], "z": x[:, 2],
                         "k": k, "n": 5, "b": (k > 2).astype(int),
                         "g": [f"g{j}" for j in g]})


def warmup(structures: tuple[tuple[int, int], ...] = STRUCTURES,
           families: tuple[str, ...] = tuple(LATENT),
           report: Callable[[str], None] | None = None) -> list[tuple[str, float]]:
    """Fit one short NUTS run of each structure on its kernel (compiling nothing once installed).

    Parameters
    ----------
    structures : tuple of (q, p)
        Gaussian structures (the marginal build).
    families : tuple of str
        Families of :data:`LATENT` whose random-intercept latent build is compiled.
    report : callable, optional
        Called with a line per structure (formula and seconds).

    Returns
    -------
    list of (formula, seconds)
    """
    frame = _frame(np.random.default_rng(0))
    done = []
    todo = [(structure_formula(q, p), "gaussian") for q, p in structures]
    todo += [(LATENT[f], f) for f in families]
    for formula, family in todo:
        start = time.perf_counter()
        with warnings.catch_warnings():  # 20 draws: the sampling warnings are expected
            warnings.simplefilter("ignore", SamplingWarning)
            # two chains on two cores: nutpie's threads on the kernel's C functions
            mixedlm(formula, frame, family=family).fit(
                draws=20, tune=20, chains=2, cores=2, comparison=False, progressbar=False,
                random_seed=0)
        done.append((formula, time.perf_counter() - start))
        if report is not None:
            report(f"{formula}: {done[-1][1]:.1f} s")
    return done
