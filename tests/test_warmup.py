"""`bayesmm warmup` compiles what real models of the same structure use."""

import numpy as np
import pytest

import bayesmm as bmm
from bayesmm.build.latent import build_latent
from bayesmm.cli import build_parser
from bayesmm.infer import compiled, native
from bayesmm.infer.kernel_density import kernel_density
from bayesmm.warmup import LATENT, STRUCTURES, _frame, structure_formula


def _callbacks_key(model: bmm.MixedLM) -> str:
    """Key of the C callbacks a model's NUTS fit runs on (the marginal kernel's)."""
    density = kernel_density(model.design, model.priors, model.stats)
    return native._key(density, native._layout(density.data)[0])


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
    assert _callbacks_key(warm) == _callbacks_key(bmm.mixedlm(formula, frame))


def test_a_warmed_latent_family_has_the_key_of_real_models_with_any_p(data):
    # the latent build reads X as data: the warm-up's intercept-only fit serves cbpp's p = 4
    def key(model: bmm.MixedLM) -> str:
        return compiled.model_key(build_latent(model.design, model.priors))

    frame = _frame(np.random.default_rng(0))
    warm = {f: key(bmm.mixedlm(formula, frame, family=f)) for f, formula in LATENT.items()}
    assert len(set(warm.values())) == 3
    cbpp = bmm.mixedlm("incidence / size ~ C(period) + (1 | herd)", data("cbpp"),
                       family="binomial")
    assert key(cbpp) == warm["binomial"]
    counts = frame.assign(x=frame["x1"], site=frame["g"])
    assert key(bmm.mixedlm("k ~ x + (1 | site)", counts, family="poisson")) == warm["poisson"]
    assert key(bmm.mixedlm("b ~ x + x2 + (1 | site)", counts, family="bernoulli")) \
        == warm["bernoulli"]


def test_structures_and_the_command():
    assert structure_formula(1, 3) == "y ~ 1 + x1 + x2 + (1 | g)"
    assert structure_formula(2, 1) == "y ~ 1 + (1 + z | g)"
    assert build_parser().parse_args(["warmup"]).command == "warmup"
