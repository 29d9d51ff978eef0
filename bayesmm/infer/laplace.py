"""Laplace-approximated maximum likelihood for generalised mixed models (glmer, nAGQ = 1).

With spherical effects u (b = Λu, u ~ N(0, I)) and η = Xβ + offset + ZΛu, the inner step
finds the conditional mode û of ``Σ log p(y | η) − ½|u|²`` by penalised IRLS (Newton with
Fisher weights W and step halving). The Laplace deviance is

    −2 ℓ(θ, β) ≈ −2 Σ log p(y | η̂) + |û|² + log|ΛᵀZᵀWZΛ + I|,

which the outer step minimises over θ, β and the family's own parameters (log scale) jointly,
as glmer's second stage does. The joint mode over (β, u) is *not* used: it is degenerate.
``method="map"`` adds blme's penalty −2 Σ log σ_k (a gamma(2, 0) prior per SD) so that no SD
sits at zero. Random-effect columns are kept sparse: ZΛ is an N × (levels·q) sparse matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from scipy import optimize, sparse
from scipy.linalg import lapack

from ..blocked import BlockedFactor, all_scalar, lower_solve, upper_solve
from ..covariance import ThetaMap, joint_theta_map
from ..design import Design
from ..errors import FitError, SeparationError
from ..families import Family
from ..suffstats import joint_z
from ..weighted import WeightedCross, weighted_cross, weighted_factor
from .numdiff import gradient_jacobian, hessian
from .optimize import SINGULAR_TOL, PointFit, projected_gradient

__all__ = ["fit_laplace", "laplace_deviance"]

_GRAD_TOL = 2e-3


@dataclass(frozen=True, eq=False)
class _Problem:
    """Fixed inputs of the Laplace criterion."""

    design: Design
    family: Family
    Z: sparse.csr_matrix  # (N, m)
    tmap: ThetaMap
    offset: np.ndarray  # (N,)
    cross: WeightedCross  # ZᵀWZ's blocks, largest factor first

    @property
    def n_beta(self) -> int:
        """Number of fixed effects."""
        return self.design.X.shape[1]


def _problem(design: Design) -> _Problem:
    """Sparse random-effects matrix (columns factor, level, effect) and θ's template."""
    Z = joint_z(design)  # (N, m)
    n = design.n_obs
    offset = np.zeros(n) if design.offset is None else design.offset
    return _Problem(design, design.family, Z, joint_theta_map(design.factors), offset,
                    weighted_cross(design))


def _lambda(theta: np.ndarray, tmap: ThetaMap) -> sparse.csc_matrix:
    """Sparse block-diagonal Λ (m, m)."""
    return sparse.csc_matrix((np.asarray(theta)[tmap.index], (tmap.rows, tmap.cols)),
                             shape=(tmap.m, tmap.m))


def _split(x: np.ndarray, prob: _Problem) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """θ, β and the family's parameters from the optimiser's vector."""
    k = prob.tmap.n_theta
    theta, beta = x[:k], x[k : k + prob.n_beta]
    aux = {a.name: float(np.exp(v)) for a, v in
           zip(prob.family.aux, x[k + prob.n_beta :], strict=True)}
    return theta, beta, aux


def _solve_h(prob: _Problem, theta: np.ndarray, w: np.ndarray, g: np.ndarray
             ) -> tuple[np.ndarray, BlockedFactor]:
    """Solve ``(ΛᵀZᵀWZΛ + I) δ = g`` for g (m,) or (m, k) on the blocked factor."""
    wc = prob.cross
    fac = weighted_factor(wc, theta, w)
    gb = g[wc.perm].reshape(g.shape[0], -1)  # (m, k) blocked order
    v1, vr = lower_solve(fac, gb[: wc.m1], gb[wc.m1:])
    u1, ur = upper_solve(fac, v1, vr)
    delta = np.empty_like(gb)
    delta[wc.perm] = np.concatenate([u1, ur])
    return delta.reshape(g.shape), fac


def _mode(prob: _Problem, theta: np.ndarray, beta: np.ndarray, aux: dict[str, float],
          u0: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Conditional mode û, Σ log p(y | η̂) and log|H| by penalised IRLS.

    Returns
    -------
    tuple
        ``(u, loglik, logdet)``.
    """
    d, fam = prob.design, prob.family
    A = (prob.Z @ _lambda(theta, prob.tmap)).tocsr()  # (N, m)   ZΛ
    eta0 = d.X @ beta + prob.offset  # (N,)

    def objective(u: np.ndarray) -> float:
        return float(np.sum(fam.logpdf(d.y, eta0 + A @ u, d.trials, aux)) - 0.5 * u @ u)

    u, current = u0.copy(), objective(u0)
    for _ in range(100):
        s, w = fam.score_weight(d.y, eta0 + A @ u, d.trials, aux)
        g = A.T @ s - u  # (m,)
        delta, _ = _solve_h(prob, theta, w, g)
        step, new = 1.0, objective(u + delta)
        while not new >= current - 1e-12 and step > 1e-10:
            step *= 0.5
            new = objective(u + step * delta)
        u = u + step * delta
        decrement, current = float(g @ delta), new
        if decrement < 1e-13 * max(1.0, abs(current)):  # the criterion to ~1e-13 relative:
            break  # the outer finite differences need it
    _, w = fam.score_weight(d.y, eta0 + A @ u, d.trials, aux)
    logdet = weighted_factor(prob.cross, theta, w).logdet
    loglik = float(np.sum(fam.logpdf(d.y, eta0 + A @ u, d.trials, aux)))
    return u, loglik, logdet


_DENSE_H_MAX = 3000  # the exact gradient keeps H⁻¹ dense: up to this many effects
_DENSE_LA_MAX = 20_000_000  # scalar terms: H⁻¹_r1 dense up to this many entries


def _scalar_terms(prob: _Problem) -> bool:
    """Whether every factor is one scalar term (one θ per factor)."""
    return all_scalar(prob.cross.templates)


def _exact_gradient_available(prob: _Problem) -> bool:
    """Canonical link without parameters of its own; H⁻¹ (or L⁻¹Aᵀ) small enough."""
    probe = prob.family.weight_slope(np.zeros(1), None)
    if probe is None or prob.family.aux:
        return False
    if _scalar_terms(prob):
        return prob.cross.m1 * prob.cross.mr <= _DENSE_LA_MAX
    return prob.tmap.m <= _DENSE_H_MAX


def _laplace_gradient(prob: _Problem, theta: np.ndarray, beta: np.ndarray, u: np.ndarray
                      ) -> np.ndarray:
    """Exact gradient of the Laplace −2ℓ in (θ, β) at the conditional modes ``u``.

    With ``A = ZΛ``, ``H = AᵀWA + I``, leverages ``h_n = a_nᵀH⁻¹a_n`` and the mode's
    implicit derivative ``dû = H⁻¹(∂Aᵀs − AᵀW ∂A û − AᵀW X dβ)`` (Fisher weights equal the
    observed ones under a canonical link)::

        ∂/∂β  = −2Xᵀs + (X − A H⁻¹AᵀWX)ᵀ (W′∘h)
        ∂/∂θ_k = −2 sᵀ(Z∂_kΛ û) + 2 tr(H⁻¹AᵀWZ∂_kΛ) + (Z∂_kΛ û + A dû_k)ᵀ (W′∘h)

    (the first terms by the envelope theorem: û maximises the inner objective).
    """
    d, fam, tmap = prob.design, prob.family, prob.tmap
    Lam = _lambda(theta, tmap)
    A = (prob.Z @ Lam).tocsr()  # (N, m)
    eta = d.X @ beta + prob.offset + A @ u  # (N,)
    s, w = fam.score_weight(d.y, eta, d.trials, {})
    slope = fam.weight_slope(eta, d.trials)  # (N,)
    m = tmap.m
    H = (A.T @ A.multiply(w[:, None])).toarray() + np.eye(m)  # (m, m)  AᵀWA + I
    chol, info = lapack.dpotrf(H, lower=1)
    low, info2 = lapack.dpotri(chol, lower=1)  # lower triangle of H⁻¹ (potri: ~m³/3 flops)
    if info or info2:
        raise np.linalg.LinAlgError("AᵀWA + I is not positive definite")
    Hinv = np.tril(low) + np.tril(low, -1).T  # (m, m)
    AH = np.asarray(A @ Hinv)  # (N, m)
    lev = np.asarray(A.multiply(AH).sum(axis=1)).ravel()  # (N,)  h_n
    v = slope * lev  # (N,)
    WX = w[:, None] * d.X  # (N, p)
    deta_beta = d.X - AH @ np.asarray(A.T @ WX)  # (N, p)
    g_beta = -2.0 * d.X.T @ s + deta_beta.T @ v
    # θ: each entry e of Λ (row r_e, column c_e) belongs to θ[index_e]
    r, c, k = tmap.rows, tmap.cols, tmap.index
    Zs = np.asarray(prob.Z.T @ s)  # (m,)
    n_t = tmap.n_theta
    V = (prob.Z @ sparse.csr_matrix((u[c], (r, k)), shape=(m, n_t))).toarray()  # Z∂Λû (N, nθ)
    R = np.zeros((m, n_t))
    np.add.at(R, (c, k), Zs[r])  # (Z∂_kΛ)ᵀ s
    du = Hinv @ (R - np.asarray(A.T @ (w[:, None] * V)))  # (m, nθ)
    deta_theta = V + np.asarray(A @ du)  # (N, nθ)
    AtWZ = (A.T @ (prob.Z.multiply(w[:, None]))).toarray()  # (m, m)  AᵀWZ
    traces = np.bincount(k, weights=np.einsum("el,le->e", Hinv[c], AtWZ[:, r]),
                         minlength=n_t)  # tr(H⁻¹AᵀWZ∂_kΛ)
    g_theta = -2.0 * s @ V + 2.0 * traces + deta_theta.T @ v
    return np.concatenate([g_theta, g_beta])


def _h_solve(prob: _Problem, fac: BlockedFactor, g: np.ndarray) -> np.ndarray:
    """``H⁻¹ g`` for columns g (m, k) on a factor of H (joint order in and out)."""
    wc = prob.cross
    gb = g[wc.perm]
    u1, ur = upper_solve(fac, *lower_solve(fac, gb[: wc.m1], gb[wc.m1:]))
    out = np.empty_like(gb)
    out[wc.perm] = np.concatenate([u1, ur])
    return out


def _scalar_leverages(prob: _Problem, fac: BlockedFactor, theta: np.ndarray,
                      S_inv: np.ndarray) -> np.ndarray:
    """``h_n = a_nᵀH⁻¹a_n`` (N,) for scalar terms from the blocks of H⁻¹ a row touches.

    A row has one effect per factor, so it needs H⁻¹ at (level, level) pairs only:
    ``diag(H⁻¹_11) = c²(1 + diag(WᵀS⁻¹W))``, ``H⁻¹_r1 = −S⁻¹W diag(c)``, ``H⁻¹_rr = S⁻¹``.
    """
    wc, factors = prob.cross, prob.design.factors
    m1 = wc.m1
    c = fac.C1inv[:, 0, 0]  # (m_1,)
    pos = np.empty(wc.perm.size, dtype=np.int64)
    pos[wc.perm] = np.arange(wc.perm.size)  # blocked position of each joint index
    starts = np.concatenate([[0], np.cumsum([f.n_levels for f in factors])[:-1]])
    idx = np.column_stack([pos[s0 + f.codes] for s0, f in zip(starts, factors, strict=True)])
    val = np.column_stack([f.Z[:, 0] * theta[j] for j, f in enumerate(factors)])  # (N, F)
    if fac.Cs.shape[0]:
        W = fac.W.toarray() if sparse.issparse(fac.W) else fac.W  # (m_r, m_1)
        SW = S_inv @ W  # (m_r, m_1)
        h11 = c * c * (1.0 + np.einsum("ij,ij->j", W, SW))  # (m_1,)
        hr1 = -SW * c  # (m_r, m_1)
    else:
        h11 = c * c
    lev = np.zeros(idx.shape[0])
    for a in range(idx.shape[1]):
        for b in range(idx.shape[1]):
            i, j = idx[:, a], idx[:, b]
            if a == b and np.all(i < m1):
                entry = h11[i]
            elif np.all(i >= m1) and np.all(j >= m1):
                entry = S_inv[i - m1, j - m1]
            elif np.all(i >= m1):
                entry = hr1[i - m1, j]
            else:
                entry = hr1[j - m1, i]
            lev += val[:, a] * val[:, b] * entry
    return lev


def _scalar_traces(prob: _Problem, fac: BlockedFactor, S_inv: np.ndarray) -> np.ndarray:
    """``tr_k H⁻¹`` over each factor's levels (scalar terms), in joint factor order.

    ``tr_1 = Σ_j (C_1)_jj⁻² + tr(S⁻¹ W D Wᵀ)``, ``D = diag((C_1)_jj⁻²)``, and the smaller
    factors' traces are sums of ``diag(S⁻¹)`` (as :mod:`bayesmm.blocked_gradient`).
    """
    wc = prob.cross
    c2 = fac.C1inv[:, 0, 0] ** 2  # (m_1,)
    traces = [float(c2.sum())]
    if fac.Cs.shape[0]:
        W = fac.W.toarray() if sparse.issparse(fac.W) else fac.W  # (m_r, m_1)
        traces[0] += float(np.einsum("ij,ij->", S_inv @ W, W * c2))
        d = np.diagonal(S_inv)
        start = 0
        for g in wc.levels[1:]:
            traces.append(float(d[start: start + g].sum()))
            start += g
    out = np.empty(len(wc.order))
    out[list(wc.order)] = traces
    return out


def _laplace_gradient_scalar(prob: _Problem, theta: np.ndarray, beta: np.ndarray,
                             u: np.ndarray) -> np.ndarray:
    """:func:`_laplace_gradient` for scalar terms on the blocked factor of H.

    ``tr(H⁻¹AᵀWZ∂_kΛ) = (1/θ_k)(m_k − tr_k H⁻¹)`` (as for REML; 0 at θ_k = 0), the
    leverages from the blocks of H⁻¹ each row touches and the solves with ``H⁻¹``
    blockwise: no dense m × m inverse.
    """
    d, fam, tmap, wc = prob.design, prob.family, prob.tmap, prob.cross
    A = (prob.Z @ _lambda(theta, tmap)).tocsr()  # (N, m)
    eta = d.X @ beta + prob.offset + A @ u  # (N,)
    s, w = fam.score_weight(d.y, eta, d.trials, {})
    slope = fam.weight_slope(eta, d.trials)  # (N,)
    fac = weighted_factor(wc, theta, w)
    mr = fac.Cs.shape[0]
    S_inv = sla.cho_solve((fac.Cs, True), np.eye(mr), check_finite=False) if mr else \
        np.zeros((0, 0))  # (m_r, m_r)
    v = slope * _scalar_leverages(prob, fac, theta, S_inv)  # (N,)  W′∘h
    AtWX = np.asarray(A.T @ (w[:, None] * d.X))  # (m, p)
    deta_beta = d.X - A @ _h_solve(prob, fac, AtWX)  # (N, p)
    g_beta = -2.0 * d.X.T @ s + deta_beta.T @ v
    n_t, m = tmap.n_theta, tmap.m
    r, k = tmap.rows, tmap.index  # Λ is diagonal: entry (r, r) holds θ[k]
    V = (prob.Z @ sparse.csr_matrix((u[r], (r, k)), shape=(m, n_t))).toarray()  # (N, nθ)
    R = np.zeros((m, n_t))
    R[r, k] = np.asarray(prob.Z.T @ s)[r]
    du = _h_solve(prob, fac, R - np.asarray(A.T @ (w[:, None] * V)))  # (m, nθ)
    deta_theta = V + A @ du  # (N, nθ)
    sizes = np.bincount(k, minlength=n_t)  # m_k
    with np.errstate(divide="ignore", invalid="ignore"):
        traces = np.where(theta > 1e-8, (sizes - _scalar_traces(prob, fac, S_inv)) / theta,
                          0.0)
    g_theta = -2.0 * s @ V + 2.0 * traces + deta_theta.T @ v
    return np.concatenate([g_theta, g_beta])


class _Criterion:
    """The Laplace deviance as a function of the optimiser's vector, warm-starting û."""

    def __init__(self, prob: _Problem, method: str) -> None:
        self.prob, self.method = prob, method
        self.u = np.zeros(prob.tmap.m)

    def parts(self, x: np.ndarray) -> tuple[float, np.ndarray, float]:
        """Laplace −2ℓ, the mode û and Σ log p(y | η̂).

        The mode search starts from the previous call's û (cheap near an optimum); when
        that fails or ends non-finite — a line-search step can leave û far out, from where
        every later search diverged — it restarts from û = 0. ``inf`` when both fail.
        """
        theta, beta, aux = _split(x, self.prob)
        for u0 in (self.u, np.zeros(self.prob.tmap.m)):
            try:
                with np.errstate(all="ignore"):
                    u, loglik, logdet = _mode(self.prob, theta, beta, aux, u0)
            except (RuntimeError, FloatingPointError, ValueError, np.linalg.LinAlgError):
                continue
            dev = -2.0 * loglik + float(u @ u) + logdet
            if np.isfinite(dev) and np.all(np.isfinite(u)):
                return dev, u, loglik
        return np.inf, np.zeros(self.prob.tmap.m), -np.inf

    def __call__(self, x: np.ndarray) -> float:
        """Criterion: −2ℓ, plus blme's SD penalty for MAP."""
        dev, u, _ = self.parts(x)
        if not np.isfinite(dev):
            return np.inf
        self.u = u
        if self.method == "map":
            diag = x[: self.prob.tmap.n_theta][self.prob.tmap.on_diagonal]
            if np.any(diag <= 0):
                return np.inf
            dev -= 2.0 * float(np.sum(np.log(diag)))
        return dev


def _glm_start(prob: _Problem) -> np.ndarray:
    """β of the model without random effects (IRLS), and the family's parameters' starts."""
    d, fam = prob.design, prob.family
    aux = {"sigma": float(np.std(d.y)) or 1.0, "nu": 10.0, "alpha": 2.0}
    aux = {a.name: aux[a.name] for a in fam.aux}
    eta = fam.start_eta(d.y, d.trials)
    beta = np.linalg.lstsq(d.X, eta - prob.offset, rcond=None)[0]
    for _ in range(50):
        eta = d.X @ beta + prob.offset
        s, w = fam.score_weight(d.y, eta, d.trials, aux)
        with np.errstate(all="ignore"):
            try:
                step = np.linalg.solve(d.X.T @ (w[:, None] * d.X), d.X.T @ s)
            except np.linalg.LinAlgError:
                step = np.full_like(beta, np.nan)
        if not np.all(np.isfinite(step)):
            break
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    else:
        step = np.full_like(beta, np.nan)
    if not np.all(np.isfinite(step)):
        raise SeparationError(
            f"data: the fixed-effects {fam.name} regression of {d.response!r} on "
            f"{list(d.xnames)} does not converge: its weights vanish as the coefficients grow, "
            "the sign of (quasi-)complete separation (some predictor values give only one "
            "response value). The maximum-likelihood estimate is infinite; fit by NUTS "
            "(method='nuts'), whose priors keep the coefficients finite, or drop the "
            "separating predictor."
        )
    if "sigma" in aux:
        aux["sigma"] = float(np.std(d.y - d.X @ beta)) or 1.0
    return np.concatenate([beta, np.log([aux[a.name] for a in fam.aux])])


def _whitening(prob: _Problem, x0: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Map ``P`` (n_x, n_x) with x = x₀ + P z and unit curvature in β at ``x₀``.

    β = β₀ + R⁻ᵀ z_β with ``R Rᵀ = 2 (XᵀWX − XᵀWZΛ H⁻¹ ΛᵀZᵀWX)``, ``H = ΛᵀZᵀWZΛ + I``: the
    Laplace deviance's curvature in β at the conditional modes ``u`` (PIRLS's Schur
    complement, as glmer's RX). Without it an uncentred covariate (heights near 450) makes
    the curvature in β span ~10⁵ and L-BFGS-B crawl. θ and the family's log parameters
    are left as they are (of order one).
    """
    d, fam, k, p = prob.design, prob.family, prob.tmap.n_theta, prob.n_beta
    theta, beta, aux = _split(x0, prob)
    A = (prob.Z @ _lambda(theta, prob.tmap)).tocsr()  # (N, m)   ZΛ
    _, w = fam.score_weight(d.y, d.X @ beta + prob.offset + A @ u, d.trials, aux)  # (N,)
    P = np.eye(x0.size)
    with np.errstate(all="ignore"):
        try:
            AtWX = np.asarray(A.T @ (w[:, None] * d.X))  # (m, p)
            info = d.X.T @ (w[:, None] * d.X) - AtWX.T @ _solve_h(prob, theta, w, AtWX)[0]
            R = np.linalg.cholesky(2.0 * info)  # (p, p)
            P[k: k + p, k: k + p] = np.linalg.inv(R).T  # R⁻ᵀ
        except np.linalg.LinAlgError:
            pass
    return P


def _small_gradient(g: np.ndarray, P: np.ndarray) -> bool:
    """Whether the projected gradient ``g`` in the whitened coordinates (``Pᵀg``) is below 2e-3.

    In those coordinates the check does not depend on a predictor's units, as lme4's
    scaled gradient does not.
    """
    return bool(np.all(np.abs(P.T @ g) < _GRAD_TOL))


def _lme4_converged(grad: np.ndarray, H: np.ndarray, free: np.ndarray) -> bool:
    """lme4's ``check.conv.grad``: per coordinate min(|g|, |R⁻ᵀg|) < 0.002, H = RᵀR.

    The gradient scaled by the Hessian's Cholesky factor does not depend on the units of a
    predictor: with an uncentred covariate (heights near 450) the raw finite-difference
    derivative of its coefficient stays ~1e-2 at the optimum although the step to the
    optimum is ~1e-10.
    """
    g = grad[free]
    try:
        scaled = np.linalg.solve(np.linalg.cholesky(H), g)  # L⁻¹g = R⁻ᵀg, H = LLᵀ = RᵀR
    except np.linalg.LinAlgError:
        scaled = g
    return bool(np.all(np.minimum(np.abs(g), np.abs(scaled)) < _GRAD_TOL)
                and np.all(np.abs(grad[~free]) < _GRAD_TOL))


def laplace_deviance(design: Design, theta: np.ndarray, beta: np.ndarray,
                     aux: dict[str, float] | None = None) -> float:
    """Laplace −2 log-likelihood at given parameters (glmer's ``deviance`` for nAGQ = 1)."""
    prob = _problem(design)
    aux = aux or {}
    x = np.concatenate([theta, beta, np.log([aux[a.name] for a in prob.family.aux])])
    return _Criterion(prob, "ml").parts(x)[0]


def fit_laplace(design: Design, method: str = "ml") -> PointFit:
    """Maximise the Laplace-approximated likelihood (``"ml"``) or its penalised form (``"map"``).

    Parameters
    ----------
    design : Design
        A non-Gaussian (or Student-t) design.
    method : {"ml", "map"}

    Returns
    -------
    PointFit
        θ, β, the family's parameters (``aux``), β's covariance from the inverse Hessian of
        the deviance over (θ, β) as glmer's ``vcov``, and the conditional modes ``Λû``.
    """
    prob = _problem(design)
    tmap, p = prob.tmap, prob.n_beta
    fun = _Criterion(prob, method)
    lower = 1e-10 if method == "map" else 0.0
    bounds = [(lower, None) if dg else (None, None) for dg in tmap.on_diagonal]
    bounds += [(None, None)] * (p + len(prob.family.aux))
    start = _glm_start(prob)
    k = tmap.n_theta
    free_of = np.concatenate([tmap.on_diagonal & (method != "map"),
                              np.zeros(p + len(prob.family.aux), dtype=bool)])
    exact = _exact_gradient_available(prob)

    def grad_x(x: np.ndarray, crit: _Criterion = fun) -> np.ndarray:
        """Exact gradient of ``crit`` (blme's penalty included for MAP); NaN off its domain."""
        if not np.isfinite(crit(x)):
            return np.full(x.size, np.nan)
        theta, beta, _ = _split(x, prob)
        gradient = _laplace_gradient_scalar if _scalar_terms(prob) else _laplace_gradient
        g = gradient(prob, theta, beta, crit.u)
        if crit.method == "map":
            diag = np.flatnonzero(tmap.on_diagonal)
            g[diag] -= 2.0 / x[diag]
        return g

    def kkt(x: np.ndarray) -> np.ndarray:
        """Projected gradient: exact where available, else finite differences."""
        if not exact:
            return projected_gradient(fun, x, free_of)
        g = grad_x(x)
        return np.where(free_of & (x < 1e-5), np.minimum(g, 0.0), g)

    best, values = None, []
    for scale in (1.0, 0.3):  # the second start only when the first did not converge
        x0 = np.concatenate([scale * tmap.initial(), start])
        fun.u = np.zeros(tmap.m)
        if not np.isfinite(fun(x0)):  # a start where the criterion is undefined has failed
            values.append(np.inf)
            continue
        P = _whitening(prob, x0, fun.u)
        z_bounds = [(bounds[i][0] - x0[i] if bounds[i][0] is not None else None, None)
                    for i in range(k)] + [(None, None)] * (x0.size - k)
        if exact:
            def in_z(z: np.ndarray, x0: np.ndarray = x0, P: np.ndarray = P
                     ) -> tuple[float, np.ndarray]:
                x = x0 + P @ z
                g = grad_x(x)  # evaluates the criterion first (and keeps û)
                if not np.all(np.isfinite(g)):
                    return np.inf, np.zeros(z.size)
                return fun(x), P.T @ g

            res = optimize.minimize(in_z, np.zeros(x0.size), jac=True, method="L-BFGS-B",
                                    bounds=z_bounds, options={"maxiter": 1000, "ftol": 1e-13,
                                                              "gtol": 1e-7})
        else:
            def in_z(z: np.ndarray, x0: np.ndarray = x0, P: np.ndarray = P) -> float:
                return fun(x0 + P @ z)

            res = optimize.minimize(in_z, np.zeros(x0.size), method="L-BFGS-B",
                                    bounds=z_bounds, options={"maxiter": 1000, "ftol": 1e-12,
                                                              "gtol": 1e-6, "eps": 1e-7})
        res.x = x0 + P @ res.x
        if np.isfinite(res.fun) and not _small_gradient(kkt(res.x), P):
            # Powell polish, only where L-BFGS-B stopped short (not from a failed run:
            # it would only wander)
            res = optimize.minimize(fun, res.x, method="Powell", bounds=bounds,
                                    options={"xtol": 1e-9, "ftol": 1e-14, "maxiter": 50000})
        values.append(float(res.fun))
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
        if best is not None and _small_gradient(kkt(best.x), P):
            break
    if best is None:
        raise FitError(
            f"method: the Laplace {method.upper()} criterion of this {prob.family.name} model "
            "is not finite at any start (the conditional modes of the random effects could "
            "not be found). Check the response and offset for extreme values, rescale or "
            "centre the predictors, or fit by NUTS (method='nuts')."
        )
    x = best.x
    fun(x)  # leave û at the optimum
    grad = kkt(x)
    dev, u, loglik = fun.parts(x)
    theta, beta, aux = _split(x, prob)
    free = np.ones_like(x, dtype=bool)
    free[: tmap.n_theta] = ~(tmap.on_diagonal & (theta < 1e-6))
    ml = _Criterion(prob, "ml")
    step = 1e-4 * np.maximum(1.0, np.abs(x))
    if exact:  # differences of the exact gradient: 2 per coordinate
        H = gradient_jacobian(lambda y: grad_x(y, ml), x, step, np.flatnonzero(free))
    else:
        H = hessian(ml, x, step, np.flatnonzero(free))
    cov = 2.0 * np.linalg.pinv(H)
    pos = np.flatnonzero(free)
    sel = np.searchsorted(pos, np.arange(tmap.n_theta, tmap.n_theta + p))
    b = (_lambda(theta, tmap) @ u)  # (m,)   Λû
    f0 = design.factors[0]
    blups = b.reshape(f0.n_levels, f0.q) if len(design.factors) == 1 else b[None, :]
    return PointFit(
        method=method,
        theta=theta,
        beta=beta,
        scale=1.0,
        cov_beta=cov[np.ix_(sel, sel)],
        criterion=float(best.fun),
        llf=-0.5 * dev,
        converged=_lme4_converged(grad, H, free),
        gradient=grad,
        singular=bool(np.any(theta[tmap.on_diagonal] < SINGULAR_TOL)),
        starts=np.array(values),
        blups=blups,
        aux=aux,
    )
