"""Parametric bootstrap (lme4's ``bootMer`` and ``confint(method = "boot")``).

Each replicate simulates ``y* = Xβ̂ + Σ_f Z_f b_f + ε`` with ``b_f ~ N(0, Ψ̂_f)`` per level and
``ε ~ N(0, σ̂²)``, takes the sufficient statistics of ``y*`` and refits by the original
criterion. The intervals are percentile intervals of the replicates (lme4's default
``type = "perc"``) for the same rows as the profile: fixed effects, SDs, correlations and
the residual SD.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np
from rich.progress import track

from ..design import Design
from ..deviance import Method, Stats, profile, scale_hat
from ..errors import SpecificationError
from ..params import cov_values, psis_from_theta
from ..progress import resolve_progressbar
from ..suffstats import suff_stats
from .blas import one_blas_thread
from .optimize import PointFit, warm_minimum

__all__ = ["bootstrap_replicates"]


def _reported(design: Design, beta: np.ndarray, theta: np.ndarray, scale: float
              ) -> np.ndarray:
    """β, then the SD/correlation rows and the residual SD of one fit."""
    sdcor = cov_values(design, psis_from_theta(design, theta, scale), scale, "sd")
    return np.concatenate([beta, [float(v) for v in sdcor.values()]])


def _refit(stats: Stats, method: Method, theta0: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, float]:
    """β, θ and σ² of a replicate, warm-started at the fit's θ."""
    best = warm_minimum(stats, method, theta0, ftol=1e-12, gtol=1e-7)
    prof = profile(best.x, stats)
    return prof.beta, best.x, scale_hat(prof, stats, method)


def _simulate(design: Design, fit: PointFit, rng: np.random.Generator) -> np.ndarray:
    """One response vector from the fitted model, shape (N,)."""
    y = design.X @ fit.beta + rng.normal(0.0, np.sqrt(fit.scale), design.n_obs)
    if design.offset is not None:
        y = y + design.offset
    for f, psi in zip(design.factors, psis_from_theta(design, fit.theta, fit.scale), strict=True):
        # Ψ may be singular (a boundary fit): draw through its eigen-decomposition
        vals, vecs = np.linalg.eigh(psi)
        root = vecs * np.sqrt(np.clip(vals, 0.0, None))  # (q, q)
        b = rng.standard_normal((f.n_levels, f.q)) @ root.T  # (G, q)
        y = y + np.einsum("nq,nq->n", f.Z, b[f.codes])
    return y


def bootstrap_replicates(design: Design, fit: PointFit, nsim: int, seed: int | None,
                         progressbar: bool | None = None) -> tuple[list[str], np.ndarray]:
    """Refit ``nsim`` simulated data sets.

    Parameters
    ----------
    design : Design
        Gaussian, with its rows in memory.
    fit : PointFit
        The fit to simulate from; each replicate is refitted by ``fit.method``.
    nsim : int
    seed : int, optional
    progressbar : bool, optional
        Default: when a person is watching.

    Returns
    -------
    names : list of str
        Fixed effects, the ``SD``/``Corr`` rows and ``Residual SD``.
    replicates : ndarray, shape (nsim, k)
    """
    if not isinstance(nsim, int | np.integer) or nsim < 2:
        raise SpecificationError(f"nsim: expected an integer of at least 2; received {nsim!r}.")
    if not design.has_rows:
        raise SpecificationError(
            "method='boot': simulates new responses row by row, and this design's rows are "
            "partitioned (Dask). Use method='profile' (sufficient statistics only).")
    rng = np.random.default_rng(seed)
    names = list(design.xnames) + list(cov_values(design, psis_from_theta(design, fit.theta,
                                                                  fit.scale), fit.scale, "sd"))
    method: Method = fit.method  # type: ignore[assignment]
    steps: Iterable[int] = range(nsim)
    if resolve_progressbar(progressbar):
        steps = track(steps, description="Bootstrap", total=nsim)
    out = np.empty((nsim, len(names)))
    with one_blas_thread():  # see bayesmm.infer.blas
        for i in steps:
            stats = suff_stats(replace(design, y=_simulate(design, fit, rng)))
            out[i] = _reported(design, *_refit(stats, method, fit.theta))
    return names, out
