"""PyMC build of a K-component Gaussian mixture of regressions with Dirichlet weights.

Class indicators are marginalised by :class:`pymc.NormalMixture` (log-sum-exp), so NUTS
samples continuous parameters only. Label switching is prevented by an ordering constraint
on the component intercepts (``order="mu"``) or on the weights (``order="weights"``, through
ordered log-weights).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.transforms import ordered

from ..design import Design
from ..errors import SpecificationError
from ..priors import Prior, default_priors, sd_key, with_overrides
from .common import observed

__all__ = ["MixturePriors", "build_mixture", "mixture_initvals", "mixture_priors",
           "mixture_likelihood", "variance_scale"]

# the families (and parameters) EM's closed-form M-step serves, by prior key
_Families = tuple[tuple[str, frozenset[str]], ...]
_COEF: _Families = (("Normal", frozenset({"mu", "sigma"})),)
_SD: _Families = (("HalfNormal", frozenset({"sigma"})),)
_VARIANCE: _Families = (("InverseGamma", frozenset({"alpha"})),  # β random
                        ("InverseGamma", frozenset({"alpha", "beta"})))  # β fixed
_SCALE: _Families = (("Gamma", frozenset({"alpha", "beta"})),)
SIGMA2, SIGMA2_SCALE = "sigma2", "beta(sigma2)"


@dataclass(frozen=True)
class MixturePriors:
    """Priors of the mixture, scaled to the data.

    Every component's SD has either a HalfNormal(``sigma_sd``) prior or, when ``sigma_sd`` is
    None (the default), its variance has Richardson & Green's (1997) prior
    σ_k² ~ InverseGamma(``var_shape``, β) with a scale β shared by the components: fixed at
    ``var_scale``, or, when that is None, β ~ Gamma(``scale_shape``, ``scale_rate``).

    Attributes
    ----------
    coef_mu, coef_sd : ndarray, shape (p,)
        Normal prior of every component's coefficients (intercept first when present).
    sigma_sd : float or None
        HalfNormal scale of every component's SD; None for the inverse-gamma variance prior.
    alpha : float
        Symmetric Dirichlet concentration of the weights.
    group_sd : float
        HalfNormal scale of the SD of the group random intercepts (latent-class mixed
        models); unused without groups.
    var_shape : float
        Shape of the inverse-gamma prior of every component variance.
    var_scale : float or None
        Its scale β when fixed; None when β has its own Gamma prior.
    scale_shape, scale_rate : float
        Gamma prior of the shared scale β.
    """

    coef_mu: np.ndarray
    coef_sd: np.ndarray
    sigma_sd: float | None
    alpha: float
    group_sd: float = 1.0
    var_shape: float = 2.0
    var_scale: float | None = None
    scale_shape: float = 2.0
    scale_rate: float = 1.0


def _check(key: str, prior: Prior, allowed: _Families) -> None:
    """Raise unless ``prior`` is one of the ``allowed`` families with its parameters."""
    if any(prior.dist == d and set(prior.params) == p for d, p in allowed):
        return
    want = " or ".join(f"{d}({', '.join(sorted(p))})" for d, p in allowed)
    raise SpecificationError(
        f"priors[{key!r}]: a mixture takes {want} here, the family its EM mode is computed "
        f"for; received {prior!r}."
    )


def mixture_priors(design: Design, alpha: float = 1.0,
                   overrides: Mapping[str, object] | None = None) -> MixturePriors:
    """Return the mixture's priors, by the rules and names of a mixed model's ``priors=``.

    Defaults are :func:`bayesmm.priors.default_priors` of the mixture's design: Normal(ȳ,
    2.5 sd y) intercepts, Normal(0, 2.5 sd y / sd x) slopes and a HalfNormal(sd y) SD of the
    group intercepts (``"sd(Intercept|g)"``). A coefficient's prior is shared by the
    components. Every component's variance has the prior of Richardson & Green (1997):
    ``"sigma2"`` InverseGamma(alpha=2) whose scale β, shared by the components, has
    ``"beta(sigma2)"`` Gamma(2, 100/R²) (R the response's range; mean 0.02 R², their choice,
    as in docs/priors.md). ``overrides`` replace them as in :func:`bayesmm.mixedlm`:
    ``"sigma2"`` InverseGamma(alpha, beta) fixes β; ``"sigma"`` HalfNormal(sigma) puts a
    HalfNormal prior on every component's SD instead. The families are those EM's
    closed-form M-step serves.

    Raises
    ------
    SpecificationError
        For an unknown key, a malformed prior, another family, or ``"sigma"`` given with
        ``"sigma2"`` or ``"beta(sigma2)"``.
    """
    defaults = default_priors(design)
    spread = float(np.ptp(design.y)) or 1.0
    defaults[SIGMA2] = Prior("InverseGamma", alpha=2.0)
    defaults[SIGMA2_SCALE] = Prior("Gamma", alpha=2.0, beta=100.0 / spread**2)
    priors = with_overrides(defaults, overrides)
    given = set(overrides or {})
    if "sigma" in given and given & {SIGMA2, SIGMA2_SCALE}:
        raise SpecificationError(
            "priors: 'sigma' (a HalfNormal prior on every component's SD) replaces the "
            f"variance prior {SIGMA2!r}/{SIGMA2_SCALE!r}; received both. Give one of them."
        )
    for key, prior in priors.items():
        if key in design.xnames:
            _check(key, prior, _COEF)
        elif key == SIGMA2:
            _check(key, prior, _VARIANCE)
        elif key == SIGMA2_SCALE:
            _check(key, prior, _SCALE)
        else:
            _check(key, prior, _SD)
    factor_sd = [priors[sd_key(f, "Intercept")].params["sigma"] for f in design.factors]
    var = priors[SIGMA2].params
    return MixturePriors(
        coef_mu=np.array([float(priors[n].params["mu"]) for n in design.xnames]),  # (p,)
        coef_sd=np.array([float(priors[n].params["sigma"]) for n in design.xnames]),  # (p,)
        sigma_sd=float(priors["sigma"].params["sigma"]) if "sigma" in given else None,
        alpha=float(alpha), group_sd=float(factor_sd[0]) if factor_sd else 1.0,
        var_shape=float(var["alpha"]),
        var_scale=float(var["beta"]) if "beta" in var else None,
        scale_shape=float(priors[SIGMA2_SCALE].params["alpha"]),
        scale_rate=float(priors[SIGMA2_SCALE].params["beta"]))


def variance_scale(priors: MixturePriors, sigma: np.ndarray) -> float:
    """Return the shared scale β of the variance prior that is most probable given ``sigma``.

    β's fixed value when it has one; else the mode of its full conditional,
    Σ_k log InverseGamma(σ_k² | a, β) + log Gamma(β | g, h), which is
    β = (K a + g − 1)/(h + Σ_k 1/σ_k²). With ``sigma`` EM's mode, this is β's mode too.
    """
    if priors.var_scale is not None:
        return priors.var_scale
    k = sigma.size
    return float((k * priors.var_shape + priors.scale_shape - 1.0)
                 / (priors.scale_rate + np.sum(1.0 / sigma**2)))


def _intercept_index(design: Design) -> int | None:
    """Column of the constant (intercept) term, if any."""
    const = np.flatnonzero(np.ptp(design.X, axis=0) == 0)
    return int(const[0]) if const.size else None


def mixture_initvals(design: Design, priors: MixturePriors, order: str, beta: np.ndarray,
                     sigma: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """Map a posterior mode (e.g. EM's) to NUTS starting values in the build's variables.

    Parameters
    ----------
    design : Design
    priors : MixturePriors
    order : str
    beta : ndarray, shape (K, p)
    sigma, w : ndarray, shape (K,)
        Component coefficients, SDs and weights, ordered as the build orders them.
    """
    k = beta.shape[0]
    ramp = 1e-6 * np.arange(k)  # strictly increasing for the ordered transform
    init: dict[str, np.ndarray] = {"sigma": sigma}
    if priors.sigma_sd is None:
        init = {"_sigma2": sigma**2}
        if priors.var_scale is None:
            init["_sigma2_scale"] = np.array(variance_scale(priors, sigma))
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


def _coords(design: Design, k: int) -> dict[str, list]:
    coords = {"component": list(range(k)), "coef": list(design.xnames),
              "obs": list(range(design.n_obs))}
    for f in design.factors:
        coords[f"{f.label}_level"] = [str(v) for v in f.levels]
    return coords


def _likelihood(design: Design, w: pt.TensorVariable, beta: pt.TensorVariable,
                sigma: pt.TensorVariable, effects: list[pt.TensorVariable]) -> None:
    """Add the response's ``NormalMixture`` given weights, coefficients, SDs, group effects."""
    mu = pt.dot(pm.Data("_X", design.X), beta.T)  # (N, K)
    for f, b in zip(design.factors, effects, strict=True):
        codes = pm.Data(f"_{f.label}_codes", np.asarray(f.codes, dtype=np.int64))  # (N,)
        mu = mu + b[codes][:, None]  # (N, K)
    pm.NormalMixture(design.response, w=w, mu=mu, sigma=sigma, observed=observed(design),
                     dims="obs")


def build_mixture(design: Design, k: int, priors: MixturePriors, order: str) -> pm.Model:
    """PyMC model ``y ~ Σ_k w_k N(X β_k + b_g, σ_k)`` with the chosen ordering constraint.

    ``b_g`` (latent-class mixed models only) is a random intercept of the row's group,
    shared by the components: ``b`` is zero-sum normal with scale ``τ`` (each ``b_g`` has SD
    ``τ sqrt(1 − 1/G)``), ``τ ~ HalfNormal(group_sd)``.
    """
    p = design.X.shape[1]
    icpt = _intercept_index(design)
    with pm.Model(coords=_coords(design, k)) as model:
        # priors, design and group codes are data containers: the graph depends only on K,
        # p, the order and the groups, so its compiled density serves every data set
        # (infer/compiled.py)
        cm = pm.Data("_coef_mu", np.asarray(priors.coef_mu, dtype=float))  # (p,)
        cs = pm.Data("_coef_sd", np.asarray(priors.coef_sd, dtype=float))  # (p,)
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
        sigma = _component_sd(priors)
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
        effects = []
        for f in design.factors:
            tau = pm.HalfNormal(f"{f.label}_sd",
                                sigma=pm.Data(f"_{f.label}_sd_sd", float(priors.group_sd)))
            # zero-sum effects: the intercepts are the means over groups, which removes the
            # ridge (intercepts up, every b_g down) that left R-hat at 1.04 with iid effects;
            # centred, as each group's rows inform its effect (non-centred: τ R-hat 1.03)
            effects.append(pm.ZeroSumNormal(f.label, sigma=tau, dims=f"{f.label}_level"))  # (G,)
        _likelihood(design, w, beta, sigma, effects)
    return model


def _component_sd(priors: MixturePriors) -> pt.TensorVariable:
    """Every component's SD (K,) under its prior, inside the model being built."""
    if priors.sigma_sd is not None:
        return pm.HalfNormal("sigma", sigma=pm.Data("_sigma_sd", float(priors.sigma_sd)),
                             dims="component")
    if priors.var_scale is None:  # β shared by the components, with its own prior
        scale = pm.Gamma("_sigma2_scale", alpha=pm.Data("_scale_shape", priors.scale_shape),
                         beta=pm.Data("_scale_rate", priors.scale_rate))
    else:
        scale = pm.Data("_sigma2_scale", float(priors.var_scale))
    var = pm.InverseGamma("_sigma2", alpha=pm.Data("_var_shape", priors.var_shape),
                          beta=scale, dims="component")  # (K,)
    return pm.Deterministic("sigma", pt.sqrt(var), dims="component")


def mixture_likelihood(design: Design, k: int) -> pm.Model:
    """Build the likelihood alone, its inputs the posterior's public variables.

    ``beta``, ``sigma``, ``w`` and each factor's effects are unconstrained placeholders
    (``Flat``) whose values come from a posterior, never from this model's prior. PyMC's
    ``compute_log_likelihood`` and ``sample_posterior_predictive`` run on it with a fit's
    cleaned posterior, which no longer holds the sampler's internal variables (ordered
    intercepts, log-weights).
    """
    with pm.Model(coords=_coords(design, k)) as model:
        beta = pm.Flat("beta", dims=("component", "coef"))
        sigma = pm.Flat("sigma", dims="component")
        w = pm.Flat("w", dims="component")
        effects = [pm.Flat(f.label, dims=f"{f.label}_level") for f in design.factors]
        _likelihood(design, w, beta, sigma, effects)
    return model
