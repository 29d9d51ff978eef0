"""Designs of Dask data frames: statistics per partition, combined by a tree reduction.

The rows never reach the client. A small *template* frame (one row per level of every
categorical column, plus the first rows) fixes formulae's terms and the levels; every partition
is then evaluated against those terms, reduced to its sufficient statistics and column
moments, and the pieces are summed pairwise. The resulting :class:`~bayesmm.design.Design` has
empty row arrays and carries the combined :class:`~bayesmm.moments.DataMoments`; REML/ML/MAP
and the marginal NUTS build need nothing more.
"""

from __future__ import annotations

import operator
import re
import sys
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from .blocked import BlockedStats, add_blocked_stats
from .design import (
    Design,
    MissingDataWarning,
    _check_identifiable,
    _used_columns,
    complete_rows,
    design_columns,
    make_design,
)
from .errors import DataError, SpecificationError
from .moments import DataMoments, moments_of
from .newdata import new_design
from .spec import ModelSpec
from .suffstats import SuffStats, add_stats, suff_stats

__all__ = ["is_dask_frame", "partitioned_design"]

HEAD_ROWS = 1000  # rows of the first partition in the template
STATEFUL = ("center", "scale", "standardize")  # formulae transforms fitted to the data


def is_dask_frame(data: object) -> bool:
    """Whether ``data`` is a :class:`dask.dataframe.DataFrame` (without importing Dask)."""
    module = sys.modules.get("dask.dataframe")
    return module is not None and isinstance(data, module.DataFrame)


@dataclass(frozen=True, eq=False)
class Piece:
    """What one partition (or a reduction of several) contributes."""

    stats: SuffStats | BlockedStats | None
    moments: DataMoments | None
    n_dropped: int

    def __add__(self, other: Piece) -> Piece:
        if self.stats is None:
            return replace(other, n_dropped=self.n_dropped + other.n_dropped)
        if other.stats is None:
            return replace(self, n_dropped=self.n_dropped + other.n_dropped)
        add = add_blocked_stats if isinstance(self.stats, BlockedStats) else add_stats
        return Piece(add(self.stats, other.stats), self.moments.combine(other.moments),
                     self.n_dropped + other.n_dropped)


def _piece(part: pd.DataFrame, template: Design, cols: list[str]) -> Piece:
    """Statistics and moments of one partition, evaluated with the template's terms."""
    ok = complete_rows(part, cols)
    part = part.loc[ok].reset_index(drop=True)
    if len(part) == 0:
        return Piece(None, None, int((~ok).sum()))
    new = new_design(template, part)
    for factor, unseen in zip(template.factors, new.new_levels, strict=True):
        if unseen:  # cannot happen: levels were discovered across partitions
            raise DataError(f"{factor.label}: levels {list(unseen)[:5]} missing from the "
                            "level scan; recompute the Dask frame.")
    y = part[template.response].to_numpy(dtype=float)
    template.family.check(y, new.trials)
    rows = replace(template, y=y, X=new.X, factors=tuple(
        replace(f, codes=c, Z=Z)
        for f, c, Z in zip(template.factors, new.codes, new.Z, strict=True)))
    stats = suff_stats(rows)  # per group, or lme4's blocked cross-products (summed alike)
    moments = moments_of(design_columns(y, new.X, new.Z, new.trials, new.offset), new.codes,
                         tuple(f.n_levels for f in template.factors))
    return Piece(stats, moments, int((~ok).sum()))


def _tree_sum(items: list[Any]) -> Any:
    """Pairwise (tree) sum of delayed pieces: depth log2(partitions)."""
    import dask

    while len(items) > 1:
        pairs = [dask.delayed(operator.add)(items[i], items[i + 1])
                 for i in range(0, len(items) - 1, 2)]
        items = pairs + ([items[-1]] if len(items) % 2 else [])
    return items[0]


def _template(spec: ModelSpec, ddf: Any, cols: list[str]) -> pd.DataFrame:
    """Complete rows covering every level of every non-numeric used column and the groups."""
    import dask

    meta = ddf._meta
    factor_cols = {c for t in spec.re_terms for c in t.factor.split(":")}
    discrete = [c for c in cols if c in factor_cols or not pd.api.types.is_numeric_dtype(meta[c])]
    valid = ddf[cols].map_partitions(_complete, cols)
    head = valid.get_partition(0).head(HEAD_ROWS, compute=False)
    parts = dask.compute(head, *[valid.drop_duplicates(subset=[c]) for c in discrete])
    template = pd.concat(parts, ignore_index=True)
    if len(template) == 0:
        raise DataError(f"data: every row has a missing value in {cols}.")
    return template


def _complete(part: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Rows of a partition without missing values in ``cols`` (infinite ones raise)."""
    return part.loc[complete_rows(part, cols)]


def partitioned_design(spec: ModelSpec, ddf: Any
                       ) -> tuple[Design, SuffStats | BlockedStats]:
    """Design and sufficient statistics of a Dask data frame.

    Parameters
    ----------
    spec : ModelSpec
        A Gaussian model, one grouping factor (per-group statistics) or several (lme4's
        blocked cross-products, :class:`~bayesmm.blocked.BlockedStats`).
    ddf : dask.dataframe.DataFrame

    Returns
    -------
    tuple
        ``(design, stats)``; the design's row arrays are empty and its
        :attr:`~bayesmm.design.Design.moments` hold the combined moments.
    """
    import dask

    if spec.family != "gaussian":
        raise SpecificationError(
            "data: a Dask DataFrame needs a Gaussian model (its statistics are summed over "
            f"partitions); this model has family={spec.family!r}. Call .compute() and pass "
            "a pandas DataFrame."
        )
    stateful = [t for t in STATEFUL if re.search(rf"\b{t}\(", spec.fixed + str(spec.re_terms))]
    if stateful:
        raise SpecificationError(
            f"formula: {stateful} learn their centre/scale from the data, which a Dask frame "
            "does not hold in one place; transform the columns with Dask first."
        )
    cols = _used_columns(spec, ddf._meta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingDataWarning)
        template = make_design(spec, _template(spec, ddf, cols), check=False)
    pieces = [dask.delayed(_piece)(part, template, cols) for part in ddf.to_delayed()]
    total: Piece = dask.compute(_tree_sum(pieces))[0]
    if total.stats is None:
        raise DataError("data: no rows left after dropping missing values; check the used "
                        "columns.")
    if total.n_dropped:
        warnings.warn(f"data: dropped {total.n_dropped} of {total.n_dropped + total.stats.n_obs}"
                      f" rows with missing values in {cols}.", MissingDataWarning,
                      stacklevel=4)
    empty = tuple(replace(f, codes=np.empty(0, dtype=np.int64), Z=np.empty((0, f.q)))
                  for f in template.factors)
    design = replace(template, y=np.empty(0), X=np.empty((0, len(template.xnames))),
                     factors=empty, n_dropped=total.n_dropped, moments=total.moments)
    for factor in template.factors:
        _check_identifiable(factor, design.n_obs)
    _check_gram_rank(total.stats.XtX, template.xnames)
    return design, total.stats


def _check_gram_rank(XtX: np.ndarray, xnames: tuple[str, ...]) -> None:
    """Check the fixed-effects design has full column rank, from ``XᵀX`` (rows are not here)."""
    eig = np.linalg.eigvalsh(XtX)
    if eig.min() <= 1e-12 * max(eig.max(), 1e-300):
        raise DataError(f"formula: the fixed-effects design {list(xnames)} is rank deficient "
                        "(constant or collinear columns); remove them from the formula.")
