"""Standard errors of the covariance parameters from the observed information.

The criterion is evaluated without profiling σ², as a function of the reported variance
and covariance parameters φ (statsmodels' ``Group Var``, ``Group x Time Cov``, …) and σ²;
its numerical Hessian at the optimum is inverted. At a singular fit (Ψ not positive
definite) the standard errors are undefined and returned as NaN.
"""

from __future__ import annotations

import numpy as np

from ..covariance import theta_map
from ..design import Design
from ..deviance import Method, deviance
from ..params import cov_params
from ..suffstats import SuffStats
from .numdiff import hessian

__all__ = ["cov_param_se"]


def _theta_from_phi(phi: np.ndarray, scale: float, design: Design) -> np.ndarray:
    """θ (in template order) from the reported Ψ entries φ and σ²."""
    psis = [np.zeros((f.q, f.q)) for f in design.factors]
    for value, p in zip(phi, cov_params(design), strict=True):
        factor = design.factors[p.factor]
        block = next(b for b in factor.blocks if p.row in b.cols)
        if block.kind == "vc":  # one variance shared by every column of the component
            psis[p.factor][block.cols, block.cols] = value
        else:
            psis[p.factor][p.row, p.col] = psis[p.factor][p.col, p.row] = value
    thetas = []
    for factor, psi in zip(design.factors, psis, strict=True):
        lam = np.linalg.cholesky(psi / scale)  # (q, q); raises off the interior
        tmap = theta_map(factor)
        theta = np.empty(tmap.n_theta)
        theta[tmap.index] = lam[tmap.rows, tmap.cols]
        thetas.append(theta)
    return np.concatenate(thetas)


def cov_param_se(
    stats: SuffStats, design: Design, phi: np.ndarray, scale: float, method: Method
) -> np.ndarray:
    """Compute standard errors of (φ..., σ²) from the inverse observed information.

    Parameters
    ----------
    stats : SuffStats
    design : Design
    phi : ndarray
        Reported covariance parameters at the optimum, in :func:`cov_params` order.
    scale : float
        σ² at the optimum.
    method : {"reml", "ml", "map"}

    Returns
    -------
    ndarray, shape (len(phi) + 1,)
        NaN where the information is singular or Ψ is on the boundary.
    """
    x0 = np.append(phi, scale)

    def loglik(x: np.ndarray) -> float:
        if not x[-1] > 0:  # σ² off its domain (a step from a boundary optimum)
            return np.nan
        try:
            theta = _theta_from_phi(x[:-1], x[-1], design)
        except np.linalg.LinAlgError:
            return np.nan
        return -0.5 * deviance(theta, stats, method, scale=x[-1])

    n = x0.size
    h = 1e-4 * np.maximum(np.abs(x0), 1e-2 * np.abs(x0).max())
    hess = hessian(loglik, x0, h)
    if not np.all(np.isfinite(hess)):
        return np.full(n, np.nan)
    try:
        cov = np.linalg.inv(-hess)
    except np.linalg.LinAlgError:
        return np.full(n, np.nan)
    var = np.diag(cov)
    return np.where(var > 0, np.sqrt(np.abs(var)), np.nan)
