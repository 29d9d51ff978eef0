"""The sampler registry: one interface per NUTS implementation, names as NutsOptions takes."""

import pytest

from bayesmm.errors import SpecificationError
from bayesmm.infer.options import SAMPLERS as NAMES
from bayesmm.infer.options import NutsOptions
from bayesmm.infer.samplers import (
    SAMPLERS,
    NutpieSampler,
    PyMCSampler,
    Start,
    get_sampler,
)


def test_every_name_options_accept_has_a_sampler_of_that_name():
    assert set(SAMPLERS) == set(NAMES)
    for name in NAMES:
        assert get_sampler(name).name == name


@pytest.mark.parametrize(("sampler", "low", "extends"), [
    (NutpieSampler(), True, True), (NutpieSampler(), False, False),
    (PyMCSampler("pymc"), True, False), (PyMCSampler("numpyro"), True, False),
])
def test_only_nutpie_on_the_flat_density_extends_a_run(sampler, low, extends):
    assert sampler.can_extend(Start(low_dimensional=low)) is extends


def test_max_draws_on_the_latent_build_names_the_sampler(data):
    import bayesmm as bmm
    from bayesmm.infer.nuts import sample_nuts

    model = bmm.mixedlm("Reaction ~ Days", data("sleepstudy"), groups="Subject")
    options = NutsOptions(draws=10, tune=10, chains=1, max_draws=20, sampler="nutpie")
    with pytest.raises(SpecificationError, match="max_draws: .*'nutpie' on the latent"):
        sample_nuts(model.design, model.priors, model.stats, options, marginal=False)
    with pytest.raises(SpecificationError, match="sampler: expected one of"):
        NutsOptions(sampler="stan")
