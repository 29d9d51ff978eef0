"""What a formula may call besides the data's columns: the caller's functions and ``Poly``.

statsmodels (through patsy) evaluates a formula in the caller's namespace, so
``"y ~ times_two(x)"`` works with a ``times_two`` defined where ``mixedlm`` is called, and
offers patsy's contrast codings, e.g. ``C(temperature, Poly)``. formulae, which builds the
design matrices here, takes such names as its ``extra_namespace`` and codes categorical
terms with any :class:`formulae.categorical.Encoding`; it ships ``Treatment`` and ``Sum``.
This module supplies :class:`Poly` and collects the caller's names.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable

import numpy as np
from formulae.categorical import ContrastMatrix, Encoding

from .formula_tokens import names as formula_names

__all__ = ["Poly", "caller_namespace"]

_ORDER_NAMES = (".Constant", ".Linear", ".Quadratic", ".Cubic")


class Poly(Encoding):
    """Orthogonal polynomial contrasts over ordered levels (R's ``contr.poly``, patsy's ``Poly``).

    Column ``k`` holds the degree-``k`` polynomial in the level scores (0, 1, …, or
    ``scores``), orthogonal to the lower degrees and of unit length; the constant column is
    all ones. Names: ``.Linear``, ``.Quadratic``, ``.Cubic``, then ``^4``, ``^5``, ….

    Parameters
    ----------
    scores : sequence of float, optional
        Numeric score of each level, in level order (equally spaced when omitted).
    """

    def __init__(self, scores: Iterable[float] | None = None) -> None:
        self.scores = None if scores is None else np.asarray(list(scores), dtype=float)

    def _basis(self, levels: list) -> tuple[np.ndarray, list[str]]:
        n = len(levels)
        x = np.arange(n, dtype=float) if self.scores is None else self.scores
        if x.shape != (n,):
            raise ValueError(f"Poly: {x.size} scores for {n} levels")
        vander = (x - x.mean())[:, None] ** np.arange(n)[None, :]  # (n, n)
        q, r = np.linalg.qr(vander)
        q = q * np.sign(np.diag(r))  # each degree's leading coefficient positive
        q[:, 0] = 1.0
        names = [*_ORDER_NAMES, *(f"^{k}" for k in range(4, n))][:n]
        return q, names

    def code_with_intercept(self, levels: list) -> ContrastMatrix:
        """Return all ``n`` columns, the constant first (the term spans the intercept)."""
        q, names = self._basis(levels)
        return ContrastMatrix(q, names)

    def code_without_intercept(self, levels: list) -> ContrastMatrix:
        """Return the ``n − 1`` polynomial columns (the model has an intercept)."""
        q, names = self._basis(levels)
        return ContrastMatrix(q[:, 1:], names[1:])


def caller_namespace(texts: Iterable[str]) -> dict[str, object]:
    """Names in ``texts`` bound to a function, class or module where bayesmm was called.

    The namespace is that of the first frame outside the ``bayesmm`` package (its locals,
    then its globals), plus :class:`Poly`. Plain values (arrays, numbers) are left out: a
    formula's variables are the data's columns.
    """
    names = {name.split(".")[0] for text in texts for name in formula_names(text)}  # np.log: np
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "bayesmm":
        frame = frame.f_back
    found: dict[str, object] = {"Poly": Poly}
    if frame is None:
        return found
    for name in sorted(names):
        value = frame.f_locals.get(name, frame.f_globals.get(name))
        if callable(value) or isinstance(value, types.ModuleType):
            found[name] = value
    return found
