import numpy as np

from bayesmm.design import make_design
from bayesmm.spec import spec_from_formula
from bayesmm.suffstats import joint_stats, joint_z, suff_stats


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


def test_joint_and_blocked_stats_of_crossed_factors(data):
    d = make_design(spec_from_formula("diameter ~ 1 + (1|plate) + (1|sample)"), data("Penicillin"))
    st = joint_stats(d)
    Z = joint_z(d).toarray()
    assert Z.shape == (144, 30)
    np.testing.assert_allclose(st.ZtZ[0], Z.T @ Z)
    assert st.tmap.m == 30 and st.tmap.n_theta == 2
    blocked = suff_stats(d)  # plate (24 levels) first, sample (6) second
    K = Z.T @ Z
    np.testing.assert_allclose(blocked.D1[:, 0, 0], np.diag(K)[:24])
    np.testing.assert_allclose(blocked.ZrZ1.toarray(), K[24:, :24])
    np.testing.assert_allclose(blocked.ZrZr, K[24:, 24:])
    np.testing.assert_allclose(blocked.Z1X[:, 0, :], (Z.T @ d.X)[:24])
    np.testing.assert_allclose(blocked.Zry, (Z.T @ d.y)[24:])


def test_chunked_pass_equals_one_pass(data, monkeypatch):
    from bayesmm import suffstats

    d = make_design(spec_from_formula("Weight ~ Time", groups="Pig", re_formula="~Time"),
                    data("dietox"))
    whole = suff_stats(d)
    monkeypatch.setattr(suffstats, "CHUNK", 100)  # 861 rows → 9 chunks
    chunked = suff_stats(d)
    for name in ("ZtZ", "ZtX", "Zty", "XtX_b", "Xty_b"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-12)
