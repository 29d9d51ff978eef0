"""Standard errors of the covariance parameters from the observed information.

The criterion is evaluated without profiling σ², as a function of the reported variance
and covariance parameters φ (statsmodels' ``Group Var``, ``Group x Time Cov``, …) and σ²;
its numerical Hessian at the optimum is inverted. At a singular fit (Ψ not positive
definite) the standard errors are undefined and returned as NaN.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..covariance import theta_map
from ..design import Design
from ..deviance import (
    Method,
    Stats,
    deviance,
    profile,
    profiled_loglike,
    profiled_loglike_gradient,
    residual_df,
)
from ..params import block_of, cov_params, theta_from_params
from ..suffstats import SuffStats
from .numdiff import hessian, richardson_jacobian

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


def params_score(stats: Stats, design: Design, beta: np.ndarray, cov: np.ndarray,
                 method: Method) -> np.ndarray:
    """Statsmodels' ``score(params, profile_fe=False)`` with ``use_sqrt=False``.

    Exact in β and θ (the profiled criterion's gradient taken at the given β); θ's
    dependence on the covariance values (a Cholesky factor) by Richardson-extrapolated
    central differences, to ~1e-10.

    Raises
    ------
    numpy.linalg.LinAlgError
        When a covariance block is not positive semidefinite.
    NotImplementedError
        Beyond the exact gradient's size (several large vector terms).
    """
    theta = theta_from_params(design, cov)
    g_beta, g_theta = profiled_loglike_gradient(beta, theta, stats, method)
    step = 1e-6 * np.maximum(np.abs(cov), 1e-3)
    J = richardson_jacobian(lambda v: theta_from_params(design, v), cov, step)  # (n_cov, n_θ)
    return np.concatenate([g_beta, J @ g_theta])


def params_hessian(score: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Symmetrised Richardson-extrapolated central differences of an exact ``score``."""
    step = 1e-4 * np.maximum(np.abs(x), 0.1)
    H = richardson_jacobian(score, x, step)  # (k, k)
    return 0.5 * (H + H.T)


def statsmodels_cov_params(stats: Stats, design: Design, beta: np.ndarray,
                           phi: np.ndarray, method: Method) -> np.ndarray:
    """Statsmodels' ``cov_params()``: −H⁻¹ of the σ²-profiled log-likelihood.

    The parameters are statsmodels' ``params``: β, then the covariance parameters
    divided by σ² (``cov_re_unscaled``, ``vcomp / scale``) in :func:`cov_params` order.
    H is :func:`params_hessian` of the exact :func:`params_score` (second differences of
    the log-likelihood, whose sufficient-statistic cancellations leave ~5e-10 of noise,
    moved one entry by 1e-5 relative between two roundings of the same algebra); the β
    block is in closed form.

    Parameters
    ----------
    stats : SuffStats or BlockedStats
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
    try:
        theta = _theta_from_phi(phi, 1.0, design)  # raises on the boundary
        hess = params_hessian(lambda x: params_score(stats, design, x[:p], x[p:], method), x0)
    except NotImplementedError:  # several large vector terms: second differences of ℓ
        hess = _value_hessian(stats, design, x0, p, method)
    except np.linalg.LinAlgError:
        return np.full((x0.size, x0.size), np.nan)
    if not np.all(np.isfinite(hess)):
        return np.full(hess.shape, np.nan)
    try:
        prof = profile(theta, stats)
        # the β block in closed form: ℓ = −(df/2) log(r² + dᵀAd) + …, d = β − β̂, at d = 0
        hess[:p, :p] = -residual_df(stats, method) / prof.r2 * prof.A
        return np.linalg.inv(-hess)
    except np.linalg.LinAlgError:
        return np.full(hess.shape, np.nan)


def _value_hessian(stats: Stats, design: Design, x0: np.ndarray, p: int, method: Method
                   ) -> np.ndarray:
    """Central second differences of the log-likelihood at ``x0`` (β, then φ)."""

    def loglik(x: np.ndarray) -> float:
        try:
            ll = profiled_loglike(x[:p], _theta_from_phi(x[p:], 1.0, design), stats, method)
        except np.linalg.LinAlgError:  # Ψ off the interior
            return np.nan
        return ll if np.isfinite(ll) else np.nan  # −inf: M(θ) not positive definite

    # steps of 1e-3: the log-likelihood (~10³) carries ~1e-10 of rounding noise, which a
    # 1e-4 step turned into 1e-3 relative error of the variance's curvature on dietox
    h = 1e-3 * np.maximum(np.abs(x0), 1e-2 * np.abs(x0[p:]).max(initial=1.0))
    return hessian(loglik, x0, h)  # (k, k)
