"""Plots on ArviZ and matplotlib; every function returns its axes and never calls ``show``."""

from __future__ import annotations

from typing import Any, Protocol

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from .design import Design

__all__ = ["Fitted", "plot_compare", "plot_forest", "plot_ppc", "plot_random_effects",
           "plot_trace"]


class Fitted(Protocol):
    """What the plots read from a posterior result (``Fitted`` has it all)."""

    design: Design
    idata: az.InferenceData

    @property
    def posterior(self) -> xr.Dataset:
        """The posterior group."""
        ...

    def draws_table(self, cov_scale: str = "var") -> xr.Dataset:
        """Draws of the reported rows, by row name."""
        ...

    def posterior_predictive(self) -> az.InferenceData:
        """Posterior with replicates of the response."""
        ...


def _parameter_names(res: Fitted) -> list[str]:
    """Posterior variables a user reads: β, σ and every factor's SD and correlation."""
    names = ["beta", "sigma"]
    for f in res.design.factors:
        names.append(f"{f.label}_sd")
        if f"{f.label}_corr" in res.posterior:
            names.append(f"{f.label}_corr")
    return names


def plot_trace(res: Fitted, **kwargs: Any) -> np.ndarray:
    """Trace and density of the model parameters (:func:`arviz.plot_trace`)."""
    kwargs.setdefault("var_names", _parameter_names(res))
    return az.plot_trace(res.idata, **kwargs)


def plot_forest(res: Fitted, cov_scale: str = "var", **kwargs: Any) -> np.ndarray:
    """Forest plot of the reported rows (fixed effects, covariance parameters, residual)."""
    kwargs.setdefault("combined", True)
    return az.plot_forest(res.draws_table(cov_scale), **kwargs)


def plot_ppc(res: Fitted, **kwargs: Any) -> Any:
    """Posterior predictive check (:func:`arviz.plot_ppc`), drawing replicates if needed."""
    idata = res.idata
    if "posterior_predictive" not in idata.groups():
        idata = res.posterior_predictive()
    kwargs.setdefault("num_pp_samples", 100)
    return az.plot_ppc(idata, **kwargs)


def plot_random_effects(res: Fitted, factor: str | None = None, **kwargs: Any
                        ) -> np.ndarray:
    """Caterpillar plot of one factor's random effects (:func:`arviz.plot_forest`)."""
    label = factor or res.design.factors[0].label
    kwargs.setdefault("combined", True)
    return az.plot_forest(res.idata, var_names=[label], **kwargs)


_MARKERS = {"REML": "o", "ML": "s", "MAP": "D"}


def plot_compare(table: pd.DataFrame, axes: np.ndarray | None = None) -> np.ndarray:
    """Posterior HDI and mean per parameter with the REML, ML and MAP estimates marked.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`bayesmm.compare_estimates`.
    axes : ndarray of Axes, optional
        One per row of ``table``.

    Returns
    -------
    ndarray of matplotlib Axes
    """
    n = len(table)
    if axes is None:
        _, axes = plt.subplots(n, 1, figsize=(6, 0.9 * n + 0.6), squeeze=False)
        axes = axes[:, 0]
    lo, hi = [c for c in table.columns if c.startswith("hdi_")]
    for ax, (name, row) in zip(axes, table.iterrows(), strict=True):
        ax.hlines(0, row[lo], row[hi], color="C0", lw=3, label="posterior HDI")
        ax.plot(row["Mean"], 0, "o", color="C0", mfc="white", label="posterior mean")
        for k, (method, marker) in enumerate(_MARKERS.items()):
            if np.isfinite(row[method]):
                ax.plot(row[method], 0, marker, color=f"C{k + 1}", label=method, alpha=0.8)
        ax.set_yticks([0], [name])
        ax.set_ylim(-1, 1)
    axes[0].legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=5, fontsize="small",
                   frameon=False)
    return axes
