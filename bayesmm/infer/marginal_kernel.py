"""The Gaussian marginal density and its gradient, written by hand for Numba: one compile.

The same density as :func:`bayesmm.build.marginal.build_marginal` with every fixed effect
under a Normal prior (β integrated out) and one grouping factor, on PyMC's flat
unconstrained vector (``sigma_log__``, then each covariance block's value variable). Every
dimension — groups G, random-effect columns q, fixed effects p, the blocks and their prior
families — is read at run time from two small arrays, so Numba compiles these functions once
per installation (``cache=True``) and one compilation serves every data set and formula of
the family. PyTensor's generated code for the same density costs a 16–46 s Numba compile per
structure (docs/marginal.md).

The layout (built by :mod:`bayesmm.infer.kernel_density`)::

    ints = [q, p, n_blocks, sigma_family,
            per block: kind (0 one SD, 1 LKJ-correlated), lo, hi, family, x_offset, par_offset]
    par  = [yᵀy, N, m₀ (p), s₀ (p), sigma's (a, b, c),
            per block: one SD: (a, b, c); correlated: η, log C(η, m), then (a, b, c) per column]

``(a, b, c)`` are a prior family's two parameters and its log normalising constant
(:data:`FAMILIES`). The gradient is analytic (module docstring of
:mod:`bayesmm.build.marginal` for the density): with ``Γ = ∂Q/∂[A c; cᵀ d] = t[[P⁻¹ + μμᵀ, −μ],
[−μᵀ, 1]]`` (t = 1/σ², μ = P⁻¹h) and ``C_g = B_g Γ B_gᵀ`` (B_g = [Z_gᵀX_g | Z_gᵀy_g])::

    ∂ℓ/∂Λ = −Σ_g [G_g − (I − G_g K_g) C_g] Λ M_g⁻¹,   K_g = Λ M_g⁻¹ Λᵀ, G_g = Z_gᵀZ_g
    ∂ℓ/∂σ|Λ = −N/σ + (d + tr(P⁻¹A) − 2cᵀμ + μᵀAμ)/σ³

then through Λ = L/σ, the LKJ and SD priors and PyMC's transforms (log, packed Cholesky).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["FAMILIES", "expand", "logp_dlogp"]

# prior families of a positive parameter: code, parameter names (a, b)
FAMILIES = {"HalfNormal": (0, ("sigma",)), "HalfStudentT": (1, ("nu", "sigma")),
            "HalfCauchy": (2, ("beta",)), "Exponential": (3, ("lam",)),
            "Gamma": (4, ("alpha", "beta")), "InverseGamma": (5, ("alpha", "beta"))}

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
_HEADER = 4  # ints before the blocks
_BLOCK = 6  # ints per block


@numba.njit(**_JIT)
def _prior(family: int, a: float, b: float, c: float, s: float) -> tuple[float, float]:
    """Log density of a positive parameter ``s`` and its derivative (``c``: the constant)."""
    if family == 0:  # HalfNormal(sigma=a)
        return c - 0.5 * (s / a) ** 2, -s / (a * a)
    if family == 1:  # HalfStudentT(nu=a, sigma=b)
        t = s * s / (a * b * b)
        return c - 0.5 * (a + 1.0) * np.log1p(t), -(a + 1.0) * s / (a * b * b * (1.0 + t))
    if family == 2:  # HalfCauchy(beta=a)
        return c - np.log1p((s / a) ** 2), -2.0 * s / (a * a + s * s)
    if family == 3:  # Exponential(lam=a)
        return c - a * s, -a
    if family == 4:  # Gamma(alpha=a, beta=b)
        return c + (a - 1.0) * np.log(s) - b * s, (a - 1.0) / s - b
    return c - (a + 1.0) * np.log(s) - b / s, -(a + 1.0) / s + b / (s * s)  # InverseGamma


@numba.njit(**_JIT)
def _cholesky(M: np.ndarray) -> bool:
    """Overwrite the lower triangle of the small SPD ``M`` (m, m) by its Cholesky factor."""
    m = M.shape[0]
    for j in range(m):
        acc = M[j, j]
        for k in range(j):
            acc -= M[j, k] * M[j, k]
        if not acc > 0.0:
            return False
        M[j, j] = np.sqrt(acc)
        for i in range(j + 1, m):
            acc = M[i, j]
            for k in range(j):
                acc -= M[i, k] * M[j, k]
            M[i, j] = acc / M[j, j]
    return True


@numba.njit(**_JIT)
def _inverse(L: np.ndarray, out: np.ndarray) -> None:
    """``out`` (m, m) = (L Lᵀ)⁻¹ from the lower Cholesky factor ``L`` (m, m)."""
    m = L.shape[0]
    for col in range(m):  # out[:, col] = L⁻ᵀ L⁻¹ e_col, solved in place
        for i in range(m):
            acc = 1.0 if i == col else 0.0
            for k in range(i):
                acc -= L[i, k] * out[k, col]
            out[i, col] = acc / L[i, i]
        for i in range(m - 1, -1, -1):
            acc = out[i, col]
            for k in range(i + 1, m):
                acc -= L[k, i] * out[k, col]
            out[i, col] = acc / L[i, i]


@numba.njit(**_JIT)
def _covariance_factor(x: np.ndarray, ints: np.ndarray, par: np.ndarray, grad: np.ndarray
                       ) -> tuple[float, np.ndarray]:
    """Cholesky factor of Ψ (q, q) from ``x``; the priors' log density (+ Jacobians).

    Adds the priors' gradient (σ's and every block's) into ``grad``.
    """
    q, p, n_blocks, sigma_family = ints[0], ints[1], ints[2], ints[3]
    sigma = np.exp(x[0])
    at = 2 + 2 * p
    lp, d = _prior(sigma_family, par[at], par[at + 1], par[at + 2], sigma)
    logp = lp + x[0]
    grad[0] += d * sigma + 1.0
    chol = np.zeros((q, q))
    for blk in range(n_blocks):
        o = _HEADER + _BLOCK * blk
        kind, lo, hi, family, xo, po = (ints[o], ints[o + 1], ints[o + 2], ints[o + 3],
                                        ints[o + 4], ints[o + 5])
        if kind == 0:  # one SD for columns lo..hi
            sd = np.exp(x[xo])
            lp, d = _prior(family, par[po], par[po + 1], par[po + 2], sd)
            logp += lp + x[xo]
            grad[xo] += d * sd + 1.0
            for c in range(lo, hi):
                chol[c, c] = sd
            continue
        m = hi - lo  # LKJCholeskyCov: packed rows of L, log of the diagonal
        eta = par[po]
        logp += par[po + 1]
        k = xo
        for i in range(m):
            ss = 0.0
            for j in range(i + 1):
                v = np.exp(x[k + j]) if j == i else x[k + j]
                chol[lo + i, lo + j] = v
                ss += v * v
            sd = np.sqrt(ss)
            pb = po + 2 + 3 * i
            lp, d = _prior(family, par[pb], par[pb + 1], par[pb + 2], sd)
            a_i = 2.0 * eta - 2.0 + m - i
            l_ii = chol[lo + i, lo + i]
            logp += lp + a_i * np.log(l_ii) - (a_i + i) * np.log(sd) + x[k + i]
            coef = (d - (a_i + i) / sd) / sd  # ∂/∂L_ij = coef L_ij (+ a_i/L_ii on the diagonal)
            for j in range(i):
                grad[k + j] += coef * chol[lo + i, lo + j]
            grad[k + i] += (coef * l_ii + a_i / l_ii) * l_ii + 1.0
            k += i + 1
    return logp, chol


@numba.njit(**_JIT)
def _to_x(x: np.ndarray, ints: np.ndarray, dchol: np.ndarray, grad: np.ndarray) -> None:
    """Add ∂ℓ/∂L (q, q) into ``grad`` through each block's transform."""
    for blk in range(ints[2]):
        o = _HEADER + _BLOCK * blk
        kind, lo, hi, xo = ints[o], ints[o + 1], ints[o + 2], ints[o + 4]
        if kind == 0:
            acc = 0.0
            for c in range(lo, hi):
                acc += dchol[c, c]
            grad[xo] += np.exp(x[xo]) * acc
            continue
        k = xo
        for i in range(hi - lo):
            for j in range(i + 1):
                g = dchol[lo + i, lo + j]
                grad[k] += g * np.exp(x[k]) if j == i else g
                k += 1


@numba.njit(**_JIT)
def _mm(A: np.ndarray, B: np.ndarray, out: np.ndarray) -> None:
    """``out`` = A B for small matrices (loops: no BLAS call for a 2 × 2 product)."""
    for i in range(A.shape[0]):
        for j in range(B.shape[1]):
            acc = 0.0
            for k in range(A.shape[1]):
                acc += A[i, k] * B[k, j]
            out[i, j] = acc


@numba.njit(**_JIT)
def _mmt(A: np.ndarray, B: np.ndarray, out: np.ndarray) -> None:
    """``out`` = A Bᵀ for small matrices."""
    for i in range(A.shape[0]):
        for j in range(B.shape[0]):
            acc = 0.0
            for k in range(A.shape[1]):
                acc += A[i, k] * B[j, k]
            out[i, j] = acc


@numba.njit(**_JIT)
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
    return _cholesky(M)


@numba.njit(**_JIT)
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
    if not _cholesky(P):
        grad[:] = np.nan
        return -np.inf, grad
    Pinv = np.empty((p, p))
    _inverse(P, Pinv)
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
        _inverse(Ms[g], Minv)
        for i in range(q):  # (q,) B_g w
            acc = Zty[g, i]
            for k in range(p):
                acc -= BX[i, k] * mu[k]
            r[i] = acc
        _mm(BX, Pinv, W)  # (q, p)
        _mmt(W, BX, C)
        for i in range(q):
            for j in range(q):
                C[i, j] = t * (C[i, j] + r[i] * r[j])  # C_g = B_g Γ B_gᵀ
        _mm(lam, Minv, N)  # Λ M⁻¹
        _mmt(N, lam, K)  # K_g
        _mm(G, K, F)
        _mm(F, C, E)
        for i in range(q):
            for j in range(q):
                E[i, j] += G[i, j] - C[i, j]  # G − (I − GK)C
        _mm(E, N, F)
        for i in range(q):
            for j in range(q):
                dlam[i, j] -= F[i, j]
    dsigma -= np.sum(dlam * lam) / sigma  # Λ = L/σ
    grad[0] += sigma * dsigma
    _to_x(x, ints, dlam / sigma, grad)
    return logp, grad


@numba.njit(**_JIT)
def expand(x: np.ndarray, ints: np.ndarray, par: np.ndarray, ZtZ: np.ndarray,
           ZtX: np.ndarray, Zty: np.ndarray, XtX: np.ndarray, Xty: np.ndarray
           ) -> tuple[np.ndarray]:
    """Return the trace variables, flat, in the model's order (one array in a 1-tuple).

    σ; each block's free variable (one SD; or the packed Cholesky factor on its own scale);
    each correlated block's correlation matrix (m, m); every SD of the factor.
    """
    n_blocks = ints[2]
    out = [np.exp(x[0])]
    sds = []
    corrs = []
    for blk in range(n_blocks):
        o = _HEADER + _BLOCK * blk
        kind, lo, hi, xo = ints[o], ints[o + 1], ints[o + 2], ints[o + 4]
        if kind == 0:
            out.append(np.exp(x[xo]))
            sds.append(np.exp(x[xo]))
            continue
        m = hi - lo
        L = np.zeros((m, m))
        k = xo
        for i in range(m):
            for j in range(i + 1):
                L[i, j] = np.exp(x[k]) if j == i else x[k]
                out.append(L[i, j])
                k += 1
        sd = np.sqrt(np.sum(L * L, axis=1))
        for i in range(m):
            sds.append(sd[i])
        for i in range(m):
            for j in range(m):
                corrs.append(np.sum(L[i] * L[j]) / (sd[i] * sd[j]))
    return (np.array(out + corrs + sds),)
