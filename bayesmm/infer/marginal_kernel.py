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
q = 1 and q = 2 take closed forms in scalars (the generic loops over q cost 4.6 and 2.1
times PyTensor's unrolled graph per group; the closed forms 0.7 and 0.5 times).
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
def _intercepts_normal_equations(lam: float, ZtZ: np.ndarray, ZtX: np.ndarray, Zty: np.ndarray,
                                 Ms: np.ndarray, S: np.ndarray) -> float:
    """Q = 1: Σ log M_g, and S −= Σ_g λ²/M_g B_gᵀB_g; ``Ms[g, 0, 0]`` ← M_g = 1 + λ²Z_gᵀZ_g.

    The scalar closed form of the generic loop (4.6 times faster per group: 10,000 groups).
    """
    n_groups, p = ZtX.shape[0], ZtX.shape[2]
    l2 = lam * lam
    logdet = 0.0
    B = np.empty(p + 1)
    for g in range(n_groups):
        m = 1.0 + l2 * ZtZ[g, 0, 0]
        Ms[g, 0, 0] = m
        logdet += np.log(m)
        for a in range(p):
            B[a] = ZtX[g, 0, a]
        B[p] = Zty[g, 0]
        w = l2 / m
        for a in range(p + 1):
            wa = w * B[a]
            for b in range(a + 1):
                S[a, b] -= wa * B[b]
    for a in range(p + 1):
        for b in range(a):
            S[b, a] = S[a, b]
    return logdet


@numba.njit(**JIT)
def _intercepts_gradient(lam: float, t: float, mu: np.ndarray, Pinv: np.ndarray,
                         ZtZ: np.ndarray, ZtX: np.ndarray, Zty: np.ndarray, Ms: np.ndarray
                         ) -> float:
    """Q = 1: ∂ℓ/∂λ = −Σ_g (G_g − C_g/M_g) λ/M_g (the generic form with I − G_gK_g = 1/M_g)."""
    n_groups, p = ZtX.shape[0], ZtX.shape[2]
    out = 0.0
    for g in range(n_groups):
        r = Zty[g, 0]
        quad = 0.0
        for k in range(p):
            bk = ZtX[g, 0, k]
            r -= bk * mu[k]
            acc = 0.0
            for j in range(p):
                acc += Pinv[k, j] * ZtX[g, 0, j]
            quad += bk * acc
        m = Ms[g, 0, 0]
        c = t * (quad + r * r)
        out -= (ZtZ[g, 0, 0] - c / m) * lam / m
    return out


@numba.njit(**JIT)
def _slopes_normal_equations(lam: np.ndarray, ZtZ: np.ndarray, ZtX: np.ndarray,
                             Zty: np.ndarray, Ms: np.ndarray, S: np.ndarray) -> float:
    """Q = 2 in scalars: Σ log|M_g| and S −= Σ_g R_gᵀR_g; ``Ms[g]`` ← the Cholesky of M_g.

    Λ = [[l00, 0], [l10, l11]], M_g = I + ΛᵀG_gΛ = [[a, 0], [b, c]] [[a, b], [0, c]].
    """
    n_groups, p = ZtX.shape[0], ZtX.shape[2]
    l00, l10, l11 = lam[0, 0], lam[1, 0], lam[1, 1]
    logdet = 0.0
    R0, R1 = np.empty(p + 1), np.empty(p + 1)
    for g in range(n_groups):
        g00, g01, g11 = ZtZ[g, 0, 0], ZtZ[g, 1, 0], ZtZ[g, 1, 1]
        m00 = 1.0 + l00 * l00 * g00 + 2.0 * l00 * l10 * g01 + l10 * l10 * g11
        m10 = l11 * (g01 * l00 + g11 * l10)
        m11 = 1.0 + l11 * l11 * g11
        a = np.sqrt(m00)
        b = m10 / a
        c = np.sqrt(m11 - b * b)
        Ms[g, 0, 0], Ms[g, 1, 0], Ms[g, 1, 1] = a, b, c
        logdet += 2.0 * np.log(a * c)
        for k in range(p + 1):  # R = L_g⁻¹ Λᵀ B_g
            b0 = ZtX[g, 0, k] if k < p else Zty[g, 0]
            b1 = ZtX[g, 1, k] if k < p else Zty[g, 1]
            R0[k] = (l00 * b0 + l10 * b1) / a
            R1[k] = (l11 * b1 - b * R0[k]) / c
        for i in range(p + 1):
            for j in range(i + 1):
                S[i, j] -= R0[i] * R0[j] + R1[i] * R1[j]
    for i in range(p + 1):
        for j in range(i):
            S[j, i] = S[i, j]
    return logdet


@numba.njit(**JIT)
def _slopes_gradient(lam: np.ndarray, t: float, mu: np.ndarray, Pinv: np.ndarray,
                     ZtZ: np.ndarray, ZtX: np.ndarray, Zty: np.ndarray, Ms: np.ndarray,
                     dlam: np.ndarray) -> None:
    """Q = 2 in scalars: dlam −= Σ_g [G_g − (I − G_gK_g)C_g] Λ M_g⁻¹ (module docstring)."""
    n_groups, p = ZtX.shape[0], ZtX.shape[2]
    l00, l10, l11 = lam[0, 0], lam[1, 0], lam[1, 1]
    w0, w1 = np.empty(p), np.empty(p)
    for g in range(n_groups):
        a, b, c = Ms[g, 0, 0], Ms[g, 1, 0], Ms[g, 1, 1]
        det = a * a * c * c
        i00, i01, i11 = (b * b + c * c) / det, -a * b / det, a * a / det  # M_g⁻¹
        r0, r1 = Zty[g, 0], Zty[g, 1]
        for k in range(p):
            r0 -= ZtX[g, 0, k] * mu[k]
            r1 -= ZtX[g, 1, k] * mu[k]
            acc0 = acc1 = 0.0
            for j in range(p):
                acc0 += ZtX[g, 0, j] * Pinv[j, k]
                acc1 += ZtX[g, 1, j] * Pinv[j, k]
            w0[k], w1[k] = acc0, acc1
        c00, c01, c11 = r0 * r0, r0 * r1, r1 * r1
        for k in range(p):
            c00 += w0[k] * ZtX[g, 0, k]
            c01 += w0[k] * ZtX[g, 1, k]
            c11 += w1[k] * ZtX[g, 1, k]
        c00, c01, c11 = t * c00, t * c01, t * c11  # C_g
        n00, n01 = l00 * i00, l00 * i01  # N = Λ M⁻¹
        n10, n11 = l10 * i00 + l11 * i01, l10 * i01 + l11 * i11
        k00, k01, k11 = n00 * l00, n00 * l10 + n01 * l11, n10 * l10 + n11 * l11  # K = NΛᵀ
        g00, g01, g11 = ZtZ[g, 0, 0], ZtZ[g, 1, 0], ZtZ[g, 1, 1]
        f00, f01 = g00 * k00 + g01 * k01, g00 * k01 + g01 * k11  # F = GK
        f10, f11 = g01 * k00 + g11 * k01, g01 * k01 + g11 * k11
        e00 = g00 - c00 + f00 * c00 + f01 * c01  # E = G − C + FC
        e01 = g01 - c01 + f00 * c01 + f01 * c11
        e10 = g01 - c01 + f10 * c00 + f11 * c01
        e11 = g11 - c11 + f10 * c01 + f11 * c11
        dlam[0, 0] -= e00 * n00 + e01 * n10  # E N
        dlam[0, 1] -= e00 * n01 + e01 * n11
        dlam[1, 0] -= e10 * n00 + e11 * n10
        dlam[1, 1] -= e10 * n01 + e11 * n11


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
    Ms = np.empty((n_groups, q, q))  # each group's Cholesky factor of M_g (q = 1: M_g)
    R = np.empty((q, p + 1))
    logdet = 0.0
    if q == 1:
        logdet = _intercepts_normal_equations(lam[0, 0], ZtZ, ZtX, Zty, Ms, S)
    elif q == 2:
        logdet = _slopes_normal_equations(lam, ZtZ, ZtX, Zty, Ms, S)
    for g in range(n_groups if q > 2 else 0):
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
    if q == 1:
        dlam[0, 0] = _intercepts_gradient(lam[0, 0], t, mu, Pinv, ZtZ, ZtX, Zty, Ms)
    elif q == 2:
        _slopes_gradient(lam, t, mu, Pinv, ZtZ, ZtX, Zty, Ms, dlam)
    Minv, C, N = np.empty((q, q)), np.empty((q, q)), np.empty((q, q))
    K, F, E = np.empty((q, q)), np.empty((q, q)), np.empty((q, q))
    W, r = np.empty((q, p)), np.empty(q)
    for g in range(n_groups if q > 2 else 0):
        G, BX = ZtZ[g], ZtX[g]  # (q, q), (q, p)
        inverse(Ms[g], Minv)
        for i in range(q):  # (q,) B_g w
            acc = Zty[g, i]
            for k in range(p):
                acc -= BX[i, k] * mu[k]
            r[i] = acc
        mm(BX, Pinv, W)  # (q, p)
        mm(W, BX.T, C)
        for i in range(q):
            for j in range(q):
                C[i, j] = t * (C[i, j] + r[i] * r[j])  # C_g = B_g Γ B_gᵀ
        mm(lam, Minv, N)  # Λ M⁻¹
        mm(N, lam.T, K)  # K_g
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
