"""REML / ML / penalised-MAP point estimates: a bounded, multi-start, verified optimiser."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from scipy import optimize

from ..blocked import BlockedStats
from ..blocked_gradient import exact_gradient_applies, scalar_terms
from ..covariance import ThetaMap
from ..deviance import (
    Method,
    Profile,
    Stats,
    criterion,
    deviance,
    deviance_and_gradient,
    deviance_gradient,
    deviance_gradient_ai,
    profile,
    random_effect_means,
    scale_hat,
)
from ..errors import FitError
from .fast_deviance import deviance_function
from .moment_start import moment_theta
from .numdiff import gradient_jacobian

__all__ = ["PointFit", "fit_point", "SINGULAR_TOL", "warm_minimum"]

SINGULAR_TOL = 1e-4  # lme4's isSingular tolerance on the diagonal of Λ
_GRAD_TOL = 2e-3  # lme4's check.conv.grad tolerance
_POLISH_TOL = 1e-4  # polish until the gradient is well inside it
_T = TypeVar("_T")
THETA_MAX = 999.0  # relative SDs beyond this (the grid's top) mean no interior optimum


@dataclass(frozen=True, eq=False)
class PointFit:
    """Optimum of the profiled criterion.

    Attributes
    ----------
    method : str
    theta : ndarray, shape (n_theta,)
    beta : ndarray, shape (p,)
    scale : float
        Residual variance σ².
    cov_beta : ndarray, shape (p, p)
    criterion : float
        −2ℓ (REML/ML) or the penalised criterion (MAP) at the optimum.
    llf : float
        Log-likelihood: REML for ``reml``/``map`` (unpenalised), ML for ``ml``.
    converged : bool
        The gradient (KKT) check passed and no start found a better optimum.
    gradient : ndarray
        Projected gradient of the criterion at the optimum.
    singular : bool
        Some diagonal θ below :data:`SINGULAR_TOL` (lme4's rule).
    starts : ndarray
        Criterion reached from each start.
    blups : ndarray, shape (B, m)
        Conditional modes of the random effects.
    aux : dict
        Estimates of a generalised model's own parameters (``sigma``, ``nu``, ``alpha``).
    cov_params : ndarray, optional
        The covariance of the results' ``params`` when the fit fixes it
        (``fit_regularized``: −H⁻¹ over the nonzero coefficients, NaN elsewhere).
    history : ndarray, shape (E, n_theta + 1), optional
        Every evaluation of the criterion, in order: θ, then the criterion (``fit_point``'s
        ``history=True``; statsmodels' ``full_output``).
    """

    method: str
    theta: np.ndarray
    beta: np.ndarray
    scale: float
    cov_beta: np.ndarray
    criterion: float
    llf: float
    converged: bool
    gradient: np.ndarray
    singular: bool
    starts: np.ndarray
    blups: np.ndarray
    aux: dict[str, float] = field(default_factory=dict)
    cov_params: np.ndarray | None = None
    history: np.ndarray | None = None


class _LastEvaluation:
    """The criterion, gradient and (AI) Hessian as a function of θ, remembering the last one.

    The checks after a search (the value, the KKT gradient) are at the search's last point;
    on the blocked factorisation each evaluation is a Cholesky factor and an inverse of the
    smaller factors' block.
    """

    def __init__(self, evaluate: Callable[[np.ndarray],
                                          tuple[float, np.ndarray, np.ndarray | None]]) -> None:
        self._evaluate = evaluate
        self._key: bytes | None = None
        self._value: tuple[float, np.ndarray, np.ndarray | None] = (np.nan, np.zeros(0), None)

    def _at(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray | None]:
        key = np.asarray(theta, dtype=float).tobytes()
        if key != self._key:
            self._value = self._evaluate(theta)
            self._key = key
        return self._value

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Criterion and gradient at ``theta``."""
        value, grad, _ = self._at(theta)
        return value, grad.copy()

    def hessian(self, theta: np.ndarray) -> np.ndarray | None:
        """Return the AI Hessian at ``theta`` (None where the evaluation has none)."""
        return self._at(theta)[2]

    def value_at(self, theta: np.ndarray) -> float | None:
        """Return the criterion at ``theta`` if it was the last point evaluated, else None."""
        key = np.asarray(theta, dtype=float).tobytes()
        return self._value[0] if key == self._key else None


def _newton_ai(last: _LastEvaluation, x0: np.ndarray, on_diagonal: np.ndarray,
               lower: float) -> tuple[np.ndarray, bool]:
    """Newton steps on the average-information Hessian (:mod:`bayesmm.blocked_ai`).

    ASReml's iteration, on the profiled criterion: from the moment start it reaches the
    optimum in 5-7 evaluations where L-BFGS-B took 11-12 (each a Cholesky factor and an
    inverse of the Schur complement). A step is halved until the criterion decreases
    (Armijo); diagonal θ are held at their bound when the gradient pushes them out.

    Returns
    -------
    tuple of (ndarray, bool)
        Where the steps ended, and whether that is an optimum; not when a step failed (no
        Hessian, one that is not positive definite, no decrease) and the caller should go
        on from there with L-BFGS-B.
    """
    x = x0.copy()
    for _ in range(40):
        value, grad = last(x)
        H = last.hessian(x)
        if not np.all(np.isfinite(grad)) or H is None:
            return x, False
        held = on_diagonal & (x <= lower) & (grad > 0)
        largest = np.abs(np.where(held, 0.0, grad)).max()
        if largest < _POLISH_TOL:
            return x, True
        free = np.flatnonzero(~held)
        try:
            chol = np.linalg.cholesky(H[np.ix_(free, free)])
        except np.linalg.LinAlgError:
            return x, False
        step = np.zeros_like(x)
        step[free] = -np.linalg.solve(chol.T, np.linalg.solve(chol, grad[free]))
        for alpha in 0.5 ** np.arange(8):
            trial = x + alpha * step
            trial = np.where(on_diagonal, np.maximum(trial, lower), trial)
            if last(trial)[0] <= value + 1e-4 * float(grad @ (trial - x)):
                x = trial
                break
        else:
            return x, largest < _GRAD_TOL
    return x, False


def _starts(stats: Stats) -> list[np.ndarray]:
    """lme4's start (θ = I) plus scaled copies, to guard against local optima.

    Several factors (blocked statistics, one evaluation costing up to ~50 ms at InstEval's
    size) start from lme4's point only, as lme4 does.
    """
    base = stats.tmap.initial()
    if isinstance(stats, BlockedStats):
        return [base]
    return [base, 0.25 * base, 3.0 * base]


def projected_gradient(
    fun: object, x: np.ndarray, on_diagonal: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Finite-difference gradient, one-sided at the θ = 0 bound and projected there.

    A diagonal element at its bound with a non-negative derivative satisfies the KKT
    conditions and contributes zero.
    """
    g = np.zeros_like(x)
    f0 = fun(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        if on_diagonal[i] and x[i] < h:
            g[i] = (fun(x + e) - f0) / h
            g[i] = min(g[i], 0.0)
        else:
            g[i] = (fun(x + e) - fun(x - e)) / (2 * h)
    return g


Objective = Callable[[np.ndarray], float]
Gradient = Callable[[np.ndarray], np.ndarray]


def _minimise(fun: Objective, x0: np.ndarray, bounds: list) -> np.ndarray:
    """L-BFGS-B from ``x0`` on finite differences.

    Not on the exact gradient: in the Cholesky parameterisation a diagonal θ at its bound 0
    has an exactly zero derivative (Ψ depends on θ²), so an exact-gradient run that touches
    the bound stops on that saddle (Orthodont's correlated slope did, 1.2 units of deviance
    short of the optimum). Finite differences step off it.
    """
    res = optimize.minimize(fun, x0, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": 500, "ftol": 1e-11, "gtol": 1e-6})
    return res.x


def _minimise_quadratic_models(fun: Objective, x0: np.ndarray, bounds: list) -> np.ndarray:
    """COBYQA (derivative-free, quadratic models in a trust region) from ``x0``.

    For blocked statistics, where each evaluation is costly and there is no closed-form
    gradient yet: on the 73k-row students × lecturers × departments design it reached a
    projected gradient below 1e-3 in 119 evaluations, where L-BFGS-B on finite differences
    took 100 to stop at 3e-2 and then needed a 142-evaluation Powell polish.
    """
    res = optimize.minimize(fun, x0, method="COBYQA", bounds=bounds,
                            options={"maxfev": 2000, "initial_tr_radius": 0.3,
                                     "final_tr_radius": 1e-8})
    return res.x


def _minimise_exact(fun_grad: _LastEvaluation, fun: Objective, x0: np.ndarray,
                    bounds: list, on_diagonal: np.ndarray, lower: float) -> np.ndarray:
    """Newton on the AI Hessian, else L-BFGS-B on the exact gradient (blocked), then a probe.

    The criterion is even in each scalar θ_k, so its derivative is exactly 0 at the bound:
    a run that lands there may sit on a saddle. Each θ_k at 0 is probed at 0.05, 0.2 and
    1; a lower value restarts the run from there (at most once per θ).
    """
    opts = {"maxiter": 500, "ftol": 1e-12, "gtol": 1e-4}

    def search(start: np.ndarray) -> np.ndarray:
        reached, optimal = _newton_ai(fun_grad, start, on_diagonal, lower)
        if optimal:
            return reached
        return optimize.minimize(fun_grad, reached, jac=True, method="L-BFGS-B",
                                 bounds=bounds, options=opts).x

    x = search(x0)
    for k in np.flatnonzero(on_diagonal & (x < SINGULAR_TOL)):
        f0 = fun(x)
        for step in (0.05, 0.2, 1.0):
            trial = x.copy()
            trial[k] = step
            if fun(trial) < f0:
                x = search(trial)
                break
    return x


def _scalar_search(fun: object, lower: float) -> tuple[tuple[np.ndarray], np.ndarray]:
    """One θ: a log-spaced grid over [0, 1e3] (a global multi-start), then bounded Brent.

    Returns the grid's best point refined by Brent, and the grid values as the starts.
    """
    grid = np.concatenate([[lower], np.logspace(-3, 3, 13)])
    values = np.array([fun(np.array([g])) for g in grid])
    k = int(np.argmin(values))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    res = optimize.minimize_scalar(lambda t: fun(np.array([t])), bounds=(lo, hi),
                                   method="bounded", options={"xatol": 1e-10})
    best = np.array([res.x]) if res.fun <= values[k] else grid[k : k + 1]
    return (best,), values


def _polish(fun: object, x0: np.ndarray, bounds: list) -> np.ndarray:
    """Bounded derivative-free (Powell) polish of the best start."""
    pol = optimize.minimize(fun, x0, method="Powell", bounds=bounds,
                            options={"xtol": 1e-8, "ftol": 1e-13, "maxiter": 20000})
    return pol.x if pol.fun <= fun(x0) else x0


def _interior(theta: np.ndarray, tmap: ThetaMap) -> np.ndarray:
    """Coordinates off their bound and finite: the ones a Newton step may move."""
    return (~tmap.on_diagonal | (theta > SINGULAR_TOL)) & (np.abs(theta) < THETA_MAX)


def _newton_polish(fun: Objective, grad: Gradient, theta: np.ndarray, free: np.ndarray,
                   on_diagonal: np.ndarray, steps: int = 6, tol: float = 0.0) -> np.ndarray:
    """Newton steps on the exact gradient over the interior coordinates ``free``.

    The quasi-Newton runs stop where their tolerances meet the criterion's rounding noise on
    a flat optimum, so two fits of statistics equal to rounding (pandas and Dask input) can
    stop ~1e-6 apart. The exact gradient's rounding noise is far smaller than the
    criterion's, so Newton on it (Hessian by central differences of the gradient) lands both
    on the same zero of the gradient. The result is kept only if it moved by at most 1e-3 of
    max(|θ|, 0.1), shrank the gradient and did not raise the criterion beyond rounding.
    The steps stop early once every free coordinate's derivative is below ``tol``.
    """
    idx = np.flatnonzero(free)
    if idx.size == 0:
        return theta
    x = theta.copy()
    g = grad(x)[idx]
    g0 = np.abs(g).max()
    for _ in range(steps):
        if np.abs(g).max() < tol:
            break
        H = gradient_jacobian(grad, x, 1e-5 * np.maximum(np.abs(x), 0.1), idx)  # (k, k)
        if not np.all(np.isfinite(H)) or np.linalg.eigvalsh(H).min() <= 0:
            break
        trial = x.copy()
        trial[idx] -= np.linalg.solve(H, g)
        if not np.all(np.isfinite(trial)) or np.any(trial[on_diagonal] < 0):
            break
        x = trial
        g = grad(x)[idx]
    small = np.all(np.abs(x - theta) <= 1e-3 * np.maximum(np.abs(theta), 0.1))
    better = np.abs(g).max() <= g0
    f0 = fun(theta)
    return x if small and better and fun(x) <= f0 + 1e-9 * abs(f0) else theta


def _snap_to_boundary(fun: object, theta: np.ndarray, on_diagonal: np.ndarray) -> np.ndarray:
    """Set diagonal θ below 1e-6 to exactly 0 when that does not worsen the criterion."""
    snapped = np.where(on_diagonal & (theta < 1e-6), 0.0, theta)
    if np.array_equal(snapped, theta):
        return theta
    return snapped if fun(snapped) <= fun(theta) + 1e-10 else theta


def warm_minimum(stats: Stats, method: Method, theta0: np.ndarray, ftol: float, gtol: float
                 ) -> optimize.OptimizeResult:
    """Minimise the profiled criterion by L-BFGS-B on its exact gradient near ``theta0``.

    For refits of a known optimum (bootstrap replicates, profiles). Unbounded for REML
    and ML: any θ gives a valid Ψ = σ²ΛΛᵀ, and a bound at 0 would stop the search where
    the criterion is even in θ (derivative 0) though not at a minimum. A diagonal θ
    at 0 cannot leave 0 by itself either, so it gets a second start at 0.5.
    """
    on_diag = stats.tmap.on_diagonal
    at_zero = on_diag & (np.abs(theta0) < 1e-4)
    starts = [theta0] + ([np.where(at_zero, 0.5, theta0)] if at_zero.any() else [])
    bounds = ([(1e-10, None) if d else (None, None) for d in on_diag]
              if method == "map" else None)
    return min((optimize.minimize(deviance, x0, (stats, method), method="L-BFGS-B",
                                  jac=deviance_gradient, bounds=bounds,
                                  options={"ftol": ftol, "gtol": gtol})
                for x0 in starts), key=lambda r: r.fun)


def _fe_covariance(prof: Profile, scale: float) -> np.ndarray:
    """Conditional covariance of β̂: σ² A⁻¹ (lme4's ``vcov``)."""
    return scale * np.linalg.inv(prof.A)


def _recorded(evaluate: Callable[[np.ndarray], _T], trace: list[np.ndarray] | None
              ) -> Callable[[np.ndarray], _T]:
    """``evaluate`` appending [θ, criterion] to ``trace`` at every call (when a list)."""
    if trace is None:
        return evaluate

    def recorded(theta: np.ndarray) -> _T:
        out = evaluate(theta)
        value = out[0] if isinstance(out, tuple) else out
        trace.append(np.append(np.asarray(theta, dtype=float), float(value)))
        return out
    return recorded


def fit_point(stats: Stats, method: Method = "reml", start: np.ndarray | None = None,
              history: bool = False) -> PointFit:
    """Optimise the profiled criterion and verify the optimum.

    Parameters
    ----------
    stats : SuffStats or BlockedStats
        Sufficient statistics.
    method : {"reml", "ml", "map"}
        Criterion.
    start : ndarray, optional
        A θ to start from (statsmodels' ``start_params``): the blocked search's start, and
        one more start for the multi-start search; one θ is searched globally regardless.
    history : bool
        Keep every evaluation of the criterion in :attr:`PointFit.history`.

    Returns
    -------
    PointFit
        The verified optimum.
    """
    tmap = stats.tmap
    blocked = isinstance(stats, BlockedStats)
    lower = 1e-10 if method == "map" else 0.0
    bounds = [(lower, None) if d else (None, None) for d in tmap.on_diagonal]

    exact = blocked and exact_gradient_applies(stats)
    trace: list[np.ndarray] | None = [] if history else None
    # the search's last evaluation serves the checks after it at the same θ
    last = None
    if exact and scalar_terms(stats):  # type: ignore[arg-type]
        last = _LastEvaluation(_recorded(lambda t: deviance_gradient_ai(t, stats, method),  # type: ignore[arg-type]
                                         trace))
    elif exact:
        last = _LastEvaluation(_recorded(
            lambda t: (*deviance_and_gradient(t, stats, method), None), trace))  # type: ignore[arg-type]
    evaluate = _recorded(deviance_function(stats, method), trace)  # C for one factor

    def fun(theta: np.ndarray) -> float:
        known = last.value_at(theta) if last is not None else None
        return evaluate(theta) if known is None else known

    def jac(theta: np.ndarray) -> np.ndarray:
        return last(theta)[1] if last is not None else deviance_gradient(theta, stats, method)
    check_bound = tmap.on_diagonal & (method != "map")

    def kkt(theta: np.ndarray) -> np.ndarray:
        """Projected gradient: exact where it is cheap, else finite differences."""
        if not exact:
            return projected_gradient(fun, theta, check_bound)
        g = jac(theta)
        return np.where(check_bound & (theta < 1e-5), np.minimum(g, 0.0), g)

    if tmap.n_theta == 1:
        (theta,), values = _scalar_search(fun, lower)
        values = np.append(values, fun(theta))
    elif last is not None:
        if start is None:
            start = moment_theta(stats) if scalar_terms(stats) else tmap.initial()  # type: ignore[arg-type]
        theta = _minimise_exact(last, fun, start, bounds, tmap.on_diagonal, lower)
        values = np.array([fun(theta)])
    else:
        search = _minimise_quadratic_models if blocked else _minimise
        starts = _starts(stats) + ([] if start is None else [start])
        candidates = [search(fun, x0, bounds) for x0 in starts]
        values = np.array([fun(c) for c in candidates])
        theta = candidates[int(np.argmin(values))]
    theta = np.where(tmap.on_diagonal, np.maximum(theta, lower), theta)
    if method != "map":
        theta = _snap_to_boundary(fun, theta, tmap.on_diagonal)
    grad = kkt(theta)
    if last is not None and not np.all(np.abs(grad) < _GRAD_TOL):
        # L-BFGS-B's line search stops where the criterion's rounding hides the last
        # decrease (students × lecturers: |∇| 4e-3 at −2ℓ = 2.4e5); Newton steps on the
        # exact gradient go on (a Powell polish took 62 evaluations there)
        theta = _newton_polish(fun, jac, theta, _interior(theta, tmap), tmap.on_diagonal,
                               tol=_POLISH_TOL)
        grad = kkt(theta)
    # the polish brings pandas and Dask fits (one factor) to the same point; blocked fits
    # need only lme4's convergence check
    if not np.all(np.abs(grad) < (_GRAD_TOL if blocked else _POLISH_TOL)):
        theta = _polish(fun, theta, bounds)
        values = np.append(values, fun(theta))
        grad = kkt(theta)
    if not blocked:  # the Newton polish needs the exact gradient
        theta = _newton_polish(fun, jac, theta, _interior(theta, tmap), tmap.on_diagonal)
    try:
        prof = profile(theta, stats)
    except np.linalg.LinAlgError as err:  # every start ended where M or A is singular
        raise FitError(
            f"method={method!r}: the profiled deviance is undefined at the optimiser's end "
            f"point (θ = {np.round(theta, 6).tolist()}: {err}); the fixed-effects matrix may "
            "be rank-deficient within groups. Drop collinear columns or use method='map'."
        ) from err
    best = criterion(prof, theta, stats, method)
    # an SD a thousand times the residual SD is the criterion running off to infinity (MAP
    # with two groups: blme's penalty exactly cancels the REML likelihood's decay), not an
    # optimum
    bounded = bool(np.all(np.abs(theta) < THETA_MAX))
    converged = bool(np.isfinite(best) and np.all(np.abs(grad) < _GRAD_TOL) and bounded)
    scale = scale_hat(prof, stats, method)
    llf_method: Method = "ml" if method == "ml" else "reml"
    llf = -0.5 * criterion(prof, theta, stats, llf_method, scale=scale)
    return PointFit(
        method=method,
        theta=theta,
        beta=prof.beta,
        scale=scale,
        cov_beta=_fe_covariance(prof, scale),
        criterion=best,
        llf=llf,
        converged=converged,
        gradient=grad,
        singular=bool(np.any(theta[tmap.on_diagonal] < SINGULAR_TOL)),
        starts=values,
        blups=random_effect_means(prof, stats),
        history=None if trace is None else np.array(trace).reshape(-1, tmap.n_theta + 1),
    )
