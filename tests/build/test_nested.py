"""A nested pair of intercepts sampled through their sums: same density, new coordinates."""

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.build import collapsed
from bayesmm.build.collapsed import build_collapsed, centred, collapsed_factor
from bayesmm.build.nested import nested_pairs, parent_of

FORMULA = "y ~ x + (1 | s) + (1 | d) + (1 | dept)"


def _students(seed: int = 0, depts: int = 4) -> pd.DataFrame:
    """300 rows: 50 students crossed with 12 lecturers nested in ``depts`` departments."""
    rng = np.random.default_rng(seed)
    n = 300
    s, d = np.arange(n) % 50, rng.integers(0, 12, n)
    dept = d % depts
    x = rng.normal(size=n)
    y = (3 + 0.1 * x + rng.normal(0, 0.3, 50)[s] + rng.normal(0, 0.5, 12)[d]
         + rng.normal(0, 0.1, depts)[dept] + rng.normal(0, 1, n))
    return pd.DataFrame({"y": y, "x": x, "s": s.astype(str), "d": d.astype(str),
                         "dept": dept.astype(str)})


def test_lecturers_are_found_nested_in_departments_and_students_are_not():
    d = bmm.mixedlm(FORMULA, _students()).design
    labels = [f.label for f in d.factors]
    s, lect, dept = (d.factors[labels.index(n)] for n in ("s", "d", "dept"))
    links = parent_of(lect, dept)
    assert links is not None
    for level, parent in enumerate(links):  # every row of a lecturer is in its department
        assert set(dept.codes[lect.codes == level]) == {parent}
    assert parent_of(s, dept) is None and parent_of(s, lect) is None  # crossed
    k = collapsed_factor(d)
    assert d.factors[k].label == "s"
    latent = [f for f in range(3) if f != k]
    pairs = nested_pairs(d.factors, latent, [centred(f) for f in d.factors])
    assert [(d.factors[p.child].label, d.factors[p.parent].label) for p in pairs] == \
        [("d", "dept")]
    # a child sampled non-centred is left alone
    assert nested_pairs(d.factors, latent, [False] * 3) == []


@pytest.mark.parametrize("depts", [4, 2], ids=["totals-split", "totals-plain"])
def test_nested_coordinates_keep_the_density(depts, monkeypatch):
    # the new model's log density at its coordinates equals the plain centred model's at the
    # effects they map to, plus log|Jacobian| = Σ_j log(τ_j √n_j) (+ log scale of the
    # totals' mean row when it is split): exact
    model = bmm.mixedlm(FORMULA, _students(1, depts))
    d, priors = model.design, model.priors
    nested = build_collapsed(d, priors)
    monkeypatch.setattr(collapsed, "NEST", False)
    monkeypatch.setattr(collapsed, "SPLIT_LEVELS", 10**9)
    plain = build_collapsed(d, priors)
    assert "_dept_split_z" in nested.named_vars and "_d_within" in nested.named_vars
    assert "_dept_split_z" not in plain.named_vars
    rng = np.random.default_rng(5)
    point = {k: v + rng.normal(0, 0.4, np.shape(v)) for k, v in nested.initial_point().items()}
    names = ["d", "dept", "d_sd", "dept_sd"]
    a, c, sd_a, sd_b = nested.compile_fn(
        nested.replace_rvs_by_values([nested[n] for n in names]), inputs=nested.value_vars,
        point_fn=True, on_unused_input="ignore")(point)
    labels = [f.label for f in d.factors]
    links = parent_of(d.factors[labels.index("d")], d.factors[labels.index("dept")])
    n = np.bincount(links, minlength=depts)
    var_m = sd_a[0] ** 2 / n
    var = sd_b[0] ** 2 + var_m
    tau = np.sqrt(sd_b[0] ** 2 * var_m / var)
    # the children's mean in each department is ρ s + τ u, s = c + m
    m = np.array([a[links == j, 0].mean() for j in range(depts)])
    np.testing.assert_allclose(m, var_m / var * (c[:, 0] + m) + tau * point["_dept_split_z"],
                               rtol=1e-10)
    jac = np.sum(np.log(tau * np.sqrt(n))) + (0.5 * np.log(var.mean()) if depts >= 3 else 0.0)
    values = {k: v for k, v in point.items() if k in {v.name for v in plain.value_vars}}
    want = plain.compile_logp()({**values, "d": a, "dept": c}) + jac
    np.testing.assert_allclose(nested.compile_logp()(point), want, rtol=1e-12)
