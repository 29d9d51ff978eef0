"""What the user asked for: formulas split into fixed and random parts (:class:`ModelSpec`).

Two spellings reach the same :class:`ModelSpec`:

* statsmodels: ``mixedlm("y ~ x", data, groups="g", re_formula="~x", vc_formula={...})``;
* lme4: ``mixedlm("y ~ x + (x | g) + (1 | a/b) + (x || h)", data)``.

Nothing here looks at data; :mod:`bayesmm.design` evaluates the spec against a DataFrame.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from .errors import FormulaError, SpecificationError, describe
from .families import get_family
from .formula_env import caller_namespace
from .formula_tokens import Token, closing, split_top_level, tokenize

__all__ = ["ModelSpec", "RETerm", "VCTerm", "parse_lme4", "spec_from_formula"]

CovKind = Literal["full", "diagonal"]
_TRIALS_LHS = (
    re.compile(r"^\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*/\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*$"),
    re.compile(r"^\s*p\(\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*,\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*\)\s*$"),
)


@dataclass(frozen=True)
class VCTerm:
    """A variance component nested in a grouping factor (statsmodels ``vc_formula``).

    Every column of ``formula`` evaluated within a group gets its own independent
    effect; all of them share one variance.
    """

    name: str
    formula: str


@dataclass(frozen=True)
class RETerm:
    """One random-effects term: columns of ``expr`` varying by the levels of ``factor``.

    Parameters
    ----------
    expr : str
        Right-hand side of the random-effects design, e.g. ``"1"`` or ``"1 + Time"``.
    factor : str
        Grouping column, or an interaction ``"a:b"`` of columns.
    correlated : bool
        ``True`` for a full covariance (LKJ prior), ``False`` for independent columns.
    label : str
        Name used in reports (``"Group"`` when groups were passed as an array).
    vc : tuple of VCTerm
        Variance components nested in ``factor``.
    """

    expr: str
    factor: str
    correlated: bool = True
    label: str = ""
    vc: tuple[VCTerm, ...] = ()

    @property
    def display(self) -> str:
        """Label used in reports (the factor name unless given)."""
        return self.label or self.factor


@dataclass(frozen=True)
class ModelSpec:
    """Value object describing a mixed model independently of any data.

    Parameters
    ----------
    response : str
        Left-hand side of the formula.
    fixed : str
        The fixed-effects formula ``"response ~ rhs"`` with random terms removed.
    re_terms : tuple of RETerm
        Random-effects terms.
    family : str
        Response family.
    priors : Mapping
        User-supplied prior overrides, by parameter name.
    trials : str, optional
        Column of binomial trials.
    offset : str, optional
        Column added to the linear predictor with coefficient 1.
    namespace : Mapping
        Names the formulas may call besides columns: the caller's functions and modules,
        and contrast codings such as ``Poly`` (:mod:`bayesmm.formula_env`).
    """

    response: str
    fixed: str
    re_terms: tuple[RETerm, ...]
    family: str = "gaussian"
    priors: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    trials: str | None = None
    offset: str | None = None
    namespace: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def factors(self) -> tuple[str, ...]:
        """Distinct grouping factors in order of appearance."""
        seen: dict[str, None] = {}
        for term in self.re_terms:
            seen.setdefault(term.factor, None)
        return tuple(seen)


def _text(formula: str, toks: tuple[Token, ...]) -> str:
    """Return the source text the tokens span."""
    return formula[toks[0].start: toks[-1].end] if toks else ""


def _enclosed(piece: tuple[Token, ...]) -> bool:
    """Whether the piece is one parenthesised group: its first '(' closes at its last token."""
    return bool(piece) and piece[0].kind == "LEFT_PAREN" and closing(piece) == len(piece) - 1


@dataclass(frozen=True)
class _Bar:
    """One ``(expr | factor)`` or ``(expr || factor)`` term as tokens of the formula."""

    expr: tuple[Token, ...]
    correlated: bool
    factor: tuple[Token, ...]


def _bar(formula: str, piece: tuple[Token, ...]) -> _Bar:
    """Read one parenthesised bar term; raise unless it is ``(expr | factor)``."""
    inner = piece[1:-1]
    expr, *rest = split_top_level(inner, "PIPE")
    pipe = len(expr)  # index of the first top-level '|' in inner
    double = len(rest) >= 2 and not rest[0] and inner[pipe].end == inner[pipe + 1].start
    factor = (rest[1] if double else rest[0]) if rest else ()  # no '|' at this depth: ((1|g))
    if not expr or not factor or len(rest) != (2 if double else 1):
        raise FormulaError(
            f"formula: random-effects term {_text(formula, piece)!r} must read "
            f"'(expr | group)'; received {formula!r}."
        )
    return _Bar(expr, not double, factor)


def _split_bars(formula: str, rhs: tuple[Token, ...]) -> tuple[str, list[_Bar]]:
    """Separate ``(expr | g)`` terms from the rest of a right-hand side's tokens.

    Returns
    -------
    tuple
        The fixed part's text and the bar terms in order.
    """
    fixed: list[str] = []
    bars: list[_Bar] = []
    for piece in split_top_level(rhs, "PLUS"):
        if not piece:
            raise FormulaError(
                f"formula: could not parse {formula!r}: a '+' has no term on one side; "
                f"remove the '+' or add the term."
            )
        if not any(tok.kind == "PIPE" for tok in piece):
            fixed.append(_text(formula, piece))
            continue
        if not _enclosed(piece):
            raise FormulaError(
                f"formula: a random-effects term must be wrapped in parentheses, like "
                f"'(1 + x | g)'; received {_text(formula, piece)!r} in {formula!r}. Add the "
                f"parentheses."
            )
        bars.append(_bar(formula, piece))
    return " + ".join(fixed), bars


def _nested(formula: str, bar: _Bar) -> list[RETerm]:
    """lme4's ``(expr | a/b)``: one term per level of nesting, ``a`` then ``a:b``."""
    levels = [lv[0].text[1:-1] if len(lv) == 1 and lv[0].kind == "BQNAME"  # `a b`: a b
              else _text(formula, lv) for lv in split_top_level(bar.factor, "SLASH")]
    if not all(levels):
        raise FormulaError(
            f"formula: nested grouping {_text(formula, bar.factor)!r} has an empty part in "
            f"{formula!r}; write '(1 | a/b)'."
        )
    expr = _text(formula, bar.expr)
    return [RETerm(expr=expr, factor=":".join(levels[: depth + 1]), correlated=bar.correlated)
            for depth in range(len(levels))]


def parse_lme4(formula: str) -> tuple[str, str, list[RETerm]]:
    """Parse an lme4-style formula.

    Parameters
    ----------
    formula : str
        E.g. ``"Reaction ~ Days + (Days | Subject)"``.

    Returns
    -------
    tuple
        ``(response, fixed formula, random terms)``.

    Raises
    ------
    FormulaError
        When the formula has no ``~``, an empty side or a malformed bar term.
    """
    if not isinstance(formula, str):
        raise FormulaError(
            f"formula: expected a string like 'y ~ x'; received {describe(formula)}."
        )
    toks = tokenize(formula)
    tildes = [i for i, tok in enumerate(toks) if tok.kind == "TILDE"]
    if len(tildes) != 1:
        raise FormulaError(
            f"formula: expected exactly one '~' separating response and predictors; "
            f"received {formula!r}. Write it as 'y ~ x'."
        )
    lhs, rhs = _text(formula, toks[: tildes[0]]), toks[tildes[0] + 1:]
    if not lhs or not rhs:
        side = "response (left of '~')" if not lhs else "predictors (right of '~')"
        raise FormulaError(
            f"formula: the {side} is empty in {formula!r}; write e.g. 'y ~ 1 + x'."
        )
    n_open = sum(tok.kind == "LEFT_PAREN" for tok in rhs)
    n_close = sum(tok.kind == "RIGHT_PAREN" for tok in rhs)
    if n_open != n_close:
        raise FormulaError(
            f"formula: unbalanced parentheses in {formula!r} "
            f"({n_open} '(' and {n_close} ')'). Close every '('."
        )
    fixed_rhs, bars = _split_bars(formula, rhs)
    terms = [term for bar in bars for term in _nested(formula, bar)]
    fixed_rhs = fixed_rhs.strip() or "1"
    return lhs, f"{lhs} ~ {fixed_rhs}", terms


def _clean_re_formula(re_formula: str | None, has_vc: bool) -> str:
    """Strip the leading ``~`` of a statsmodels ``re_formula``.

    As in statsmodels, an omitted ``re_formula`` means a random intercept, unless variance
    components are given: then there is none (``"0"``).
    """
    if re_formula is None:
        return "0" if has_vc else "1"
    if not isinstance(re_formula, str):
        raise FormulaError(
            f"re_formula: expected a string like '~Time'; received {describe(re_formula)}."
        )
    text = re_formula.strip()
    if text.startswith("~"):
        text = text[1:].strip()
    if not text or "~" in text:
        raise FormulaError(
            f"re_formula: expected a one-sided formula like '~Time' or '~1'; "
            f"received {re_formula!r}."
        )
    return text


def spec_from_formula(
    formula: str,
    *,
    groups: str | None = None,
    group_label: str = "",
    re_formula: str | None = None,
    vc_formula: Mapping[str, str] | None = None,
    cov_re: CovKind = "full",
    family: str = "gaussian",
    priors: Mapping[str, object] | None = None,
    trials: str | None = None,
    offset: str | None = None,
    namespace: Mapping[str, object] | None = None,
) -> ModelSpec:
    """Build a :class:`ModelSpec` from either spelling.

    Parameters
    ----------
    formula : str
        Fixed-effects formula, optionally with lme4 bar terms.
    groups : str, optional
        Grouping column for the statsmodels spelling.
    group_label : str
        Display label of ``groups`` (``"Group"`` for an array, as statsmodels).
    re_formula : str, optional
        statsmodels' random-effects formula (default random intercept).
    vc_formula : Mapping, optional
        Variance components nested in ``groups``.
    cov_re : {"full", "diagonal"}
        Covariance of the ``re_formula`` effects.
    family : str
        Response family.
    priors : Mapping, optional
        Prior overrides.
    trials : str, optional
        Column of binomial trials (or write the response as ``successes / trials``).
    offset : str, optional
        Column added to the linear predictor (e.g. log exposure for Poisson counts).
    namespace : Mapping, optional
        Names the formulas may call besides columns; by default those of the first caller
        outside bayesmm (:func:`bayesmm.formula_env.caller_namespace`).

    Returns
    -------
    ModelSpec
        The parsed specification.
    """
    if cov_re not in ("full", "diagonal"):
        raise SpecificationError(
            f"cov_re: expected 'full' or 'diagonal'; received {cov_re!r}."
        )
    fam = get_family(family)
    response, fixed, terms = parse_lme4(formula)
    response, fixed, trials = _split_trials(response, fixed, trials, fam.needs_trials, family)
    for arg, value in (("trials", trials), ("offset", offset)):
        if value is not None and not isinstance(value, str):
            raise SpecificationError(
                f"{arg}: expected a column name; received {describe(value)}. Add the values "
                f"to the DataFrame and pass the column's name."
            )
    if offset is not None and fam.name == "gaussian":
        raise SpecificationError(
            "offset: a Gaussian model has no offset; subtract it from the response instead."
        )
    if groups is not None:
        if terms:
            raise SpecificationError(
                "groups: both lme4 bar terms in the formula and groups= were given; "
                "use one spelling, e.g. drop groups= or remove the '( | )' terms."
            )
        vcs = tuple(VCTerm(str(k), v) for k, v in (vc_formula or {}).items())
        for vc in vcs:
            if not isinstance(vc.formula, str):
                raise FormulaError(
                    f"vc_formula[{vc.name!r}]: expected a formula string like "
                    f"'0 + C(cask)'; received {describe(vc.formula)}."
                )
        terms = [
            RETerm(
                expr=_clean_re_formula(re_formula, bool(vcs)),
                factor=groups,
                correlated=cov_re == "full",
                label=group_label or groups,
                vc=vcs,
            )
        ]
    elif re_formula is not None or vc_formula:
        raise SpecificationError(
            "groups: re_formula/vc_formula need groups= (the grouping column or array); "
            "received groups=None."
        )
    if not terms:
        raise SpecificationError(
            f"groups: a mixed model needs random effects; {formula!r} has no '( | g)' term "
            "and no groups= was given. Add groups='g' or '(1 | g)'."
        )
    return ModelSpec(
        response=response,
        fixed=fixed,
        re_terms=tuple(terms),
        family=family,
        priors=MappingProxyType(dict(priors or {})),
        trials=trials,
        offset=offset,
        namespace=MappingProxyType(dict(
            caller_namespace([formula, re_formula or "", *(vc_formula or {}).values()])
            if namespace is None else namespace)),
    )


def _split_trials(response: str, fixed: str, trials: str | None, needs_trials: bool,
                  family: str) -> tuple[str, str, str | None]:
    """Read ``successes / trials`` or ``p(successes, trials)`` off a binomial response."""
    for pattern in _TRIALS_LHS:
        match = pattern.match(response)
        if match:
            if not needs_trials:
                raise FormulaError(
                    f"formula: the response {response!r} gives successes and trials, which "
                    f"only family='binomial' uses; received family={family!r}."
                )
            if trials is not None:
                raise SpecificationError(
                    f"trials: given both in the formula ({response!r}) and as "
                    f"trials={trials!r}; use one."
                )
            succ, trials = match.group(1), match.group(2)
            return succ, f"{succ} ~ {fixed.split('~', 1)[1].strip()}", trials
    if trials is not None and not needs_trials:
        raise SpecificationError(
            f"trials: only family='binomial' has trials; received family={family!r}."
        )
    return response, fixed, trials


@dataclass(frozen=True, eq=False)
class Recipe:
    """What the user passed to build a model, kept so that a saved result can be rebuilt.

    Attributes
    ----------
    api : {"formula", "arrays"}
        Which constructor was called.
    kwargs : Mapping
        JSON-serialisable constructor arguments (formula, groups, re_formula, …).
    data : pandas.DataFrame
        The data as passed (for the array API: endog, exog, groups and exog_re columns).
    """

    api: Literal["formula", "arrays"]
    kwargs: Mapping[str, object]
    data: object
