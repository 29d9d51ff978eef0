"""``python -m bayesmm demo``: fit a simulated growth-curve model and print the summary."""

from __future__ import annotations

import sys

from .datasets import simulate_growth


def demo() -> None:
    """Fit ``Weight ~ Time`` with random intercepts and slopes by pig; print both summaries."""
    import logging
    import warnings

    from .api import mixedlm

    # pip-installed PyTensor has no BLAS to link; its notice is not news to a demo user
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    logging.getLogger("pytensor.tensor.blas").setLevel(logging.ERROR)
    data = simulate_growth()
    model = mixedlm("Weight ~ Time", data, groups="Pig", re_formula="~Time")
    print(model.fit(method="reml").summary())
    print()
    res = model.fit(draws=1000, tune=1000, chains=4, random_seed=2026)
    print(res.summary())


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["demo"]:
        demo()
        return 0
    print("usage: python -m bayesmm demo", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
