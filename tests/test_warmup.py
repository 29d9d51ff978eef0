"""`bayesmm warmup` fits on the kernels that real models of any structure run on."""

import numpy as np
import pytest

import bayesmm as bmm
from bayesmm.cli import build_parser
from bayesmm.infer.kernel_density import KEY, LATENT_KEY, kernel_density, latent_kernel_density
from bayesmm.warmup import LATENT, STRUCTURES, _frame, structure_formula


def _callbacks_key(model: bmm.MixedLM) -> str:
    """Key of the kernel a model's NUTS fit runs on."""
    return kernel_density(model.design, model.priors, model.stats).key


@pytest.mark.parametrize(("name", "formula"), [
    ("Dyestuff", "Yield ~ 1 + (1 | Batch)"),
    ("radon", "log_radon ~ basement + uranium + (1 | county)"),
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
    ("Orthodont", "distance ~ age + (age || Subject)"),
])
def test_the_warmed_gaussian_fit_compiles_what_real_models_of_any_structure_run_on(
        data, name, formula):
    frame = data(name)
    frame.columns = [c.replace(".", "_") for c in frame.columns]
    (q, p), = STRUCTURES
    warm = bmm.mixedlm(structure_formula(q, p), _frame(np.random.default_rng(0)))
    assert _callbacks_key(warm) == _callbacks_key(bmm.mixedlm(formula, frame)) == KEY


def test_the_warmed_latent_fit_compiles_what_every_covered_glmm_runs_on(data):
    # the latent kernel reads X, Z and the levels as data, and the family as a code: the
    # warm-up's one binomial random-intercept fit runs on what cbpp's p = 4, Poisson and
    # Bernoulli models, crossed factors and correlated slopes run on
    def key(model: bmm.MixedLM) -> str:
        return latent_kernel_density(model.design, model.priors).key

    frame = _frame(np.random.default_rng(0))
    (family, formula), = LATENT.items()
    warm = key(bmm.mixedlm(formula, frame, family=family))
    counts = frame.assign(x=frame["x1"], site=frame["g"], day=np.arange(len(frame)) % 4)
    others = [bmm.mixedlm("incidence / size ~ C(period) + (1 | herd)", data("cbpp"),
                          family="binomial"),
              bmm.mixedlm("k ~ x + (1 + x | site)", counts, family="poisson"),
              bmm.mixedlm("b ~ x + x2 + (1 | site) + (1 | day)", counts, family="bernoulli")]
    assert {key(m) for m in others} == {warm} == {LATENT_KEY}


def test_structures_and_the_command():
    assert structure_formula(1, 3) == "y ~ 1 + x1 + x2 + (1 | g)"
    assert structure_formula(2, 1) == "y ~ 1 + (1 + z | g)"
    assert build_parser().parse_args(["warmup"]).command == "warmup"
