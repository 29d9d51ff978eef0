"""statsmodels' ``exog_vc`` (variance components of the direct API) as columns of rows.

statsmodels takes either a dict ``{name: {group: matrix}}`` — one matrix per group, its rows
the group's rows in data order (the format it deprecates) — or a ``VCSpec`` (``names``,
``colnames``, and ``mats[i][j]`` for component i and the j-th group in sorted order). Every
column of a component is an independent random effect with the component's one variance.

Both become one (N, k) array per component, rows in data order; a group with fewer columns
than another is padded with zero columns, which carry no data and leave the likelihood
unchanged. That array form is also accepted directly (and is what a saved result keeps).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .errors import DataError, SpecificationError, describe

__all__ = ["vc_columns"]


def _sorted_groups(groups: np.ndarray) -> list[object]:
    """Return the distinct labels, sorted (statsmodels' ``group_labels``)."""
    return sorted(set(groups.tolist()))


def _from_groups(name: str, mats: Mapping[object, object], groups: np.ndarray) -> np.ndarray:
    """Rows (N, k) of component ``name`` from one matrix per group.

    Raises
    ------
    DataError
        For a group without a matrix or a matrix whose rows are not the group's.
    """
    blocks = {g: np.asarray(m, dtype=float) for g, m in mats.items()}
    blocks = {g: m[:, None] if m.ndim == 1 else m for g, m in blocks.items()}  # (n_g, k)
    k = max((m.shape[1] for m in blocks.values()), default=0)
    out = np.zeros((groups.size, k))  # (N, k)
    for g in _sorted_groups(groups):
        rows = np.flatnonzero(groups == g)
        if g not in blocks:
            raise DataError(
                f"exog_vc: component {name!r} has no matrix for group {g!r}; give every group "
                "one (zero columns for none).")
        mat = blocks[g]
        if mat.shape[0] != rows.size:
            raise DataError(
                f"exog_vc: component {name!r}, group {g!r}: {mat.shape[0]} rows where the "
                f"group has {rows.size}; rows follow the data's order within the group.")
        out[rows, : mat.shape[1]] = mat
    return out


def vc_columns(exog_vc: object, groups: np.ndarray) -> dict[str, np.ndarray]:
    """Each variance component's (N, k) columns, rows in data order.

    Parameters
    ----------
    exog_vc : dict or VCSpec
        ``{name: {group: matrix}}``, statsmodels' ``VCSpec``, or ``{name: (N, k) array}``.
    groups : ndarray, shape (N,)

    Raises
    ------
    SpecificationError
        For another type.
    DataError
        For matrices that do not match the groups' rows.
    """
    groups = np.asarray(groups).ravel()
    if all(hasattr(exog_vc, a) for a in ("names", "colnames", "mats")):  # a VCSpec
        labels = _sorted_groups(groups)
        return {str(name): _from_groups(str(name), dict(zip(labels, mats, strict=True)), groups)
                for name, mats in zip(exog_vc.names, exog_vc.mats, strict=True)}  # type: ignore[attr-defined]
    if not isinstance(exog_vc, Mapping):
        raise SpecificationError(
            "exog_vc: expected {name: {group: matrix}}, statsmodels' VCSpec or {name: (N, k) "
            f"array}}; received {describe(exog_vc)}.")
    out = {}
    for name, value in exog_vc.items():
        if isinstance(value, Mapping):
            out[str(name)] = _from_groups(str(name), value, groups)
            continue
        cols = np.asarray(value, dtype=float)
        cols = cols[:, None] if cols.ndim == 1 else cols
        if cols.ndim != 2 or cols.shape[0] != groups.size:
            raise DataError(
                f"exog_vc: component {name!r} has shape {cols.shape}; expected ({groups.size}, "
                "k) (one row per data row) or a {group: matrix} dict.")
        out[str(name)] = cols
    return out
