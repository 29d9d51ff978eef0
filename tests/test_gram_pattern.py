"""The pattern of K diag(v) Kᵀ against the dense product."""

import numpy as np
import pytest
import scipy.sparse as sp

from bayesmm.gram_pattern import gram_pattern, gram_values


def _K(seed: int = 0) -> sp.csr_matrix:
    """(30, 200) with columns of 0 to 6 nonzeros, like smaller factors' levels per pupil."""
    rng = np.random.default_rng(seed)
    rows, cols, vals = [], [], []
    for j in range(200):
        k = rng.integers(0, 7)
        rows += list(rng.choice(30, k, replace=False))
        cols += [j] * k
        vals += list(rng.uniform(0.5, 3.0, k))
    return sp.csr_matrix((vals, (rows, cols)), shape=(30, 200))


def test_values_on_the_pattern_are_the_lower_triangle_of_the_dense_product():
    K = _K()
    pattern = gram_pattern(K, max_terms=10**6)
    v = np.random.default_rng(1).uniform(0.1, 2.0, K.shape[1])
    dense = (K @ sp.diags(v) @ K.T).toarray()  # (30, 30)
    assert np.all(pattern.rows >= pattern.cols)
    np.testing.assert_allclose(gram_values(pattern, v), dense[pattern.rows, pattern.cols],
                               rtol=1e-13)
    # every nonzero of the lower triangle is on the pattern, each once
    lower = np.tril(dense != 0)
    assert pattern.rows.size == lower.sum()
    assert len(set(zip(pattern.rows.tolist(), pattern.cols.tolist(), strict=True))) \
        == pattern.rows.size
    np.testing.assert_array_equal(pattern.diagonal, pattern.rows == pattern.cols)


def test_too_many_terms_gives_no_pattern():
    K = sp.csr_matrix(np.ones((40, 10)))  # every pair in every column: 10 × 820 terms
    assert gram_pattern(K, max_terms=8200) is not None
    assert gram_pattern(K, max_terms=8199) is None


@pytest.mark.parametrize("shape", [(5, 0), (5, 4)])
def test_no_co_occurrence_gives_an_empty_pattern(shape):
    pattern = gram_pattern(sp.csr_matrix(shape), max_terms=10)
    assert pattern.rows.size == 0
    assert gram_values(pattern, np.ones(shape[1])).size == 0
