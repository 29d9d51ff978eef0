"""brms' ``hypothesis()`` on posterior draws: ``"Days > 5"``, ``"Subject SD = 2 * Days SD"``.

Each hypothesis ``lhs <op> rhs`` is evaluated draw by draw as ``d = lhs − rhs``. As brms:

* ``Estimate`` and ``Est.Error`` are the mean and SD of ``d``;
* for ``=`` the interval is the equal-tailed ``1 − α`` interval of ``d``; for ``<`` it is
  ``(−∞, q_{1−α}]``, for ``>`` ``[q_α, ∞)``;
* for ``<``/``>``, ``Post.Prob`` is the share of draws satisfying the inequality and
  ``Evid.Ratio`` its odds; for ``=`` both need prior draws (Savage-Dickey) and are NaN;
* ``Star`` is ``"*"`` where the interval excludes 0.

Names are the summary's rows on both scales (``Days``, ``Subject Var``, ``Subject SD``,
``Subject x Days Corr``, ``Residual SD``, ``Scale``); arithmetic is ``+ − * / **`` and
``exp``, ``log``, ``sqrt``, ``abs``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .contrasts import substitute_names
from .errors import SpecificationError, check_alpha

__all__ = ["hypothesis_table"]

_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs}
_BINARY: dict[type, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide,
    ast.Pow: np.power}


def _error(text: str, why: str, names: Sequence[str]) -> SpecificationError:
    return SpecificationError(
        f"hypothesis: {why} in {text!r}. Write e.g. 'Days > 5' or 'Subject SD = 2 * "
        f"Residual SD'; names are {list(names)}.")


def _evaluate(node: ast.AST, draws: list[np.ndarray], text: str, names: Sequence[str]
              ) -> np.ndarray:
    """Evaluate one side of a hypothesis on the draws (shape (S,))."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return np.asarray(float(node.value))
    if isinstance(node, ast.Name):
        if not node.id.startswith("_b"):
            raise _error(text, f"unknown name {node.id!r}", names)
        return draws[int(node.id[2:])]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _evaluate(node.operand, draws, text, names)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_evaluate(node.left, draws, text, names),
                                      _evaluate(node.right, draws, text, names))
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS and len(node.args) == 1 and not node.keywords):
        return _FUNCTIONS[node.func.id](_evaluate(node.args[0], draws, text, names))
    raise _error(text, f"unsupported syntax {ast.unparse(node)!r}", names)


def _one(text: str, rows: Mapping[str, np.ndarray], alpha: float) -> dict[str, object]:
    """One row of brms' table."""
    names = list(rows)
    parts = re.split(r"(<=|>=|==|=|<|>)", text)
    if len(parts) != 3:
        raise _error(text, "expected one of '=', '<' or '>' between two sides", names)
    lhs, op, rhs = parts
    op = {"==": "=", "<=": "<", ">=": ">"}.get(op, op)
    draws = list(rows.values())
    sides = []
    for side in (lhs, rhs):
        expr, _ = substitute_names(side, names)
        try:
            tree = ast.parse(expr.strip(), mode="eval").body
        except SyntaxError as err:
            raise _error(text, f"could not parse ({err.msg})", names) from err
        sides.append(_evaluate(tree, draws, text, names))
    d = np.broadcast_to(sides[0] - sides[1], draws[0].shape)  # (S,)
    if op == "=":
        lo, hi = np.quantile(d, [alpha / 2, 1 - alpha / 2])
        prob = ratio = np.nan
    elif op == "<":
        lo, hi = -np.inf, float(np.quantile(d, 1 - alpha))
        prob = float(np.mean(d < 0))
    else:
        lo, hi = float(np.quantile(d, alpha)), np.inf
        prob = float(np.mean(d > 0))
    if op != "=":
        ratio = np.inf if prob == 1 else prob / (1 - prob)
    label = f"({lhs.strip()})" + ("" if rhs.strip() == "0" else f"-({rhs.strip()})") + f" {op} 0"
    return {"Hypothesis": label, "Estimate": float(d.mean()), "Est.Error": float(d.std(ddof=1)),
            "CI.Lower": float(lo), "CI.Upper": float(hi), "Evid.Ratio": ratio,
            "Post.Prob": prob, "Star": "*" if lo > 0 or hi < 0 else ""}


def hypothesis_table(hypotheses: str | Sequence[str], rows: Mapping[str, np.ndarray],
                     alpha: float = 0.05) -> pd.DataFrame:
    """Brms' ``hypothesis()`` table.

    Parameters
    ----------
    hypotheses : str or sequence of str
        One hypothesis, or several.
    rows : mapping
        Name → flattened draws (S,), e.g. the summary's rows.
    alpha : float
        ``1 − alpha`` intervals (one-sided for ``<``/``>``, as brms).

    Returns
    -------
    DataFrame
        Columns ``Hypothesis``, ``Estimate``, ``Est.Error``, ``CI.Lower``, ``CI.Upper``,
        ``Evid.Ratio``, ``Post.Prob``, ``Star``; one row per hypothesis.
    """
    check_alpha(alpha)
    items = [hypotheses] if isinstance(hypotheses, str) else list(hypotheses)
    if not items or not all(isinstance(h, str) for h in items):
        raise SpecificationError(
            f"hypothesis: expected a string or a list of strings; received {hypotheses!r}.")
    return pd.DataFrame([_one(h, rows, alpha) for h in items])
