"""Linear hypotheses on the fixed effects: ``"Days = 5"``, ``"a + 2*b = c"``, or a matrix.

Statsmodels' ``t_test`` takes the same strings: comma-separated equations, linear in the
coefficient names, a side without ``=`` meaning ``= 0``. Names with brackets
(``Cu[Cu035]``) are matched whole before the arithmetic is parsed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import SpecificationError

__all__ = ["Contrasts", "parse_contrasts", "substitute_names"]


@dataclass(frozen=True)
class Contrasts:
    """Rows ``L β = rhs`` with a label each.

    Attributes
    ----------
    L : ndarray, shape (r, p)
    rhs : ndarray, shape (r,)
    labels : tuple of str
    """

    L: np.ndarray
    rhs: np.ndarray
    labels: tuple[str, ...]

    @property
    def label(self) -> str:
        """All rows' labels in one line (a joint test's row name)."""
        return ", ".join(self.labels)


_Linear = tuple[np.ndarray, float]  # coefficients on β and a constant


def _evaluate(node: ast.AST, slots: dict[str, int], p: int, text: str) -> _Linear:
    """Reduce an arithmetic expression tree to ``(coefficients, constant)``."""
    def bad(why: str) -> SpecificationError:
        return SpecificationError(
            f"hypothesis: expected linear equations in the coefficient names; {why} in "
            f"{text!r}. Write e.g. 'Days = 5' or 'Intercept + 5*Days = 300'.")

    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return np.zeros(p), float(node.value)
    if isinstance(node, ast.Name):
        if node.id not in slots:
            raise bad(f"unknown name {node.id!r}")
        row = np.zeros(p)
        row[slots[node.id]] = 1.0
        return row, 0.0
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        row, c = _evaluate(node.operand, slots, p, text)
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        return sign * row, sign * c
    if isinstance(node, ast.BinOp):
        (ra, ca), (rb, cb) = (_evaluate(n, slots, p, text) for n in (node.left, node.right))
        if isinstance(node.op, ast.Add | ast.Sub):
            sign = 1.0 if isinstance(node.op, ast.Add) else -1.0
            return ra + sign * rb, ca + sign * cb
        if isinstance(node.op, ast.Mult) and not (ra.any() and rb.any()):
            return (ra * cb + rb * ca, ca * cb)
        if isinstance(node.op, ast.Div) and not rb.any() and cb != 0:
            return ra / cb, ca / cb
        raise bad("a product or quotient of coefficients")
    raise bad(f"unsupported syntax {ast.dump(node)[:40]!r}")


def substitute_names(text: str, names: Sequence[str]) -> tuple[str, dict[str, int]]:
    """Replace each whole name in ``text`` by ``_b<i>`` (longest first); slot → index.

    Names may hold brackets, colons or spaces (``Cu[Cu035]``, ``Subject SD``).
    """
    slots: dict[str, int] = {}
    for i in sorted(range(len(names)), key=lambda j: -len(names[j])):
        pattern = r"(?<![\w\]\[.])" + re.escape(names[i]) + r"(?![\w\[])"
        text, hits = re.subn(pattern, f" _b{i} ", text)
        if hits:
            slots[f"_b{i}"] = i
    return text, slots


def _equation(text: str, names: Sequence[str]) -> tuple[np.ndarray, float]:
    """One equation → ``(L row, rhs)``."""
    expr, slots = substitute_names(text, names)
    sides = expr.split("=")
    if len(sides) > 2:
        raise SpecificationError(f"hypothesis: expected at most one '=' per equation; "
                                 f"received {text!r}. Separate equations with commas.")
    parsed = []
    for side in sides:
        try:
            parsed.append(_evaluate(ast.parse(side.strip(), mode="eval").body, slots,
                                    len(names), text))
        except SyntaxError as err:
            raise SpecificationError(
                f"hypothesis: could not parse {text!r} ({err.msg}). Coefficient names are "
                f"{list(names)}.") from err
    (row, const), (row_r, const_r) = parsed if len(parsed) == 2 else (parsed[0],
                                                                      (np.zeros(len(names)), 0.0))
    L = row - row_r
    if not L.any():
        raise SpecificationError(f"hypothesis: {text!r} involves no coefficient; names are "
                                 f"{list(names)}.")
    return L, const_r - const


def parse_contrasts(hypothesis: str | np.ndarray | Sequence, names: Sequence[str]
                    ) -> Contrasts:
    """Turn a hypothesis into contrast rows.

    Parameters
    ----------
    hypothesis : str or array_like
        Comma-separated equations (``"Days = 5, Intercept = 250"``), or a matrix
        ``L`` of shape (r, p) or a vector of length p (then ``L β = 0``).
    names : sequence of str
        Coefficient names, in β's order.

    Returns
    -------
    Contrasts
    """
    p = len(names)
    if isinstance(hypothesis, str):
        rows = [_equation(eq, names) for eq in hypothesis.split(",") if eq.strip()]
        labels = tuple(eq.strip() for eq in hypothesis.split(",") if eq.strip())
        return Contrasts(np.array([r for r, _ in rows]), np.array([c for _, c in rows]), labels)
    L = np.atleast_2d(np.asarray(hypothesis, dtype=float))
    if L.ndim != 2 or L.shape[1] != p:
        raise SpecificationError(
            f"hypothesis: expected a string or a matrix with {p} columns (one per fixed "
            f"effect: {list(names)}); received shape {np.shape(hypothesis)}.")
    labels = tuple(" + ".join(f"{w:g}*{n}" for w, n in zip(row, names, strict=True) if w)
                   for row in L)
    return Contrasts(L, np.zeros(L.shape[0]), labels)
