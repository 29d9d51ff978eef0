"""Exact gradient of the blocked profiled deviance for scalar random-effects terms.

With one θ_k per factor (``(1 | g)`` terms), ``V = I + Σ_k θ_k² Z_k Z_kᵀ`` (σ² = 1) and
``∂V/∂θ_k = 2θ_k Z_k Z_kᵀ``, so with ``F = ZᵀV⁻¹[X | y]`` (every column of ``[X | y]``
less the fit of its conditional modes, ``ZᵀZ Λ M⁻¹ΛᵀZᵀ[X | y]``)::

    ∂ log|M| / ∂θ_k = (2/θ_k) (m_k − tr_k M⁻¹)          tr_k: the trace over factor k's levels
    ∂ log|A| / ∂θ_k = −2θ_k Σ_{i∈k} (F_X A⁻¹ F_Xᵀ)_ii
    ∂ r²     / ∂θ_k = −2θ_k Σ_{i∈k} w_i²,   w = F [−β̂; 1] = ZᵀV⁻¹(y − Xβ̂)

The first line uses ``Z_kᵀZΛ = (1/θ_k) Λ_kᵀZ_kᵀZΛ`` (rounding error ~ε m_k / θ_k; the
derivative is exactly 0 at θ_k = 0, where the criterion is even in θ_k). On the blocked
factor ``L = [[C_1, 0], [W, C_s]]``::

    M⁻¹_rr = S⁻¹,   tr_1 M⁻¹ = Σ_j (C_1)_jj⁻² + tr(S⁻¹ W D Wᵀ),   D = diag((C_1)_jj⁻²)

so one evaluation costs one dense inverse of S (the smaller factors' size) on top of the
deviance, instead of 2 n_θ deviances by central differences.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.linalg import lapack

from .blocked import (
    BlockedFactor,
    BlockedProfile,
    BlockedStats,
    all_scalar,
    lower_solve,
    upper_solve,
)
from .gram_pattern import GramPattern, gram_values

__all__ = ["blocked_gradient_parts", "exact_gradient_applies", "gradient_parts", "scalar_lambda",
           "scalar_terms", "times_ZtZ", "vector_gradient_applies", "vector_gradient_parts",
           "whitened_cross"]

_TINY = 1e-8  # below this θ_k, ∂log|M|/∂θ_k is taken as its value at 0 (exactly 0)


def scalar_terms(stats: BlockedStats) -> bool:
    """Whether every factor has one scalar term (one θ per factor)."""
    return all_scalar(stats.templates)


def _inverse_lower(Cs: np.ndarray) -> np.ndarray:
    """Lower triangle of ``S⁻¹`` (m_r, m_r) from S's lower Cholesky factor (LAPACK potri).

    ``Cs`` is zero above its diagonal, so the result is too.
    """
    inv, info = lapack.dpotri(Cs, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"potri failed with info={info}")
    return inv


def _trace_product(lower: np.ndarray, H: np.ndarray) -> float:
    """``tr(S⁻¹ H)`` for symmetric H from the lower triangle of S⁻¹ alone."""
    return 2.0 * float(np.sum(lower * H)) - float(np.diagonal(lower) @ np.diagonal(H))


def _trace_WDW(S_low: np.ndarray, fac: BlockedFactor, c: np.ndarray, theta1: float,
               lr: np.ndarray, gram: GramPattern | None) -> float:
    """``tr(S⁻¹ W D Wᵀ)``, ``D = diag(c²)``, from the lower triangle of S⁻¹.

    With the pattern of ``K diag(v) Kᵀ`` (:mod:`bayesmm.gram_pattern`) only its entries are
    read: ``W D Wᵀ = Λ_r K diag(θ₁² c⁴) Kᵀ Λ_r``, since ``W = Λ_r K diag(θ₁ c)``.
    """
    if gram is None:
        H = (fac.W @ sp.diags(c * c) @ fac.W.T).toarray()  # (m_r, m_r)   W D Wᵀ
        return _trace_product(S_low, H)
    h = lr[gram.rows] * lr[gram.cols] * gram_values(gram, (theta1 * c * c) ** 2)  # (P,)
    return float(np.sum(np.where(gram.diagonal, 1.0, 2.0) * h * S_low[gram.rows, gram.cols]))


def scalar_lambda(prof: BlockedProfile, stats: BlockedStats) -> np.ndarray:
    """Return the diagonal of Λ (scalar terms) in the elimination order, shape (m,)."""
    return np.repeat([t[0, 0] for t in prof.factor.T], stats.levels)


def times_ZtZ(stats: BlockedStats, V: np.ndarray) -> np.ndarray:
    """``ZᵀZ V`` for scalar terms from the blocks (elimination order), V of shape (m, k)."""
    m1 = stats.D1.shape[0]
    top = stats.D1[:, 0, 0][:, None] * V[:m1] + stats.ZrZ1.T @ V[m1:]  # (m_1, k)
    return np.concatenate([top, stats.ZrZ1 @ V[:m1] + stats.ZrZr @ V[m1:]])


def whitened_cross(prof: BlockedProfile, stats: BlockedStats
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``F = ZᵀV⁻¹[X | y]`` (m, p+1) and ``w = ZᵀV⁻¹(y − Xβ)`` (m,), scalar terms.

    ``V = I + ZΛΛᵀZᵀ`` (σ² = 1): every column of ``Zᵀ[X | y]`` less ``ZᵀZΛM⁻¹ΛᵀZᵀ[X | y]``;
    β is the profile's (:func:`bayesmm.deviance.profiled_loglike_gradient` passes others).
    """
    U1, Ur = upper_solve(prof.factor, prof.s1, prof.sr)  # M⁻¹ΛᵀZᵀ[X | y]
    B = scalar_lambda(prof, stats)[:, None] * np.concatenate([U1, Ur])  # (m, p+1)
    F = _z_xy(stats) - times_ZtZ(stats, B)
    return F, F @ np.r_[-prof.beta, 1.0]


def _z_xy(stats: BlockedStats) -> np.ndarray:
    """``Zᵀ[X | y]`` in the elimination order, shape (m, p+1)."""
    first = np.concatenate([stats.Z1X, stats.Z1y[..., None]], axis=2)  # (G1, q1, p+1)
    return np.concatenate([first.reshape(-1, stats.p + 1),
                           np.column_stack([stats.ZrX, stats.Zry])])


def blocked_gradient_parts(prof: BlockedProfile, stats: BlockedStats
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """∂log|M|, ∂log|A| and ∂r² in θ (the design's factor order), scalar terms only.

    Parameters
    ----------
    prof : BlockedProfile
        The blocked factor at θ.
    stats : BlockedStats
        Cross-products; every factor a scalar term (:func:`scalar_terms`).

    Returns
    -------
    tuple of ndarray, each shape (n_theta,)
    """
    fac = prof.factor
    theta = np.array([t[0, 0] for t in fac.T])  # (F,) in stats.order
    p = stats.p
    lr = np.repeat(theta[1:], stats.levels[1:])  # (m_r,)  diagonal of Λ_r
    c = 1.0 / fac.C1[:, 0, 0]  # (m_1,)  diagonal of C₁⁻¹
    F, w = whitened_cross(prof, stats)
    FX = F[:, :p]  # (m, p)
    a = np.einsum("ip,ip->i", sla.solve(prof.A, FX.T, assume_a="pos").T, FX)  # (m,)
    S_low = _inverse_lower(fac.Cs)  # (m_r, m_r)   lower triangle of S⁻¹
    traces = [float(np.sum(c * c)) + _trace_WDW(S_low, fac, c, theta[0], lr, stats.gram)]
    bounds = np.concatenate([[0], np.cumsum(stats.levels)])  # factor slices of (m,)
    diag_inv = np.diagonal(S_low)
    for k in range(1, len(stats.levels)):
        traces.append(float(diag_inv[bounds[k] - bounds[1]: bounds[k + 1] - bounds[1]].sum()))
    g_logM, g_logA, g_r2 = (np.zeros(theta.size) for _ in range(3))
    for k, t in enumerate(theta):
        part = slice(bounds[k], bounds[k + 1])
        if t > _TINY:
            g_logM[k] = 2.0 / t * (stats.levels[k] - traces[k])
        g_logA[k] = -2.0 * t * float(a[part].sum())
        g_r2[k] = -2.0 * t * float(w[part] @ w[part])
    to_design = np.array(stats.offsets)  # position of each ordered factor's θ
    out = []
    for g in (g_logM, g_logA, g_r2):
        full = np.zeros(stats.tmap.n_theta)
        full[to_design] = g
        out.append(full)
    return out[0], out[1], out[2]


_MAX_VECTOR_M = 4000  # the vector gradient holds L⁻¹ΛᵀZᵀZ dense: m² doubles (128 MB)


def vector_gradient_applies(stats: BlockedStats) -> bool:
    """Whether :func:`vector_gradient_parts` serves ``stats`` (it is dense in all levels)."""
    m = sum(g * t.m for g, t in zip(stats.levels, stats.templates, strict=True))
    return m <= _MAX_VECTOR_M


def _ordered_blocks(stats: BlockedStats, fac: BlockedFactor
                    ) -> tuple[sp.csr_matrix, sp.csr_matrix, list[slice]]:
    """``ZᵀZ`` and ``Λ`` (m, m) in the elimination order, and each factor's columns."""
    G1, q1 = stats.D1.shape[:2]
    idx = np.broadcast_to(np.arange(G1)[:, None, None] * q1 + np.arange(q1), (G1, q1, q1))
    D1 = sp.csr_matrix((stats.D1.ravel(), idx.ravel(), np.arange(G1 * q1 + 1) * q1),
                       shape=(G1 * q1, G1 * q1))  # (m_1, m_1)
    K = sp.bmat([[D1, stats.ZrZ1.T], [stats.ZrZ1, sp.csr_matrix(stats.ZrZr)]], format="csr")
    lam1 = sp.kron(sp.identity(G1), fac.T[0], format="csr")  # (m_1, m_1)
    lam = sp.block_diag([lam1, fac.lam_r], format="csr")  # (m, m)
    sizes = [g * t.shape[0] for g, t in zip(stats.levels, fac.T, strict=True)]
    edges = np.cumsum([0, *sizes])
    return K, lam, [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _level_blocks(Y: np.ndarray, part: slice, q: int) -> np.ndarray:
    """Sum over a factor's levels g of the q×q diagonal blocks ``(YᵀY)_gg``, shape (q, q).

    ``part`` holds the factor's columns of ``Y``, level by level.
    """
    Yk = Y[:, part].reshape(Y.shape[0], -1, q)  # (rows, G, q)
    return np.einsum("rgk,rgl->kl", Yk, Yk)


def vector_gradient_parts(prof: BlockedProfile, stats: BlockedStats
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """∂log|M|, ∂log|A| and ∂r² in θ (the design's factor order), any terms.

    With ``V = I + ZΛΛᵀZᵀ`` (σ² = 1), ``N = ZᵀV⁻¹Z``, ``F = ZᵀV⁻¹[X | y]`` and
    ``w = ZᵀV⁻¹(y − Xβ̂)``, the matrix gradients in factor k's q×q block ``T_k`` are sums
    over its levels g of::

        ∂ log|M| / ∂T_k =  2 Σ_g N_gg T_k,          N_gg = (ZᵀZ)_gg − (YᵀY)_gg
        ∂ log|A| / ∂T_k = −2 Σ_g F_Xg A⁻¹ F_Xgᵀ T_k
        ∂ r²     / ∂T_k = −2 Σ_g w_g w_gᵀ T_k

    with ``Y = L⁻¹ΛᵀZᵀZ`` (dense m × m, :func:`bayesmm.blocked.lower_solve`), since
    ``ZᵀV⁻¹Z = ZᵀZ − ZᵀZΛM⁻¹ΛᵀZᵀZ``. Each θ collects its entries of ``T_k``. One
    evaluation costs O(m_r² m) on top of the deviance (the solve through ``C_s``), against
    2 n_θ deviances by central differences.
    """
    fac = prof.factor
    K, lam, parts = _ordered_blocks(stats, fac)
    m1 = parts[0].stop
    B = (lam.T @ K).toarray()  # (m, m)   ΛᵀZᵀZ
    Y1, Yr = lower_solve(fac, B[:m1], B[m1:])
    Y = np.concatenate([Y1, Yr])  # (m, m)   L⁻¹ΛᵀZᵀZ
    U1, Ur = upper_solve(fac, prof.s1, prof.sr)  # M⁻¹ΛᵀZᵀ[X | y]
    F = _z_xy(stats) - K @ (lam @ np.concatenate([U1, Ur]))  # (m, p+1)   ZᵀV⁻¹[X | y]
    p = stats.p
    w = F @ np.r_[-prof.beta, 1.0]  # (m,)
    FX = F[:, :p]  # (m, p)
    R = np.linalg.cholesky(np.linalg.inv(prof.A))  # A⁻¹ = R Rᵀ
    FR = FX @ R  # (m, p):  F_X A⁻¹ F_Xᵀ = (F_X R)(F_X R)ᵀ
    out = [np.zeros(stats.tmap.n_theta) for _ in range(3)]
    for part, T, tmpl, offset in zip(parts, fac.T, stats.templates, stats.offsets,
                                     strict=True):
        q = T.shape[0]
        G = (part.stop - part.start) // q
        Kk = K[part, part].toarray().reshape(G, q, G, q)  # (G, q, G, q)
        KG = np.einsum("gkgl->kl", Kk)  # Σ_g (ZᵀZ)_gg
        N = KG - _level_blocks(Y, part, q)  # Σ_g N_gg
        FRk = FR[part].reshape(G, q, -1)  # (G, q, p)
        Phi = np.einsum("gkp,glp->kl", FRk, FRk)  # Σ_g F_Xg A⁻¹ F_Xgᵀ
        wk = w[part].reshape(G, q)  # (G, q)
        for grad, mat in zip(out, (2.0 * N @ T, -2.0 * Phi @ T, -2.0 * wk.T @ wk @ T),
                             strict=True):
            grad[offset: offset + tmpl.n_theta] = np.bincount(
                tmpl.index, weights=mat[tmpl.rows, tmpl.cols], minlength=tmpl.n_theta)
    return out[0], out[1], out[2]


def exact_gradient_applies(stats: BlockedStats) -> bool:
    """Whether :func:`gradient_parts` has an exact gradient for ``stats``."""
    return scalar_terms(stats) or vector_gradient_applies(stats)


def gradient_parts(prof: BlockedProfile, stats: BlockedStats
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """∂log|M|, ∂log|A| and ∂r² in θ: the scalar-term identities, else the vector form.

    Raises
    ------
    NotImplementedError
        When neither applies (:func:`exact_gradient_applies`).
    """
    if scalar_terms(stats):
        return blocked_gradient_parts(prof, stats)
    if vector_gradient_applies(stats):
        return vector_gradient_parts(prof, stats)
    raise NotImplementedError("no exact blocked gradient at this size")
