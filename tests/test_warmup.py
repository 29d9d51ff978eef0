"""`bayesmm warmup` compiles what real models of the same structure use."""

import numpy as np
import pytest

import bayesmm as bmm
from bayesmm.build.marginal import build_marginal
from bayesmm.cli import build_parser
from bayesmm.infer import compiled
from bayesmm.warmup import STRUCTURES, _frame, structure_formula


def _key(model: bmm.MixedLM) -> str:
    return compiled.model_key(build_marginal(model.design, model.priors, model.stats))


@pytest.mark.parametrize(("q", "p", "name", "formula"), [
    (1, 1, "Dyestuff", "Yield ~ 1 + (1 | Batch)"),
    (1, 3, "radon", "log_radon ~ basement + uranium + (1 | county)"),
    (2, 2, "sleepstudy", "Reaction ~ Days + (Days | Subject)"),
])
def test_a_warmed_structure_has_the_key_of_real_models_of_that_structure(data, q, p, name,
                                                                          formula):
    assert (q, p) in STRUCTURES
    frame = data(name)
    frame.columns = [c.replace(".", "_") for c in frame.columns]
    warm = bmm.mixedlm(structure_formula(q, p), _frame(np.random.default_rng(0)))
    assert _key(warm) == _key(bmm.mixedlm(formula, frame))


def test_structures_and_the_command():
    assert structure_formula(1, 3) == "y ~ 1 + x1 + x2 + (1 | g)"
    assert structure_formula(2, 1) == "y ~ 1 + (1 + z | g)"
    assert build_parser().parse_args(["warmup"]).command == "warmup"
