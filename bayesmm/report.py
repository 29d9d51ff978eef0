"""Text/HTML summary tables in the layout of statsmodels' MixedLM results."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Summary", "format_header"]


def _fmt(value: object, digits: int) -> str:
    """Format a table cell: numbers with ``digits`` decimals, blanks for NaN/None."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}"
    return str(value)


def format_header(pairs: list[tuple[str, str]]) -> list[str]:
    """Two-column ``key: value`` header as statsmodels prints it."""
    cells = [f"{k}:" for k, _ in pairs]
    kw = max(len(c) for c in cells)
    vw = max(len(v) for _, v in pairs)
    lines = [f"{c:<{kw}} {v:<{vw}}" for c, (_, v) in zip(cells, pairs, strict=True)]
    half = (len(lines) + 1) // 2
    left, right = lines[:half], lines[half:] + [""]
    return [f"{a} {b}".rstrip() for a, b in zip(left, right, strict=False)]


@dataclass
class Summary:
    """A printable summary: title, header key/values, one table, footer notes.

    Attributes
    ----------
    title : str
    header : list of (str, str)
    table : pandas.DataFrame
    notes : list of str
    digits : int
    """

    title: str
    header: list[tuple[str, str]]
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    digits: int = 3

    @property
    def tables(self) -> list[pd.DataFrame]:
        """The header and the parameter table as DataFrames (as statsmodels' Summary)."""
        head = pd.DataFrame(self.header, columns=["key", "value"])
        return [head, self.table]

    def to_frame(self) -> pd.DataFrame:
        """Return a copy of the parameter table."""
        return self.table.copy()

    def as_text(self) -> str:
        """Render as fixed-width text."""
        body = self.table.map(lambda v: _fmt(v, self.digits))
        name_w = max(len(str(i)) for i in body.index)
        widths = [max(len(str(c)), *(len(x) for x in body[c])) for c in body.columns]
        cols = " ".join(f"{c:>{w}}" for c, w in zip(body.columns, widths, strict=True))
        rows = [
            f"{str(i):<{name_w}} " + " ".join(f"{x:>{w}}" for x, w in zip(r, widths, strict=True))
            for i, r in zip(body.index, body.itertuples(index=False), strict=True)
        ]
        head = format_header(self.header)
        width = max(len(cols) + name_w + 1, *(len(h) for h in head), len(self.title))
        lines = [self.title.center(width).rstrip(), "=" * width, *head, "-" * width,
                 " " * (name_w + 1) + cols, "-" * width, *(r.rstrip() for r in rows),
                 "=" * width]
        lines += self.notes
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()

    def _repr_html_(self) -> str:
        """HTML rendering for Jupyter."""
        head = "".join(
            f"<tr><th>{html.escape(k)}:</th><td>{html.escape(v)}</td></tr>" for k, v in self.header
        )
        table = self.table.map(lambda v: _fmt(v, self.digits)).to_html()
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return (f"<div><h4>{html.escape(self.title)}</h4><table>{head}</table>"
                f"{table}{notes}</div>")
