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

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.linalg import lapack

from .covariance import ThetaMap, joint_theta_map, lambda_from_theta, theta_map
from .design import Design, FactorDesign
from .gram_pattern import GramPattern, gram_pattern, gram_values

__all__ = ["BlockedFactor", "BlockedProfile", "BlockedStats", "add_blocked_stats", "all_scalar",
           "blocked_effects", "blocked_factor",
           "blocked_profile", "blocked_stats", "elimination_order", "factor_z", "lower_solve",
           "relative_factors", "upper_solve"]


_DENSE_K_MAX = 4_000_000  # entries of a dense Z_rᵀZ_1 (32 MB)
_DENSE_K_FILL = 0.25
_MAX_GRAM_TERMS = 5_000_000  # ~160 MB of pair terms; beyond it the sparse product is used


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

    @cached_property
    def gram(self) -> GramPattern | None:
        """Pattern of ``Z_rᵀZ_1 diag(v) Z_1ᵀZ_r`` for scalar terms (:mod:`bayesmm.gram_pattern`).

        None for vector terms, and for a crossing so dense that a sparse product is cheaper.
        """
        if not all_scalar(self.templates):
            return None
        return gram_pattern(self.ZrZ1, max_terms=_MAX_GRAM_TERMS)


def all_scalar(templates: tuple[ThetaMap, ...]) -> bool:
    """Whether every factor's term is scalar: one θ on a 1×1 block (``(1 | g)``)."""
    return all(t.n_theta == 1 and t.rows.size == 1 for t in templates)


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


def elimination_order(factors: tuple[FactorDesign, ...]
                      ) -> tuple[tuple[int, ...], tuple[ThetaMap, ...], tuple[int, ...]]:
    """Factors by number of effects, most first: positions, θ templates and θ offsets.

    The offsets say where each factor's θ starts in the joint θ (the design's order).
    """
    order = tuple(int(k) for k in np.argsort([-f.n_levels * f.q for f in factors],
                                             kind="stable"))
    n_theta = [theta_map(f).n_theta for f in factors]
    starts = np.concatenate([[0], np.cumsum(n_theta)[:-1]]).astype(int)
    return (order, tuple(theta_map(factors[k]) for k in order),
            tuple(int(starts[k]) for k in order))


def blocked_stats(design: Design) -> BlockedStats:
    """Cross-products of ``design`` (two or more factors) in one pass over its rows."""
    factors = design.factors
    order, templates, offsets = elimination_order(factors)
    X, y, n = design.X, design.y, design.n_obs
    f1 = factors[order[0]]
    rest = [factor_z(factors[k], n) for k in order[1:]]
    Zr = sp.hstack(rest, format="csr")  # (N, m_r)
    Z1 = factor_z(f1, n)  # (N, m_1)
    return BlockedStats(
        order=order,
        templates=templates,
        offsets=offsets,
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


def add_blocked_stats(a: BlockedStats, b: BlockedStats) -> BlockedStats:
    """Cross-products of the union of two disjoint sets of rows of the same factors' levels.

    Every array is a sum over rows, so partitions (a Dask frame's) add up to the whole.
    """
    return replace(
        a, D1=a.D1 + b.D1, Z1X=a.Z1X + b.Z1X, Z1y=a.Z1y + b.Z1y,
        ZrZ1=(a.ZrZ1 + b.ZrZ1).tocsr(), ZrZr=a.ZrZr + b.ZrZr, ZrX=a.ZrX + b.ZrX,
        Zry=a.Zry + b.Zry, XtX=a.XtX + b.XtX, Xty=a.Xty + b.Xty, yty=a.yty + b.yty,
        n_obs=a.n_obs + b.n_obs,
    )


@dataclass(frozen=True, eq=False)
class BlockedFactor:
    """Cholesky factor ``L = [[C_1, 0], [W, C_s]]`` of ``M = ΛᵀKΛ + I`` at one θ.

    Attributes
    ----------
    T : tuple of ndarray
        Each factor's q×q relative covariance factor, in ``stats.order``.
    C1 : ndarray, shape (G1, q1, q1)
    C1inv : ndarray, shape (G1, q1, q1)
    W : scipy.sparse.csr_matrix or ndarray, shape (m_r, m_1)
    Cs : ndarray, shape (m_r, m_r)
    lam_r : scipy.sparse.csr_matrix, shape (m_r, m_r)
        Λ of the smaller factors (empty with one factor).
    """

    T: tuple[np.ndarray, ...]
    C1: np.ndarray
    C1inv: np.ndarray
    W: sp.csr_matrix | np.ndarray
    Cs: np.ndarray
    lam_r: sp.csr_matrix

    @property
    def logdet(self) -> float:
        """``log|M|``."""
        return 2.0 * float(np.log(np.diagonal(self.C1, axis1=1, axis2=2)).sum()
                           + np.log(np.diag(self.Cs)).sum())


@dataclass(frozen=True, eq=False)
class BlockedProfile:
    """The profiled quantities at one θ, with the blocked factor kept for the effects.

    Attributes
    ----------
    A : ndarray, shape (p, p)
    beta : ndarray, shape (p,)
    r2 : float
    logdet_M, logdet_A : float
    factor : BlockedFactor
    s1 : ndarray, shape (m_1, p + 1)
    sr : ndarray, shape (m_r, p + 1)
        ``L⁻¹ΛᵀZᵀ[X | y]`` split by block.
    """

    A: np.ndarray
    beta: np.ndarray
    r2: float
    logdet_M: float
    logdet_A: float
    factor: BlockedFactor
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


def relative_factors(theta: np.ndarray, stats: BlockedStats) -> tuple[np.ndarray, ...]:
    """Each factor's q×q block of Λ at ``theta`` (design's factor order), in ``stats.order``."""
    theta = np.asarray(theta, dtype=float)
    return tuple(lambda_from_theta(theta[o: o + t.n_theta], t)
                 for t, o in zip(stats.templates, stats.offsets, strict=True))


def blocked_factor(T: tuple[np.ndarray, ...], levels: tuple[int, ...], D1: np.ndarray,
                   ZrZ1: sp.csr_matrix, ZrZr: np.ndarray, gram: GramPattern | None = None
                   ) -> BlockedFactor:
    """Factor ``M = ΛᵀKΛ + I`` blockwise from the blocks of ``K`` (weighted or not).

    Parameters
    ----------
    T : tuple of ndarray
        Relative covariance factors, largest factor first.
    levels : tuple of int
    D1 : ndarray, shape (G1, q1, q1)
    ZrZ1 : scipy.sparse.csr_matrix or ndarray, shape (m_r, m_1)
        Dense only with scalar terms (small problems, see :mod:`bayesmm.weighted`).
    ZrZr : ndarray, shape (m_r, m_r)
    gram : GramPattern, optional
        Pattern of ``ZrZ1 diag(v) ZrZ1ᵀ`` (scalar terms): ``W Wᵀ`` is then subtracted on it
        alone, and only the lower triangle of ``S`` is formed (all its Cholesky factor reads).

    Raises
    ------
    numpy.linalg.LinAlgError
        When a block is not positive definite.
    """
    T1 = T[0]
    q1 = T1.shape[0]
    M11 = np.einsum("ji,gjk,kl->gil", T1, D1, T1) + np.eye(q1)  # (G1, q1, q1)
    C1 = np.linalg.cholesky(M11)  # (G1, q1, q1)
    C1inv = np.linalg.inv(C1)  # (G1, q1, q1)
    if len(T) == 1:
        return BlockedFactor(T, C1, C1inv, sp.csr_matrix((0, C1.shape[0] * q1)),
                             np.zeros((0, 0)), sp.csr_matrix((0, 0)))
    if all(t.shape == (1, 1) for t in T):  # scalar terms: Λ is diagonal, scale entries
        lr = np.repeat([t[0, 0] for t in T[1:]], levels[1:])  # (m_r,)
        lam_r = sp.diags_array(lr, format="csr")  # (m_r, m_r)
        right = T1[0, 0] * C1inv[:, 0, 0]  # (m_1,)
        if isinstance(ZrZ1, np.ndarray):  # small problems: dense beats sparse overhead
            W = lr[:, None] * ZrZ1 * right  # (m_r, m_1)
            S = ZrZr * np.outer(lr, lr) + np.eye(lr.size) - W @ W.T  # (m_r, m_r)
            Cs = sla.cholesky(S, lower=True, check_finite=False)
            return BlockedFactor(T, C1, C1inv, W, Cs, lam_r)
        row_of = np.repeat(np.arange(ZrZ1.shape[0]), np.diff(ZrZ1.indptr))  # (nnz,)
        W = sp.csr_matrix((ZrZ1.data * lr[row_of] * right[ZrZ1.indices], ZrZ1.indices,
                           ZrZ1.indptr), shape=ZrZ1.shape)  # (m_r, m_1)
        S = _scaled_by_blocks(ZrZr, [t[0, 0] for t in T[1:]], levels[1:])  # (m_r, m_r)
        if gram is not None:  # lower triangle of Λ_rᵀK diag(right²) KᵀΛ_r on its pattern
            S[np.diag_indices_from(S)] += 1.0
            S[gram.rows, gram.cols] -= (lr[gram.rows] * lr[gram.cols]
                                        * gram_values(gram, right * right))
            return BlockedFactor(T, C1, C1inv, W, cholesky_lower(S), lam_r)
    else:
        lam_r = _lambda_rest(T, levels)  # (m_r, m_r)
        right = np.einsum("ij,gkj->gik", T1, C1inv)  # (G1, q1, q1)  Λ_1 C_1⁻ᵀ per level
        S = lam_r.T @ (lam_r.T @ ZrZr).T  # (m_r, m_r)   Λ_rᵀ Z_rᵀZ_r Λ_r
        if _filled(ZrZ1):  # fully crossed: dense products beat sparse ones on a full K
            K = ZrZ1.toarray().reshape(ZrZ1.shape[0], -1, q1)  # (m_r, G1, q1)
            W = lam_r.T @ np.einsum("rgk,gkl->rgl", K, right).reshape(ZrZ1.shape)  # (m_r, m_1)
            S[np.diag_indices_from(S)] += 1.0
            S -= W @ W.T
            return BlockedFactor(T, C1, C1inv, W, cholesky_lower(S), lam_r)
        W = (lam_r.T @ ZrZ1 @ _block_diag(right)).tocsr()  # (m_r, m_1)
    S[np.diag_indices_from(S)] += 1.0
    S -= (W @ W.T).toarray()
    return BlockedFactor(T, C1, C1inv, W, cholesky_lower(S), lam_r)


def _scaled_by_blocks(ZrZr: np.ndarray, theta: list[float], levels: tuple[int, ...]
                      ) -> np.ndarray:
    """``Λ_r Z_rᵀZ_r Λ_r`` for scalar terms, in Fortran order for LAPACK, in one pass.

    Λ_r is θ_k on factor k's levels, so each pair of factors' block is scaled by θ_a θ_b;
    ``ZrZr`` is symmetric, so its transpose is the Fortran-ordered copy to read.
    """
    S = np.empty(ZrZr.shape, order="F")  # (m_r, m_r)
    edges = np.cumsum([0, *levels])
    source = ZrZr.T
    for a, (a0, a1) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        for b, (b0, b1) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
            np.multiply(source[a0:a1, b0:b1], theta[a] * theta[b], out=S[a0:a1, b0:b1])
    return S


def _filled(K: sp.csr_matrix | np.ndarray) -> bool:
    """Whether ``Z_rᵀZ_1`` is full enough, and small enough, to multiply dense.

    On a fully crossed 56 × 32 design with 8 × 8 blocks (K 256 × 448, every entry nonzero)
    one deviance took 38 ms through sparse products and 5 ms dense.
    """
    size = K.shape[0] * K.shape[1]
    nnz = K.size if isinstance(K, np.ndarray) else K.nnz
    return size <= _DENSE_K_MAX and nnz >= _DENSE_K_FILL * size


def cholesky_lower(S: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of ``S`` from its lower triangle (in place if ``S`` is in F order).

    LAPACK's ``potrf`` directly: ``scipy.linalg.cholesky`` copies a C-ordered input and checks
    it, 21 ms against 14 ms at 1,380 × 1,380.

    Raises
    ------
    numpy.linalg.LinAlgError
        When ``S`` is not positive definite.
    """
    factor, info = lapack.dpotrf(S, lower=1, overwrite_a=1, clean=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"the Schur complement is not positive definite (potrf "
                                    f"info={info})")
    return factor


def lower_solve(fac: BlockedFactor, r1: np.ndarray, rr: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``L v = r`` for columns ``r = (r1, rr)``, shapes (m_1, k) and (m_r, k)."""
    G1, q1 = fac.C1.shape[:2]
    v1 = np.einsum("gij,gjk->gik", fac.C1inv, r1.reshape(G1, q1, -1)).reshape(G1 * q1, -1)
    if fac.Cs.shape[0] == 0:
        return v1, rr
    vr = sla.solve_triangular(fac.Cs, rr - fac.W @ v1, lower=True, check_finite=False)
    return v1, vr


def blocked_profile(theta: np.ndarray, stats: BlockedStats) -> BlockedProfile:
    """Evaluate the profiled quantities at ``theta`` (design's factor order) blockwise.

    Raises
    ------
    numpy.linalg.LinAlgError
        When a block is not positive definite (the criterion is then undefined).
    """
    T = relative_factors(theta, stats)
    fac = blocked_factor(T, stats.levels, stats.D1, stats.ZrZ1, stats.ZrZr, stats.gram)
    p = stats.p
    R1 = np.einsum("ji,gjp->gip", T[0], np.concatenate([stats.Z1X, stats.Z1y[..., None]],
                                                        axis=2))  # (G1, q1, p + 1)
    Rr = fac.lam_r.T @ np.column_stack([stats.ZrX, stats.Zry])  # (m_r, p + 1)
    s1, sr = lower_solve(fac, R1.reshape(-1, p + 1), Rr)
    cross = s1.T @ s1 + sr.T @ sr  # (p + 1, p + 1)
    A = stats.XtX - cross[:p, :p]
    c = stats.Xty - cross[:p, p]
    d = stats.yty - float(cross[p, p])
    chol_A = np.linalg.cholesky(A)
    beta = np.linalg.solve(A, c)
    r2 = max(d - float(c @ beta), 1e-300)
    logdet_A = 2.0 * float(np.log(np.diag(chol_A)).sum())
    return BlockedProfile(A, beta, r2, fac.logdet, logdet_A, fac, s1, sr)


def upper_solve(fac: BlockedFactor, v1: np.ndarray, vr: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``Lᵀ u = v`` for columns ``v = (v1, vr)``, shapes (m_1, k) and (m_r, k).

    Back-substitution through ``C_s`` and then ``C_1`` per level.
    """
    G1, q1 = fac.C1.shape[:2]
    if fac.Cs.shape[0] == 0:
        ur, w = vr, v1.reshape(G1, q1, -1)
    else:
        ur = sla.solve_triangular(fac.Cs, vr, lower=True, trans="T", check_finite=False)
        w = (v1 - fac.W.T @ ur).reshape(G1, q1, -1)  # (G1, q1, k)
    u1 = np.einsum("gji,gjk->gik", fac.C1inv, w).reshape(G1 * q1, -1)  # (m_1, k)  C₁⁻ᵀ w
    return u1, ur


def blocked_effects(prof: BlockedProfile, stats: BlockedStats) -> np.ndarray:
    """Conditional modes ``b = Λû`` at ``prof``, in the design's factor order, shape (1, m).

    ``û`` solves ``Lᵀ û = L⁻¹ΛᵀZᵀ(y − Xβ̂)`` (:func:`upper_solve`).
    """
    rhs = np.r_[-prof.beta, 1.0]  # picks (y − Xβ̂) out of the [X | y] columns
    fac = prof.factor
    u1, ur = upper_solve(fac, (prof.s1 @ rhs)[:, None], (prof.sr @ rhs)[:, None])
    G1, q1 = fac.C1.shape[:2]
    b1 = (u1.reshape(G1, q1) @ fac.T[0].T).ravel()  # Λ_1 u_1: T₁ applied per level
    br = fac.lam_r @ ur[:, 0]
    pieces, start = [b1], 0
    for t, g in zip(fac.T[1:], stats.levels[1:], strict=True):
        size = g * t.shape[0]
        pieces.append(br[start: start + size])
        start += size
    by_factor = dict(zip(stats.order, pieces, strict=True))
    return np.concatenate([by_factor[k] for k in sorted(by_factor)])[None]  # (1, m)
