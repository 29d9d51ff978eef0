"""statsmodels' indicator variance components as the nested grouping factors they are.

``vc_formula={"a": "0 + C(v1)"}`` with ``groups="g"`` gives every group one effect per level
of ``v1`` seen in it, independent with one variance: lme4's ``(1 | g:v1)``. Kept inside
the group's columns, a component whose levels are labelled across the whole data set gives
every group all of them (statsmodels' own test: 100 groups, 400 and 800 levels, a dense
1,600 × 1,202 random-effects matrix). Above :data:`NEST_MIN_LEVELS` levels the component
becomes the grouping factor ``g:v1`` instead, labelled with the component's name, so it
takes the blocked multi-factor path and its summary row is still ``a Var``.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pandas as pd

from .spec import RETerm, VCTerm

__all__ = ["NEST_MIN_LEVELS", "indicator_column", "nest_indicator_components"]

# up to this many levels a component stays one block of its group's columns (the one-factor
# marginal build covers it, e.g. Pastes' 3 casks per batch)
NEST_MIN_LEVELS = 16

_INDICATOR = re.compile(r"^\s*0\s*\+\s*C\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\)\s*$")


def indicator_column(formula: str) -> str | None:
    """Return the column of a ``"0 + C(col)"`` component (one indicator per level), or None."""
    match = _INDICATOR.match(formula)
    return match.group(1) if match else None


def nest_indicator_components(terms: tuple[RETerm, ...], data: pd.DataFrame
                              ) -> tuple[RETerm, ...]:
    """Move every indicator component with many levels into a grouping factor of its own.

    Parameters
    ----------
    terms : tuple of RETerm
    data : pandas.DataFrame
        The rows the model uses (levels are counted on them).

    Returns
    -------
    tuple of RETerm
        The terms without those components, followed by one term per moved component: a
        one-column component named as it was, of the factor ``group:col``. A term left
        with no columns at all (``re_formula`` ``"0"`` and every component moved) is
        dropped.
    """
    out: list[RETerm] = []
    nested: list[RETerm] = []
    for term in terms:
        keep = []
        for vc in term.vc:
            col = indicator_column(vc.formula)
            if col is None or col not in data.columns or \
                    data[col].nunique(dropna=True) <= NEST_MIN_LEVELS:
                keep.append(vc)
                continue
            # a one-column component of its own factor: reported as "<name> Var" and in
            # vcomp, as statsmodels reports it
            nested.append(RETerm(expr="0", factor=f"{term.factor}:{col}", correlated=False,
                                 label=vc.name, vc=(VCTerm(vc.name, "1"),)))
        if keep or term.expr.strip() != "0":
            out.append(replace(term, vc=tuple(keep)))
    return tuple(out + nested)
