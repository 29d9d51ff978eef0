"""Default priors scaled to the data, and the :class:`Prior` value object users override them with.

Defaults (weakly informative, on the link scale; s = sd(y) for the identity link, 1 for the
logit and log links):

* ``Intercept`` ~ Normal(m, 2.5 s) with m = mean(y) (identity), the logit of the pooled
  proportion (binomial, Bernoulli) or log(mean(y)) (Poisson, negative binomial), less the mean
  offset; slope ``x`` ~ Normal(0, 2.5 s / sd(x));
* ``sd(col|group)`` ~ HalfNormal(s / sd(col)) (sd(col) = 1 for an intercept);
* ``corr(group)`` ~ LKJ(η = 2) for a correlated block;
* the family's own parameters: ``sigma`` (Gaussian, Student-t) ~ HalfNormal(sd(y)),
  ``nu`` (Student-t) ~ Gamma(2, 0.1) and ``alpha`` (negative binomial) ~ Gamma(2, 0.1), as brms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymc as pm

from .design import Design, FactorDesign
from .errors import SpecificationError, describe

__all__ = ["Prior", "corr_key", "default_priors", "resolve_priors", "sd_key", "with_overrides"]

_DISTS = ("Normal", "HalfNormal", "HalfStudentT", "HalfCauchy", "Exponential", "StudentT",
          "Gamma", "InverseGamma", "LKJ")


@dataclass(frozen=True)
class Prior:
    """A prior distribution by PyMC name and parameters.

    Examples
    --------
    >>> Prior("HalfNormal", sigma=10.0)
    HalfNormal(sigma=10)
    """

    dist: str
    params: Mapping[str, float] = field(default_factory=dict)

    def __init__(self, dist: str, **params: float) -> None:
        if dist not in _DISTS:
            raise SpecificationError(
                f"priors: unknown distribution {dist!r}; expected one of {_DISTS}."
            )
        for key, value in params.items():
            if not np.all(np.isfinite(np.asarray(value, dtype=float))):
                raise SpecificationError(
                    f"priors: parameter {key}={value!r} of {dist} must be finite."
                )
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "params", dict(params))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={np.round(v, 4):g}" for k, v in self.params.items())
        return f"{self.dist}({args})"

    def create(self, name: str, params: Mapping[str, Any] | None = None) -> Any:
        """Create the PyMC random variable ``name`` inside the current model.

        ``params`` replaces the parameters' values (e.g. by data containers).
        """
        return getattr(pm, self.dist)(name, **(self.params if params is None else params))


def sd_key(factor: FactorDesign, name: str) -> str:
    """Prior key of a group-level SD, e.g. ``"sd(Time|Pig)"``."""
    return f"sd({name}|{factor.label})"


def corr_key(factor: FactorDesign) -> str:
    """Prior key of a correlated block's LKJ prior, e.g. ``"corr(Pig)"``."""
    return f"corr({factor.label})"


def _scale(design: Design, column: str) -> float:
    """SD of a design column, 1 for a constant (intercept) column."""
    sd = design.data_moments.column(column)[2]
    return sd if sd > 1e-12 else 1.0


def _intercept_mean(design: Design) -> float:
    """Centre of the intercept's prior: the pooled mean on the link scale, less the offset."""
    mom = design.data_moments
    y_sum, y_mean = mom.column("y")[:2]
    link = design.family.link
    if link == "logit":
        n = mom.column("trials")[0] if "trials" in mom.names else mom.n
        pooled = (y_sum + 0.5) / (n + 1.0)
        centre = float(np.log(pooled / (1 - pooled)))
    elif link == "log":
        centre = float(np.log(y_mean + 0.1))
    else:
        centre = y_mean
    return centre - (mom.column("offset")[1] if "offset" in mom.names else 0.0)


def default_priors(design: Design) -> dict[str, Prior]:
    """Weakly informative priors scaled to ``design``'s response and predictors."""
    family = design.family
    sy = _scale(design, "y") if family.link == "identity" else 1.0
    priors: dict[str, Prior] = {}
    for j, name in enumerate(design.xnames):
        if design.data_moments.column(f"X{j}")[3] == 0:
            priors[name] = Prior("Normal", mu=_intercept_mean(design), sigma=2.5 * sy)
        else:
            priors[name] = Prior("Normal", mu=0.0, sigma=2.5 * sy / _scale(design, f"X{j}"))
    for aux in family.aux:
        dist, params = aux.prior
        priors[aux.name] = Prior(dist, **{k: _scale(design, "y") if v is None else v
                                          for k, v in params.items()})
    for f, factor in enumerate(design.factors):
        for block in factor.blocks:
            if block.kind == "vc":
                scale = sy / max(_scale(design, f"Z{f}_{c}") for c in block.cols)
                priors[sd_key(factor, block.name)] = Prior("HalfNormal", sigma=scale)
                continue
            for c in block.cols:
                scale = sy / _scale(design, f"Z{f}_{c}")
                priors[sd_key(factor, factor.znames[c])] = Prior("HalfNormal", sigma=scale)
            if block.kind == "corr":
                priors[corr_key(factor)] = Prior("LKJ", eta=2.0)
    return priors


def _as_prior(key: str, value: object) -> Prior:
    """Accept a :class:`Prior` or ``(dist, {params})``."""
    if isinstance(value, Prior):
        return value
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], Mapping):
        return Prior(value[0], **value[1])
    raise SpecificationError(
        f"priors[{key!r}]: expected bmm.Prior('Normal', mu=0, sigma=1) or "
        f"('Normal', {{'mu': 0, 'sigma': 1}}); received {describe(value)}."
    )


def resolve_priors(design: Design, overrides: Mapping[str, object] | None) -> dict[str, Prior]:
    """Defaults for ``design`` with user ``overrides`` applied.

    Raises
    ------
    SpecificationError
        For a key that names no parameter, or a malformed prior.
    """
    priors = with_overrides(default_priors(design), overrides)
    _check_correlated_sds(design, priors)
    return priors


def with_overrides(defaults: Mapping[str, Prior], overrides: Mapping[str, object] | None
                   ) -> dict[str, Prior]:
    """Return ``defaults`` with the user's ``overrides`` (a :class:`Prior` or a tuple) applied.

    Raises
    ------
    SpecificationError
        For a key that names no parameter, or a malformed prior.
    """
    if overrides is not None and not isinstance(overrides, Mapping):
        raise SpecificationError(
            f"priors: expected a dict of parameter name to bmm.Prior, e.g. "
            f"{{'sigma': bmm.Prior('HalfNormal', sigma=2.0)}}; received {describe(overrides)}."
        )
    priors = dict(defaults)
    for key, value in (overrides or {}).items():
        if key not in priors:
            raise SpecificationError(
                f"priors: unknown parameter {key!r}; expected one of {list(priors)}."
            )
        priors[key] = _as_prior(key, value)
    return priors


def _check_correlated_sds(design: Design, priors: Mapping[str, Prior]) -> None:
    """Raise unless the SD priors of every correlated block share one family and parameters.

    LKJ's ``sd_dist`` is one vector distribution, so a block's SDs cannot mix families.
    """
    for factor in design.factors:
        for block in factor.blocks:
            if block.kind != "corr":
                continue
            keys = [sd_key(factor, factor.znames[c]) for c in block.cols]
            kinds = {(priors[k].dist, tuple(sorted(priors[k].params))) for k in keys}
            if len(kinds) > 1:
                given = ", ".join(f"{k}: {priors[k].dist}({', '.join(sorted(priors[k].params))})"
                                  for k in keys)
                raise SpecificationError(
                    f"priors: the SDs of a correlated block share LKJ's one sd_dist, so they "
                    f"need one family with the same parameters; received {given}. Give each "
                    f"of {keys} the same family (values may differ), or make the effects "
                    "uncorrelated (cov_re='diag', or lme4's || terms)."
                )
