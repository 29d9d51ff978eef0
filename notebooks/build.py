"""Write the notebooks from the cell lists below, and optionally execute them in place.

The cells here are the source of truth; the ``.ipynb`` files are generated, executed with
their outputs stored, and re-executed by ``tests/test_notebooks.py``.

Usage: python notebooks/build.py [--execute [01 02 ...]]   (data: BAYESMM_DATA or ../shared/data)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent


def setup(*imports: str) -> str:
    """First code cell: imports (sorted as ruff wants them), quiet logs, data folder."""
    third = sorted(["import matplotlib.pyplot as plt", "import pandas as pd", *imports],
                   key=lambda line: line.split()[1])
    return "\n".join([
        "import logging", "import os", "import warnings", "from pathlib import Path", "",
        *third, "", "import bayesmm as bmm", "",
        'warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")',
        'logging.getLogger("pytensor.tensor.blas").setLevel(logging.ERROR)',
        'logging.getLogger("pymc").setLevel(logging.ERROR)  # sampler progress lines',
        "# PyMC's mass-matrix adaptation can overflow on an early tuning step; harmless",
        'warnings.filterwarnings("ignore", message="overflow encountered in dot")',
        'DATA = os.environ.get("BAYESMM_DATA", str(Path.cwd().parent.parent / "shared" / "data"))',
        "FAST = dict(draws=1000, tune=1000, chains=4, random_seed=2026, progressbar=False)",
    ])


NP = "import numpy as np"
NBA = """nba = pd.DataFrame({
    "Points": [10, 25, 35, 30, 22, 14, 24, 28, 32, 27],
    "Minutes": [35, 40, 30, 38, 33, 32, 34, 39, 41, 36],
    "Team": ["TeamG", "TeamG", "TeamR", "TeamR", "TeamG", "TeamG", "TeamR",
             "TeamR", "TeamG", "TeamR"],
})
"""

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01_dietox_and_nba.ipynb": [
        ("md", "# Growth curves of pigs (dietox) and the NBA example\n\n"
               "Seed documents 002 and 003 fit these models with statsmodels' `mixedlm`. "
               "The same calls work in bayesmm; `fit()` samples the posterior with NUTS and "
               "prints the REML estimates beside it."),
        ("code", setup(NP)),
        ("code", 'dietox = bmm.load_dataset("dietox", data_home=DATA)\n'
                 'dietox.head()'),
        ("md", "## Step 2: a random intercept for each pig"),
        ("code", 'm1 = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig")\n'
                 'print(m1.fit(method="reml").summary())'),
        ("code", 'r1 = m1.fit(**FAST)\nprint(r1.summary())'),
        ("md", "## Step 3: a random intercept and a random slope"),
        ("code", 'm2 = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig", re_formula="~Time")\n'
                 'r2 = m2.fit(**FAST)\nr2.summary()  # rendered as HTML in Jupyter'),
        ("md", "lme4's spelling gives the same model:"),
        ("code", 'r2b = bmm.mixedlm("Weight ~ Time + (Time | Pig)", dietox).fit(**FAST)\n'
                 'print(r2b.summary(cov_scale="sd"))'),
        ("md", "## Step 4: independent intercept and slope\n\nstatsmodels passes "
               "`free=MixedLMParams.from_components(np.ones(2), np.eye(2))`; bayesmm says "
               '`cov_re="diagonal"` (or `(Time || Pig)`).'),
        ("code", 'm3 = bmm.mixedlm("Weight ~ Time", dietox, groups="Pig", re_formula="~Time",\n'
                 '                  cov_re="diagonal")\n'
                 'r3 = m3.fit(**FAST)\nprint(r3.summary())'),
        ("code", 'axes = r2.plot_random_effects()\nplt.show()'),
        ("code", 'r2.posterior_predictive(random_seed=1)\naxes = r2.plot_ppc()\nplt.show()'),
        ("md", "## The NBA example (seed 003): formula and direct API\n\nWith two teams "
               "the posterior of the team SD has a long tail; the default step size "
               "(`target_accept=0.8`) gives divergent transitions there, which bayesmm reports "
               "as a `SamplingWarning`, so these fits use `target_accept=0.95`."),
        ("code", NBA +
                 'a = bmm.MixedLM.from_formula("Points ~ Minutes", nba, groups="Team")\n'
                 'ra = a.fit(target_accept=0.95, **FAST)\nprint(ra.summary())'),
        ("code", 'exog = np.column_stack([np.ones(len(nba)), nba["Minutes"]])\n'
                 'b = bmm.MixedLM(nba["Points"], exog, nba["Team"])\n'
                 'rb = b.fit(target_accept=0.95, **FAST)\n'
                 'print(np.allclose(ra.posterior["beta"].values, rb.posterior["beta"].values))'),
        ("md", "With two teams the REML variance of the team effect is at its boundary; the "
               "posterior keeps the uncertainty about it (see notebook 02)."),
    ],
    "02_small_groups.ipynb": [
        ("md", "# Few groups: REML's zero variance, penalised MAP and the posterior\n\n"
               "Dyestuff2 has six batches whose between-batch variance REML estimates at "
               "exactly zero (a singular fit). blme's penalised MAP keeps it positive; the "
               "posterior describes how little the data say about it."),
        ("code", setup(NP, "import arviz as az")),
        ("code", 'dye2 = bmm.load_dataset("Dyestuff2", data_home=DATA)\n'
                 'model = bmm.mixedlm("Yield ~ 1", dye2, groups="Batch")\n'
                 'print(model.fit(method="reml").summary())'),
        ("code", 'res = model.fit(target_accept=0.95, **FAST)\nprint(res.summary())'),
        ("code", 'bmm.compare_estimates(res)'),
        ("code", 'axes = res.plot_compare()\nplt.show()'),
        ("md", "## Two groups: the NBA data"),
        ("code", NBA +
                 'nres = bmm.mixedlm("Points ~ Minutes", nba, groups="Team").fit(\n'
                 '    target_accept=0.95, **FAST)\n'
                 'bmm.compare_estimates(nres, cov_scale="sd")'),
        ("md", "The MAP column is empty: with two groups blme's gamma(2) penalty on the team "
               "SD exactly cancels the decay of the REML likelihood, so the penalised criterion "
               "has no maximum (the fit reports `converged=False`). The posterior, with its "
               "proper half-normal prior, is still well defined."),
        ("code", 'axes = nres.plot_compare(cov_scale="sd")\nplt.show()'),
        ("md", "## Which interval to trust: nine subjects (ergoStool)\n\n"
               "Every interval bayesmm offers, side by side: statsmodels' Wald, pbkrtest's "
               "Kenward-Roger, lme4's profile likelihood (on the ML deviance, as lme4) and "
               "parametric bootstrap, and the posterior HDI. The docs page *Few groups: which "
               "interval to trust* has their coverage in simulation."),
        ("code", 'ergo = bmm.load_dataset("ergoStool", data_home=DATA)\n'
                 'em = bmm.mixedlm("effort ~ Type + (1 | Subject)", ergo)\n'
                 'ept = em.fit(method="reml")\n'
                 'print(ept.summary(ddf="kenward-roger"))'),
        ("code", 'eres = em.fit(**FAST)\n'
                 'post = az.hdi(eres.draws_table("sd"), hdi_prob=0.95)\n'
                 'hdi = pd.DataFrame({k: post[k].values for k in post.data_vars}, index=[0, 1]).T\n'
                 'kr = ept.t_test(np.eye(4), ddf="kenward-roger").iloc[:, 5:7]\n'
                 'kr.index, kr.columns = ept.fe_params.index, [0, 1]\n'
                 'side = pd.concat({\n'
                 '    "Wald (z)": ept.conf_int(), "Kenward-Roger": kr,\n'
                 '    "profile": ept.conf_int(method="profile"),\n'
                 '    "bootstrap": ept.conf_int(method="boot", nsim=500, seed=1,\n'
                 '                              progressbar=False),\n'
                 '    "posterior HDI": hdi,\n'
                 '}, axis=1)\n'
                 'side.reindex(["Intercept", "Type[T2]", "Subject SD", "Residual SD"]).round(3)'),
        ("md", "For the fixed effects Kenward-Roger widens the z interval of the intercept "
               "(df 15.5 instead of ∞); the within-subject contrasts have 24 df and barely "
               "change. For the subject SD there is no Wald row (statsmodels reports the "
               "variance); the profile and bootstrap intervals rest on the ML fit, the posterior "
               "on the prior as well."),
        ("code", 'eres.hypothesis(["Type[T2] > Type[T3]", "Subject SD > Residual SD"])'),
    ],
    "03_mixtures.ipynb": [
        ("md", "# Mixtures (seed 000)\n\nThe seed's statsmodels code does not run; here the "
               "same synthetic two-component data are fitted for real, then `faithful`, and "
               "K is chosen by LOO on `galaxies`."),
        ("code", setup(NP, "import arviz as az")),
        ("code", 'np.random.seed(0)\nn = 1000\nmu1, sigma1, mu2, sigma2 = 1, 1, 5, 2\n'
                 'components = np.random.choice([0, 1], size=n, p=[0.6, 0.4])\n'
                 'y = np.zeros(n)\n'
                 'y[components == 0] = np.random.normal(mu1, sigma1, (components == 0).sum())\n'
                 'y[components == 1] = np.random.normal(mu2, sigma2, (components == 1).sum())\n'
                 'mix = bmm.mixture("y ~ 1", pd.DataFrame({"y": y}), k=2)\n'
                 'mres = mix.fit(**FAST)\nprint(mres.summary())'),
        ("code", 'print("weights", mres.weights.round(3).tolist())\n'
                 'print("means", mres.means.round(3).tolist())\n'
                 'print("sigmas", mres.sigmas.round(3).tolist())\n'
                 'ax = mres.plot_density()\nplt.show()'),
        ("md", "## Old Faithful: EM (MAP) beside NUTS"),
        ("code", 'faithful = bmm.load_dataset("faithful", data_home=DATA)\n'
                 'fmix = bmm.mixture("waiting ~ 1", faithful, k=2)\n'
                 'em = fmix.fit(method="map")\nfres = fmix.fit(**FAST)\n'
                 'pd.DataFrame({"EM": np.r_[em.means, em.sigmas, em.weights],\n'
                 '              "posterior": np.r_[fres.means, fres.sigmas, fres.weights]},\n'
                 '             index=["mu1", "mu2", "sd1", "sd2", "w1", "w2"])'),
        ("code", 'ax = fres.plot_density()\nplt.show()'),
        ("md", "## Choosing K by LOO (galaxies)"),
        ("code", 'galaxies = bmm.load_dataset("galaxies", data_home=DATA)\n'
                 'galaxies["v"] = galaxies.iloc[:, 0] / 1000\n'
                 'fits = {f"K={k}": bmm.mixture("v ~ 1", galaxies, k=k).fit(\n'
                 '    draws=1000, tune=1500, chains=4, random_seed=1).idata for k in (2, 3, 4)}\n'
                 'with warnings.catch_warnings():\n'
                 '    warnings.simplefilter("ignore")\n'
                 '    table = az.compare(fits)\ntable'),
    ],
    "04_students_in_schools.ipynb": [
        ("md", "# Students in schools (seed 001)\n\nThe seed fits OLS with cluster-robust "
               "standard errors by school. With the Exam data (4059 students in 65 schools) "
               "we put that beside a hierarchical model with random intercepts and slopes."),
        ("code", setup("import statsmodels.api as sm")),
        ("code", 'exam = bmm.load_dataset("Exam", data_home=DATA)\n'
                 'X = sm.add_constant(exam[["standLRT"]])\n'
                 'ols = sm.OLS(exam["normexam"], X).fit(cov_type="cluster",\n'
                 '                                      cov_kwds={"groups": exam["school"]})\n'
                 'print(ols.summary().tables[1])'),
        ("code", 'model = bmm.mixedlm("normexam ~ standLRT + (standLRT | school)", exam)\n'
                 'res = model.fit(**FAST)\nprint(res.summary())'),
        ("md", "Cluster-robust OLS corrects the standard errors for the clustering but "
               "keeps one intercept and one slope for all schools. The hierarchical model "
               "estimates how much schools differ (the `school Var` and `standLRT Var` rows), "
               "and its fixed-effect SDs already account for that variation."),
        ("code", 'compare = pd.DataFrame({\n'
                 '    "OLS coef": ols.params.values, "cluster SE": ols.bse.values,\n'
                 '    "posterior mean": res.fe_params.values, "posterior SD": res.bse_fe.values,\n'
                 '}, index=["Intercept", "standLRT"])\ncompare'),
        ("code", 'axes = res.plot_random_effects()\nplt.show()'),
        ("code", 'new = pd.DataFrame({"standLRT": [-1.0, 0.0, 1.0], "school": ["NEW"] * 3})\n'
                 'pred = res.predict(new, kind="response", random_seed=1)\n'
                 'pred.mean(("chain", "draw")).values, pred.std(("chain", "draw")).values'),
    ],
    "05_map_vs_posterior.ipynb": [
        ("md", "# MAP vs posterior across data sets\n\nWith many groups REML, ML, MAP and "
               "the posterior agree; with few groups they part, most of all for the "
               "variances."),
        ("code", setup(NP)),
        ("code", 'cases = {\n'
                 '    "sleepstudy (18 subjects)":\n'
                 '        ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),\n'
                 '    "radon (85 counties)": ("log_radon ~ basement + (1 | county)", "radon"),\n'
                 '    "Rail (6 rails)": ("travel ~ 1 + (1 | Rail)", "Rail"),\n'
                 '    "Dyestuff (6 batches)": ("Yield ~ 1 + (1 | Batch)", "Dyestuff"),\n'
                 '}\n'
                 'tables = {}\n'
                 'for name, (formula, data_name) in cases.items():\n'
                 '    frame = bmm.load_dataset(data_name, data_home=DATA)\n'
                 '    frame.columns = [c.replace(".", "_") for c in frame.columns]\n'
                 '    res = bmm.mixedlm(formula, frame).fit(**FAST)\n'
                 '    tables[name] = bmm.compare_estimates(res, cov_scale="sd")\n'
                 'pd.concat(tables)'),
        ("code", 'fig, axes = plt.subplots(1, len(tables), figsize=(16, 3.5))\n'
                 'for ax, (name, t) in zip(axes, tables.items(), strict=True):\n'
                 '    rows = [r for r in t.index if r.endswith(" SD")]\n'
                 '    post = t.loc[rows, "posterior mean"]\n'
                 '    ax.scatter(t.loc[rows, "REML"], post, label="REML")\n'
                 '    ax.scatter(t.loc[rows, "MAP"], post, marker="x", label="MAP")\n'
                 '    lim = [0, float(np.nanmax(t.loc[rows].to_numpy(dtype=float))) * 1.1]\n'
                 '    ax.plot(lim, lim, color="grey", lw=0.8)\n'
                 '    ax.set_title(name, fontsize=9)\n'
                 '    ax.set_xlabel("point estimate")\n'
                 'axes[0].set_ylabel("posterior mean")\naxes[0].legend()\nplt.show()'),
    ],
    "06_crossed_factors.ipynb": [
        ("md", "# Crossed factors: plates × samples, subjects × items\n\n"
               "In Penicillin every one of 6 samples was assayed on each of 24 plates (144 "
               "rows): the two grouping factors are *crossed*, neither nested in the other. "
               "lme4 writes `(1 | plate) + (1 | sample)`; bayesmm takes the same formula."),
        ("code", setup(NP)),
        ("code", 'pen = bmm.load_dataset("Penicillin", data_home=DATA)\n'
                 'model = bmm.mixedlm("diameter ~ 1 + (1 | plate) + (1 | sample)", pen)\n'
                 'reml = model.fit(method="reml")\nprint(reml.summary())'),
        ("md", "REML runs on lme4's blocked factorisation: the factor with more levels "
               "(plates) is eliminated level by level, the other (samples) forms a small dense "
               "block. lme4's `lmer` prints variances 0.7169 (plate), 3.7311 (sample) and "
               "0.3024 (residual):"),
        ("code", 'lme4 = pd.Series({"plate Var": 0.7169, "sample Var": 3.7311, "Scale": 0.3024})\n'
                 'pd.DataFrame({"bayesmm REML": reml.cov_table()["Coef."][lme4.index],\n'
                 '              "lme4 REML": lme4})'),
        ("md", "## The posterior\n\n"
               "NUTS samples the *collapsed* build: the plates' effects and the intercept are "
               "integrated out exactly, the six samples' effects are sampled, and the plates' "
               "effects are drawn from their exact conditional afterwards. With six samples the "
               "data say little about their SD, so its posterior is wide and skewed — the REML "
               "column beside it is one point of it."),
        ("code", 'res = model.fit(target_accept=0.95, **FAST)\n'
                 'print(res.build)\nprint(res.summary())'),
        ("code", 'axes = res.plot_forest(cov_scale="sd")\nplt.show()'),
        ("md", "## Subjects × items at scale\n\n"
               "A reaction-time study: 300 subjects each see all 200 items once (60,000 rows), "
               "with a condition that varies by item. On the blocked factorisation only the 200 "
               "items form a dense block; the 300 subjects are eliminated one by one, so the "
               "time below (formula parsing included) grows with the rows, not with the "
               "square of the levels."),
        ("code", 'import time\n\n'
                 'rng = np.random.default_rng(1)\n'
                 'subj, item = np.meshgrid(np.arange(300), np.arange(200), indexing="ij")\n'
                 'subj, item = subj.ravel(), item.ravel()\n'
                 'cond = (item % 2).astype(float)\n'
                 'rt = (600 + 30 * cond + rng.normal(0, 50, 300)[subj]\n'
                 '      + rng.normal(0, 20, 200)[item] + rng.normal(0, 80, subj.size))\n'
                 'rts = pd.DataFrame({"rt": rt, "cond": cond, "subj": subj.astype(str),\n'
                 '                    "item": item.astype(str)})\n'
                 'start = time.perf_counter()\n'
                 'big = bmm.mixedlm("rt ~ cond + (1 | subj) + (1 | item)", rts)\n'
                 'fit = big.fit(method="reml")\n'
                 'print(f"REML on {len(rts):,} rows in {time.perf_counter() - start:.2f} s")\n'
                 'print(fit.summary())'),
        ("md", "The simulated SDs were 50 (subjects), 20 (items) and 80 (residual): "
               "variances 2500, 400 and 6400."),
    ],
}


def build(only: list[str] | None = None) -> list[Path]:
    """Write the notebooks (all, or those whose number is in ``only``) without outputs."""
    paths = []
    for name, cells in NOTEBOOKS.items():
        if only and name[:2] not in only:
            continue
        nb = new_notebook(cells=[new_markdown_cell(src) if kind == "md" else new_code_cell(src)
                                 for kind, src in cells])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        path = HERE / name
        nbformat.write(nb, path)
        paths.append(path)
    return paths


def execute(path: Path, timeout: int = 1200) -> nbformat.NotebookNode:
    """Execute a notebook in its folder and return it with outputs."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


if __name__ == "__main__":
    only = [a for a in sys.argv[1:] if not a.startswith("--")]  # e.g. "02": re-run just that
    for p in build(only):
        if "--execute" in sys.argv:
            os.environ.setdefault("BAYESMM_DATA", str(HERE.parent.parent / "shared" / "data"))
            nbformat.write(execute(p), p)
        print(p.name)
