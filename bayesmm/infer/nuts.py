"""NUTS: build the PyMC model (integrating out what can be), sample, return clean InferenceData."""

from __future__ import annotations

from dataclasses import replace

import arviz as az
import numpy as np
import xarray as xr

from ..build.collapsed import (
    build_collapsed,
    collapsed_applies,
    collapsed_factor,
    collapsed_stats,
)
from ..build.common import coords_of, effect_dims
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
from .effects import (
    ResidualStats,
    draw_beta,
    draw_effects,
    partial_residual_stats,
    pointwise_loglik,
)
from .kernel_density import KernelDensity, kernel_density, latent_kernel_density
from .options import NutsOptions
from .samplers import Start, get_sampler

__all__ = ["with_groups", "add_observed_data", "choose_build", "clean_idata",
           "default_sampler", "sample_nuts"]

def default_sampler(build: str) -> str:
    """Pick nutpie (a core dependency) for the marginal and latent builds, PyMC otherwise.

    nutpie runs on the C kernels where they cover the model
    (:mod:`bayesmm.infer.kernel_density`), else on the model's compiled density
    (:mod:`bayesmm.infer.flat_nutpie`), its chains on threads without the GIL: sleepstudy
    (marginal, 4 × 1000 draws) in 0.19 s and cbpp (latent, binomial) in 0.10 s on a repeat
    fit in a fresh process (``benchmarks/nuts.py``, docs/marginal.md). The collapsed build
    (several factors, every row in each gradient) stays on PyMC's sampler: threads did not
    speed it up (31,022 rows: 65.9 s with 2 threads and with 1) and its first Numba compile
    is long.
    """
    return "pymc" if build == "collapsed" else "nutpie"


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
        Sufficient statistics (needed by the marginal build; the collapsed build computes
        its integrated factor's own).
    options : NutsOptions
    marginal : bool, optional
        ``None`` integrates out what can be (:func:`choose_build`); ``False`` forces the
        latent build.

    Returns
    -------
    tuple
        ``(idata, build)`` with build ``"marginal"``, ``"collapsed"`` or ``"latent"``. The
        pointwise log-likelihood group is added when ``options.log_likelihood`` is true,
        or, when it is None, if it holds at most :data:`LOGLIK_AUTO_MAX` values (else
        ``loo`` adds it on demand).
    """
    build = choose_build(design, marginal)
    if build != "marginal":
        require_rows(design, f"the {build} build (NUTS with the effects of "
                     f"{'several factors' if build == 'collapsed' else 'every level'} sampled)",
                     fix="fit REML, ML or MAP from the partitions (fit(method='reml')), or "
                         "sample from rows in memory: mixedlm(..., ddf.compute())")
    if build == "collapsed":  # the integrated factor's one-factor statistics
        stats = collapsed_stats(design)
    if options.sampler is None:
        options = replace(options, sampler=default_sampler(build))
    density = _kernel(build, design, priors, stats) if options.sampler == "nutpie" else None
    model = None if density is not None else {
        "marginal": lambda: build_marginal(design, priors, stats),
        "collapsed": lambda: build_collapsed(design, priors, stats),
        "latent": lambda: build_latent(design, priors)}[build]()
    sampler = get_sampler(options.sampler)
    start = Start(low_dimensional=build == "marginal", density=density)
    if options.max_draws is not None and not sampler.can_extend(start):
        raise SpecificationError(
            "max_draws: a run that extends itself needs nutpie on the marginal build; "
            f"received sampler={options.sampler!r} on the {build} build. Pass max_draws=None.")
    idata = sampler.sample(model, options, start)
    idata = clean_idata(idata)
    add_observed_data(idata, design)
    if build == "marginal":
        _integrated_draws(idata, design, priors, stats, options.random_seed, None)
    elif build == "collapsed":
        resid = partial_residual_stats(design, idata.posterior, collapsed_factor(design))
        _integrated_draws(idata, design, priors, stats, options.random_seed, resid)
    n_values = options.chains * options.draws * design.n_obs
    keep = options.log_likelihood
    if keep or (keep is None and n_values <= LOGLIK_AUTO_MAX and design.has_rows):
        add_log_likelihood(idata, design)
    return idata, build


def _kernel(build: str, design: Design, priors: dict[str, Prior], stats: SuffStats | None
            ) -> KernelDensity | None:
    """Return the hand-written kernel's density of the build where one covers it, else None.

    The marginal build (one Gaussian factor) and the latent build of the binomial, Bernoulli,
    Poisson, negative binomial, Student-t and Gaussian families, under the default prior
    families (:mod:`bayesmm.infer.kernel_density`).
    """
    if build == "marginal":
        return kernel_density(design, priors, stats)
    return latent_kernel_density(design, priors) if build == "latent" else None


def choose_build(design: Design, marginal: bool | None) -> str:
    """``"marginal"`` (one Gaussian factor), ``"collapsed"`` (several) or ``"latent"``.

    ``marginal=None`` integrates out what can be: every effect and β for one Gaussian factor,
    the largest factor and β for several; ``False`` forces the latent build.
    """
    if marginal and not marginal_applies(design):
        raise SpecificationError(
            "marginal: the marginal build needs a Gaussian model with one grouping factor; "
            f"this model has family={design.family.name!r} and {len(design.factors)} factor(s) "
            f"({[f.name for f in design.factors]}). Use marginal=None (for several Gaussian "
            "factors: the largest integrated out, the others latent).")
    if marginal is False:
        return "latent"
    if marginal_applies(design):
        return "marginal"
    return "collapsed" if collapsed_applies(design) else "latent"


def _integrated_draws(idata: az.InferenceData, design: Design, priors: dict[str, Prior],
                      stats: SuffStats, seed: int | None,
                      resid: ResidualStats | None) -> None:
    """Add exact draws of β (when integrated out) and of the integrated factor's effects."""
    factor = design.factors[0 if resid is None else resid.k]
    rng = np.random.default_rng(seed)
    added: dict[str, xr.DataArray] = {}
    if beta_is_conjugate(design, priors):
        m0, s0 = normal_prior_moments(design, priors)
        beta = draw_beta(design, stats, idata.posterior, m0, s0, rng, resid=resid)
        added["beta"] = xr.DataArray(beta, dims=("chain", "draw", "coef"),
                                     coords={"coef": list(design.xnames)})
    # the effects' draws condition on these β draws
    b = draw_effects(design, stats, {**idata.posterior.data_vars, **added}, rng, resid=resid)
    dims = ("chain", "draw", *effect_dims(factor))
    every = coords_of(design)
    coords = {d: list(every[d]) for d in effect_dims(factor)}
    added[factor.label] = xr.DataArray(b, dims=dims, coords=coords)
    idata.posterior = idata.posterior.assign(added)
