import numpy as np

from bayesmm.design import make_design
from bayesmm.spec import spec_from_formula
from bayesmm.suffstats import joint_z, suff_stats


def test_group_stats_equal_dense_products(data):
    d = make_design(spec_from_formula("Weight ~ Time", groups="Pig", re_formula="~Time"),
                    data("dietox"))
    st = suff_stats(d)
    f = d.factors[0]
    for g in (0, 5, 71):
        rows = f.codes == g
        Z, X, y = f.Z[rows], d.X[rows], d.y[rows]
        np.testing.assert_allclose(st.ZtZ[g], Z.T @ Z, rtol=1e-12)
        np.testing.assert_allclose(st.ZtX[g], Z.T @ X, rtol=1e-12)
        np.testing.assert_allclose(st.Zty[g], Z.T @ y, rtol=1e-12)
    np.testing.assert_allclose(st.yty, d.y @ d.y)
    assert st.n_per_block.sum() == d.n_obs


def test_joint_stats_of_crossed_factors(data):
    d = make_design(spec_from_formula("diameter ~ 1 + (1|plate) + (1|sample)"), data("Penicillin"))
    st = suff_stats(d)
    Z = joint_z(d).toarray()
    assert Z.shape == (144, 30)
    np.testing.assert_allclose(st.ZtZ[0], Z.T @ Z)
    assert st.tmap.m == 30 and st.tmap.n_theta == 2


def test_chunked_pass_equals_one_pass(data, monkeypatch):
    from bayesmm import suffstats

    d = make_design(spec_from_formula("Weight ~ Time", groups="Pig", re_formula="~Time"),
                    data("dietox"))
    whole = suff_stats(d)
    monkeypatch.setattr(suffstats, "CHUNK", 100)  # 861 rows → 9 chunks
    chunked = suff_stats(d)
    for name in ("ZtZ", "ZtX", "Zty", "XtX_b", "Xty_b"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-12)
