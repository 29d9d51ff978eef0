"""The cached flat density equals PyMC's; one compiled function serves a whole structure."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import bayesmm as bmm
from bayesmm.build.marginal import build_marginal
from bayesmm.infer import compiled
from bayesmm.infer.compiled import compile_density


def _model(frame, scale: float = 1.0, formula: str = "Reaction ~ Days + (Days | Subject)"):
    frame = frame.assign(Reaction=frame["Reaction"] * scale)
    m = bmm.mixedlm(formula, frame)
    return build_marginal(m.design, m.priors, m.stats)


@pytest.fixture(scope="module")
def sleep(data):
    return data("sleepstudy")


def _points(density, n=5, seed=0):
    rng = np.random.default_rng(seed)
    return [density.x0 + rng.normal(0, 0.5, density.n_dim) for _ in range(n)]


def _reference(model):
    fn = model.logp_dlogp_function(ravel_inputs=True)
    fn.set_extra_values({})
    return fn


@pytest.mark.parametrize("mode", ["NUMBA", "FAST_RUN"])
def test_density_equals_pymc_logp_dlogp(sleep, mode):
    model = _model(sleep)
    density = compile_density(model, mode)
    ref = _reference(model)
    for x in _points(density):
        logp, grad = density.logp_grad(x)
        want_logp, want_grad = ref(x)
        np.testing.assert_allclose(logp, want_logp, rtol=1e-10)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-8, atol=1e-10)
    point = density.trace_point(density.x0)
    assert set(point) == {"sigma", "_Subject_chol0", "Subject_sd", "Subject_corr"}
    assert point["Subject_corr"].shape == (2, 2)


def _pymc_start(model) -> np.ndarray:
    point = model.initial_point()
    return np.concatenate([np.ravel(point[v.name]) for v in model.value_vars])


def test_start_is_pymcs_initial_point_from_the_models_own_data(sleep, data):
    # the initial point is compiled and cached with the density: a second data set of the
    # structure gets its own support points (here its own prior means) from the shared function
    from bayesmm.build.mixture import build_mixture

    a, b = _model(sleep), _model(sleep, scale=3.0)
    da, db = compile_density(a), compile_density(b)
    assert da.logp_dlogp is db.logp_dlogp
    np.testing.assert_allclose(da.x0, _pymc_start(a), rtol=1e-12)
    np.testing.assert_allclose(db.x0, _pymc_start(b), rtol=1e-12)
    assert not np.allclose(da.x0, db.x0)
    frame = data("galaxies").assign(v=lambda f: f["dat"] / 1000.0)
    mix = bmm.mixture("v ~ 1", frame, k=3)
    model = build_mixture(mix.design, 3, mix.priors, "weights")  # ordered Flat log-weights
    np.testing.assert_array_equal(compile_density(model).x0, _pymc_start(model))


def test_same_structure_shares_one_function_with_its_own_data(sleep, monkeypatch):
    a, b = _model(sleep), _model(sleep, scale=3.0)  # other statistics, other priors
    da = compile_density(a)
    calls = []
    monkeypatch.setattr(compiled, "_compile", lambda *args: calls.append(args))
    db = compile_density(b)  # from the memory cache: compiling again would fail here
    assert calls == []
    assert da.logp_dlogp is db.logp_dlogp
    x = da.x0 + 0.1
    assert da.logp_grad(x)[0] != pytest.approx(db.logp_grad(x)[0])
    np.testing.assert_allclose(db.logp_grad(x)[0], _reference(b)(x)[0], rtol=1e-10)


def test_key_changes_with_structure(sleep):
    key = compiled.model_key
    base = key(_model(sleep))
    assert base == key(_model(sleep, scale=2.0))
    # a factor's label is a name, not structure
    assert base == key(_model(sleep.rename(columns={"Subject": "Person"}),
                              formula="Reaction ~ Days + (Days | Person)"))
    assert base != key(_model(sleep, formula="Reaction ~ Days + (Days || Subject)"))
    assert base != key(_model(sleep, formula="Reaction ~ 1 + (Days | Subject)"))


def test_disk_cache_reloads_and_survives_a_broken_file(sleep, tmp_path, monkeypatch):
    # a new model for every fit, as fit() builds one (compiling rewrites parts of a
    # model's transform graphs in place, so a second compile of one model object hashes
    # differently)
    monkeypatch.setattr(compiled, "_cache_dir", lambda: tmp_path)
    compiled._MEMORY.clear()
    first = compile_density(_model(sleep, scale=5.0))
    files = list(tmp_path.glob("*.pkl"))
    assert len(files) == 1
    compiled._MEMORY.clear()
    calls = []
    original = compiled._compile
    monkeypatch.setattr(compiled, "_compile", lambda *a: calls.append(a) or original(*a))
    again = compile_density(_model(sleep, scale=5.0))  # unpickled from the file
    assert calls == []
    x = first.x0 + 0.2
    assert again.logp_grad(x)[0] == pytest.approx(first.logp_grad(x)[0], rel=1e-12)
    files[0].write_bytes(b"not a pickle")
    compiled._MEMORY.clear()
    fresh = compile_density(_model(sleep, scale=5.0))  # recompiled, file rewritten
    assert len(calls) == 1
    assert fresh.logp_grad(x)[0] == pytest.approx(first.logp_grad(x)[0], rel=1e-12)
    assert files[0].read_bytes() != b"not a pickle"


def test_threads_calling_at_once_get_their_own_results(sleep):
    density = compile_density(_model(sleep))
    xs = _points(density, n=8, seed=3)
    want = [density.logp_grad(x) for x in xs]
    got: dict[int, list] = {i: [] for i in range(len(xs))}

    def work(i):
        for _ in range(300):
            got[i].append(density.logp_grad(xs[i]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, results in got.items():
        for logp, grad in results:
            assert logp == want[i][0]
            np.testing.assert_array_equal(grad, want[i][1])


def test_shared_dimension_lengths_become_arguments(data):
    # a mixture's graph also reads its coordinates' lengths (shared variables that are not
    # data containers): they must be arguments too, or the Numba function cannot be called
    from bayesmm.build.mixture import build_mixture

    mix = bmm.mixture("waiting ~ 1", data("faithful"), k=2, order="none")
    model = build_mixture(mix.design, 2, mix.priors, "none")
    density = compile_density(model)
    ref = _reference(model)
    for x in _points(density, seed=4):
        np.testing.assert_allclose(density.logp_grad(x)[0], ref(x)[0], rtol=1e-10)
        np.testing.assert_allclose(density.logp_grad(x)[1], ref(x)[1], rtol=1e-8, atol=1e-10)


def test_one_function_serves_every_number_of_components(data, monkeypatch):
    # the flat vector is split by symbolic shapes: K = 4 reuses K = 3's function (compiled
    # here or loaded from the disk cache), and each equals PyMC's density and gradient
    from bayesmm.build.mixture import build_mixture

    frame = data("galaxies").assign(v=lambda f: f["dat"] / 1000.0)
    densities = []
    for k in (3, 4):
        mix = bmm.mixture("v ~ 1", frame, k=k)
        model = build_mixture(mix.design, k, mix.priors, "mu")
        density = compile_density(model)  # K = 4: compiling would fail (patched below)
        # ordered means, log variances, simplex weights, the variances' log scale β
        assert density.n_dim == 3 * k
        ref = _reference(model)
        for x in _points(density, seed=k):
            np.testing.assert_allclose(density.logp_grad(x)[0], ref(x)[0], rtol=1e-10)
            np.testing.assert_allclose(density.logp_grad(x)[1], ref(x)[1], rtol=1e-8,
                                       atol=1e-10)
        densities.append(density)
        monkeypatch.setattr(compiled, "_compile", lambda *a: pytest.fail("compiled again"))
        monkeypatch.setattr(compiled, "_load", lambda path: pytest.fail("read the disk"))
    assert densities[0].logp_dlogp is densities[1].logp_dlogp
    assert densities[1].trace_point(densities[1].x0)["w"].shape == (4,)


def test_models_differing_only_in_names_share_one_function_bound_by_position(sleep,
                                                                            monkeypatch):
    # another factor label, response and predictor name: the same compiled function, with
    # each model's own data in the same argument positions; both equal PyMC's density
    renamed = sleep.rename(columns={"Subject": "Person", "Reaction": "ms", "Days": "d"})
    a = _model(sleep)
    b = build_marginal(*(lambda m: (m.design, m.priors, m.stats))(
        bmm.mixedlm("ms ~ d + (d | Person)", renamed.assign(ms=renamed["ms"] * 2.0))))
    da = compile_density(a)
    monkeypatch.setattr(compiled, "_compile", lambda *args: pytest.fail("compiled again"))
    db = compile_density(b)
    assert db.logp_dlogp is da.logp_dlogp
    assert "Person_sd" in db.names and "Subject_sd" in da.names
    for density, model in ((da, a), (db, b)):
        ref = _reference(model)
        for x in _points(density, seed=2):
            np.testing.assert_allclose(density.logp_grad(x)[0], ref(x)[0], rtol=1e-10)
            np.testing.assert_allclose(density.logp_grad(x)[1], ref(x)[1], rtol=1e-8,
                                       atol=1e-10)


def test_key_of_a_latent_build_is_the_same_in_every_process(data, tmp_path):
    # the latent build's graph holds a None constant, whose bytes are its address: hashed
    # so, every new process had a new key and recompiled the density and its C callbacks
    import subprocess
    import sys

    script = tmp_path / "key.py"
    script.write_text(
        "import pandas as pd, bayesmm as bmm, sys\n"
        "from bayesmm.build.latent import build_latent\n"
        "from bayesmm.infer.compiled import model_key\n"
        "frame = pd.read_csv(sys.argv[1])\n"
        "m = bmm.mixedlm('incidence / size ~ C(period) + (1 | herd)', frame, family='binomial')\n"
        "print(model_key(build_latent(m.design, m.priors)))\n")
    csv = tmp_path / "cbpp.csv"
    data("cbpp").to_csv(csv, index=False)
    keys = {subprocess.run([sys.executable, str(script), str(csv)], capture_output=True,
                           text=True, check=True).stdout.strip() for _ in range(2)}
    assert len(keys) == 1 and len(next(iter(keys))) == 64
