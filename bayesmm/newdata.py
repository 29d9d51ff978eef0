"""Design matrices of rows to predict: the fitted model's terms, levels and contrasts.

Rows of new data get their fixed-effects and random-effects matrices from the formulae
terms stored at fit time, and each factor's codes against the fitted levels (unseen levels
numbered after them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .design import Design, FactorDesign, group_labels
from .errors import DataError, SpecificationError

__all__ = ["NewDesign", "factor_codes", "fitted_design", "new_design", "require_known_levels",
           "require_rows"]


@dataclass(frozen=True, eq=False)
class NewDesign:
    """Design matrices of the rows to predict.

    Attributes
    ----------
    X : ndarray, shape (n, p)
    Z : tuple of ndarray, each (n, q_f)
    codes : tuple of ndarray of int, each (n,)
        Index of the row's group among the fitted levels, or ``G + k`` for the k-th
        unseen level.
    new_levels : tuple of tuple
        Unseen levels of every factor.
    trials, offset : ndarray, shape (n,), optional
        Binomial trials and the offset of the rows.
    """

    X: np.ndarray
    Z: tuple[np.ndarray, ...]
    codes: tuple[np.ndarray, ...]
    new_levels: tuple[tuple, ...]
    trials: np.ndarray | None = None
    offset: np.ndarray | None = None


ROWS_FIX = "pass rows explicitly, e.g. res.predict(new_data=ddf.partitions[0].compute())"


def require_rows(design: Design, what: str, fix: str = ROWS_FIX) -> None:
    """Raise when ``design`` is partitioned (Dask): its rows are not in memory."""
    if not design.has_rows:
        raise DataError(
            f"data: {what} need the rows, and this model was built from a Dask DataFrame "
            f"whose rows stay in its partitions; {fix}."
        )


def require_known_levels(design: Design, new: NewDesign) -> None:
    """Raise when ``new`` has a level of some factor that the fitted data did not have."""
    for f, unseen in zip(design.factors, new.new_levels, strict=True):
        if unseen:
            raise DataError(
                f"new_data: levels {list(unseen)} of {f.label!r} were not in the fitted data; "
                "use new_groups='sample' (a fresh effect per group; posterior predictions) "
                "or 'zero' (lme4's allow.new.levels)."
            )


def fitted_design(design: Design) -> NewDesign:
    """Describe the fitted rows as a :class:`NewDesign`."""
    require_rows(design, "in-sample predictions")
    f = design.factors
    return NewDesign(design.X, tuple(x.Z for x in f), tuple(x.codes for x in f),
                     tuple(() for _ in f), design.trials, design.offset)


def _column(data: pd.DataFrame, name: str | None, argument: str) -> np.ndarray | None:
    """Read a numeric column of new data (trials, offset); None when the model has none."""
    if name is None:
        return None
    if name not in data.columns:
        raise DataError(f"new_data: missing column {name!r} needed as the model's {argument}.")
    return data[name].to_numpy(dtype=float)


def _evaluate(terms: object, data: pd.DataFrame, argument: str) -> np.ndarray:
    """Evaluate a stored formulae matrix on new data, translating its errors."""
    try:
        matrix = terms.evaluate_new_data(data).design_matrix  # type: ignore[attr-defined]
        return np.asarray(matrix, dtype=float)
    except KeyError as exc:
        raise DataError(f"new_data: missing column {exc.args[0]!r} needed by {argument}.") \
            from None
    except ValueError as exc:
        raise DataError(f"new_data: cannot build {argument} for the new rows: {exc}") from None


def factor_codes(factor: FactorDesign, data: pd.DataFrame) -> tuple[np.ndarray, tuple]:
    """Codes of new rows against the fitted levels; unseen levels numbered after them."""
    labels = group_labels(data, factor.name).to_numpy()
    codes = pd.Index(factor.levels).get_indexer(labels).astype(np.int64)  # -1: unseen
    missing = codes < 0
    if not missing.any():
        return codes, ()
    unseen_codes, unseen = pd.factorize(labels[missing])  # in order of appearance
    codes[missing] = factor.n_levels + unseen_codes
    return codes, tuple(unseen.tolist())


def new_design(design: Design, data: pd.DataFrame) -> NewDesign:
    """Design matrices of ``data`` with the fitted model's terms, levels and contrasts."""
    if design.fixed_terms is None:
        raise SpecificationError(
            "new_data: predictions for new rows need a model built from a formula "
            "(bmm.mixedlm); the direct MixedLM(endog, exog, ...) API predicts in-sample only."
        )
    X = _evaluate(design.fixed_terms, data, "the fixed effects")
    Zs, codes, unseen = [], [], []
    for f in design.factors:
        parts = [_evaluate(t, data, f"the random effects of {f.label!r}") for t in f.z_terms]
        Zs.append(np.column_stack(parts) if parts else np.empty((len(data), 0)))
        c, u = factor_codes(f, data)
        codes.append(c)
        unseen.append(u)
    return NewDesign(X, tuple(Zs), tuple(codes), tuple(unseen),
                     _column(data, design.trials_name, "trials"),
                     _column(data, design.offset_name, "offset"))
