"""Evaluate a :class:`~bayesmm.spec.ModelSpec` against data: the :class:`Design` value object.

The random-effects design is never a dense ``N x (levels*q)`` matrix: each grouping
factor keeps an ``N x q`` block ``Z`` and integer group codes.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import formulae as fm
import numpy as np
import pandas as pd
from formulae.parser import ParseError
from formulae.scanner import ScanError

from .errors import DataError, FormulaError, describe
from .families import GAUSSIAN, Family, get_family
from .formula_tokens import names as formula_names
from .moments import DataMoments, moments_of
from .nesting import nest_indicator_components
from .spec import ModelSpec, RETerm, parse_lme4

__all__ = ["CovBlock", "Design", "FactorDesign", "MissingDataWarning", "complete_rows",
           "reject_infinite",
           "design_columns", "group_labels", "make_design"]



class MissingDataWarning(UserWarning):
    """Rows with missing values were dropped."""


@dataclass(frozen=True)
class CovBlock:
    """A block of a factor's random-effect columns sharing one covariance structure.

    ``kind`` is ``"corr"`` (full covariance), ``"diag"`` (independent columns, one SD
    each) or ``"vc"`` (independent columns, one shared SD: a variance component).
    """

    kind: Literal["corr", "diag", "vc"]
    cols: tuple[int, ...]
    name: str


@dataclass(frozen=True, eq=False)
class FactorDesign:
    """Random-effects design of one grouping factor.

    Attributes
    ----------
    name : str
        Factor expression (column name or ``"a:b"``).
    label : str
        Display label.
    codes : ndarray of int, shape (N,)
        Group index of every row.
    levels : tuple
        Group labels, indexed by code.
    Z : ndarray, shape (N, q)
        Random-effects columns.
    znames : tuple of str
        Column names of ``Z``.
    blocks : tuple of CovBlock
        Covariance structure of the columns.
    z_terms : tuple
        formulae matrices that rebuild ``Z``'s column groups for new data (empty for the
        direct API).
    """

    name: str
    label: str
    codes: np.ndarray
    levels: tuple[Any, ...]
    Z: np.ndarray
    znames: tuple[str, ...]
    blocks: tuple[CovBlock, ...]
    z_terms: tuple[Any, ...] = ()

    @property
    def n_levels(self) -> int:
        """Number of groups."""
        return len(self.levels)

    @property
    def q(self) -> int:
        """Number of random-effect columns per group."""
        return self.Z.shape[1]

    @property
    def re_cols(self) -> list[int]:
        """Columns that are random effects proper (not variance components), block by block."""
        return [c for b in self.blocks if b.kind != "vc" for c in b.cols]


@dataclass(frozen=True, eq=False)
class Design:
    """Numeric design of a mixed model.

    Attributes
    ----------
    y : ndarray, shape (N,)
    X : ndarray, shape (N, p)
    xnames : tuple of str
    response : str
    factors : tuple of FactorDesign
    n_dropped : int
        Rows dropped for missing values.
    fixed_terms : object
        formulae's common-effects matrix, for evaluating new data.
    family : Family
        Response family (see :mod:`bayesmm.families`).
    trials : ndarray, shape (N,), optional
        Binomial trials.
    offset : ndarray, shape (N,), optional
        Added to the linear predictor.
    trials_name, offset_name : str, optional
        Their columns, to read them from new data.
    moments : DataMoments, optional
        Given only for a partitioned (Dask) design, whose row arrays are empty: the rows'
        moments and group sizes, combined across partitions.
    """

    y: np.ndarray
    X: np.ndarray
    xnames: tuple[str, ...]
    response: str
    factors: tuple[FactorDesign, ...]
    n_dropped: int = 0
    fixed_terms: Any = None
    family: Family = GAUSSIAN
    trials: np.ndarray | None = None
    offset: np.ndarray | None = None
    trials_name: str | None = None
    offset_name: str | None = None
    moments: DataMoments | None = None

    @cached_property
    def data_moments(self) -> DataMoments:
        """Moments of ``y``, the columns of ``X`` and ``Z`` and group sizes of the rows."""
        return self.moments or moments_of(
            design_columns(self.y, self.X, tuple(f.Z for f in self.factors), self.trials,
                           self.offset),
            tuple(f.codes for f in self.factors), tuple(f.n_levels for f in self.factors))

    @property
    def has_rows(self) -> bool:
        """Whether the row arrays are in memory (false for a partitioned design)."""
        return self.moments is None

    @property
    def n_obs(self) -> int:
        """Number of observations used."""
        return self.data_moments.n if self.moments is not None else self.y.shape[0]


def design_columns(y: np.ndarray, X: np.ndarray, Zs: tuple[np.ndarray, ...],
                   trials: np.ndarray | None, offset: np.ndarray | None
                   ) -> dict[str, np.ndarray]:
    """Name the 1-D columns whose moments :class:`DataMoments` keeps."""
    cols = {"y": y} | {f"X{j}": X[:, j] for j in range(X.shape[1])}
    for f, Z in enumerate(Zs):
        cols |= {f"Z{f}_{c}": Z[:, c] for c in range(Z.shape[1])}
    if trials is not None:
        cols["trials"] = trials
    if offset is not None:
        cols["offset"] = offset
    return cols


def _used_columns(spec: ModelSpec, data: pd.DataFrame) -> list[str]:
    """Column names referred to by any formula of ``spec``."""
    texts = [spec.fixed] + [t.expr for t in spec.re_terms]
    texts += [vc.formula for t in spec.re_terms for vc in t.vc]
    names = set().union(*(formula_names(text) for text in texts))
    for term in spec.re_terms:
        names.update(term.factor.split(":"))
    names.update(c for c in (spec.trials, spec.offset) if c)
    return [c for c in data.columns if c in names]


def reject_infinite(data: pd.DataFrame, cols: list[str]) -> None:
    """Raise on ±inf in ``cols``: bad data, not missing data (NaN stays dropped).

    Raises
    ------
    DataError
        Naming each column with infinite values and the first rows (index labels) holding
        them.
    """
    numeric = data[cols].select_dtypes(include="number")
    if not numeric.shape[1]:
        return
    inf = np.isinf(numeric.to_numpy(dtype=float))  # (N, k)
    if not inf.any():
        return
    where = []
    for j in np.flatnonzero(inf.any(axis=0)):
        rows = data.index[inf[:, j]]
        shown = ", ".join(map(repr, rows[:5].tolist())) + (", …" if rows.size > 5 else "")
        where.append(f"{numeric.columns[j]!r} ({rows.size} row(s): {shown})")
    raise DataError(
        f"data: infinite values in {'; '.join(where)}. An infinite value is not missing "
        "data (NaN rows are dropped with a count); check how the column was computed "
        "(a log of 0, a division by 0) and replace it, or set it to NaN to drop the row."
    )


def complete_rows(data: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """Rows (bool, (N,)) with no NaN/None in ``cols``, after :func:`reject_infinite`."""
    reject_infinite(data, cols)
    return ~data[cols].isna().any(axis=1).to_numpy()


def _drop_missing(data: pd.DataFrame, cols: list[str]) -> tuple[pd.DataFrame, int]:
    """Drop rows with NaN/None in ``cols``, warning with the count (inf raises)."""
    bad = ~complete_rows(data, cols)
    n_bad = int(bad.sum())
    if n_bad:
        warnings.warn(
            f"data: dropped {n_bad} of {len(data)} rows with missing values in {cols}.",
            MissingDataWarning,
            stacklevel=4,
        )
        data = data.loc[~bad]
    return data, n_bad


def _matrix(formula: str, data: pd.DataFrame, argument: str,
            namespace: Mapping[str, object] | None = None) -> tuple[Any, np.ndarray, tuple]:
    """Evaluate a formula (or right-hand side) with formulae, translating its errors.

    ``namespace`` holds the names the formula may call besides columns (the spec's).
    """
    try:
        dm = fm.design_matrices(formula, data, na_action="error",
                                extra_namespace=dict(namespace or {}))
    except KeyError as exc:
        name = exc.args[0] if exc.args else exc
        raise FormulaError(
            f"{argument}: unknown column {name!r} in {formula!r}; available columns: "
            f"{list(data.columns)}. Check the spelling."
        ) from None
    except (ParseError, ScanError) as exc:
        raise FormulaError(
            f"{argument}: could not parse {formula!r} ({exc}). Check operators and "
            "parentheses."
        ) from None
    except (ValueError, TypeError) as exc:
        raise FormulaError(f"{argument}: could not evaluate {formula!r}: {exc}") from None
    common = dm.common
    if common is None:
        raise FormulaError(
            f"{argument}: {formula!r} gives no columns; use '1' for an intercept."
        )
    names = tuple(str(c) for c in common.as_dataframe().columns)
    return dm, np.asarray(common.design_matrix, dtype=float), names


def group_labels(data: pd.DataFrame, factor: str) -> pd.Series:
    """Labels of a grouping factor; ``"a:b"`` joins the columns' values as strings."""
    cols = factor.split(":")
    for col in cols:
        if col not in data.columns:
            raise FormulaError(
                f"groups: unknown grouping column {col!r}; available columns: "
                f"{list(data.columns)}."
            )
    if len(cols) == 1:
        return data[cols[0]]
    first, *rest = (data[c].astype(str) for c in cols)
    return first.str.cat(list(rest), sep=":")


def _group_codes(data: pd.DataFrame, factor: str) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Integer codes and sorted labels of a (possibly interacted) grouping factor."""
    values = group_labels(data, factor)
    kinds = {type(v).__name__ for v in values.to_numpy()}
    if len(kinds) > 1:
        raise DataError(
            f"groups: column {factor!r} mixes value types {sorted(kinds)}; convert it "
            f"with data[{factor!r}].astype(str)."
        )
    codes, uniques = pd.factorize(values, sort=True)
    if len(uniques) < 2:
        raise DataError(
            f"groups: grouping factor {factor!r} has {len(uniques)} level(s); a random "
            "effect needs at least 2 groups. Use an ordinary regression instead."
        )
    return codes.astype(np.int64), tuple(uniques.tolist())


def _factor_design(terms: list[RETerm], data: pd.DataFrame,
                   namespace: Mapping[str, object]) -> FactorDesign:
    """Columns and covariance blocks of every term sharing one grouping factor."""
    codes, levels = _group_codes(data, terms[0].factor)
    blocks: list[CovBlock] = []
    z_terms: list[Any] = []
    mats: list[np.ndarray] = []
    names: list[str] = []
    for term in terms:
        if term.expr.strip() == "0":  # variance components only
            Z, znames = np.empty((len(data), 0)), ()
        else:
            dm, Z, znames = _matrix(term.expr, data, "re_formula", namespace)
            z_terms.append(dm.common)
        start = len(names)
        cols = tuple(range(start, start + len(znames)))
        if term.correlated and len(cols) > 1:
            blocks.append(CovBlock("corr", cols, term.display))
        else:
            blocks.extend(CovBlock("diag", (c,), znames[c - start]) for c in cols)
        mats.append(Z)
        names.extend(znames)
        for vc in term.vc:
            dm, Zvc, vnames = _matrix(vc.formula, data, f"vc_formula[{vc.name!r}]", namespace)
            z_terms.append(dm.common)
            start = len(names)
            blocks.append(CovBlock("vc", tuple(range(start, start + len(vnames))), vc.name))
            mats.append(Zvc)
            names.extend(f"{vc.name}[{v}]" for v in vnames)
    if len(set(names)) != len(names):
        raise FormulaError(
            f"formula: random-effect columns {names} repeat for factor "
            f"{terms[0].factor!r}; list each column in one term only."
        )
    return FactorDesign(
        name=terms[0].factor,
        label=terms[0].display,
        codes=codes,
        levels=levels,
        Z=np.column_stack(mats),
        znames=tuple(names),
        blocks=tuple(blocks),
        z_terms=tuple(z_terms),
    )


def _check_identifiable(factor: FactorDesign, n_obs: int) -> None:
    """lme4's check: a Gaussian model needs fewer groups than rows."""
    if factor.n_levels >= n_obs:
        raise DataError(
            f"groups: grouping factor {factor.name!r} has {factor.n_levels} levels for "
            f"{n_obs} rows, so its variance cannot be told from the residual variance; "
            "group the rows more coarsely or drop this random effect."
        )


def _check_response(data: pd.DataFrame, response: str, argument: str = "formula",
                    what: str = "response") -> None:
    """Raise unless the response (or trials/offset column) is an existing numeric column."""
    if response not in data.columns:
        raise FormulaError(
            f"{argument}: unknown {what} column {response!r}; available columns: "
            f"{list(data.columns)}."
        )
    col = data[response]
    if not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)):
        raise DataError(
            f"{argument}: {what} {response!r} must be numeric; received dtype "
            f"{col.dtype}. Convert it with pd.to_numeric or choose a numeric column."
        )


def _check_rank(X: np.ndarray, xnames: tuple[str, ...]) -> None:
    """Raise when the fixed-effects design is rank deficient."""
    if X.shape[0] <= X.shape[1]:
        raise DataError(
            f"data: {X.shape[0]} row(s) for {X.shape[1]} fixed effects {list(xnames)}; a "
            "mixed model needs more rows than fixed effects."
        )
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        q, r = np.linalg.qr(X)
        diag = np.abs(np.diag(r))
        weak = [n for n, d in zip(xnames, diag, strict=True) if d < 1e-8 * diag.max()]
        raise DataError(
            f"formula: the fixed-effects design has rank {rank} < {X.shape[1]} columns; "
            f"columns {weak or list(xnames)} are constant or collinear with others. "
            "Remove them from the formula."
        )


def _prepare(spec: ModelSpec, data: pd.DataFrame, check: bool = True
             ) -> tuple[pd.DataFrame, int, Any, np.ndarray, tuple[str, ...]]:
    """Run the checks shared by every design: data, response, missing rows, fixed effects.

    Returns
    -------
    tuple
        The cleaned data (index reset), rows dropped, formulae's matrices, X and its names.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data: expected a pandas DataFrame; received {describe(data)}.")
    if data.columns.duplicated().any():
        dup = data.columns[data.columns.duplicated()].tolist()
        raise DataError(f"data: duplicate column names {dup}; rename them to be unique.")
    if len(data) == 0:
        raise DataError("data: the DataFrame is empty (0 rows); pass data with rows.")
    _check_response(data, spec.response)
    for arg, col in (("trials", spec.trials), ("offset", spec.offset)):
        if col is not None:
            _check_response(data, col, arg, arg)
    data, n_dropped = _drop_missing(data, _used_columns(spec, data))
    if len(data) == 0:
        raise DataError(
            "data: no rows left after dropping missing values; check the used columns."
        )
    data = data.reset_index(drop=True)
    dm, X, xnames = _matrix(spec.fixed, data, "formula", spec.namespace)
    if check:
        _check_rank(X, xnames)
    return data, n_dropped, dm, X, xnames


def make_design(spec: ModelSpec, data: pd.DataFrame, check: bool = True) -> Design:
    """Evaluate ``spec`` on ``data``.

    Parameters
    ----------
    spec : ModelSpec
        The model specification.
    data : pandas.DataFrame
        The data.
    check : bool
        Check the rank of ``X``, the response's support and groups < rows. A partitioned
        design's template (:mod:`bayesmm.partitioned`) skips them; its totals are checked.

    Returns
    -------
    Design
        Numeric arrays for every later stage.

    Raises
    ------
    DataError, FormulaError
        For empty data, unknown columns, non-numeric responses, one-level groups.
    """
    data, n_dropped, dm, X, xnames = _prepare(spec, data, check)
    by_factor: dict[str, list[RETerm]] = {}
    for term in nest_indicator_components(spec.re_terms, data):
        by_factor.setdefault(term.factor, []).append(term)
    factors = tuple(_factor_design(terms, data, spec.namespace)
                    for terms in by_factor.values())
    y = data[spec.response].to_numpy(dtype=float)
    trials = None if spec.trials is None else data[spec.trials].to_numpy(dtype=float)
    if check:
        get_family(spec.family).check(y, trials)
    if check and spec.family in ("gaussian", "t"):
        for f in factors:
            _check_identifiable(f, len(y))
    return Design(
        y=y,
        X=X,
        xnames=xnames,
        response=spec.response,
        factors=factors,
        n_dropped=n_dropped,
        fixed_terms=dm.common,
        family=get_family(spec.family),
        trials=trials,
        offset=None if spec.offset is None else data[spec.offset].to_numpy(dtype=float),
        trials_name=spec.trials,
        offset_name=spec.offset,
    )


def _as_2d(values: object, argument: str, prefix: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Convert a 1-D/2-D array or DataFrame to a float matrix with column names."""
    if isinstance(values, pd.Series):
        values = values.to_frame()
    if isinstance(values, pd.DataFrame):
        names = tuple(str(c) for c in values.columns)
        values = values.to_numpy()
    else:
        values = np.asarray(values)
        if values.ndim == 1:
            values = values[:, None]
        names = tuple(f"{prefix}{j + 1}" for j in range(values.shape[1]) if values.ndim == 2)
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise DataError(
            f"{argument}: expected numeric values; received {describe(values)}."
        ) from None
    if arr.ndim != 2:
        raise DataError(f"{argument}: expected a 1-D or 2-D array; received shape {arr.shape}.")
    return arr, names


def design_from_arrays(
    endog: object, exog: object, groups: object, exog_re: object | None = None,
    group_label: str = "Group", exog_vc: dict[str, np.ndarray] | None = None,
) -> Design:
    """Design of statsmodels' direct API ``MixedLM(endog, exog, groups, exog_re, exog_vc)``.

    ``exog_vc`` holds each variance component's (N, k) columns (``vc_arrays.vc_columns``):
    independent effects with one variance per component, as statsmodels'.

    Raises
    ------
    DataError
        For mismatched lengths, non-numeric values or a single group.
    """
    name = str(endog.name) if isinstance(endog, pd.Series) and endog.name is not None else "y"
    y, _ = _as_2d(endog, "endog", "y")
    if y.shape[1] != 1:
        raise DataError(f"endog: expected one column; received {y.shape[1]}.")
    X, xnames = _as_2d(exog, "exog", "x")
    Z, znames = (np.ones((X.shape[0], 1)), ("Intercept",)) if exog_re is None \
        else _as_2d(exog_re, "exog_re", "z")
    g = pd.Series(
        groups.to_numpy() if isinstance(groups, pd.Series) else np.asarray(groups).ravel()
    )
    n = y.shape[0]
    for arg, rows in (("exog", X.shape[0]), ("groups", len(g)), ("exog_re", Z.shape[0])):
        if rows != n:
            raise DataError(
                f"{arg}: has {rows} rows but endog has {n}; pass arrays of equal length."
            )
    if n == 0:
        raise DataError("endog: empty (0 rows); pass data with rows.")
    if exog_re is None and exog_vc:  # statsmodels: no random intercept beside components
        Z, znames = np.zeros((X.shape[0], 0)), ()
    re_q = Z.shape[1]
    vc_blocks = []
    for component, cols in (exog_vc or {}).items():
        start = Z.shape[1]
        Z = np.column_stack([Z, cols])  # (N, q + k)
        znames = (*znames, *(f"{component}[{j}]" for j in range(cols.shape[1])))
        vc_blocks.append(CovBlock("vc", tuple(range(start, Z.shape[1])), component))
    values = np.column_stack([y, X, Z])  # (N, 1 + p + q)
    if np.isinf(values).any():
        rows = np.flatnonzero(np.isinf(values).any(axis=1))
        raise DataError(
            f"endog/exog/exog_re/exog_vc: infinite values in {rows.size} row(s) (positions "
            f"{rows[:5].tolist()}{', …' if rows.size > 5 else ''}). An infinite value is not "
            "missing data (NaN rows are dropped with a count); replace it, or set it to NaN "
            "to drop the row."
        )
    bad = np.isnan(values).any(axis=1) | g.isna().to_numpy()
    if bad.any():
        warnings.warn(f"data: dropped {int(bad.sum())} of {n} rows with missing values.",
                      MissingDataWarning, stacklevel=3)
    keep = ~bad
    frame = pd.DataFrame({"__g__": g[keep].to_numpy()})
    codes, levels = _group_codes(frame, "__g__")
    X = X[keep]
    _check_rank(X, xnames)
    factor = FactorDesign(
        name=group_label, label=group_label, codes=codes, levels=levels, Z=Z[keep],
        znames=znames,
        blocks=((CovBlock("corr", tuple(range(re_q)), group_label),) if re_q > 1
                else (CovBlock("diag", (0,), znames[0]),) if re_q else ()) + tuple(vc_blocks),
    )
    _check_identifiable(factor, X.shape[0])
    return Design(y=y[keep, 0], X=X, xnames=xnames, response=name, factors=(factor,),
                  n_dropped=int(bad.sum()))


def fixed_design(formula: str, data: pd.DataFrame) -> Design:
    """Design of a model without random effects (mixture components), same checks as mixed.

    Raises
    ------
    DataError, FormulaError
    """
    response, fixed, terms = parse_lme4(formula)
    if terms:
        raise FormulaError(
            f"formula: random-effects terms are not supported here; received {formula!r}."
        )
    spec = ModelSpec(response=response, fixed=fixed, re_terms=())
    data, n_dropped, dm, X, xnames = _prepare(spec, data)
    return Design(y=data[response].to_numpy(dtype=float), X=X, xnames=xnames,
                  response=response, factors=(), n_dropped=n_dropped, fixed_terms=dm.common)
