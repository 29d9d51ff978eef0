"""The latent, non-centred build: every random effect is a parameter, ``b = z Lᵀ``.

Works for any number of (crossed or nested) grouping factors and every family. Effects
are indexed by the integer group codes: no ``N x levels`` matrix is formed.

The design (X, offset, each factor's Z and codes, trials) and the priors' parameters are
data containers, so the graph depends on the model's structure only and one compiled
density (:mod:`bayesmm.infer.compiled`) serves every data set of that structure.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..design import Design
from ..priors import Prior
from .common import add_parameters, coords_of, effect_dims, observed

__all__ = ["build_latent"]


def _counts(trials: np.ndarray) -> np.ndarray:
    """Trials as integers when they are whole numbers (Binomial draws need an integer n)."""
    whole = np.all(np.isfinite(trials)) and np.array_equal(trials, np.round(trials))
    return trials.astype(np.int64) if whole else trials


def build_latent(design: Design, priors: dict[str, Prior]) -> pm.Model:
    """PyMC model with explicit, non-centred random effects and the design's family."""
    with pm.Model(coords=coords_of(design)) as model:
        params = add_parameters(design, priors, hyper_data=True)
        mu = pt.dot(pm.Data("_X", design.X), params.beta)  # (N,)
        if design.offset is not None:
            mu = mu + pm.Data("_offset", design.offset)
        for f, (factor, chol) in enumerate(zip(design.factors, params.chols, strict=True)):
            dims = effect_dims(factor)
            z = pm.Normal(f"_{factor.label}_z", 0.0, 1.0, dims=dims)  # (G, q)
            b = pm.Deterministic(factor.label, pt.dot(z, chol.T), dims=dims)  # (G, q)
            Z = pm.Data(f"_Z{f}", factor.Z)  # (N, q)
            codes = pm.Data(f"_codes{f}", factor.codes.astype("int64"))  # (N,)
            mu = mu + pt.sum(Z * b[codes], axis=1)  # (N,)
        trials = None if design.trials is None else pm.Data("_trials", _counts(design.trials))
        design.family.likelihood(design.response, mu, observed(design), trials,
                                             params.aux)
    return model
