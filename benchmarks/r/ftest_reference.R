# Reference numbers for tests/infer/test_ftest.py: joint F-tests of several contrast rows
# (lmerTest's contestMD: Satterthwaite, and Kenward-Roger through pbkrtest).
# Run: Rscript benchmarks/r/ftest_reference.R ../shared/data
suppressPackageStartupMessages({library(lmerTest)})
source(file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(), value = TRUE))),
              "data.R"))
cases <- list(
  sleepstudy = list(lmer(Reaction ~ Days + (Days | Subject), sleep), diag(2), c(250, 10)),
  dietox = list(lmer(Weight ~ Time + Cu + (1 | Pig), diet),
                rbind(c(0, 0, 1, 0), c(0, 0, 0, 1)), c(0, 0)),
  orthodont = list(lmer(distance ~ age + Sex + (age | Subject), orth),
                   rbind(c(0, 1, 0), c(0, 0, 1)), c(0, 0)),
  ergostool = list(lmer(effort ~ Type + (1 | Subject), ergo),
                   cbind(0, diag(3)), c(0, 0, 0))
)
options(digits = 12)
for (nm in names(cases)) {
  m <- cases[[nm]][[1]]; L <- cases[[nm]][[2]]; rhs <- cases[[nm]][[3]]
  for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    r <- contest(m, L, joint = TRUE, ddf = ddf, rhs = rhs)
    cat(nm, ddf, "F", format(r[["F value"]], digits = 12), "NumDF", r$NumDF,
        "DenDF", format(r$DenDF, digits = 12), "p", format(r[["Pr(>F)"]], digits = 12), "\n")
  }
}
