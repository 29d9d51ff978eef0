"""Numba pieces shared by the hand-written kernels: priors, small algebra, covariance blocks.

A factor's covariance is described by blocks of :data:`BLOCK` integers in a kernel's
``ints`` array (built by :mod:`bayesmm.infer.kernel_density`)::

    kind (0 one SD for columns lo..hi, 1 LKJ-correlated columns lo..hi), lo, hi,
    prior family (:data:`FAMILIES`), offset in x, offset in par

with, in ``par``, a one-SD block's prior ``(a, b, c)`` — the family's two parameters and its
log normalising constant — or a correlated block's ``η``, PyMC's LKJ constant, then ``(a, b,
c)`` per column. On the flat vector a one-SD block is log SD (PyMC's log transform) and a
correlated block is PyMC's packed Cholesky factor with a log diagonal (``CholeskyCovPacked``);
the log density includes the LKJCholeskyCov density and both transforms' Jacobians, exactly
as PyMC's.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["BLOCK", "FAMILIES", "JIT", "blocks_to_x", "cholesky", "covariance_blocks",
           "expand_blocks", "inverse", "mm", "prior"]

# prior families of a positive parameter: code, parameter names (a, b)
FAMILIES = {"HalfNormal": (0, ("sigma",)), "HalfStudentT": (1, ("nu", "sigma")),
            "HalfCauchy": (2, ("beta",)), "Exponential": (3, ("lam",)),
            "Gamma": (4, ("alpha", "beta")), "InverseGamma": (5, ("alpha", "beta"))}

JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
BLOCK = 6  # ints per covariance block


@numba.njit(**JIT)
def prior(family: int, a: float, b: float, c: float, s: float) -> tuple[float, float]:
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


@numba.njit(**JIT)
def cholesky(M: np.ndarray) -> bool:
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


@numba.njit(**JIT)
def inverse(L: np.ndarray, out: np.ndarray) -> None:
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


@numba.njit(**JIT)
def mm(A: np.ndarray, B: np.ndarray, out: np.ndarray) -> None:
    """``out`` = A B for small matrices (loops: no BLAS call); ``mm(A, B.T, out)`` for A Bᵀ."""
    for i in range(A.shape[0]):
        for j in range(B.shape[1]):
            acc = 0.0
            for k in range(A.shape[1]):
                acc += A[i, k] * B[k, j]
            out[i, j] = acc


@numba.njit(**JIT)
def covariance_blocks(x: np.ndarray, ints: np.ndarray, par: np.ndarray, grad: np.ndarray,
                      at: int, n_blocks: int, chol: np.ndarray) -> float:
    """Fill one factor's Cholesky factor of Ψ ``chol`` (q, q) from ``x``; its priors' logp.

    The factor's blocks are described by ``ints[at:at + BLOCK * n_blocks]`` (module
    docstring); the priors' gradient (with the transforms' Jacobians) is added to ``grad``.
    """
    logp = 0.0
    for blk in range(n_blocks):
        o = at + BLOCK * blk
        kind, lo, hi, family, xo, po = (ints[o], ints[o + 1], ints[o + 2], ints[o + 3],
                                        ints[o + 4], ints[o + 5])
        if kind == 0:  # one SD for columns lo..hi
            sd = np.exp(x[xo])
            lp, d = prior(family, par[po], par[po + 1], par[po + 2], sd)
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
            lp, d = prior(family, par[pb], par[pb + 1], par[pb + 2], sd)
            a_i = 2.0 * eta - 2.0 + m - i
            l_ii = chol[lo + i, lo + i]
            logp += lp + a_i * np.log(l_ii) - (a_i + i) * np.log(sd) + x[k + i]
            coef = (d - (a_i + i) / sd) / sd  # ∂/∂L_ij = coef L_ij (+ a_i/L_ii on the diagonal)
            for j in range(i):
                grad[k + j] += coef * chol[lo + i, lo + j]
            grad[k + i] += (coef * l_ii + a_i / l_ii) * l_ii + 1.0
            k += i + 1
    return logp


@numba.njit(**JIT)
def blocks_to_x(x: np.ndarray, ints: np.ndarray, at: int, n_blocks: int, dchol: np.ndarray,
                grad: np.ndarray) -> None:
    """Add ∂ℓ/∂L (q, q) of one factor into ``grad`` through each block's transform."""
    for blk in range(n_blocks):
        o = at + BLOCK * blk
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


@numba.njit(**JIT)
def expand_blocks(x: np.ndarray, ints: np.ndarray, at: int, n_blocks: int, free: list,
                  corrs: list, sds: list) -> None:
    """Append one factor's trace values: each block's free variable, correlations, SDs."""
    for blk in range(n_blocks):
        o = at + BLOCK * blk
        kind, lo, hi, xo = ints[o], ints[o + 1], ints[o + 2], ints[o + 4]
        if kind == 0:
            free.append(np.exp(x[xo]))
            sds.append(np.exp(x[xo]))
            continue
        m = hi - lo
        L = np.zeros((m, m))
        k = xo
        for i in range(m):
            for j in range(i + 1):
                L[i, j] = np.exp(x[k]) if j == i else x[k]
                free.append(L[i, j])
                k += 1
        sd = np.sqrt(np.sum(L * L, axis=1))
        for i in range(m):
            sds.append(sd[i])
        for i in range(m):
            for j in range(m):
                corrs.append(np.sum(L[i] * L[j]) / (sd[i] * sd[j]))
