"""The latent, non-centred build: every random effect is a parameter, ``b = z Lᵀ``.

Works for any number of (crossed or nested) grouping factors and every family. Effects
are indexed by the integer group codes: no ``N x levels`` matrix is formed.
"""

from __future__ import annotations

import pymc as pm
import pytensor.tensor as pt

from ..design import Design
from ..families import get_family
from ..priors import Prior
from .common import add_parameters, coords_of, effect_dims, observed

__all__ = ["build_latent"]


def build_latent(design: Design, priors: dict[str, Prior]) -> pm.Model:
    """PyMC model with explicit, non-centred random effects and the design's family."""
    with pm.Model(coords=coords_of(design)) as model:
        params = add_parameters(design, priors)
        mu = pt.dot(design.X, params.beta)  # (N,)
        if design.offset is not None:
            mu = mu + design.offset
        for factor, chol in zip(design.factors, params.chols, strict=True):
            dims = effect_dims(factor)
            z = pm.Normal(f"_{factor.label}_z", 0.0, 1.0, dims=dims)  # (G, q)
            b = pm.Deterministic(factor.label, pt.dot(z, chol.T), dims=dims)  # (G, q)
            mu = mu + pt.sum(factor.Z * b[factor.codes], axis=1)  # (N,)
        get_family(design.family).likelihood(design.response, mu, observed(design), design.trials,
                                             params.aux)
    return model
