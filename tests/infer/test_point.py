"""Point-fit dispatch: REML/ML/MAP for Gaussian models, Laplace ML/MAP for the others."""

import pytest

import bayesmm as bmm
from bayesmm.infer.point import default_point_method, point_fit, point_methods


def test_methods_by_family_and_the_column_beside_the_posterior(data):
    gauss = bmm.mixedlm("Reaction ~ Days + (1 | Subject)", data("sleepstudy"))
    binom = bmm.mixedlm("incidence / size ~ C(period) + (1 | herd)", data("cbpp"),
                        family="binomial")
    assert point_methods(gauss.design) == ("reml", "ml", "map")
    assert point_methods(binom.design) == ("ml", "map")
    assert default_point_method(gauss.design) == "reml"
    assert default_point_method(binom.design) == "ml"
    ml = point_fit(binom.design, None, "ml")
    assert ml.method == "ml" and ml.scale == 1.0
    reml, ml_g = (point_fit(gauss.design, gauss.stats, m) for m in ("reml", "ml"))
    # lme4: REML criterion 1786.465 (logLik −893.2325); REML = FALSE logLik −897.0393
    assert (reml.llf, ml_g.llf) == pytest.approx((-893.2325, -897.0393), abs=1e-4)
    with pytest.raises(bmm.SpecificationError, match=r"method: family='binomial' supports"):
        point_fit(binom.design, None, "reml")
