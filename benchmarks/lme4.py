"""The multi-factor designs fitted by bayesmm and by R's lme4 side by side, in one run.

For every design of ``benchmarks/multifactor.py``: bayesmm's fit (in a fresh process) and
lme4's ``lmer``/``glmer`` on the same simulated rows (``Rscript``), printing both
log-likelihoods, their difference, the variance estimates and the wall times. lme4 is
skipped, and says so, when ``Rscript`` or the lme4 package is missing
(``apt-get install r-base-core r-cran-lme4`` on Debian).

Usage: python benchmarks/lme4.py [--designs areas three ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import multifactor  # noqa: E402

R_FORMULAS = {
    "areas": "y ~ x + (1 | school) + (1 | area)",
    "three": "y ~ factor(a) + factor(b) + (1 | pupil) + (1 | teacher) + (1 | school)",
    "students": "y ~ x + (1 | s) + (1 | d) + (1 | dept)",
    "crossbern": "y ~ x + (1 | subj) + (1 | item)",
    "bern": "y ~ x + (1 | g)",
    "maximal": "y ~ A * B * C + (1 + A * B * C | subj) + (1 + A * B * C | item)",
    "ticks": "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
}

R_SCRIPT = r"""
suppressMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], colClasses = "character")
for (v in c("y", "x", "TICKS", "HEIGHT", "A", "B", "C"))
  if (v %in% names(d)) d[[v]] <- as.numeric(d[[v]])
f <- as.formula(args[2])
t0 <- proc.time()[["elapsed"]]
m <- if (args[3] == "gaussian") lmer(f, d, REML = TRUE) else
  glmer(f, d, family = if (args[3] == "poisson") poisson else binomial)
wall <- proc.time()[["elapsed"]] - t0
vc <- as.data.frame(VarCorr(m))
cov <- paste0("\"", vc$grp, "\":", sprintf("%.10g", vc$vcov), collapse = ",")
cat(sprintf("{\"wall\": %.4f, \"llf\": %.10f, \"cov\": {%s}}\n", wall,
            as.numeric(logLik(m)), cov))
"""


def has_lme4() -> bool:
    """Whether ``Rscript`` runs and loads lme4."""
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(["Rscript", "-e", "suppressMessages(library(lme4))"],
                           capture_output=True)
    return probe.returncode == 0


def run_lme4(name: str, frame: object, family: str) -> dict[str, object]:
    """Fit one design with lme4 in R; wall time (of the fit alone), llf and variances."""
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = Path(tmp) / "d.csv", Path(tmp) / "fit.R"
        frame.to_csv(csv, index=False)  # type: ignore[attr-defined]
        script.write_text(R_SCRIPT)
        start = time.perf_counter()
        out = subprocess.run(["Rscript", str(script), str(csv), R_FORMULAS[name], family],
                             capture_output=True, text=True, check=True)
        total = time.perf_counter() - start
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["process s"] = round(total, 2)
    return row


def main() -> None:
    """Print bayesmm's and lme4's fit of each design side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", nargs="+", default=list(multifactor.DESIGNS))
    args = parser.parse_args()
    r_ok = has_lme4()
    if not r_ok:
        print("lme4: skipped (Rscript with lme4 not installed)")
    for name in args.designs:
        sim, _, family, _ = multifactor.DESIGNS[name]
        ours = subprocess.run([sys.executable, multifactor.__file__, "--one", name],
                              capture_output=True, text=True, check=True)
        mine = json.loads(ours.stdout.strip().splitlines()[-1])
        print(f"{name}: bayesmm {mine['wall s']} s, llf {mine['llf']:.6f}, {mine['cov']}",
              flush=True)
        if r_ok:
            theirs = run_lme4(name, sim(), family)
            print(f"{name}: lme4    {theirs['wall']:.2f} s (process {theirs['process s']} s), "
                  f"llf {theirs['llf']:.6f}, {theirs['cov']}; llf difference "
                  f"{mine['llf'] - theirs['llf']:.2e}", flush=True)


if __name__ == "__main__":
    main()
