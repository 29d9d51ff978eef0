"""Profile likelihoods: lme4's ``confint(method = "profile")`` and statsmodels' ``profile_re``.

As lme4, the ML deviance is profiled whatever the fit's criterion was. For a parameter ψ::

    ζ(ψ) = sign(ψ − ψ̂) · sqrt(dev_ML(ψ) − dev_ML(ψ̂)),   dev_ML(ψ) = min over the rest

and the 1 − α interval is where ``|ζ| ≤ z_{1−α/2}``. The covariance parameters are taken on
lme4's scale (SDs, correlations and the residual SD); the rest are re-optimised at each
value, with β profiled out in closed form. A fixed effect β_j = b is an offset: the
sufficient statistics of ``y − b x_j`` on ``X`` without column j follow from the full ones
by slicing, and the ML fit of that model gives the profiled deviance. Each limit is a root
of ``ζ − z`` found by Brent's method (lme4 interpolates a spline through a grid; the two
agree to its grid's accuracy). A limit that ``ζ`` never reaches is the parameter's bound:
0 for an SD, ±1 for a correlation (lme4's convention).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from scipy import optimize
from scipy import stats as sps

from ..blocked import BlockedStats
from ..covariance import theta_map
from ..design import Design
from ..deviance import Method, Stats, deviance, ml_deviance_at_scale, profile, scale_hat
from ..params import CovParam, block_of, cov_params, cov_values, psis_from_theta
from .blas import one_blas_thread
from .optimize import fit_point, warm_minimum

__all__ = ["fixed_effect_stats", "profile_intervals", "profile_variance", "sdcor_to_theta"]


def sdcor_to_theta(design: Design) -> Callable[[np.ndarray, float], np.ndarray]:
    """Map SDs and correlations (:func:`cov_params` order) and the residual SD to θ.

    ``Λ = diag(sd/σ) chol(R)`` stays defined when an SD is 0 (unlike ``chol(Ψ)``).
    """
    params = cov_params(design)
    tmaps = [theta_map(f) for f in design.factors]
    parts = []  # per factor: (parameter indices, SD columns of each, correlation cells)
    for k, factor in enumerate(design.factors):
        sd_cols, corr_cells = [], []
        for i, p in enumerate(params):
            if p.factor != k:
                continue
            block = block_of(design, p)
            if block.kind == "vc" or p.row == p.col:
                sd_cols.append((i, list(block.cols) if block.kind == "vc" else [p.row]))
            else:
                corr_cells.append((i, p.row, p.col))
        parts.append((factor.q, sd_cols, corr_cells))

    def to_theta(values: np.ndarray, sigma: float) -> np.ndarray:
        thetas = []
        for (q, sd_cols, corr_cells), tmap in zip(parts, tmaps, strict=True):
            sd, corr = np.zeros(q), np.eye(q)
            for i, cols in sd_cols:
                sd[cols] = values[i]
            for i, r, c in corr_cells:
                corr[r, c] = corr[c, r] = values[i]
            # |sd|: the criterion is even in each SD without flipping a correlation
            lam = (np.abs(sd) / sigma)[:, None] * np.linalg.cholesky(corr)  # (q, q)
            theta = np.empty(tmap.n_theta)
            theta[tmap.index] = lam[tmap.rows, tmap.cols]
            thetas.append(theta)
        return np.concatenate(thetas)

    return to_theta


def fixed_effect_stats(stats: Stats, j: int, b: float) -> Stats:
    """Sufficient statistics of ``y − b x_j`` regressed on ``X`` without column ``j``."""
    keep = np.delete(np.arange(stats.p), j)
    xtx, xty = stats.XtX, stats.Xty
    common = {"XtX": xtx[np.ix_(keep, keep)], "Xty": xty[keep] - b * xtx[keep, j],
              "yty": float(stats.yty - 2 * b * xty[j] + b * b * xtx[j, j])}
    if isinstance(stats, BlockedStats):
        return replace(stats, Z1X=stats.Z1X[..., keep], Z1y=stats.Z1y - b * stats.Z1X[..., j],
                       ZrX=stats.ZrX[:, keep], Zry=stats.Zry - b * stats.ZrX[:, j], **common)
    return replace(stats, ZtX=stats.ZtX[..., keep], Zty=stats.Zty - b * stats.ZtX[..., j],
                   XtX_b=None, Xty_b=None, yty_b=None, **common)


def _root(zeta: Callable[[float], float], start: float, step: float, target: float,
          bound: float | None) -> float:
    """First ``x`` beyond ``start`` (in ``step``'s direction) with ``|ζ(x)| = target``."""
    lo, x = start, start + step
    for _ in range(60):
        if bound is not None and (x - bound) * np.sign(step) >= 0:
            x = bound
            if abs(zeta(x)) < target:
                return bound
            break
        if abs(zeta(x)) >= target:
            break
        lo, step = x, 2 * step
        x = lo + step
    else:
        return np.inf * np.sign(step)
    return float(optimize.brentq(lambda v: abs(zeta(v)) - target, lo, x, xtol=1e-10,
                                 rtol=1e-10))


def _sdcor_profile(stats: Stats, design: Design, opt: np.ndarray, base: float
                   ) -> Callable[[int, float], float]:
    """ζ of covariance parameter ``w`` (SD, correlation or the residual SD, last)."""
    params = cov_params(design)
    is_corr = np.array([p.row != p.col for p in params] + [False])
    # SDs unbounded: the criterion is even in each (see the fixed effects' profile)
    lower = np.where(is_corr, -1 + 1e-10, -np.inf)
    upper = np.where(is_corr, 1 - 1e-10, np.inf)
    lower[-1] = 1e-8 * opt[-1]
    starts: dict[int, list[tuple[float, np.ndarray]]] = {}
    sd_of = {(p.factor, p.row): i for i, p in enumerate(params) if p.row == p.col}
    block_sds = {i: (sd_of[p.factor, p.row], sd_of[p.factor, p.col])
                 for i, p in enumerate(params) if p.row != p.col}

    mapping = sdcor_to_theta(design)

    def to_theta(x: np.ndarray) -> np.ndarray:
        return mapping(x[:-1], x[-1])

    def dev(x: np.ndarray) -> tuple[float, np.ndarray]:
        """ML deviance and its gradient in (SDs, correlations, σ)."""
        try:
            value, g_theta, g_sigma = ml_deviance_at_scale(to_theta(x), stats, x[-1] ** 2)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(x)
        h = 1e-7 * np.maximum(np.abs(x), 1e-3)
        h = np.where(is_corr, np.minimum(h, 0.5 * (1 - np.abs(x))), h)
        J = np.array([(to_theta(x + e) - to_theta(x - e)) / (2 * d)  # (k + 1, n_theta)
                      for e, d in zip(np.diag(h), h, strict=True)])
        grad = J @ g_theta
        grad[-1] += g_sigma
        return value, grad

    def zeta(w: int, value: float) -> float:
        rest = np.delete(np.arange(opt.size), w)
        seen = starts.setdefault(w, [(opt[w], opt[rest])])
        near = min(seen, key=lambda s: abs(s[0] - value))[1]
        x0 = [near]
        if is_corr[w]:  # with either SD at 0 the correlation is free: start there too
            x0 += [np.where(rest == i, 0.0, near) for i in block_sds[w]]

        def fun(r: np.ndarray) -> tuple[float, np.ndarray]:
            val, grad = dev(np.insert(r, w, value))
            return val, np.delete(grad, w)

        with np.errstate(invalid="ignore"):
            fits = [optimize.minimize(fun, x, method="L-BFGS-B", jac=True,
                                      bounds=list(zip(lower[rest], upper[rest], strict=True)),
                                      options={"ftol": 1e-13, "gtol": 1e-8, "maxiter": 500})
                    for x in x0]
        res = min(fits, key=lambda r: r.fun)
        seen.append((value, res.x))
        return float(np.sign(value - opt[w]) * np.sqrt(max(res.fun - base, 0.0)))

    return zeta


def profile_intervals(stats: Stats, design: Design, alpha: float
                      ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Profile-likelihood intervals of β, the SDs/correlations and the residual SD.

    Parameters
    ----------
    stats : SuffStats or BlockedStats
    design : Design
        Gaussian.
    alpha : float
        The intervals cover ``1 − alpha``.

    Returns
    -------
    names : list of str
        Fixed effects, then the summary's ``SD``/``Corr`` rows and ``Residual SD``.
    estimates : ndarray
        ML estimates, fixed effects first, then :func:`cov_params` rows on the SD scale and
        the residual SD.
    limits : ndarray, shape (k, 2)
    """
    with one_blas_thread():  # see bayesmm.infer.blas
        return _profile_intervals(stats, design, float(sps.norm.ppf(1 - alpha / 2)))


def _profile_intervals(stats: Stats, design: Design, target: float
                       ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """:func:`profile_intervals` at ``|ζ| = target``."""
    ml = fit_point(stats, "ml")
    base = ml.criterion
    psis = psis_from_theta(design, ml.theta, ml.scale)
    sdcor = cov_values(design, psis, ml.scale, "sd")
    names = list(design.xnames) + list(sdcor)
    opt = np.nan_to_num(np.array([float(v) for v in sdcor.values()]))
    limits = []
    se = np.sqrt(np.diag(ml.cov_beta))
    for j, beta in enumerate(ml.beta):
        def fe_zeta(b: float, j: int = j, beta: float = beta) -> float:
            sub = fixed_effect_stats(stats, j, b)
            dev = warm_minimum(sub, "ml", ml.theta, ftol=1e-15, gtol=1e-8).fun
            return float(np.sign(b - beta) * np.sqrt(max(dev - base, 0.0)))

        limits.append([_root(fe_zeta, beta, -s * se[j], target, None)
                       for s in (1.0, -1.0)])
    zeta = _sdcor_profile(stats, design, opt, base)
    params = cov_params(design)
    for w, value in enumerate(opt):
        corr = w < len(params) and params[w].row != params[w].col
        step = 0.25 * (1 - abs(value)) if corr else 0.25 * max(value, 1e-3 * opt[-1])
        lo_bound, hi_bound = (-1.0, 1.0) if corr else (0.0, None)
        limits.append([_root(lambda v, w=w: zeta(w, v), value, -step, target, lo_bound),
                       _root(lambda v, w=w: zeta(w, v), value, step, target, hi_bound)])
    estimates = np.concatenate([ml.beta, opt])
    return names, estimates, np.array(limits)


def profile_variance(stats: Stats, design: Design, theta_hat: np.ndarray, method: Method,
                     param: CovParam, ratios: np.ndarray) -> np.ndarray:
    """Compute statsmodels' ``profile_re``: the log-likelihood with one variance over σ² fixed.

    At each value x of ``Ψ_jj / σ²`` (entry ``(j, j)`` of ``param``'s factor) every other θ
    is re-optimised (β and σ² profiled out as in the fit's criterion). In the Cholesky
    parameterisation ``Ψ_jj / σ² = Σ_{c ≤ j} T_jc²``, so ``T_jj`` follows from the row's
    other entries; the points are visited outward from the estimate, each search starting at
    its neighbour's optimum.

    Returns
    -------
    ndarray, shape (len(ratios), 2)
        The variance (x times the refit's σ̂²) and the log-likelihood, statsmodels' layout.
    """
    t = theta_map(design.factors[param.factor])
    offset = int(np.cumsum([0] + [theta_map(f).n_theta for f in design.factors])[param.factor])
    row = (t.rows == param.row) & (t.cols <= param.row)
    diag = offset + int(t.index[row & (t.cols == param.row)][0])
    others = offset + np.unique(t.index[row & (t.cols < param.row)])
    free = np.setdiff1d(np.arange(theta_hat.size), [diag])
    bounds = [(0.0, None) if stats.tmap.on_diagonal[i] else (None, None) for i in free]

    def theta_at(z: np.ndarray, x: float) -> tuple[np.ndarray, float]:
        """θ with row j's diagonal from the constraint, and how far z overshoots it.

        Beyond the constraint (the row's other entries alone exceed x) they are shrunk
        onto it, so the criterion stays finite and continuous for the search.
        """
        theta = theta_hat.copy()
        theta[free] = z
        excess = float(np.sum(theta[others] ** 2)) - x
        if excess > 0:
            theta[others] *= np.sqrt(x / (x + excess))
        theta[diag] = np.sqrt(max(-excess, 0.0))
        return theta, max(excess, 0.0)

    def criterion_at(z: np.ndarray, x: float) -> float:
        theta, excess = theta_at(z, x)
        return deviance(theta, stats, method) + 1e6 * excess**2

    out = np.empty((ratios.size, 2))
    centre = int(np.argmin(np.abs(ratios - theta_hat[diag] ** 2 - np.sum(theta_hat[others] ** 2))))
    for order in (range(centre, -1, -1), range(centre, ratios.size)):
        z = theta_hat[free]
        for i in order:
            x = float(ratios[i])
            if free.size:
                z = optimize.minimize(criterion_at, z, (x,), method="L-BFGS-B", jac="3-point",
                                      bounds=bounds, options={"ftol": 1e-15, "gtol": 1e-9}).x
            theta, _ = theta_at(z, x)
            prof = profile(theta, stats)
            out[i] = x * scale_hat(prof, stats, method), -0.5 * deviance(theta, stats, method)
    return out
