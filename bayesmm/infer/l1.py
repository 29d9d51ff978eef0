"""statsmodels' ``fit_regularized``: L1-penalised fixed effects at a fit's covariance.

The covariance parameters stay at the unpenalised fit's values; the fixed effects minimise

    (y − Xβ)ᵀ V⁻¹ (y − Xβ) + Σ_j α_j |β_j|,   V = σ̂² (I + Z Λ Λᵀ Zᵀ),

by cyclic coordinate descent ("shooting", Friedman, Hastie & Tibshirani 2010), as statsmodels
does it: from the unpenalised β̂, skipping coefficients already below ``ceps`` in magnitude.
On the sufficient statistics the quadratic form is ``r² + (β − β̂)ᵀ A (β − β̂)`` (lme4's A,
relative to σ̂²), so a sweep costs O(p²) whatever the number of rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["l1_coordinate_descent"]


def l1_coordinate_descent(A: np.ndarray, beta_hat: np.ndarray, weights: np.ndarray,
                          ceps: float = 1e-4, ptol: float = 1e-6, maxit: int = 200
                          ) -> np.ndarray:
    """Minimise ``(β − β̂)ᵀA(β − β̂) + Σ_j w_j |β_j|`` by cyclic coordinate descent.

    Parameters
    ----------
    A : ndarray, shape (p, p)
        ``XᵀV⁻¹X`` (positive definite).
    beta_hat : ndarray, shape (p,)
        The unpenalised minimiser, and the start.
    weights : ndarray, shape (p,)
        Penalty weights ``α_j`` (non-negative).
    ceps : float
        Coefficients below this in magnitude are zero and are not revisited (statsmodels).
    ptol : float
        Stop when no coefficient moved more than this in a sweep.
    maxit : int
        Maximum number of sweeps.

    Returns
    -------
    ndarray, shape (p,)
    """
    beta = np.array(beta_hat, dtype=float)
    c = A @ beta_hat  # (p,)   XᵀV⁻¹y
    for _ in range(maxit):
        before = beta.copy()
        for j in np.flatnonzero(np.abs(beta) >= ceps):
            beta[j] = 0.0
            # the loss in β_j is a β_j² + b β_j + w_j |β_j|
            a, b = A[j, j], -2.0 * (c[j] - A[j] @ beta)
            if b > weights[j]:
                beta[j] = -(b - weights[j]) / (2.0 * a)
            elif b < -weights[j]:
                beta[j] = -(b + weights[j]) / (2.0 * a)
        if np.abs(before - beta).max() < ptol:
            break
    return beta
