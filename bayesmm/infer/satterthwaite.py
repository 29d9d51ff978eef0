"""Satterthwaite's denominator degrees of freedom for fixed-effect contrasts (lmerTest's).

For a contrast ``l`` the variance ``v(τ) = l V_β(τ) lᵀ`` depends on the variance parameters
``τ = (θ, σ)``; Satterthwaite's approximation matches ``v̂`` to a scaled χ² with::

    df = 2 v̂² / (gᵀ A g),   g = ∂v/∂τ,   A = 2 H⁻¹ (the asymptotic covariance of τ̂)

where ``H`` is the Hessian of the unprofiled criterion ``−2ℓ(θ, σ)`` (REML or ML) and
``V_β(τ) = σ² A_X(θ)⁻¹`` with ``A_X = XᵀV⁻¹X σ²`` from the profiled deviance. Both
derivatives are taken numerically on the sufficient statistics (Richardson-extrapolated
central differences), so the test costs a few dozen profile evaluations whatever N is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..deviance import Method, Stats, deviance, profile
from .numdiff import richardson_hessian, richardson_jacobian

__all__ = ["SatterthwaiteParts", "satterthwaite_df", "satterthwaite_parts"]


@dataclass(frozen=True, eq=False)
class SatterthwaiteParts:
    """What every contrast's Satterthwaite df needs.

    Attributes
    ----------
    vcov : ndarray, shape (p, p)
        ``V_β`` at the optimum.
    jacobian : ndarray, shape (k, p, p)
        ``∂V_β/∂τ_k`` for ``τ = (θ..., σ)``.
    cov_varpar : ndarray, shape (k, k)
        ``2 H⁻¹``: a pseudo-inverse over H's positive eigenvalues when the optimum is on
        the boundary (lmerTest's choice).
    n_dropped : int
        Eigen-directions of H left out of the inverse (0 at an interior optimum).
    """

    vcov: np.ndarray
    jacobian: np.ndarray
    cov_varpar: np.ndarray
    n_dropped: int


def _positive_inverse(h: np.ndarray) -> tuple[np.ndarray, int]:
    """Inverse of a symmetric matrix over its clearly positive eigenvalues."""
    vals, vecs = np.linalg.eigh(0.5 * (h + h.T))
    keep = vals > np.sqrt(np.finfo(float).eps) * max(vals.max(initial=0.0), 1.0)
    inv = (vecs[:, keep] / vals[keep]) @ vecs[:, keep].T  # (k, k)
    return inv, int((~keep).sum())


def satterthwaite_parts(stats: Stats, theta: np.ndarray, scale: float, method: Method
                        ) -> SatterthwaiteParts:
    """Differentiate ``V_β`` and the criterion at the optimum ``(θ̂, σ̂)``.

    Parameters
    ----------
    stats : SuffStats or BlockedStats
    theta : ndarray, shape (n_theta,)
        Relative covariance parameters at the optimum.
    scale : float
        σ̂² at the optimum.
    method : {"reml", "ml"}

    Returns
    -------
    SatterthwaiteParts
    """
    x0 = np.append(np.asarray(theta, dtype=float), np.sqrt(scale))  # τ = (θ, σ)

    def criterion(x: np.ndarray) -> float:
        return deviance(x[:-1], stats, method, scale=x[-1] ** 2)

    def vcov(x: np.ndarray) -> np.ndarray:
        return x[-1] ** 2 * np.linalg.inv(profile(x[:-1], stats).A)  # (p, p)

    step = 1e-3 * np.maximum(np.abs(x0), 1e-2)
    cov_varpar, dropped = _positive_inverse(richardson_hessian(criterion, x0, step))
    return SatterthwaiteParts(vcov(x0), richardson_jacobian(vcov, x0, step),
                              2.0 * cov_varpar, dropped)


def satterthwaite_df(L: np.ndarray, parts: SatterthwaiteParts) -> np.ndarray:
    """Satterthwaite's df of each row of ``L`` (one-dimensional contrasts).

    Parameters
    ----------
    L : ndarray, shape (r, p)
    parts : SatterthwaiteParts

    Returns
    -------
    ndarray, shape (r,)
    """
    L = np.atleast_2d(L)
    v = np.einsum("rp,pq,rq->r", L, parts.vcov, L)  # (r,)
    g = np.einsum("rp,kpq,rq->rk", L, parts.jacobian, L)  # (r, k)
    denom = np.einsum("rk,kl,rl->r", g, parts.cov_varpar, g)
    with np.errstate(divide="ignore"):
        return np.where(denom > 0, 2.0 * v**2 / denom, np.inf)
