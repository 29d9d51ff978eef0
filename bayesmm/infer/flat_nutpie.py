"""nutpie's NUTS (Rust) on the compiled, cached flat density of a small model.

``nutpie.compile_pymc_model`` spends 13–28 s per fit having numba compile its two C
callbacks, which numba cannot cache. Here nutpie instead calls a Python function that wraps
the model's numba-compiled density from :func:`bayesmm.infer.compiled.compile_density`
(15–20 µs a call, cached by graph across fits and processes). The marginal build has a
handful of parameters, so holding the GIL for each call costs little: 4 chains of 2000
iterations make ≈50,000 calls, 1.5–2.5 s, and chains run one after another (each call
holds the GIL, so threads would only take turns).

Chains start within ±2 posterior SDs of the mode (:func:`bayesmm.infer.warmstart.posterior_mode`),
so R-hat still sees overdispersed starts; nutpie adapts its own mass matrix from there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm

from .compiled import CompiledDensity, compile_density
from .warmstart import posterior_mode

if TYPE_CHECKING:
    from .nuts import NutsOptions

__all__ = ["sample_flat_nutpie"]


def _model_from(density: CompiledDensity, model: pm.Model, seed: int | None) -> object:
    """Build nutpie's model object for ``density``, with its variables' dims and coordinates."""
    from nutpie.compiled_pyfunc import from_pyfunc

    found = posterior_mode(density.logp_grad, density.x0)

    def initial_point(chain_seed: int) -> np.ndarray:
        if found is None:
            return density.x0.copy()
        rng = np.random.default_rng([chain_seed, 0 if seed is None else seed])
        return found.start(density.logp_grad, rng)

    def make_logp() -> object:
        def logp(x: np.ndarray, **_: object) -> tuple[float, np.ndarray]:
            value, grad = density.logp_grad(x)
            return value, np.ascontiguousarray(grad, dtype=float)
        return logp

    def make_expand(_seed1: int, _seed2: int, _chain: int) -> object:
        def expand(x: np.ndarray, **_: object) -> dict[str, np.ndarray]:
            return density.trace_point(x)
        return expand

    dims = {n: tuple(model.named_vars_to_dims[n]) for n in density.names
            if n in model.named_vars_to_dims}
    coords = {d: pd.Index(model.coords[d]) for dd in dims.values() for d in dd}
    return from_pyfunc(density.n_dim, make_logp, make_expand,
                       [np.dtype("float64")] * len(density.names), list(density.shapes),
                       list(density.names), coords=coords, dims=dims,
                       make_initial_point_fn=initial_point)


def sample_flat_nutpie(model: pm.Model, options: NutsOptions) -> az.InferenceData:
    """Sample ``model`` (continuous free variables only) with nutpie on its cached density.

    Parameters
    ----------
    model : pymc.Model
    options : NutsOptions

    Returns
    -------
    arviz.InferenceData
        Posterior and sample statistics, warm-up left out.
    """
    import nutpie

    density = compile_density(model, "NUMBA")
    compiled = _model_from(density, model, options.random_seed)
    # cores=1: every density call holds the GIL, so threads would only take turns
    return nutpie.sample(compiled, draws=options.draws, tune=options.tune,
                         chains=options.chains, cores=1,
                         seed=options.random_seed, progress_bar=options.progressbar,
                         target_accept=options.target_accept, save_warmup=False)
