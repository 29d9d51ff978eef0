"""Predictions, comparisons and slopes over a grid, in the spirit of bambi's ``interpret``.

A grid varies one covariate (and, with ``by``, a second variable's levels) and holds every
other column of the data at a typical value: the mean of a numeric column, the most
frequent value of any other. A grouping column not named in ``by`` is set to an unseen level
with ``new_groups="zero"``: the population-level prediction (bambi's default). Each function
draws the posterior of the quantity on the grid and plots its mean with an HDI band, one
line per ``by`` level, and returns the axes.
"""

from __future__ import annotations

from typing import Protocol

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from .design import Design
from .errors import SpecificationError

__all__ = ["Predictor", "comparisons", "grid", "plot_comparisons", "plot_predictions",
           "plot_slopes", "predictions", "slopes"]

_UNSEEN = "__population__"


class Predictor(Protocol):
    """What the interpret functions read from a posterior result."""

    design: Design

    def predict(self, new_data: pd.DataFrame | None = None, kind: str = "mean",
                new_groups: str = "sample", random_seed: int | None = None) -> xr.DataArray:
        """Posterior draws (chain, draw, obs) of predictions for ``new_data``."""
        ...


def _typical(column: pd.Series) -> object:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return float(column.mean())
    return column.mode().iloc[0]


def _values(column: pd.Series, n: int) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column) and column.nunique() > 5:
        return np.linspace(column.min(), column.max(), n)
    return np.asarray(sorted(column.unique()))


def grid(data: pd.DataFrame, design: Design, covariate: str, by: str | None = None,
         n: int = 50) -> pd.DataFrame:
    """Rows varying ``covariate`` (× the levels of ``by``), every other column typical."""
    for name, what in ((covariate, "covariate"), (by, "by")):
        if name is not None and name not in data.columns:
            raise SpecificationError(f"{what}: expected a column of the fitted data "
                                     f"{list(data.columns)}; received {name!r}.")
    groups = {f.label for f in design.factors}
    base = {c: _typical(data[c]) for c in data.columns if c != design.response}
    base.update({g: _UNSEEN for g in groups if g in data.columns and g != by})
    axes = {covariate: _values(data[covariate], n)}
    if by is not None:
        axes[by] = np.asarray(sorted(data[by].unique()))
    index = pd.MultiIndex.from_product(list(axes.values()), names=list(axes))
    frame = index.to_frame(index=False)
    for c, v in base.items():
        if c not in frame.columns:
            frame[c] = v
    frame[design.response] = 0.0
    return frame


def predictions(res: Predictor, data: pd.DataFrame, covariate: str, by: str | None = None,
                kind: str = "mean", n: int = 50) -> tuple[pd.DataFrame, xr.DataArray]:
    """Return the grid and the posterior draws (chain, draw, obs) of the prediction on it."""
    frame = grid(data, res.design, covariate, by, n)
    return frame, res.predict(frame, kind=kind, new_groups="zero")


def comparisons(res: Predictor, data: pd.DataFrame, contrast: str,
                conditional: str | None = None, values: tuple | None = None, n: int = 50
                ) -> tuple[pd.DataFrame, xr.DataArray, tuple]:
    """Draws of ``E[y | contrast = b] − E[y | contrast = a]`` over ``conditional``'s grid.

    ``values`` defaults to (mean, mean + 1) for a numeric ``contrast`` and to its first two
    levels otherwise.
    """
    col = data[contrast]
    if values is None:
        if pd.api.types.is_numeric_dtype(col) and col.nunique() > 2:
            values = (float(col.mean()), float(col.mean()) + 1.0)
        else:
            values = tuple(sorted(col.unique())[:2])
    covariate = conditional if conditional is not None else contrast
    frame = grid(data, res.design, covariate, None, n)
    if conditional is None:
        frame = frame.iloc[:1]
    draws = []
    for v in values:
        frame = frame.assign(**{contrast: v})
        draws.append(res.predict(frame, kind="mean", new_groups="zero"))
    return frame, draws[1] - draws[0], values


def slopes(res: Predictor, data: pd.DataFrame, wrt: str, conditional: str | None = None,
           n: int = 50) -> tuple[pd.DataFrame, xr.DataArray]:
    """Draws of ``∂E[y]/∂wrt`` (a central difference of 1e-4 SD) over ``conditional``."""
    col = data[wrt]
    if not pd.api.types.is_numeric_dtype(col):
        raise SpecificationError(f"wrt: expected a numeric column; {wrt!r} is {col.dtype}. "
                                 "Use plot_comparisons for a categorical variable.")
    h = 1e-4 * float(col.std()) or 1e-4
    frame = grid(data, res.design, conditional or wrt, None, n)
    up = res.predict(frame.assign(**{wrt: frame[wrt] + h}), kind="mean", new_groups="zero")
    down = res.predict(frame.assign(**{wrt: frame[wrt] - h}), kind="mean", new_groups="zero")
    return frame, (up - down) / (2 * h)


def _plot(frame: pd.DataFrame, draws: xr.DataArray, x: str, by: str | None, ylabel: str,
          hdi_prob: float, ax: plt.Axes | None) -> plt.Axes:
    """Mean line and HDI band per ``by`` level."""
    if ax is None:
        _, ax = plt.subplots()
    stacked = draws.stack(sample=("chain", "draw")).transpose("obs", "sample").values  # (O, S)
    levels = [None] if by is None else list(pd.unique(frame[by]))
    numeric = pd.api.types.is_numeric_dtype(frame[x])
    for level in levels:
        rows = np.ones(len(frame), bool) if level is None else (frame[by] == level).to_numpy()
        xs, d = frame[x].to_numpy()[rows], stacked[rows]
        band = az.hdi(d.T[None], hdi_prob=hdi_prob)  # (O, 2)
        label = None if level is None else f"{by} = {level}"
        if numeric:
            (line,) = ax.plot(xs, d.mean(axis=1), label=label)
            ax.fill_between(xs, band[:, 0], band[:, 1], alpha=0.25, color=line.get_color())
        else:
            ax.errorbar(xs.astype(str), d.mean(axis=1), fmt="o", label=label,
                        yerr=np.abs(band.T - d.mean(axis=1)))
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    if by is not None:
        ax.legend()
    return ax


def plot_predictions(res: Predictor, data: pd.DataFrame, covariate: str,
                     by: str | None = None, kind: str = "mean", hdi_prob: float = 0.94,
                     ax: plt.Axes | None = None) -> plt.Axes:
    """Plot the posterior prediction against ``covariate`` (one line per level of ``by``)."""
    frame, draws = predictions(res, data, covariate, by, kind)
    return _plot(frame, draws, covariate, by, res.design.response, hdi_prob, ax)


def plot_comparisons(res: Predictor, data: pd.DataFrame, contrast: str,
                     conditional: str | None = None, values: tuple | None = None,
                     hdi_prob: float = 0.94, ax: plt.Axes | None = None) -> plt.Axes:
    """Plot the posterior difference between two values of ``contrast``."""
    frame, draws, (a, b) = comparisons(res, data, contrast, conditional, values)
    x = conditional if conditional is not None else contrast
    if conditional is None:  # one point: label it by the comparison
        frame = frame.assign(**{x: f"{b} vs {a}"})
    label = f"{res.design.response}: {contrast} = {b} minus {contrast} = {a}"
    return _plot(frame, draws, x, None, label, hdi_prob, ax)


def plot_slopes(res: Predictor, data: pd.DataFrame, wrt: str, conditional: str | None = None,
                hdi_prob: float = 0.94, ax: plt.Axes | None = None) -> plt.Axes:
    """Plot the posterior slope of the prediction in ``wrt`` over ``conditional``."""
    frame, draws = slopes(res, data, wrt, conditional)
    return _plot(frame, draws, conditional or wrt, None,
                 f"d {res.design.response} / d {wrt}", hdi_prob, ax)
