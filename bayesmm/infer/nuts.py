"""NUTS: build the PyMC model (marginal when it applies), sample, and return clean InferenceData."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import arviz as az
import numpy as np
import xarray as xr

from ..build.common import effect_dims
from ..build.latent import build_latent
from ..build.marginal import (
    beta_is_conjugate,
    build_marginal,
    marginal_applies,
    normal_prior_moments,
)
from ..design import Design
from ..errors import SpecificationError
from ..newdata import require_rows
from ..priors import Prior
from ..suffstats import SuffStats
from .effects import draw_beta, draw_effects, pointwise_loglik
from .options import NutsOptions
from .samplers import Start, get_sampler

__all__ = ["with_groups", "add_observed_data", "clean_idata", "default_sampler",
           "sample_nuts"]

def default_sampler(marginal: bool) -> str:
    """Pick nutpie for the marginal build when it is installed, PyMC otherwise.

    On the marginal build nutpie runs on the cached Numba density
    (:mod:`bayesmm.infer.flat_nutpie`): a refit of sleepstudy (4 × 1000 draws) took 1.7 s
    for a min bulk ESS of 2482, against 7.7 s for 2549 with PyMC's sampler on the same
    machine (docs/marginal.md). The latent build's design is data too, so
    ``sampler="nutpie"`` also runs it on a density cached per structure (cbpp: 4.8 s and
    min bulk ESS 1164 on a repeat fit against 16.8 s and 1501 with PyMC; first fit 18 s);
    PyMC stays its default until the suite's statistical tests have been swept with it.
    """
    return "nutpie" if marginal and importlib.util.find_spec("nutpie") is not None else "pymc"


LOGLIK_AUTO_MAX = 25_000_000  # draws × observations kept at fit time (200 MB of float64)


def add_log_likelihood(idata: az.InferenceData, design: Design) -> az.InferenceData:
    """Add the pointwise log-likelihood group (for :func:`arviz.loo`) in place and return it."""
    require_rows(design, "the pointwise log-likelihood (LOO)")
    post = idata.posterior
    ll = pointwise_loglik(design, post)
    idata.add_groups(
        log_likelihood=xr.Dataset(
            {design.response: (("chain", "draw", "obs"), ll)},
            coords={"chain": post.chain, "draw": post.draw, "obs": np.arange(design.n_obs)},
        )
    )
    return idata


def with_groups(idata: az.InferenceData, **groups: xr.Dataset) -> az.InferenceData:
    """Return a new InferenceData of ``idata``'s groups, replaced or extended by ``groups``."""
    kept = {g: getattr(idata, g) for g in idata.groups() if g not in groups}
    return az.InferenceData(**kept, **groups)


def clean_idata(idata: az.InferenceData) -> az.InferenceData:
    """Drop internal variables (leading underscore) and the data containers."""
    post = idata.posterior
    keep = [v for v in post.data_vars if not str(v).startswith("_")]
    idata.posterior = post[keep]
    if "constant_data" in idata.groups():  # the response container ``_y`` only
        del idata.constant_data
    return idata


def add_observed_data(idata: az.InferenceData, design: Design) -> az.InferenceData:
    """Add the response as the ``observed_data`` group (obs,) when it is missing."""
    if "observed_data" not in idata.groups() and design.has_rows:
        idata.add_groups(observed_data=xr.Dataset(
            {design.response: (("obs",), design.y)}, coords={"obs": np.arange(design.n_obs)}))
    return idata


def sample_nuts(
    design: Design,
    priors: dict[str, Prior],
    stats: SuffStats | None,
    options: NutsOptions,
    marginal: bool | None = None,
) -> tuple[az.InferenceData, str]:
    """Sample the posterior with NUTS.

    Parameters
    ----------
    design : Design
    priors : dict
        Resolved priors.
    stats : SuffStats, optional
        Sufficient statistics (needed by the marginal build).
    options : NutsOptions
    marginal : bool, optional
        ``None`` uses the marginal build whenever it applies; ``False`` forces the latent one.

    Returns
    -------
    tuple
        ``(idata, build)`` with build ``"marginal"`` or ``"latent"``. The pointwise
        log-likelihood group is added when ``options.log_likelihood`` is true, or, when it
        is None, if it holds at most :data:`LOGLIK_AUTO_MAX` values (else ``loo`` adds it
        on demand).
    """
    if marginal and not marginal_applies(design):
        raise SpecificationError(
            "marginal: the marginal build needs a Gaussian model with one grouping factor; "
            f"this model has family={design.family.name!r} and {len(design.factors)} factor(s) "
            f"({[f.name for f in design.factors]}). Use marginal=None."
        )
    use_marginal = marginal_applies(design) if marginal is None else bool(marginal)
    if not use_marginal:
        require_rows(design, "the latent build (marginal=False)")
    model = build_marginal(design, priors, stats) if use_marginal else build_latent(design, priors)
    if options.sampler is None:
        options = replace(options, sampler=default_sampler(use_marginal))
    sampler, start = get_sampler(options.sampler), Start(low_dimensional=use_marginal)
    if options.max_draws is not None and not sampler.can_extend(start):
        raise SpecificationError(
            "max_draws: a run that extends itself needs nutpie on the marginal build; "
            f"received sampler={options.sampler!r} on the "
            f"{'marginal' if use_marginal else 'latent'} build. Pass max_draws=None.")
    idata = sampler.sample(model, options, start)
    idata = clean_idata(idata)
    add_observed_data(idata, design)
    if use_marginal:
        factor = design.factors[0]
        rng = np.random.default_rng(options.random_seed)
        post = idata.posterior
        if beta_is_conjugate(design, priors):
            m0, s0 = normal_prior_moments(design, priors)
            beta = draw_beta(design, stats, post, m0, s0, rng)
            post = post.assign(beta=xr.DataArray(
                beta, dims=("chain", "draw", "coef"), coords={"coef": list(design.xnames)}))
            idata.posterior = post
        b = draw_effects(design, stats, idata.posterior, rng)
        post = idata.posterior
        dims = ("chain", "draw", *effect_dims(factor))
        coords = {d: list(model.coords[d]) for d in effect_dims(factor)}
        idata.posterior = post.assign({factor.label: xr.DataArray(b, dims=dims, coords=coords)})
    n_values = options.chains * options.draws * design.n_obs
    keep = options.log_likelihood
    if keep or (keep is None and n_values <= LOGLIK_AUTO_MAX and design.has_rows):
        add_log_likelihood(idata, design)
    return idata, "marginal" if use_marginal else "latent"
