"""nutpie's NUTS (Rust) on the compiled, cached flat density of a small model.

``nutpie.compile_pymc_model`` spends 13–28 s per fit having numba compile its two C
callbacks, which numba cannot cache. Here nutpie instead calls a Python function that wraps
the model's numba-compiled density from :func:`bayesmm.infer.compiled.compile_density`
(15–20 µs a call, cached by graph across fits and processes). The marginal build has a
handful of parameters, so holding the GIL for each call costs little: 4 chains of 2000
iterations make ≈50,000 calls, 1.5–2.5 s, and chains run one after another (each call
holds the GIL, so threads would only take turns). Where chains must run at once (a
self-extending run), where ``cores`` asks for it, or where they are already cached, nutpie
instead calls the density's C callbacks (:mod:`bayesmm.infer.native`) on threads without the
GIL; both paths draw the same chains for the same seed.

Chains start within ±2 posterior SDs of the mode (:func:`bayesmm.infer.warmstart.posterior_mode`),
so R-hat still sees overdispersed starts; nutpie adapts its own mass matrix from there.

With ``NutsOptions.max_draws`` the run extends itself: the chains run on threads (on the C
callbacks) towards ``max_draws`` and are checked each time they all pass a multiple
of ``draws``; the first checkpoint at which every parameter meets :class:`StopRule` ends the
run, and the trace is cut there. The cut depends only on the draws, never on the clock, so
a seed gives the same trace every time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import arviz as az
import numpy as np
import nutpie
import pandas as pd
import pymc as pm

from ..diagnostics import numpy_kernels
from .compiled import CompiledDensity, compile_density
from .kernel_density import KernelDensity
from .native import native_cached, native_density
from .nutpie_trace import to_inference_data
from .options import NutsOptions
from .warmstart import posterior_mode

__all__ = ["StopRule", "sample_flat_nutpie"]


@dataclass(frozen=True)
class StopRule:
    """When a self-extending run has converged (Vehtari et al. 2021's thresholds).

    Attributes
    ----------
    max_rhat : float
        Largest rank-normalised split R-hat allowed for any parameter.
    min_ess_per_chain : float
        Smallest bulk ESS per chain allowed for any parameter (100 per chain: 400 for 4).
    """

    max_rhat: float = 1.01
    min_ess_per_chain: float = 100.0

    def met(self, posterior: object) -> bool:
        """Whether every non-constant parameter of ``posterior`` (an xarray Dataset) passes."""
        with np.errstate(invalid="ignore", divide="ignore"), numpy_kernels():  # R-hat 0/0
            rhat = az.rhat(posterior).to_array().values.ravel()
            ess = az.ess(posterior, method="bulk").to_array().values.ravel()
        n_chains = posterior.sizes["chain"]
        keep = np.isfinite(rhat)  # a constant (e.g. a fixed weight) has no R-hat
        return bool(np.all(rhat[keep] <= self.max_rhat)
                    and np.all(ess[keep] >= self.min_ess_per_chain * n_chains))


def _initial_point_fn(density: CompiledDensity, seed: int | None, warm: bool) -> Callable:
    """Each chain's start, from its chain seed.

    With ``warm`` each chain starts within ±2 posterior SDs of the mode; otherwise (a latent
    build, thousands of effects) at the model's initial point jittered by U(−1, 1) on the
    unconstrained scale, as PyMC's ``jitter+adapt_diag``.
    """
    found = posterior_mode(density.logp_grad, density.x0) if warm else None

    def initial_point(chain_seed: int) -> np.ndarray:
        rng = np.random.default_rng([chain_seed, 0 if seed is None else seed])
        if found is None:
            return density.x0 + (rng.uniform(-1.0, 1.0, density.n_dim) if not warm else 0.0)
        return found.start(density.logp_grad, rng)
    return initial_point


def _dims_coords(density: CompiledDensity, model: pm.Model | None) -> tuple[dict, dict]:
    """Return the trace variables' dims and the coordinates they use (the density's or model's)."""
    if density.dims is not None:
        dims, every = dict(density.dims), density.coords or {}
    else:
        dims = {n: tuple(model.named_vars_to_dims[n]) for n in density.names
                if n in model.named_vars_to_dims}
        every = model.coords
    coords = {d: pd.Index(every[d]) for dd in dims.values() for d in dd}
    return dims, coords


def _model_from(density: CompiledDensity, model: pm.Model | None, seed: int | None,
                warm: bool = True) -> object:
    """Build nutpie's model calling ``density`` from Python (each call holds the GIL)."""
    from nutpie.compiled_pyfunc import from_pyfunc

    def make_logp() -> object:
        def logp(x: np.ndarray, **_: object) -> tuple[float, np.ndarray]:
            value, grad = density.logp_grad(x)
            return value, np.ascontiguousarray(grad, dtype=float)
        return logp

    def make_expand(_seed1: int, _seed2: int, _chain: int) -> object:
        def expand(x: np.ndarray, **_: object) -> dict[str, np.ndarray]:
            return density.trace_point(x)
        return expand

    dims, coords = _dims_coords(density, model)
    return from_pyfunc(density.n_dim, make_logp, make_expand,
                       [np.dtype("float64")] * len(density.names), list(density.shapes),
                       list(density.names), coords=coords, dims=dims,
                       make_initial_point_fn=_initial_point_fn(density, seed, warm))


def _native_model_from(density: CompiledDensity, model: pm.Model | None,
                       seed: int | None,
                       warm: bool = True) -> object:
    """Build nutpie's model on ``density``'s C callbacks: chains run without the GIL."""
    from nutpie.compile_pymc import CompiledPyMCModel

    native = density.native if isinstance(density, KernelDensity) else native_density(density)
    dims, coords = _dims_coords(density, model)
    shapes = [list(s) for s in density.shapes]
    return CompiledPyMCModel(
        _n_dim=density.n_dim, dims=dims, _coords=coords,
        _shapes={n: tuple(s) for n, s in zip(density.names, density.shapes, strict=True)},
        compiled_logp_func=native.logp, compiled_expand_func=native.expand,
        initial_point_func=_initial_point_fn(density, seed, warm),
        shared_data={f"data{i}": a for i, a in enumerate(native.data)},  # kept alive
        user_data=native.user_data, n_expanded=native.n_expanded,
        shape_info=(list(density.names), None, shapes), logp_func=None, expand_func=None)


def sample_flat_nutpie(model: pm.Model | None, options: NutsOptions, warm: bool = True,
                       density: CompiledDensity | None = None) -> az.InferenceData:
    """Sample ``model`` (continuous free variables only) with nutpie on its cached density.

    Parameters
    ----------
    model : pymc.Model or None
        None when ``density`` is given with its trace labels (a hand-written kernel's).
    options : NutsOptions
    warm : bool
        Start near the posterior mode (low-dimensional models); else jittered initial points.
    density : CompiledDensity, optional
        ``model``'s flat density when one is compiled already (a hand-written kernel's,
        :mod:`bayesmm.infer.kernel_density`); otherwise the model's graph is compiled
        (:func:`~bayesmm.infer.compiled.compile_density`).

    Returns
    -------
    arviz.InferenceData
        Posterior and sample statistics, warm-up left out.
    """
    if density is None:
        density = compile_density(model, "NUMBA")
    settings = {"tune": options.tune, "chains": options.chains, "seed": options.random_seed,
                "progress_bar": options.progressbar, "target_accept": options.target_accept,
                "save_warmup": False, "return_raw_trace": True}
    cores = options.cores or os.cpu_count() or 1
    native = isinstance(density, KernelDensity) or options.max_draws is not None or (
        cores > 1 and (options.cores is not None or native_cached(density)))
    if not native:
        # one chain after another: every call of the Python density holds the GIL, so
        # threads would only take turns
        compiled = _model_from(density, model, options.random_seed, warm)
        return _trace(nutpie.sample(compiled, draws=options.draws, cores=1, **settings),
                      compiled)
    compiled = _native_model_from(density, model, options.random_seed, warm)
    if options.max_draws is None:
        return _trace(nutpie.sample(compiled, draws=options.draws,
                                    cores=min(cores, options.chains), **settings), compiled)
    # every chain at once (threads), so that each checkpoint sees all of them
    return _sample_until_converged(
        nutpie.sample(compiled, draws=options.max_draws, cores=options.chains,
                      blocking=False, **settings),
        options.draws, options.max_draws, StopRule(), lambda raw: _trace(raw, compiled))


def _trace(results: object, compiled: object) -> az.InferenceData:
    """Convert nutpie's raw trace ``results`` of the model ``compiled`` to InferenceData."""
    draws, stats = results.get_arrow_trace()  # type: ignore[attr-defined]
    return to_inference_data(draws, stats, compiled.coords)  # type: ignore[attr-defined]


def _completed_draws(trace: az.InferenceData) -> int:
    """Draws that every chain has finished in a trace under way (unfinished ones are NaN)."""
    post = trace.posterior
    if post.sizes.get("draw", 0) == 0:
        return 0
    first = post[next(iter(post.data_vars))].values  # (C, D, ...)
    done = np.isfinite(first.reshape(*first.shape[:2], -1)).all(axis=2)  # (C, D)
    return int(done.all(axis=0).cumprod().sum())


def _finished(sampler: object) -> bool:
    """Whether nutpie's background sampler has stopped.

    ``is_finished`` is a property; while the chains run, reading it raises TimeoutError.
    """
    try:
        return bool(sampler.is_finished)  # type: ignore[attr-defined]
    except TimeoutError:
        return False


def _sample_until_converged(sampler: object, step: int, max_draws: int, rule: StopRule,
                            convert: Callable[[object], az.InferenceData] = lambda raw: raw,
                            poll: float = 0.5) -> az.InferenceData:
    """Check ``sampler`` (nutpie, running) at every ``step`` draws; cut it where ``rule`` holds.

    ``convert`` turns what the sampler returns into InferenceData (nutpie's raw trace).

    Returns the first ``k · step`` draws of every chain for the smallest ``k`` whose draws
    meet ``rule``, or all ``max_draws`` when none does.
    """
    checkpoint = step
    while checkpoint < max_draws:
        if _finished(sampler):
            break
        trace = convert(sampler.inspect())  # type: ignore[attr-defined]
        while checkpoint < max_draws and _completed_draws(trace) >= checkpoint:
            head = trace.isel(draw=slice(0, checkpoint))
            if rule.met(head.posterior):
                sampler.abort()  # type: ignore[attr-defined]
                return head
            checkpoint += step
        time.sleep(poll)
    trace = convert(sampler.wait())  # type: ignore[attr-defined]
    for at in range(checkpoint, max_draws, step):  # checkpoints the loop did not reach
        head = trace.isel(draw=slice(0, at))
        if rule.met(head.posterior):
            return head
    return trace
