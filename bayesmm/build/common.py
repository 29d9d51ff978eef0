"""Parameters shared by the latent and marginal builds: β, σ and each factor's Cholesky of Ψ.

Both builds call :func:`add_parameters` with the same priors, so they target the same
posterior; they differ only in how the random effects enter the likelihood.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..design import Design, FactorDesign
from ..priors import Prior, corr_key, sd_key

__all__ = ["Params", "add_parameters", "coords_of", "effect_dims", "observed", "sd_names"]


@dataclass(frozen=True, eq=False)
class Params:
    """PyTensor variables of the model's parameters.

    Attributes
    ----------
    beta : TensorVariable, shape (p,), or None
        None when β is integrated out (marginal build with Normal priors).
    aux : dict
        The family's own parameters by name (``sigma``, ``nu``, ``alpha``).
    chols : tuple of TensorVariable, each shape (q_f, q_f)
        Lower Cholesky factor of every factor's random-effects covariance Ψ_f.
    """

    beta: pt.TensorVariable | None
    aux: dict[str, pt.TensorVariable]
    chols: tuple[pt.TensorVariable, ...]

    @property
    def sigma(self) -> pt.TensorVariable:
        """Residual SD (Gaussian and Student-t families)."""
        return self.aux["sigma"]


def effect_dims(factor: FactorDesign) -> tuple[str, str]:
    """Dimension names of a factor's random effects: (levels, columns)."""
    return f"{factor.label}_level", f"{factor.label}_effect"


def sd_names(factor: FactorDesign) -> list[str]:
    """Names of a factor's SD parameters: one per column, one per variance component."""
    names: list[str] = []
    for block in factor.blocks:
        names.extend([block.name] if block.kind == "vc" else [factor.znames[c] for c in block.cols])
    return names


def observed(design: Design) -> pt.TensorVariable:
    """Register the response as the data container ``_y`` (N,), swappable without recompiling.

    Calibration runs (tests/test_sbc.py) refit one compiled model to many simulated
    responses through :func:`pymc.set_data`.
    """
    return pm.Data("_y", design.y, dims="obs")


def coords_of(design: Design) -> dict[str, list]:
    """Coordinates of every dimension the builds use."""
    coords: dict[str, list] = {"coef": list(design.xnames), "obs": list(range(design.y.size))}
    for f in design.factors:
        lev, eff = effect_dims(f)
        coords[lev] = [str(v) for v in f.levels]
        coords[eff] = list(f.znames)
        coords[f"{f.label}_sd_dim"] = sd_names(f)
        for block in f.blocks:
            if block.kind == "corr":
                cols = [f.znames[c] for c in block.cols]
                coords[f"{f.label}_corr_row"] = cols
                coords[f"{f.label}_corr_col"] = cols
    return coords


def _hyper(name: str, params: Mapping[str, object], as_data: bool) -> dict[str, object]:
    """Return a prior's parameters, as given or as data containers ``_<name>_<param>``.

    As containers, the prior's values are inputs of the compiled model rather than
    constants in its graph: models of the same structure then share one compiled function
    (:mod:`bayesmm.infer.compiled`) whatever their data-scaled priors.
    """
    if not as_data:
        return dict(params)
    return {k: pm.Data(f"_{name}_{k}", np.asarray(v, dtype=float)) for k, v in params.items()}


def _register(prior: Prior, name: str, as_data: bool) -> pt.TensorVariable:
    """Register ``prior`` as the random variable ``name`` (parameters as data if asked)."""
    return prior.create(name, _hyper(name, prior.params, as_data))


def _factor_chol(factor: FactorDesign, priors: dict[str, Prior], as_data: bool
                 ) -> pt.TensorVariable:
    """Cholesky factor (q, q) of Ψ for one factor, registering its SD/corr deterministics."""
    q = factor.q
    chol = pt.zeros((q, q))
    sds = []
    for b, block in enumerate(factor.blocks):
        lo, hi = block.cols[0], block.cols[-1] + 1
        if block.kind == "corr":
            scales = [priors[sd_key(factor, factor.znames[c])] for c in block.cols]
            # one family and parameter set per block (priors._check_correlated_sds)
            params = {k: np.array([s.params[k] for s in scales]) for k in scales[0].params}
            params = _hyper(f"_{factor.label}_chol{b}_sd", params, as_data)
            sd_dist = getattr(pm, scales[0].dist).dist(**params, shape=hi - lo)
            eta = priors[corr_key(factor)].params["eta"]  # a constant: part of the structure
            L, corr, stds = pm.LKJCholeskyCov(
                f"_{factor.label}_chol{b}", n=hi - lo, eta=eta, sd_dist=sd_dist,
                compute_corr=True, store_in_trace=False,
            )
            chol = pt.set_subtensor(chol[lo:hi, lo:hi], L)
            sds.append(stds)
            dims = (f"{factor.label}_corr_row", f"{factor.label}_corr_col")
            pm.Deterministic(f"{factor.label}_corr", corr, dims=dims)
            continue
        key = sd_key(factor, block.name if block.kind == "vc" else factor.znames[lo])
        sd = _register(priors[key], f"_{factor.label}_sd{b}", as_data)
        idx = np.arange(lo, hi)
        chol = pt.set_subtensor(chol[idx, idx], sd)
        sds.append(pt.atleast_1d(sd))
    pm.Deterministic(f"{factor.label}_sd", pt.concatenate(sds), dims=f"{factor.label}_sd_dim")
    return chol


def add_parameters(design: Design, priors: dict[str, Prior], include_beta: bool = True,
                   hyper_data: bool = False) -> Params:
    """Register β (unless integrated out), the family's parameters and every covariance.

    With ``hyper_data`` every prior's numeric parameters (except LKJ's η) are data
    containers instead of constants (see :func:`_hyper`).
    """
    fe = [priors[name] for name in design.xnames]
    if not include_beta:
        beta = None
    elif len({(p.dist, tuple(p.params)) for p in fe}) == 1:
        params = {k: np.array([p.params[k] for p in fe]) for k in fe[0].params}
        beta = getattr(pm, fe[0].dist)("beta", **_hyper("beta", params, hyper_data),
                                       dims="coef")
    else:
        betas = [_register(p, f"_beta{j}", hyper_data) for j, p in enumerate(fe)]
        beta = pm.Deterministic("beta", pt.stack(betas), dims="coef")
    aux = {a.name: _register(priors[a.name], a.name, hyper_data)
           for a in design.family.aux}
    chols = tuple(_factor_chol(f, priors, hyper_data) for f in design.factors)
    return Params(beta, aux, chols)
