"""lme4's profiled deviance on sufficient statistics (REML, ML and penalised MAP).

For a fixed relative covariance factor Λ(θ), with ``M_b = I + ΛᵀZ_bᵀZ_bΛ`` per block::

    A  = XᵀX − Σ_b (ΛᵀZ_bᵀX_b)ᵀ M_b⁻¹ (ΛᵀZ_bᵀX_b)
    c  = Xᵀy − Σ_b (ΛᵀZ_bᵀX_b)ᵀ M_b⁻¹ ΛᵀZ_bᵀy_b
    d  = yᵀy − Σ_b (ΛᵀZ_bᵀy_b)ᵀ M_b⁻¹ ΛᵀZ_bᵀy_b
    β̂ = A⁻¹ c,  r² = d − cᵀβ̂

    −2ℓ_ML   = Σ log|M_b| + N (1 + log(2π r²/N))
    −2ℓ_REML = Σ log|M_b| + log|A| + (N−p)(1 + log(2π r²/(N−p)))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .covariance import lambda_from_theta
from .suffstats import SuffStats

__all__ = ["Method", "Profile", "deviance", "n_penalised", "profile", "random_effect_means"]

Method = Literal["reml", "ml", "map"]
_LOG2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True, eq=False)
class Profile:
    """Everything the profiled deviance computes at one θ.

    Attributes
    ----------
    lam : ndarray, shape (m, m)
    chol_M : ndarray, shape (B, m, m)
        Lower Cholesky factors of ``M_b``.
    A : ndarray, shape (p, p)
    beta : ndarray, shape (p,)
    r2 : float
        Penalised residual sum of squares.
    logdet_M : float
    logdet_A : float
    """

    lam: np.ndarray
    chol_M: np.ndarray
    A: np.ndarray
    beta: np.ndarray
    r2: float
    logdet_M: float
    logdet_A: float


def profile(theta: np.ndarray, stats: SuffStats) -> Profile:
    """Evaluate the profiled quantities at ``theta``."""
    lam = lambda_from_theta(theta, stats.tmap)  # (m, m)
    m, p = lam.shape[0], stats.p
    LZX = np.matmul(lam.T, stats.ZtX)  # (B, m, p)
    LZy = stats.Zty @ lam  # (B, m)   row b is (Λᵀ Z_bᵀy_b)ᵀ
    M = np.matmul(np.matmul(lam.T, stats.ZtZ), lam) + np.eye(m)  # (B, m, m)
    L = np.linalg.cholesky(M)  # (B, m, m)
    rhs = np.concatenate([LZX, LZy[..., None]], axis=2)  # (B, m, p + 1)
    sol = np.linalg.solve(L, rhs).reshape(-1, p + 1)  # (B m, p + 1)   L⁻¹Λᵀ[ZᵀX | Zᵀy]
    cross = sol.T @ sol  # (p + 1, p + 1)
    A = stats.XtX - cross[:p, :p]  # (p, p)
    c = stats.Xty - cross[:p, p]  # (p,)
    d = stats.yty - float(cross[p, p])
    chol_A = np.linalg.cholesky(A)
    beta = np.linalg.solve(A, c)
    r2 = max(d - float(c @ beta), 1e-300)
    logdet_M = 2.0 * float(np.log(np.diagonal(L, axis1=1, axis2=2)).sum())
    logdet_A = 2.0 * float(np.log(np.diag(chol_A)).sum())
    return Profile(lam, L, A, beta, r2, logdet_M, logdet_A)


def n_penalised(stats: SuffStats) -> int:
    """Count the SD parameters carrying the MAP penalty (diagonal θ)."""
    return int(stats.tmap.on_diagonal.sum())


def residual_df(stats: SuffStats, method: Method) -> int:
    """Degrees of freedom of the profiled scale: N − p (REML, MAP) or N (ML)."""
    return stats.n_obs - (0 if method == "ml" else stats.p)


def scale_hat(prof: Profile, stats: SuffStats, method: Method) -> float:
    """Profiled residual variance σ̂² at the current θ."""
    df = residual_df(stats, method)
    if method == "map":
        df -= n_penalised(stats)
    return prof.r2 / df


def deviance(
    theta: np.ndarray,
    stats: SuffStats,
    method: Method = "reml",
    scale: float | None = None,
) -> float:
    """−2 log-likelihood (REML/ML) or −2 log posterior kernel (MAP) at ``theta``.

    Parameters
    ----------
    theta : ndarray
        Relative covariance parameters.
    stats : SuffStats
        Sufficient statistics.
    method : {"reml", "ml", "map"}
        Criterion. ``"map"`` is REML plus blme's default penalty
        ``−2 Σ log σ_k`` (gamma(2, 0) per SD, Wishart(q + 2) per covariance block).
    scale : float, optional
        σ². Profiled out when omitted.

    Returns
    -------
    float
        The criterion; ``inf`` where it is undefined.
    """
    try:
        prof = profile(theta, stats)
    except np.linalg.LinAlgError:
        return np.inf
    df = residual_df(stats, method)
    sigma2 = scale_hat(prof, stats, method) if scale is None else scale
    dev = prof.logdet_M + df * (_LOG2PI + np.log(sigma2)) + prof.r2 / sigma2
    if method != "ml":
        dev += prof.logdet_A
    if method == "map":
        diag = np.asarray(theta)[stats.tmap.on_diagonal]
        if np.any(diag <= 0):
            return np.inf
        # −2 log Π σ_k with σ_k = σ θ_k
        dev -= len(diag) * np.log(sigma2) + 2.0 * float(np.sum(np.log(diag)))
    return float(dev)


def random_effect_means(prof: Profile, stats: SuffStats) -> np.ndarray:
    """Conditional modes (BLUPs) of the random effects at the profiled optimum.

    ``b_b = Λ M_b⁻¹ Λᵀ Z_bᵀ (y_b − X_b β̂)``; zero on a singular fit.

    Returns
    -------
    ndarray, shape (B, m)
    """
    u = stats.Zty - np.einsum("bmp,p->bm", stats.ZtX, prof.beta)  # (B, m)
    v = np.einsum("ki,bk->bi", prof.lam, u)  # (B, m)  Λᵀu
    L = prof.chol_M
    w = np.linalg.solve(np.swapaxes(L, 1, 2), np.linalg.solve(L, v[..., None]))[..., 0]
    return np.einsum("ij,bj->bi", prof.lam, w)  # (B, m)
