# Reference numbers for tests/infer/test_ddf.py: Satterthwaite (lmerTest) and Kenward-Roger
# (pbkrtest through lmerTest) t-tests of every fixed effect, and one contrast per model.
# Run: Rscript benchmarks/r/ddf_reference.R ../shared/data
suppressPackageStartupMessages({library(lmerTest)})
source(file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(), value = TRUE))),
              "data.R"))
models <- list(
  sleepstudy = lmer(Reaction ~ Days + (Days | Subject), sleep),
  sleepstudy_ml = lmer(Reaction ~ Days + (Days | Subject), sleep, REML = FALSE),
  dietox = lmer(Weight ~ Time + Cu + (1 | Pig), diet),
  orthodont = lmer(distance ~ age + Sex + (age | Subject), orth),
  ergostool = lmer(effort ~ Type + (1 | Subject), ergo),
  penicillin = lmer(diameter ~ 1 + (1 | plate) + (1 | sample), pen)
)
options(digits = 12)
for (nm in names(models)) {
  m <- models[[nm]]
  cat("##", nm, " singular:", isSingular(m), "\n")
  for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    if (ddf == "Kenward-Roger" && (!isREML(m) || nm == "penicillin")) next
    cat("#", ddf, "\n")
    print(summary(m, ddf = ddf)$coefficients)
    if (length(fixef(m)) < 2) next
    L <- c(1, 5, rep(0, length(fixef(m)) - 2))
    print(contest1D(m, L, ddf = ddf, rhs = 300 * (nm %in% c("sleepstudy", "sleepstudy_ml"))))
  }
}
