"""Predictions from posterior draws for seen and new groups, on the response scale.

Known groups use their own drawn effects. Each new group gets its own independent draw from
N(0, Ψ) in every posterior draw (``new_groups="sample"``), zero (``"zero"``, lme4's choice)
or an error naming the unseen levels (``"error"``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr

from .design import Design
from .errors import SpecificationError
from .infer.effects import aux_draws, linear_predictor
from .newdata import NewDesign, require_known_levels

__all__ = ["NewGroups", "predict_draws"]

NewGroups = Literal["sample", "zero", "error"]


def predict_draws(
    design: Design,
    posterior: xr.Dataset,
    chols: list[np.ndarray],
    new: NewDesign,
    kind: str,
    new_groups: NewGroups,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draws of the prediction for every row.

    Parameters
    ----------
    design : Design
    posterior : xarray.Dataset
    chols : list of ndarray
        Cholesky factor of every factor's Ψ per draw, (S, q, q).
    new : NewDesign
    kind : {"mean", "response"}
        ``"mean"``: the inverse link of the linear predictor (the success probability for
        binomial models); ``"response"``: draws of the response (successes for binomial).
    new_groups : {"sample", "zero", "error"}
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape (C, D, n)
    """
    if kind not in ("mean", "response"):
        raise SpecificationError(f"kind: expected 'mean' or 'response'; received {kind!r}.")
    if new_groups not in ("sample", "zero", "error"):
        raise SpecificationError(
            f"new_groups: expected 'sample', 'zero' or 'error'; received {new_groups!r}."
        )
    if new_groups == "error":
        require_known_levels(design, new)
    beta = posterior["beta"].values  # (C, D, p)
    C, D = beta.shape[:2]
    terms = []
    for f, Z, codes, unseen, L in zip(design.factors, new.Z, new.codes, new.new_levels, chols,
                                      strict=True):
        b = posterior[f.label].values  # (C, D, G, q)
        if unseen:
            fresh = np.zeros((C, D, len(unseen), f.q))
            if new_groups == "sample":
                z = rng.standard_normal((C * D, len(unseen), f.q))
                fresh = np.einsum("sij,skj->ski", L, z).reshape(C, D, len(unseen), f.q)
            b = np.concatenate([b, fresh], axis=2)  # (C, D, G + U, q)
        terms.append((Z, codes, b))
    eta = linear_predictor(beta, new.X, new.offset, terms)  # (C, D, n)
    family = design.family
    if kind == "mean":
        return family.inverse_link(eta)
    return family.sample(rng, eta, new.trials, aux_draws(family, posterior))
