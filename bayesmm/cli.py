"""The command line: ``bayesmm fit DATA.csv FORMULA ...``, ``bayesmm demo``, ``bayesmm warmup``."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

import pandas as pd

from .errors import BayesMMError, DataError

__all__ = ["build_parser", "demo", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the ``bayesmm`` command."""
    parser = argparse.ArgumentParser(prog="bayesmm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="fit a simulated growth-curve model and print the summary")
    sub.add_parser("warmup", help="check once per installation that the NUTS kernels load "
                   "and sample (compiling them where the installation did not)")
    fit = sub.add_parser("fit", help="fit a mixed model to a CSV file and print the summary")
    fit.add_argument("data", help="CSV file (Rdatasets' 'rownames' column is dropped)")
    fit.add_argument("formula", help="e.g. 'Reaction ~ Days + (Days | Subject)'")
    fit.add_argument("--groups", help="grouping column (statsmodels spelling)")
    fit.add_argument("--re-formula", help="random-effects formula, e.g. '~Days'")
    fit.add_argument("--family", default="gaussian",
                     choices=["gaussian", "t", "bernoulli", "binomial", "poisson", "negbin"])
    fit.add_argument("--method", default="nuts", choices=["nuts", "reml", "ml", "map"])
    fit.add_argument("--draws", type=int, default=1000)
    fit.add_argument("--tune", type=int, default=1000)
    fit.add_argument("--chains", type=int, default=4)
    fit.add_argument("--seed", type=int, default=None, help="random seed")
    fit.add_argument("--cov-scale", default="var", choices=["var", "sd"],
                     help="report variances (statsmodels) or SDs/correlations (lme4)")
    fit.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    fit.add_argument("--out", help="write the NUTS result to this netCDF file")
    return parser


def _read(path: str) -> pd.DataFrame:
    """Read the CSV, turning I/O errors into a :class:`DataError`."""
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"data: cannot read {path!r} as CSV ({exc}).") from None
    if len(frame.columns) and frame.columns[0] in ("rownames", "Unnamed: 0"):
        frame = frame.drop(columns=frame.columns[0])
    return frame


def demo() -> None:
    """Fit ``Weight ~ Time`` with random intercepts and slopes by pig; print both summaries."""
    from .api import mixedlm
    from .datasets import simulate_growth

    model = mixedlm("Weight ~ Time", simulate_growth(), groups="Pig", re_formula="~Time")
    print(model.fit(method="reml").summary())
    print()
    print(model.fit(draws=1000, tune=1000, chains=4, random_seed=2026).summary())


def _fit(args: argparse.Namespace) -> None:
    """Run ``bayesmm fit``."""
    from .api import mixedlm

    model = mixedlm(args.formula, _read(args.data), groups=args.groups,
                    re_formula=args.re_formula, family=args.family)
    if args.method != "nuts":
        if args.out:
            raise DataError("out: only NUTS results are saved; drop --out or use --method nuts.")
        print(model.fit(method=args.method).summary(cov_scale=args.cov_scale))
        return
    res = model.fit(draws=args.draws, tune=args.tune, chains=args.chains,
                    random_seed=args.seed, progressbar=not args.no_progress)
    print(res.summary(cov_scale=args.cov_scale))
    if args.out:
        res.save(args.out)
        print(f"Saved to {args.out}")


def _quiet() -> None:
    """Silence PyTensor's BLAS notice (pip-installed PyTensor has no BLAS to link)."""
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    logging.getLogger("pytensor.tensor.blas").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bayesmm`` command; returns the exit status."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    _quiet()
    try:
        if args.command == "demo":
            demo()
        elif args.command == "warmup":
            from .warmup import warmup

            warmup(report=print)
        else:
            _fit(args)
    except BayesMMError as exc:
        print(f"bayesmm: error: {exc}", file=sys.stderr)
        return 2
    return 0
