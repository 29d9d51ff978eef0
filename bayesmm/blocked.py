"""Several grouping factors: lme4's blocked factorisation of ΛᵀZᵀZΛ + I on cross-products.

Terms are sorted by number of levels, largest first. With ``u = (u_1, u_r)`` the first
factor's effects and the rest's, the system matrix ``M = ΛᵀZᵀZΛ + I`` has blocks::

    M_11 = Λ_1ᵀ Z_1ᵀZ_1 Λ_1 + I     block-diagonal: one q₁×q₁ block per level of factor 1
    M_r1 = Λ_rᵀ Z_rᵀZ_1 Λ_1         sparse (m_r × m_1)
    M_rr = Λ_rᵀ Z_rᵀZ_r Λ_r + I     dense (m_r × m_r): the smaller factors

and the Cholesky factor ``L = [[C_1, 0], [W, C_s]]`` with ``C_1 = chol(M_11)`` (closed form per
level), ``W = M_r1 C_1⁻ᵀ`` (sparse, the pattern of ``Z_rᵀZ_1``) and ``C_s = chol(S)``, ``S =
M_rr − W Wᵀ``. Only ``S`` is dense, of the size of the smaller factors' levels, so one
evaluation costs O(nnz(Z_rᵀZ_1) + m_r³) instead of O((m_1 + m_r)³).

The profiled deviance needs ``L⁻¹ Λᵀ Zᵀ[X | y]`` and ``log|L|`` only (see
:mod:`bayesmm.deviance`); the cross-products come from one pass over the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from .covariance import ThetaMap, joint_theta_map, lambda_from_theta, theta_map
from .design import Design, FactorDesign

__all__ = ["BlockedProfile", "BlockedStats", "blocked_effects", "blocked_profile",
           "blocked_stats", "factor_z", "upper_solve"]


@dataclass(frozen=True, eq=False)
class BlockedStats:
    """Cross-products of a design with several grouping factors, the largest factor first.

    Attributes
    ----------
    order : tuple of int
        Positions in ``design.factors`` of the factors, largest number of levels first.
    templates : tuple of ThetaMap
        Each factor's q×q template, in ``order``.
    offsets : tuple of int
        Where each factor's θ starts in the joint θ (the design's factor order).
    levels : tuple of int
        Number of levels of each factor, in ``order``.
    D1 : ndarray, shape (G1, q1, q1)
        ``Z_1ᵀZ_1`` per level of the largest factor.
    Z1X : ndarray, shape (G1, q1, p)
    Z1y : ndarray, shape (G1, q1)
    ZrZ1 : scipy.sparse.csr_matrix, shape (m_r, m_1)
    ZrZr : ndarray, shape (m_r, m_r)
    ZrX : ndarray, shape (m_r, p)
    Zry : ndarray, shape (m_r,)
    XtX, Xty, yty, n_obs
        Totals of the fixed-effects part.
    tmap : ThetaMap
        The joint θ map in the design's factor order (names, bounds, starts).
    """

    order: tuple[int, ...]
    templates: tuple[ThetaMap, ...]
    offsets: tuple[int, ...]
    levels: tuple[int, ...]
    D1: np.ndarray
    Z1X: np.ndarray
    Z1y: np.ndarray
    ZrZ1: sp.csr_matrix
    ZrZr: np.ndarray
    ZrX: np.ndarray
    Zry: np.ndarray
    XtX: np.ndarray
    Xty: np.ndarray
    yty: float
    n_obs: int
    tmap: ThetaMap

    @property
    def p(self) -> int:
        """Number of fixed effects."""
        return self.XtX.shape[0]


def factor_z(f: FactorDesign, n: int) -> sp.csr_matrix:
    """Sparse random-effects matrix (N, G q) of one factor."""
    cols = f.codes[:, None] * f.q + np.arange(f.q)  # (N, q)
    rows = np.repeat(np.arange(n), f.q)
    return sp.csr_matrix((f.Z.ravel(), (rows, cols.ravel())), shape=(n, f.n_levels * f.q))


def _diagonal_blocks(K: sp.coo_matrix, G: int, q: int) -> np.ndarray:
    """Extract the q×q diagonal blocks (G, q, q) of a block-diagonal sparse (G q, G q)."""
    out = np.zeros((G, q, q))
    keep = K.row // q == K.col // q  # one factor's levels never share a row
    np.add.at(out, (K.row[keep] // q, K.row[keep] % q, K.col[keep] % q), K.data[keep])
    return out


def blocked_stats(design: Design) -> BlockedStats:
    """Cross-products of ``design`` (two or more factors) in one pass over its rows."""
    factors = design.factors
    order = tuple(int(k) for k in np.argsort([-f.n_levels * f.q for f in factors],
                                             kind="stable"))
    n_theta = [theta_map(f).n_theta for f in factors]
    starts = np.concatenate([[0], np.cumsum(n_theta)[:-1]]).astype(int)
    X, y, n = design.X, design.y, design.n_obs
    f1 = factors[order[0]]
    rest = [factor_z(factors[k], n) for k in order[1:]]
    Zr = sp.hstack(rest, format="csr")  # (N, m_r)
    Z1 = factor_z(f1, n)  # (N, m_1)
    return BlockedStats(
        order=order,
        templates=tuple(theta_map(factors[k]) for k in order),
        offsets=tuple(int(starts[k]) for k in order),
        levels=tuple(factors[k].n_levels for k in order),
        D1=_diagonal_blocks((Z1.T @ Z1).tocoo(), f1.n_levels, f1.q),  # (G1, q1, q1)
        Z1X=np.asarray(Z1.T @ X).reshape(f1.n_levels, f1.q, -1),  # (G1, q1, p)
        Z1y=np.asarray(Z1.T @ y).reshape(f1.n_levels, f1.q),  # (G1, q1)
        ZrZ1=(Zr.T @ Z1).tocsr(),  # (m_r, m_1)
        ZrZr=(Zr.T @ Zr).toarray(),  # (m_r, m_r)
        ZrX=np.asarray(Zr.T @ X),  # (m_r, p)
        Zry=np.asarray(Zr.T @ y),  # (m_r,)
        XtX=X.T @ X,
        Xty=X.T @ y,
        yty=float(y @ y),
        n_obs=n,
        tmap=joint_theta_map(factors),
    )


@dataclass(frozen=True, eq=False)
class BlockedProfile:
    """The profiled quantities at one θ, with the blocked factor kept for the effects.

    Attributes
    ----------
    A : ndarray, shape (p, p)
    beta : ndarray, shape (p,)
    r2 : float
    logdet_M, logdet_A : float
    T : tuple of ndarray
        Each factor's q×q relative covariance factor, in ``stats.order``.
    C1 : ndarray, shape (G1, q1, q1)
    W : scipy.sparse.csr_matrix, shape (m_r, m_1)
    Cs : ndarray, shape (m_r, m_r)
    s1 : ndarray, shape (m_1, p + 1)
    sr : ndarray, shape (m_r, p + 1)
        ``L⁻¹ΛᵀZᵀ[X | y]`` split by block.
    """

    A: np.ndarray
    beta: np.ndarray
    r2: float
    logdet_M: float
    logdet_A: float
    T: tuple[np.ndarray, ...]
    C1: np.ndarray
    W: sp.csr_matrix
    Cs: np.ndarray
    s1: np.ndarray
    sr: np.ndarray


def _block_diag(blocks: np.ndarray) -> sp.csr_matrix:
    """CSR matrix (G q, G q) with the q×q ``blocks`` (G, q, q) on its diagonal."""
    G, q, _ = blocks.shape
    indices = np.broadcast_to(np.arange(G)[:, None, None] * q + np.arange(q), (G, q, q))
    return sp.csr_matrix((blocks.ravel(), indices.ravel(), np.arange(G * q + 1) * q),
                         shape=(G * q, G * q))


def _lambda_rest(T: tuple[np.ndarray, ...], levels: tuple[int, ...]) -> sp.csr_matrix:
    """Block-diagonal Λ_r (m_r, m_r) of the smaller factors: I_{G_k} ⊗ T_k each."""
    parts = [_block_diag(np.broadcast_to(t, (g, *t.shape)))
             for t, g in zip(T[1:], levels[1:], strict=True)]
    return parts[0] if len(parts) == 1 else sp.block_diag(parts, format="csr")


def blocked_profile(theta: np.ndarray, stats: BlockedStats) -> BlockedProfile:
    """Evaluate the profiled quantities at ``theta`` (design's factor order) blockwise.

    Raises
    ------
    numpy.linalg.LinAlgError
        When a block is not positive definite (the criterion is then undefined).
    """
    theta = np.asarray(theta, dtype=float)
    T = tuple(lambda_from_theta(theta[o: o + t.n_theta], t)
              for t, o in zip(stats.templates, stats.offsets, strict=True))
    T1, G1, p = T[0], stats.levels[0], stats.p
    q1 = T1.shape[0]
    M11 = np.einsum("ji,gjk,kl->gil", T1, stats.D1, T1) + np.eye(q1)  # (G1, q1, q1)
    C1 = np.linalg.cholesky(M11)  # (G1, q1, q1)
    C1inv = np.linalg.inv(C1)  # (G1, q1, q1)
    lam_r = _lambda_rest(T, stats.levels)  # (m_r, m_r)
    if all(t.shape == (1, 1) for t in T):  # scalar terms: Λ is diagonal, scale entries
        lr = lam_r.diagonal()  # (m_r,)
        right = T1[0, 0] * C1inv[:, 0, 0]  # (m_1,)
        Kc = stats.ZrZ1.tocoo()
        W = sp.csr_matrix((Kc.data * lr[Kc.row] * right[Kc.col], (Kc.row, Kc.col)),
                          shape=Kc.shape)  # (m_r, m_1)
        S = stats.ZrZr * np.outer(lr, lr)  # (m_r, m_r)
    else:
        right_blocks = _block_diag(np.einsum("ij,gkj->gik", T1, C1inv))  # Λ_1 C_1⁻ᵀ
        W = (lam_r.T @ stats.ZrZ1 @ right_blocks).tocsr()  # (m_r, m_1)
        S = lam_r.T @ (lam_r.T @ stats.ZrZr).T  # (m_r, m_r)   Λ_rᵀ Z_rᵀZ_r Λ_r
    S[np.diag_indices_from(S)] += 1.0
    S -= (W @ W.T).toarray()
    Cs = sla.cholesky(S, lower=True, check_finite=False)  # raises LinAlgError if not PD
    R1 = np.einsum("ji,gjp->gip", T1, np.concatenate([stats.Z1X, stats.Z1y[..., None]],
                                                      axis=2))  # (G1, q1, p + 1)
    s1 = np.einsum("gij,gjp->gip", C1inv, R1).reshape(G1 * q1, p + 1)  # (m_1, p + 1)
    Rr = lam_r.T @ np.column_stack([stats.ZrX, stats.Zry])  # (m_r, p + 1)
    sr = sla.solve_triangular(Cs, Rr - W @ s1, lower=True, check_finite=False)
    cross = s1.T @ s1 + sr.T @ sr  # (p + 1, p + 1)
    A = stats.XtX - cross[:p, :p]
    c = stats.Xty - cross[:p, p]
    d = stats.yty - float(cross[p, p])
    chol_A = np.linalg.cholesky(A)
    beta = np.linalg.solve(A, c)
    r2 = max(d - float(c @ beta), 1e-300)
    logdet_M = 2.0 * float(np.log(np.diagonal(C1, axis1=1, axis2=2)).sum()
                           + np.log(np.diag(Cs)).sum())
    logdet_A = 2.0 * float(np.log(np.diag(chol_A)).sum())
    return BlockedProfile(A, beta, r2, logdet_M, logdet_A, T, C1, W, Cs, s1, sr)


def upper_solve(prof: BlockedProfile, v1: np.ndarray, vr: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``Lᵀ u = v`` for columns ``v = (v1, vr)``, shapes (m_1, k) and (m_r, k).

    Back-substitution through ``C_s`` and then ``C_1`` per level.
    """
    ur = sla.solve_triangular(prof.Cs, vr, lower=True, trans="T", check_finite=False)
    G1, q1 = prof.C1.shape[:2]
    w = (v1 - prof.W.T @ ur).reshape(G1, q1, -1)  # (G1, q1, k)
    u1 = np.linalg.solve(np.swapaxes(prof.C1, 1, 2), w).reshape(G1 * q1, -1)  # (m_1, k)
    return u1, ur


def blocked_effects(prof: BlockedProfile, stats: BlockedStats) -> np.ndarray:
    """Conditional modes ``b = Λû`` at ``prof``, in the design's factor order, shape (1, m).

    ``û`` solves ``Lᵀ û = L⁻¹ΛᵀZᵀ(y − Xβ̂)`` (:func:`upper_solve`).
    """
    rhs = np.r_[-prof.beta, 1.0]  # picks (y − Xβ̂) out of the [X | y] columns
    u1, ur = upper_solve(prof, (prof.s1 @ rhs)[:, None], (prof.sr @ rhs)[:, None])
    G1, q1 = prof.C1.shape[:2]
    b1 = (u1.reshape(G1, q1) @ prof.T[0].T).ravel()  # Λ_1 u_1: T₁ applied per level
    br = _lambda_rest(prof.T, stats.levels) @ ur[:, 0]
    pieces, start = [b1], 0
    for t, g in zip(prof.T[1:], stats.levels[1:], strict=True):
        size = g * t.shape[0]
        pieces.append(br[start: start + size])
        start += size
    by_factor = dict(zip(stats.order, pieces, strict=True))
    return np.concatenate([by_factor[k] for k in sorted(by_factor)])[None]  # (1, m)
