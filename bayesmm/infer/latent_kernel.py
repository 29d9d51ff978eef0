"""The latent build's density and gradient for logit and log links, by hand: one compile.

The density of :func:`bayesmm.build.latent.build_latent` for the binomial, Bernoulli and
Poisson families — β under Normal priors, every factor's effects non-centred (``b_f = z_f
L_fᵀ``, ``z_f ~ N(0, 1)``) — on PyMC's flat unconstrained vector (``beta``, every factor's
covariance blocks, then every factor's ``z``). N, p, the factors, their q, levels and blocks
are read at run time, so Numba compiles it once per installation for every such model.

The layout (built by :mod:`bayesmm.infer.kernel_density`; blocks as in
:mod:`bayesmm.infer.kernel_common`)::

    ints = [p, n_factors, family (0 binomial, 1 Bernoulli, 2 Poisson), largest q,
            per factor: q, n_blocks, blocks' offset in ints, z's offset in x,
                        first column in Z, levels G;
            the blocks]
    par  = [every constant of the log density, m₀ (p), s₀ (p), the blocks' priors]

With η = Xβ + offset + Σ_f rowsum(Z_f ∘ b_f[codes_f]) and r = ∂ℓ/∂η (y − n·logistic(η), or
y − exp(η)): ∂ℓ/∂β = Xᵀr − (β − m₀)/s₀², and with D_f[g] = Σ_{rows of g} r Z_f (G, q),
∂ℓ/∂z_f = D_f L_f − z_f and ∂ℓ/∂L_f = D_fᵀ z_f.
"""

from __future__ import annotations

import numba
import numpy as np

from .kernel_common import JIT, blocks_to_x, covariance_blocks, expand_blocks

__all__ = ["FACTOR", "HEADER", "expand", "logp_dlogp"]

HEADER = 4  # ints before the factors
FACTOR = 6  # ints per factor


@numba.njit(**JIT)
def _log1pexp(v: float) -> float:
    """log(1 + eᵛ) without overflow."""
    return v + np.log1p(np.exp(-v)) if v > 0.0 else np.log1p(np.exp(v))


@numba.njit(**JIT)
def _factor(ints: np.ndarray, f: int) -> tuple[int, int, int, int, int, int]:
    """(q, n_blocks, blocks' offset, z's offset, first Z column, G) of factor ``f``."""
    o = HEADER + FACTOR * f
    return ints[o], ints[o + 1], ints[o + 2], ints[o + 3], ints[o + 4], ints[o + 5]


@numba.njit(**JIT)
def logp_dlogp(x: np.ndarray, ints: np.ndarray, par: np.ndarray, X: np.ndarray,
               y: np.ndarray, trials: np.ndarray, offset: np.ndarray, Z: np.ndarray,
               codes: np.ndarray) -> tuple[float, np.ndarray]:
    """Log density (PyMC's, constants included) and its gradient at the flat ``x`` (n,).

    X (N, p), y, trials, offset (N,), Z (N, Σq) every factor's columns side by side,
    codes (N, n_factors) each row's level of each factor.
    """
    p, n_factors, family, q_max = ints[0], ints[1], ints[2], ints[3]
    n_rows = y.size
    grad = np.zeros(x.size)
    logp = par[0]
    for j in range(p):  # β ~ Normal(m₀, s₀)
        s0 = par[1 + p + j]
        dev = (x[j] - par[1 + j]) / s0
        logp -= 0.5 * dev * dev
        grad[j] -= dev / s0
    eta = offset.copy()  # (N,)
    for i in range(n_rows):
        for j in range(p):
            eta[i] += X[i, j] * x[j]
    chols = np.zeros((n_factors, q_max, q_max))  # each factor's L (q, q) in the corner
    for f in range(n_factors):
        q, n_blocks, at, z_at, col, n_levels = _factor(ints, f)
        logp += covariance_blocks(x, ints, par, grad, at, n_blocks, chols[f])
        L = chols[f]
        for g in range(n_levels * q):  # z ~ N(0, 1)
            logp -= 0.5 * x[z_at + g] ** 2
            grad[z_at + g] -= x[z_at + g]
        for i in range(n_rows):
            base = z_at + codes[i, f] * q
            for k in range(q):
                b = 0.0  # b[g, k] = Σ_j z[g, j] L[k, j]
                for j in range(k + 1):
                    b += x[base + j] * L[k, j]
                eta[i] += Z[i, col + k] * b
    r = np.empty(n_rows)  # ∂ℓ/∂η
    for i in range(n_rows):
        if family == 2:  # Poisson, log link
            mu = np.exp(eta[i])
            logp += y[i] * eta[i] - mu
            r[i] = y[i] - mu
        else:  # binomial / Bernoulli, logit link
            logp += y[i] * eta[i] - trials[i] * _log1pexp(eta[i])
            r[i] = y[i] - trials[i] / (1.0 + np.exp(-eta[i]))
    for j in range(p):
        acc = 0.0
        for i in range(n_rows):
            acc += X[i, j] * r[i]
        grad[j] += acc
    for f in range(n_factors):
        q, n_blocks, at, z_at, col, n_levels = _factor(ints, f)
        L = chols[f]
        D = np.zeros((n_levels, q))  # Σ over each level's rows of r Z_f
        for i in range(n_rows):
            for k in range(q):
                D[codes[i, f], k] += r[i] * Z[i, col + k]
        dchol = np.zeros((q_max, q_max))
        for g in range(n_levels):
            base = z_at + g * q
            for j in range(q):
                acc = 0.0
                for k in range(j, q):
                    acc += D[g, k] * L[k, j]
                    dchol[k, j] += D[g, k] * x[base + j]
                grad[base + j] += acc
        blocks_to_x(x, ints, at, n_blocks, dchol, grad)
    return logp, grad


@numba.njit(**JIT)
def expand(x: np.ndarray, ints: np.ndarray, par: np.ndarray, X: np.ndarray, y: np.ndarray,
           trials: np.ndarray, offset: np.ndarray, Z: np.ndarray, codes: np.ndarray
           ) -> tuple[np.ndarray]:
    """Return the trace variables, flat, in the model's order (one array in a 1-tuple).

    β; every factor's blocks' free variables; every factor's z; per factor its
    correlations and SDs; every factor's effects b (G, q).
    """
    p, n_factors, q_max = ints[0], ints[1], ints[3]
    free = [x[j] for j in range(p)]
    labels = [0.0][:0]
    effects = [0.0][:0]
    for f in range(n_factors):
        q, n_blocks, at, z_at, _, n_levels = _factor(ints, f)
        corrs = [0.0][:0]
        sds = [0.0][:0]
        expand_blocks(x, ints, at, n_blocks, free, corrs, sds)
        labels += corrs + sds
        L = np.zeros((q_max, q_max))
        grad = np.zeros(x.size)
        covariance_blocks(x, ints, par, grad, at, n_blocks, L)
        for g in range(n_levels):
            for k in range(q):
                b = 0.0
                for j in range(k + 1):
                    b += x[z_at + g * q + j] * L[k, j]
                effects.append(b)
    zs = [0.0][:0]
    for f in range(n_factors):
        q, _, _, z_at, _, n_levels = _factor(ints, f)
        for g in range(n_levels * q):
            zs.append(x[z_at + g])
    return (np.array(free + zs + labels + effects),)
