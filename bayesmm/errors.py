"""Exception hierarchy: every user mistake raises a subclass of :class:`BayesMMError`."""

from __future__ import annotations

__all__ = [
    "BayesMMError",
    "DataError",
    "FitError",
    "FormulaError",
    "NotFittedError",
    "SeparationError",
    "SpecificationError",
    "check_alpha",
]


class BayesMMError(Exception):
    """Base class of every error bayesmm raises for a user mistake."""


class FormulaError(BayesMMError, ValueError):
    """A formula could not be parsed or refers to something that does not exist."""


class DataError(BayesMMError, ValueError):
    """The data do not fit the model: wrong types, lengths, too few groups, empty."""


class SeparationError(DataError):
    """The maximum-likelihood estimate is infinite: the predictors separate the response."""


class SpecificationError(BayesMMError, ValueError):
    """An argument combination or option value is invalid."""


class FitError(BayesMMError, RuntimeError):
    """A fit failed numerically; the message names the cause and what to try."""


class NotFittedError(BayesMMError, AttributeError):
    """A fitted quantity was requested from an object that has not been fitted."""


def describe(value: object, limit: int = 60) -> str:
    """Return a short, printable description of ``value`` for error messages.

    Parameters
    ----------
    value : object
        Anything the user passed.
    limit : int
        Maximum length of the ``repr``.

    Returns
    -------
    str
        ``"<type> <repr>"`` truncated to ``limit`` characters.
    """
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(value).__name__} {text}"


def check_alpha(alpha: float) -> None:
    """Raise :class:`SpecificationError` unless ``alpha`` (an interval's 1 − level) is in (0, 1)."""
    if not 0 < alpha < 1:
        raise SpecificationError(f"alpha: expected a number in (0, 1); received {alpha!r}.")
