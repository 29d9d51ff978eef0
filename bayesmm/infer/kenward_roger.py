"""Kenward and Roger's (1997) small-sample covariance of β̂ and denominator df (pbkrtest's).

The marginal covariance is linear in the reported parameters ``γ = (φ..., σ²)``:
``Σ = Σ_r φ_r Z E_r Zᵀ + σ² I`` with ``E_r`` the symmetric indicator of ``φ_r`` in Ψ. With
``S = Σ⁻¹`` and ``Φ = (XᵀSX)⁻¹``::

    P_r  = −Xᵀ S G_r S X,      Q_rs = Xᵀ S G_r S G_s S X,      G_σ² = I
    W    = 2 [tr(S G_r S G_s) − 2 tr(Φ Q_rs) + tr(Φ P_r Φ P_s)]⁻¹   (inverse expected information)
    Φ_A  = Φ + 2 Φ [Σ_rs W_rs (Q_rs − P_r Φ P_s)] Φ

For one grouping factor ``Σ`` is block diagonal and every product above reduces, through
``S_g = σ⁻²(I − Z_g B_g Z_gᵀ)`` with ``B_g = Λ M_g⁻¹ Λᵀ``, to the per-group sufficient
statistics ``Z_gᵀZ_g``, ``Z_gᵀX_g`` and the total ``XᵀX``: no n×n matrix is formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..covariance import lambda_from_theta
from ..design import Design
from ..params import block_of, cov_params
from ..suffstats import SuffStats

__all__ = ["KenwardRogerParts", "indicator_matrices", "kenward_roger_df", "kenward_roger_parts"]


@dataclass(frozen=True, eq=False)
class KenwardRogerParts:
    """What every contrast's Kenward-Roger test needs.

    Attributes
    ----------
    vcov : ndarray, shape (p, p)
        Φ, the plug-in covariance of β̂.
    vcov_adj : ndarray, shape (p, p)
        Φ_A, Kenward and Roger's adjusted covariance.
    P : ndarray, shape (k, p, p)
    W : ndarray, shape (k, k)
    """

    vcov: np.ndarray
    vcov_adj: np.ndarray
    P: np.ndarray
    W: np.ndarray


def indicator_matrices(design: Design) -> np.ndarray:
    """``E_r`` (k, q, q) of every reported covariance parameter of the one factor."""
    factor = design.factors[0]
    params = cov_params(design)
    E = np.zeros((len(params), factor.q, factor.q))
    for r, p in enumerate(params):
        block = block_of(design, p)
        if block.kind == "vc":  # one variance shared by the component's columns
            E[r, block.cols, block.cols] = 1.0
        else:
            E[r, p.row, p.col] = E[r, p.col, p.row] = 1.0
    return E


def _products(stats: SuffStats, E: np.ndarray, theta: np.ndarray, scale: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Φ, P (k+1, p, p), Q (k+1, k+1, p, p) and tr(S G_r S G_s) (k+1, k+1)."""
    lam = lambda_from_theta(theta, stats.tmap)  # (q, q)
    K, ZX = stats.ZtZ, stats.ZtX  # (G, q, q), (G, q, p)
    q = lam.shape[0]
    M = np.eye(q) + lam.T @ K @ lam  # (G, q, q)
    B = lam @ np.linalg.solve(M, np.broadcast_to(lam.T, M.shape))  # (G, q, q)  Λ M⁻¹ Λᵀ
    T = np.eye(q) - B @ K  # (G, q, q)   S Z = σ⁻² Z T
    Tt = np.swapaxes(T, 1, 2)
    s2 = 1.0 / scale
    ZSZ = s2 * K @ T  # (G, q, q)
    ZSX = s2 * Tt @ ZX  # (G, q, p)
    ZS2Z = s2**2 * Tt @ K @ T  # (G, q, q)
    ZS2X = s2**2 * Tt @ Tt @ ZX  # (G, q, p)
    ZXt = np.swapaxes(ZX, 1, 2)  # (G, p, q)
    XBX = (ZXt @ B @ ZX).sum(0)  # (p, p)
    XX2 = stats.XtX - 2 * XBX + (ZXt @ B @ K @ B @ ZX).sum(0)  # (p, p)  (X − ZBZᵀX)ᵀ(…)
    XSX = s2 * (stats.XtX - XBX)
    XS2X = s2**2 * XX2
    XS3X = s2**3 * (XX2 - (ZXt @ T @ B @ Tt @ ZX).sum(0))
    BK = B @ K
    trS2 = s2**2 * (stats.n_obs - 2 * np.trace(BK, axis1=1, axis2=2).sum()
                    + np.einsum("gab,gba->", BK, BK))
    k = E.shape[0]
    F = np.einsum("rab,gbp->rgap", E, ZSX)  # (k, G, q, p)  E_r ZᵀSX
    P = np.empty((k + 1,) + XSX.shape)
    P[:k] = -np.einsum("gap,rgat->rpt", ZSX, F)
    P[k] = -XS2X
    Q = np.empty((k + 1, k + 1) + XSX.shape)
    Q[:k, :k] = np.einsum("rgap,gab,sgbt->rspt", F, ZSZ, F)
    Q[:k, k] = np.einsum("rgap,gat->rpt", F, ZS2X)
    Q[k, :k] = np.swapaxes(Q[:k, k], 1, 2)
    Q[k, k] = XS3X
    H = np.einsum("rab,gbc->rgac", E, ZSZ)  # (k, G, q, q)  E_r ZᵀSZ
    Ktr = np.empty((k + 1, k + 1))
    Ktr[:k, :k] = np.einsum("rgab,sgba->rs", H, H)
    Ktr[:k, k] = Ktr[k, :k] = np.einsum("rab,gba->r", E, ZS2Z)
    Ktr[k, k] = trS2
    return np.linalg.inv(XSX), P, Q, Ktr


def kenward_roger_parts(stats: SuffStats, E: np.ndarray, theta: np.ndarray, scale: float
                        ) -> KenwardRogerParts:
    """Compute the adjusted covariance of β̂ at the REML optimum (one grouping factor).

    Parameters
    ----------
    stats : SuffStats
        One block per group.
    E : ndarray, shape (k, q, q)
        :func:`indicator_matrices` of the design.
    theta : ndarray
        Relative covariance parameters at the optimum.
    scale : float
        σ̂².

    Returns
    -------
    KenwardRogerParts
    """
    Phi, P, Q, Ktr = _products(stats, E, theta, scale)
    PhiP = Phi @ P  # (k, p, p)
    info2 = Ktr - 2 * np.einsum("pt,rstp->rs", Phi, Q) + np.einsum("rab,sba->rs", PhiP, PhiP)
    W = 2.0 * np.linalg.pinv(info2, hermitian=True)  # (k, k)
    U = np.einsum("rs,rspt->pt", W, Q - np.einsum("rab,sbc->rsac", P @ Phi, P))
    U = 0.5 * (U + U.T)
    return KenwardRogerParts(Phi, Phi + 2 * Phi @ U @ Phi, P, W)


def kenward_roger_df(L: np.ndarray, parts: KenwardRogerParts) -> tuple[float, float]:
    """Kenward and Roger's denominator df and F scaling λ for the hypothesis ``Lβ = c``.

    Parameters
    ----------
    L : ndarray, shape (r, p)
        Contrast rows (rank r).
    parts : KenwardRogerParts

    Returns
    -------
    df : float
    scaling : float
        λ in ``λ F ~ F(r, df)``; exactly 1 for one row.
    """
    L = np.atleast_2d(L)
    r = L.shape[0]
    Phi = parts.vcov
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)  # (p, p)
    u = Theta @ Phi @ parts.P @ Phi  # (k, p, p)
    tr = np.trace(u, axis1=1, axis2=2)  # (k,)
    A1 = float(tr @ parts.W @ tr)
    A2 = float(np.einsum("ij,iab,jba->", parts.W, u, u))
    B = (A1 + 6 * A2) / (2 * r)
    g = ((r + 1) * A1 - (r + 4) * A2) / ((r + 2) * A2)
    denom = 3 * r + 2 * (1 - g)
    c1, c2, c3 = g / denom, (r - g) / denom, (r + 2 - g) / denom
    e_star = 1.0 / (1 - A2 / r)
    v_star = (2.0 / r) * (1 + c1 * B) / ((1 - c2 * B) ** 2 * (1 - c3 * B))
    rho = v_star / (2 * e_star**2)
    df = 4 + (r + 2) / (r * rho - 1)
    return float(df), float(df / (e_star * (df - 2)))
