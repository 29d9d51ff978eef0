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
from scipy import optimize, sparse

from ..blocked import BlockedFactor, lower_solve, upper_solve
from ..covariance import ThetaMap, joint_theta_map
from ..design import Design
from ..errors import FitError, SeparationError
from ..families import Family, get_family
from ..suffstats import joint_z
from ..weighted import WeightedCross, weighted_cross, weighted_factor
from .numdiff import hessian
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
    return _Problem(design, get_family(design.family), Z, joint_theta_map(design.factors), offset,
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


def _small_gradient(fun: _Criterion, x: np.ndarray, P: np.ndarray, at_bound: np.ndarray
                    ) -> bool:
    """Whether the projected gradient in the whitened coordinates (``Pᵀ∇``) is below 2e-3.

    In those coordinates the check does not depend on a predictor's units, as lme4's
    scaled gradient does not.
    """
    g = projected_gradient(fun, x, at_bound)
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
    best, values = None, []
    for scale in (1.0, 0.3):  # the second start only when the first did not converge
        x0 = np.concatenate([scale * tmap.initial(), start])
        fun.u = np.zeros(tmap.m)
        if not np.isfinite(fun(x0)):  # a start where the criterion is undefined has failed
            values.append(np.inf)
            continue
        P = _whitening(prob, x0, fun.u)

        def in_z(z: np.ndarray, x0: np.ndarray = x0, P: np.ndarray = P) -> float:
            return fun(x0 + P @ z)

        z_bounds = [(bounds[i][0] - x0[i] if bounds[i][0] is not None else None, None)
                    for i in range(k)] + [(None, None)] * (x0.size - k)
        res = optimize.minimize(in_z, np.zeros(x0.size), method="L-BFGS-B", bounds=z_bounds,
                                options={"maxiter": 1000, "ftol": 1e-12, "gtol": 1e-6,
                                         "eps": 1e-7})
        res.x = x0 + P @ res.x
        if np.isfinite(res.fun) and not _small_gradient(fun, res.x, P, free_of):
            # Powell polish, only where L-BFGS-B stopped short (not from a failed run:
            # it would only wander)
            res = optimize.minimize(fun, res.x, method="Powell", bounds=bounds,
                                    options={"xtol": 1e-9, "ftol": 1e-14, "maxiter": 50000})
        values.append(float(res.fun))
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
        if best is not None and _small_gradient(fun, best.x, P, free_of):
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
    grad = projected_gradient(fun, x, free_of)
    dev, u, loglik = fun.parts(x)
    theta, beta, aux = _split(x, prob)
    free = np.ones_like(x, dtype=bool)
    free[: tmap.n_theta] = ~(tmap.on_diagonal & (theta < 1e-6))
    H = hessian(_Criterion(prob, "ml"), x, 1e-4 * np.maximum(1.0, np.abs(x)),
                np.flatnonzero(free))
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
