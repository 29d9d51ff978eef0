"""The Gaussian marginal density and its gradient, written by hand for Numba: one compile.

The same density as :func:`bayesmm.build.marginal.build_marginal` with every fixed effect
under a Normal prior (β integrated out) and one grouping factor, on PyMC's flat
unconstrained vector (``sigma_log__``, then each covariance block's value variable). Every
dimension — groups G, random-effect columns q, fixed effects p, the blocks and their prior
families — is read at run time from two small arrays, so Numba compiles these functions once
per installation (``cache=True``) and one compilation serves every data set and formula of
the family. PyTensor's generated code for the same density costs a 16–46 s Numba compile per
structure (docs/marginal.md).

The layout (built by :mod:`bayesmm.infer.kernel_density`; blocks as in
:mod:`bayesmm.infer.kernel_common`)::

    ints = [q, p, n_blocks, sigma_family, the factor's blocks]
    par  = [yᵀy, N, m₀ (p), s₀ (p), σ's prior (a, b, c), the blocks' priors]

The gradient is analytic (module docstring of
:mod:`bayesmm.build.marginal` for the density): with ``Γ = ∂Q/∂[A c; cᵀ d] = t[[P⁻¹ + μμᵀ, −μ],
[−μᵀ, 1]]`` (t = 1/σ², μ = P⁻¹h) and ``C_g = B_g Γ B_gᵀ`` (B_g = [Z_gᵀX_g | Z_gᵀy_g])::

    ∂ℓ/∂Λ = −Σ_g [G_g − (I − G_g K_g) C_g] Λ M_g⁻¹,   K_g = Λ M_g⁻¹ Λᵀ, G_g = Z_gᵀZ_g
    ∂ℓ/∂σ|Λ = −N/σ + (d + tr(P⁻¹A) − 2cᵀμ + μᵀAμ)/σ³

then through Λ = L/σ, the LKJ and SD priors and PyMC's transforms (log, packed Cholesky).
"""

from __future__ import annotations

import numba
import numpy as np

from .kernel_common import (
    JIT,
    blocks_to_x,
    cholesky,
    covariance_blocks,
    expand_blocks,
    inverse,
    mm,
    mmt,
    prior,
)

__all__ = ["HEADER", "expand", "logp_dlogp"]

HEADER = 4  # ints before the blocks


@numba.njit(**JIT)
def _covariance_factor(x: np.ndarray, ints: np.ndarray, par: np.ndarray, grad: np.ndarray
                       ) -> tuple[float, np.ndarray]:
    """Cholesky factor of Ψ (q, q) from ``x``; σ's and the blocks' priors (+ Jacobians).

    Adds the priors' gradient into ``grad``.
    """
    q, p, n_blocks, sigma_family = ints[0], ints[1], ints[2], ints[3]
    sigma = np.exp(x[0])
    at = 2 + 2 * p
    lp, d = prior(sigma_family, par[at], par[at + 1], par[at + 2], sigma)
    grad[0] += d * sigma + 1.0
    chol = np.zeros((q, q))
    logp = lp + x[0] + covariance_blocks(x, ints, par, grad, HEADER, n_blocks, chol)
    return logp, chol


@numba.njit(**JIT)
def _group_factor(G: np.ndarray, lam: np.ndarray, M: np.ndarray) -> bool:
    """``M`` (q, q) ← Cholesky of I + ΛᵀGΛ."""
    q = lam.shape[0]
    for a in range(q):
        for b in range(a + 1):
            acc = 1.0 if a == b else 0.0
            for i in range(q):
                for j in range(q):
                    acc += lam[i, a] * G[i, j] * lam[j, b]
            M[a, b] = acc
    return cholesky(M)


@numba.njit(**JIT)
def logp_dlogp(x: np.ndarray, ints: np.ndarray, par: np.ndarray, ZtZ: np.ndarray,
               ZtX: np.ndarray, Zty: np.ndarray, XtX: np.ndarray, Xty: np.ndarray
               ) -> tuple[float, np.ndarray]:
    """Log density (PyMC's, constants included) and its gradient at the flat ``x`` (n,).

    ZtZ (G, q, q), ZtX (G, q, p), Zty (G, q), XtX (p, p), Xty (p,). A point outside the
    support (a factor that is not positive definite) gives ``-inf`` and a NaN gradient.
    """
    grad = np.zeros(x.size)
    logp, chol = _covariance_factor(x, ints, par, grad)
    q, p = ints[0], ints[1]
    n_groups = ZtZ.shape[0]
    sigma = np.exp(x[0])
    t = 1.0 / (sigma * sigma)
    lam = chol / sigma  # (q, q) relative factor Λ
    yty, n_obs = par[0], par[1]
    m0, s0 = par[2:2 + p], par[2 + p:2 + 2 * p]
    S = np.empty((p + 1, p + 1))  # [A c; cᵀ d] = [XᵀX Xᵀy; yᵀX yᵀy] − Σ R_gᵀR_g
    S[:p, :p] = XtX
    S[:p, p] = Xty
    S[p, :p] = Xty
    S[p, p] = yty
    Ms = np.empty((n_groups, q, q))  # each group's Cholesky factor of M_g
    R = np.empty((q, p + 1))
    logdet = 0.0
    for g in range(n_groups):
        M = Ms[g]
        if not _group_factor(ZtZ[g], lam, M):
            grad[:] = np.nan
            return -np.inf, grad
        for k in range(q):
            logdet += 2.0 * np.log(M[k, k])
        for c in range(p + 1):  # R = L_g⁻¹ Λᵀ B_g, column by column
            for k in range(q):
                acc = 0.0
                for i in range(q):
                    acc += lam[i, k] * (ZtX[g, i, c] if c < p else Zty[g, i])
                for j in range(k):
                    acc -= M[k, j] * R[j, c]
                R[k, c] = acc / M[k, k]
        for a in range(p + 1):
            for b in range(a + 1):
                acc = 0.0
                for k in range(q):
                    acc += R[k, a] * R[k, b]
                S[a, b] -= acc
                if a != b:
                    S[b, a] -= acc
    P = np.empty((p, p))
    h = np.empty(p)
    for a in range(p):
        for b in range(p):
            P[a, b] = t * S[a, b] + (1.0 / (s0[a] * s0[a]) if a == b else 0.0)
        h[a] = t * S[a, p] + m0[a] / (s0[a] * s0[a])
    if not cholesky(P):
        grad[:] = np.nan
        return -np.inf, grad
    Pinv = np.empty((p, p))
    inverse(P, Pinv)
    mu = np.empty(p)  # (p,) posterior mean of β
    for a in range(p):
        mu[a] = np.sum(Pinv[a] * h)
    quad = t * S[p, p] + np.sum(m0 * m0 / (s0 * s0)) + np.sum(np.log(s0 * s0)) - np.sum(h * mu)
    for k in range(p):
        quad += 2.0 * np.log(P[k, k])
    logp += -0.5 * (n_obs * np.log(2.0 * np.pi / t) + logdet + quad)

    # ∂ℓ/∂σ at fixed Λ, then ∂ℓ/∂Λ group by group (module docstring)
    A, c_vec = S[:p, :p], S[:p, p]
    a_mu = 0.0
    for a in range(p):
        a_mu += mu[a] * np.sum(A[a] * mu)
    dq_dt = S[p, p] + np.sum(Pinv * A) - 2.0 * np.sum(c_vec * mu) + a_mu
    dsigma = -n_obs / sigma + dq_dt * t / sigma
    dlam = np.zeros((q, q))
    Minv, C, N = np.empty((q, q)), np.empty((q, q)), np.empty((q, q))
    K, F, E = np.empty((q, q)), np.empty((q, q)), np.empty((q, q))
    W, r = np.empty((q, p)), np.empty(q)
    for g in range(n_groups):
        G, BX = ZtZ[g], ZtX[g]  # (q, q), (q, p)
        inverse(Ms[g], Minv)
        for i in range(q):  # (q,) B_g w
            acc = Zty[g, i]
            for k in range(p):
                acc -= BX[i, k] * mu[k]
            r[i] = acc
        mm(BX, Pinv, W)  # (q, p)
        mmt(W, BX, C)
        for i in range(q):
            for j in range(q):
                C[i, j] = t * (C[i, j] + r[i] * r[j])  # C_g = B_g Γ B_gᵀ
        mm(lam, Minv, N)  # Λ M⁻¹
        mmt(N, lam, K)  # K_g
        mm(G, K, F)
        mm(F, C, E)
        for i in range(q):
            for j in range(q):
                E[i, j] += G[i, j] - C[i, j]  # G − (I − GK)C
        mm(E, N, F)
        for i in range(q):
            for j in range(q):
                dlam[i, j] -= F[i, j]
    dsigma -= np.sum(dlam * lam) / sigma  # Λ = L/σ
    grad[0] += sigma * dsigma
    blocks_to_x(x, ints, HEADER, ints[2], dlam / sigma, grad)
    return logp, grad


@numba.njit(**JIT)
def expand(x: np.ndarray, ints: np.ndarray, par: np.ndarray, ZtZ: np.ndarray,
           ZtX: np.ndarray, Zty: np.ndarray, XtX: np.ndarray, Xty: np.ndarray
           ) -> tuple[np.ndarray]:
    """Return the trace variables, flat, in the model's order (one array in a 1-tuple).

    σ; each block's free variable (one SD; or the packed Cholesky factor on its own scale);
    each correlated block's correlation matrix (m, m); every SD of the factor.
    """
    free = [np.exp(x[0])]
    corrs = [0.0][:0]
    sds = [0.0][:0]
    expand_blocks(x, ints, HEADER, ints[2], free, corrs, sds)
    return (np.array(free + corrs + sds),)
