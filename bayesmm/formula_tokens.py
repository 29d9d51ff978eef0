"""A formula's tokens and where they sit in its text: formulae's scanner, with positions.

formulae lexes a formula (names, back-quoted names, strings, numbers, operators and
brackets) but its parser has no lme4 bar terms. Splitting on its tokens instead of on
characters keeps a ``|``, ``+`` or bracket inside a string literal or a back-quoted name
from being read as structure, and tells a column's name from a string's contents.
"""

from __future__ import annotations

from dataclasses import dataclass

from formulae.scanner import ScanError, Scanner

from .errors import FormulaError

__all__ = ["Token", "closing", "names", "split_top_level", "tokenize"]

_OPEN = frozenset({"LEFT_PAREN", "LEFT_BRACKET", "LEFT_BRACE"})
_CLOSE = frozenset({"RIGHT_PAREN", "RIGHT_BRACKET", "RIGHT_BRACE"})


@dataclass(frozen=True)
class Token:
    """One lexeme of a formula: formulae's ``kind`` and its span ``[start, end)`` in the text."""

    kind: str
    text: str
    start: int
    end: int


def tokenize(text: str, argument: str = "formula") -> tuple[Token, ...]:
    """Tokens of ``text`` in order, with their positions (no implicit intercept).

    Parameters
    ----------
    text : str
        A formula or a part of one.
    argument : str
        The argument ``text`` came from, for the error message.

    Returns
    -------
    tuple of Token
        Empty for a blank ``text``.

    Raises
    ------
    FormulaError
        When formulae's scanner meets a character no formula can hold.
    """
    if not text.strip():
        return ()
    try:
        raw = Scanner(text).scan(add_intercept=False)
    except ScanError as err:
        raise FormulaError(
            f"{argument}: {err} in {text!r}; a formula holds column names, numbers, strings, "
            f"function calls and the operators + - * / : ** | ~. Quote an unusual column "
            f"name in back-quotes, like `my column`."
        ) from err
    out: list[Token] = []
    pos = 0
    for tok in raw:
        if tok.kind == "EOF":
            break
        start = text.index(tok.lexeme, pos)  # lexemes are slices of text, in order
        pos = start + len(tok.lexeme)
        out.append(Token(tok.kind, tok.lexeme, start, pos))
    return tuple(out)


def names(text: str, argument: str = "formula") -> set[str]:
    """Return the names a formula mentions: identifiers and back-quoted names, not strings.

    Function names (``C``, ``scale``) are included; a caller keeps those it can resolve.
    """
    found = set()
    for tok in tokenize(text, argument):
        if tok.kind == "IDENTIFIER":
            found.add(tok.text)
        elif tok.kind == "BQNAME":
            found.add(tok.text[1:-1])
    return found


def split_top_level(toks: tuple[Token, ...], kind: str) -> list[tuple[Token, ...]]:
    """Split ``toks`` at the tokens of ``kind`` outside every bracket.

    Parameters
    ----------
    toks : tuple of Token
    kind : str
        A formulae token kind, e.g. ``"PLUS"`` or ``"SLASH"``.

    Returns
    -------
    list of tuple of Token
        The pieces between separators, in order (a piece may be empty).
    """
    pieces: list[tuple[Token, ...]] = []
    current: list[Token] = []
    depth = 0
    for tok in toks:
        depth += (tok.kind in _OPEN) - (tok.kind in _CLOSE)
        if depth == 0 and tok.kind == kind:
            pieces.append(tuple(current))
            current = []
        else:
            current.append(tok)
    pieces.append(tuple(current))
    return pieces


def closing(toks: tuple[Token, ...]) -> int:
    """Index of the token that closes the bracket opened by ``toks[0]`` (−1 if none does)."""
    depth = 0
    for i, tok in enumerate(toks):
        depth += (tok.kind in _OPEN) - (tok.kind in _CLOSE)
        if depth == 0:
            return i if i else -1
    return -1
