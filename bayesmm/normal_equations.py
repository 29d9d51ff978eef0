"""lme4's per-group algebra on the sufficient statistics, for one θ or a stack of draws.

For a relative factor Λ (q, q) and group g:

    M_g = I + ΛᵀZ_gᵀZ_gΛ = L_g L_gᵀ,     R_g = L_g⁻¹ Λᵀ [Z_gᵀX_g | Z_gᵀy_g]   (q, p + 1),

    [A  c]   [XᵀX  Xᵀy]
    [cᵀ d] = [yᵀX  yᵀy] − Σ_g R_gᵀ R_g,

so that β̂ = A⁻¹c, the penalised residual sum of squares is ``d − cᵀβ̂`` and
``Σ_g log|M_g| = 2 Σ log diag L_g`` (Bates et al. 2015, eqs. 18–22, one block per group).
The profiled deviance (:mod:`bayesmm.deviance`) evaluates it at one θ; the exact draws of β
and of the effects (:mod:`bayesmm.infer.effects`) at every posterior draw, with a leading
draw axis on Λ. The PyMC builds use its symbolic twin, ``build.batched.normal_equations``
(unrolled entry by entry for PyTensor's loop fusion), tested against this one.

The triangular algebra runs entry by entry over whole arrays (:func:`small_cholesky`,
:func:`forward`, :func:`backward`): for q ≤ 4 and thousands of groups (or draws × groups)
that is many times faster than NumPy's batched LAPACK calls, one per matrix.
"""

from __future__ import annotations

import numpy as np

__all__ = ["backward", "forward", "normal_equations", "small_cholesky", "whitened"]


def small_cholesky(M: np.ndarray, semidefinite: bool = False) -> np.ndarray:
    """Lower Cholesky factors of a stack of small matrices (..., q, q), entry by entry.

    NumPy's batched ``cholesky``/``solve`` call LAPACK once per matrix; for millions of
    2 x 2 blocks the loops over the q² entries on whole arrays are many times faster.
    ``semidefinite=True`` takes positive semidefinite matrices (a correlation matrix with
    |ρ| = 1 to rounding): a pivot at or below zero gives a zero column, as lme4's θ at a
    boundary, where adding a multiple of I would move every factor.

    Raises
    ------
    numpy.linalg.LinAlgError
        When a matrix is not positive definite (a pivot ≤ 0 or not finite), unless
        ``semidefinite``.
    """
    q = M.shape[-1]
    L = np.zeros_like(M)
    for j in range(q):
        acc = M[..., j, j] - sum(L[..., j, k] ** 2 for k in range(j))
        if semidefinite:
            acc = np.maximum(acc, 0.0)
        elif not np.all(acc > 0):
            raise np.linalg.LinAlgError("Matrix is not positive definite")
        L[..., j, j] = np.sqrt(acc)
        safe = np.where(L[..., j, j] > 0, L[..., j, j], 1.0)
        for i in range(j + 1, q):
            acc = M[..., i, j] - sum(L[..., i, k] * L[..., j, k] for k in range(j))
            L[..., i, j] = np.where(L[..., j, j] > 0, acc / safe, 0.0)
    return L


def forward(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Solve ``L X = B`` for stacked lower-triangular L (..., q, q) and B (..., q, k)."""
    X = np.empty(np.broadcast_shapes(L.shape[:-1], B.shape[:-2] + (B.shape[-2],)) + B.shape[-1:])
    for i in range(L.shape[-1]):
        acc = B[..., i, :] - sum(L[..., i, k, None] * X[..., k, :] for k in range(i))
        X[..., i, :] = acc / L[..., i, i, None]
    return X


def backward(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Solve ``Lᵀ X = B`` for stacked lower-triangular L (..., q, q) and B (..., q, k)."""
    q = L.shape[-1]
    X = np.empty(np.broadcast_shapes(L.shape[:-1], B.shape[:-2] + (B.shape[-2],)) + B.shape[-1:])
    for i in reversed(range(q)):
        acc = B[..., i, :] - sum(L[..., k, i, None] * X[..., k, :] for k in range(i + 1, q))
        X[..., i, :] = acc / L[..., i, i, None]
    return X


def whitened(ZtZ: np.ndarray, lam: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``L_g`` (the Cholesky factor of ``M_g``) and ``L_g⁻¹ Λᵀ rhs_g`` for every group.

    Parameters
    ----------
    ZtZ : ndarray, shape (G, q, q)
    lam : ndarray, shape (q, q) or (s, q, q)
        Λ, or one per draw.
    rhs : ndarray, shape (G, q, k) or (s, G, q, k)

    Returns
    -------
    tuple
        L (G, q, q) or (s, G, q, q), and the solution (…, G, q, k).
    """
    lam_t = np.swapaxes(lam, -1, -2)[..., None, :, :]  # (…, 1, q, q)   Λᵀ
    M = lam_t @ ZtZ @ lam[..., None, :, :] + np.eye(lam.shape[-1])  # (…, G, q, q)
    L = small_cholesky(M)
    return L, forward(L, lam_t @ rhs)


def normal_equations(ZtZ: np.ndarray, ZtX: np.ndarray, Zty: np.ndarray, XtX: np.ndarray,
                     Xty: np.ndarray, yty: float | np.ndarray, lam: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """lme4's ``L_g``, A, c and d at Λ (one θ, or a leading draw axis throughout).

    Parameters
    ----------
    ZtZ : ndarray, shape (G, q, q)
    ZtX : ndarray, shape (G, q, p)
    Zty : ndarray, shape (G, q) or (s, G, q)
    XtX : ndarray, shape (p, p)
    Xty : ndarray, shape (p,) or (s, p)
    yty : float or ndarray, shape (s,)
    lam : ndarray, shape (q, q) or (s, q, q)

    Returns
    -------
    tuple
        L (…, G, q, q), A (…, p, p), c (…, p) and d (…).
    """
    p = ZtX.shape[-1]
    lead = lam.shape[:-2]
    rhs = np.concatenate([np.broadcast_to(ZtX, lead + ZtX.shape),
                          np.broadcast_to(Zty, lead + ZtX.shape[:-1])[..., None]],
                         axis=-1)  # (…, G, q, p + 1)
    L, R = whitened(ZtZ, lam, rhs)
    R = R.reshape(lead + (-1, p + 1))  # (…, G q, p + 1)
    cross = np.swapaxes(R, -1, -2) @ R  # (…, p + 1, p + 1)
    return (L, XtX - cross[..., :p, :p], Xty - cross[..., :p, p],
            yty - cross[..., p, p])
