"""The text report: statsmodels' two-column header, right-aligned cells, blank NaNs."""

import numpy as np
import pandas as pd

from bayesmm.report import Summary, format_header


def test_header_splits_into_two_aligned_columns():
    pairs = [("Model", "MixedLM"), ("No. Observations", "861"), ("No. Groups", "72"),
             ("Dependent Variable", "Weight"), ("Method", "REML")]
    lines = format_header(pairs)
    assert lines == [
        "Model:              MixedLM Dependent Variable: Weight",
        "No. Observations:   861     Method:             REML",
        "No. Groups:         72",
    ]


def test_table_cells_round_align_and_leave_missing_values_blank():
    table = pd.DataFrame({"Coef.": [15.72384, 6.94253, 40.4], "Std.Err.": [0.788, 0.033,
                                                                           np.nan]},
                         index=["Intercept", "Time", "Pig Var"])
    text = Summary("Mixed Linear Model Regression Results", [("Model", "MixedLM")], table,
                   notes=["a note"]).as_text().splitlines()
    width = len(text[1])
    assert set(text[1]) == {"="} and text[0] == "Mixed Linear Model Regression Results".center(
        width).rstrip()
    assert text[3] == "-" * width
    assert text[4] == "           Coef. Std.Err."
    assert text[6:9] == ["Intercept 15.724    0.788", "Time       6.943    0.033",
                         "Pig Var   40.400"]
    assert text[9] == "=" * width and text[10] == "a note"


def test_html_escapes_and_keeps_every_row():
    table = pd.DataFrame({"Mean": [1.0]}, index=["a<b"])
    html = Summary("T & U", [("k", "v<w")], table)._repr_html_()
    assert "T &amp; U" in html and "v&lt;w" in html and "a&lt;b" in html
