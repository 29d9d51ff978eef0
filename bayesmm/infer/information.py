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
from ..deviance import Method, deviance, profile, residual_df
from ..params import block_of, cov_params
from ..suffstats import SuffStats
from .numdiff import hessian

__all__ = ["cov_param_se", "statsmodels_cov_params"]


def _theta_from_phi(phi: np.ndarray, scale: float, design: Design) -> np.ndarray:
    """θ (in template order) from the reported Ψ entries φ and σ²."""
    psis = [np.zeros((f.q, f.q)) for f in design.factors]
    for value, p in zip(phi, cov_params(design), strict=True):
        block = block_of(design, p)
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


def _loglike_at_beta(stats: SuffStats, method: Method, beta: np.ndarray, theta: np.ndarray
                     ) -> float:
    """Log-likelihood at a given β with σ² profiled (statsmodels' ``profile_fe=False``).

    ``(y − Xβ)ᵀV⁻¹(y − Xβ) = r² + (β − β̂)ᵀA(β − β̂)``, so the profile at θ serves any β.
    """
    prof = profile(theta, stats)
    diff = beta - prof.beta
    r2 = prof.r2 + float(diff @ prof.A @ diff)
    df = residual_df(stats, method)
    dev = prof.logdet_M + df * (np.log(2 * np.pi * r2 / df) + 1.0)
    if method != "ml":
        dev += prof.logdet_A
    return -0.5 * dev


def statsmodels_cov_params(stats: SuffStats, design: Design, beta: np.ndarray,
                           phi: np.ndarray, method: Method) -> np.ndarray:
    """Statsmodels' ``cov_params()``: −H⁻¹ of the σ²-profiled log-likelihood.

    The parameters are statsmodels' ``params``: β, then the covariance parameters
    divided by σ² (``cov_re_unscaled``, ``vcomp / scale``) in :func:`cov_params` order.

    Parameters
    ----------
    stats : SuffStats
    design : Design
    beta : ndarray, shape (p,)
    phi : ndarray
        Unscaled covariance parameters (Ψ/σ² entries) at the optimum.
    method : {"reml", "ml"}

    Returns
    -------
    ndarray, shape (p + len(phi), p + len(phi))
        NaN where Ψ is on the boundary or the information is singular.
    """
    p = beta.size
    x0 = np.concatenate([beta, phi])

    def loglik(x: np.ndarray) -> float:
        try:
            theta = _theta_from_phi(x[p:], 1.0, design)
            return _loglike_at_beta(stats, method, x[:p], theta)
        except np.linalg.LinAlgError:
            return np.nan

    # steps of 1e-3: the log-likelihood (~10³) carries ~1e-10 of rounding noise, which a
    # 1e-4 step turned into 1e-3 relative error of the variance's curvature on dietox
    h = 1e-3 * np.maximum(np.abs(x0), 1e-2 * np.abs(x0[p:]).max(initial=1.0))
    hess = hessian(loglik, x0, h)  # (k, k)
    if not np.all(np.isfinite(hess)):
        return np.full(hess.shape, np.nan)
    try:
        prof = profile(_theta_from_phi(phi, 1.0, design), stats)
        # the β block in closed form: ℓ = −(df/2) log(r² + dᵀAd) + …, d = β − β̂, at d = 0
        hess[:p, :p] = -residual_df(stats, method) / prof.r2 * prof.A
        return np.linalg.inv(-hess)
    except np.linalg.LinAlgError:
        return np.full(hess.shape, np.nan)
