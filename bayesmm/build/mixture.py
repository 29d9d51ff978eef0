"""PyMC build of a K-component Gaussian mixture of regressions with Dirichlet weights.

Class indicators are marginalised by :class:`pymc.NormalMixture` (log-sum-exp), so NUTS
samples continuous parameters only. Label switching is prevented by an ordering constraint
on the component intercepts (``order="mu"``) or on the weights (``order="weights"``, through
ordered log-weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.transforms import ordered

from ..design import Design
from .common import observed

__all__ = ["MixturePriors", "build_mixture", "default_mixture_priors", "mixture_initvals"]


@dataclass(frozen=True)
class MixturePriors:
    """Priors of the mixture, scaled to the data.

    Attributes
    ----------
    coef_mu, coef_sd : ndarray, shape (p,)
        Normal prior of every component's coefficients (intercept first when present).
    sigma_sd : float
        HalfNormal scale of every component's SD.
    alpha : float
        Symmetric Dirichlet concentration of the weights.
    group_sd : float
        HalfNormal scale of the SD of the group random intercepts (latent-class mixed
        models); unused without groups.
    """

    coef_mu: np.ndarray
    coef_sd: np.ndarray
    sigma_sd: float
    alpha: float
    group_sd: float = 1.0


def default_mixture_priors(design: Design, alpha: float = 1.0) -> MixturePriors:
    """Return data-scaled priors.

    Normal(ȳ, 2.5 sd y) intercepts, Normal(0, 2.5 sd y / sd x) slopes, HalfNormal(2.5 sd y)
    component SDs and a HalfNormal(sd y) SD of group intercepts.
    """
    y, X = design.y, design.X
    sy = float(np.std(y)) or 1.0
    const = np.ptp(X, axis=0) == 0
    sx = np.where(const, 1.0, X.std(axis=0))
    mu = np.where(const, float(np.mean(y)), 0.0)
    return MixturePriors(mu, 2.5 * sy / sx, 2.5 * sy, float(alpha), sy)


def _intercept_index(design: Design) -> int | None:
    """Column of the constant (intercept) term, if any."""
    const = np.flatnonzero(np.ptp(design.X, axis=0) == 0)
    return int(const[0]) if const.size else None


def mixture_initvals(design: Design, order: str, beta: np.ndarray, sigma: np.ndarray,
                     w: np.ndarray) -> dict[str, np.ndarray]:
    """Map a posterior mode (e.g. EM's) to NUTS starting values in the build's variables.

    Parameters
    ----------
    design : Design
    order : str
    beta : ndarray, shape (K, p)
    sigma, w : ndarray, shape (K,)
        Component coefficients, SDs and weights, ordered as the build orders them.
    """
    k = beta.shape[0]
    ramp = 1e-6 * np.arange(k)  # strictly increasing for the ordered transform
    init: dict[str, np.ndarray] = {"sigma": sigma}
    if design.factors:  # group intercepts start at zero with a moderate SD
        f = design.factors[0]
        init[f.label] = np.zeros(f.n_levels)
        init[f"{f.label}_sd"] = np.array(0.5 * float(np.min(sigma)))
    icpt = _intercept_index(design)
    if order == "mu" and icpt is not None:
        init["_icpt"] = np.maximum.accumulate(beta[:, icpt]) + ramp
        others = [j for j in range(beta.shape[1]) if j != icpt]
        if others:
            init["_slopes"] = beta[:, others]
    else:
        init["beta"] = beta
    if order == "weights":
        eta = np.log(w)
        init["_eta"] = np.maximum.accumulate(eta - eta.mean()) + ramp
    else:
        init["w"] = w
    return init


def build_mixture(design: Design, k: int, priors: MixturePriors, order: str) -> pm.Model:
    """PyMC model ``y ~ Σ_k w_k N(X β_k + b_g, σ_k)`` with the chosen ordering constraint.

    ``b_g`` (latent-class mixed models only) is a random intercept of the row's group,
    shared by the components: ``b`` is zero-sum normal with scale ``τ`` (each ``b_g`` has SD
    ``τ sqrt(1 − 1/G)``), ``τ ~ HalfNormal(group_sd)``.
    """
    p = design.X.shape[1]
    coords = {"component": list(range(k)), "coef": list(design.xnames),
              "obs": list(range(design.n_obs))}
    for f in design.factors:
        coords[f"{f.label}_level"] = [str(v) for v in f.levels]
    icpt = _intercept_index(design)
    with pm.Model(coords=coords) as model:
        # priors, design and group codes are data containers: the graph depends only on K,
        # p, the order and the groups, so its compiled density serves every data set
        # (infer/compiled.py)
        cm = pm.Data("_coef_mu", np.asarray(priors.coef_mu, dtype=float))  # (p,)
        cs = pm.Data("_coef_sd", np.asarray(priors.coef_sd, dtype=float))  # (p,)
        X = pm.Data("_X", design.X)  # (N, p)
        if order == "mu" and icpt is not None:
            # no default start: ordered equal means are log(0); fit() passes EM's mode
            # (an RV initval would block PyMC's model-to-graph conversions)
            a = pm.Normal("_icpt", mu=cm[icpt], sigma=cs[icpt], dims="component",
                          transform=ordered)
            others = [j for j in range(p) if j != icpt]
            cols = [None] * p
            cols[icpt] = a
            if others:
                rest = pm.Normal("_slopes", mu=cm[others], sigma=cs[others],
                                 shape=(k, len(others)))
                for n, j in enumerate(others):
                    cols[j] = rest[:, n]
            beta = pm.Deterministic("beta", pt.stack(cols, axis=1), dims=("component", "coef"))
        else:
            beta = pm.Normal("beta", mu=cm, sigma=cs, dims=("component", "coef"))
        sigma = pm.HalfNormal("sigma", sigma=pm.Data("_sigma_sd", float(priors.sigma_sd)),
                              dims="component")
        alpha = pm.Data("_alpha", np.full(k, float(priors.alpha)))  # (K,)
        if order == "weights":
            # Ordered log-weights η; w = softmax(η). Dirichlet(α) density on the simplex plus
            # the softmax Jacobian Π w_k gives α Σ log w_k; softmax ignores Σ η, which gets
            # its own N(0, 10) prior so the posterior is proper.
            eta = pm.Flat("_eta", dims="component", transform=ordered)
            w = pm.Deterministic("w", pt.special.softmax(eta), dims="component")
            pm.Potential("_dirichlet", alpha[0] * pt.sum(pt.log(w))
                         + pm.logp(pm.Normal.dist(0.0, 10.0), pt.sum(eta)))
        else:
            w = pm.Dirichlet("w", a=alpha, dims="component")
        mu = pt.dot(X, beta.T)  # (N, K)
        for f in design.factors:
            tau = pm.HalfNormal(f"{f.label}_sd",
                                sigma=pm.Data(f"_{f.label}_sd_sd", float(priors.group_sd)))
            # zero-sum effects: the intercepts are the means over groups, which removes the
            # ridge (intercepts up, every b_g down) that left R-hat at 1.04 with iid effects;
            # centred, as each group's rows inform its effect (non-centred: τ R-hat 1.03)
            b = pm.ZeroSumNormal(f.label, sigma=tau, dims=f"{f.label}_level")  # (G,)
            codes = pm.Data(f"_{f.label}_codes", np.asarray(f.codes, dtype=np.int64))  # (N,)
            mu = mu + b[codes][:, None]  # (N, K)
        pm.NormalMixture(design.response, w=w, mu=mu, sigma=sigma, observed=observed(design),
                         dims="obs")
    return model
