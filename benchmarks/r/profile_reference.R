# Reference profile-likelihood intervals for tests/infer/test_likelihood_profile.py (lme4's
# confint(method = "profile"), which profiles the ML deviance even for REML fits).
# Run: Rscript benchmarks/r/profile_reference.R ../shared/data
suppressPackageStartupMessages(library(lme4))
source(file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(), value = TRUE))),
              "data.R"))
models <- list(
  sleepstudy = lmer(Reaction ~ Days + (Days | Subject), sleep),
  dietox = lmer(Weight ~ Time + Cu + (1 | Pig), diet),
  orthodont = lmer(distance ~ age + Sex + (age | Subject), orth),
  ergostool = lmer(effort ~ Type + (1 | Subject), ergo),
  dyestuff2 = lmer(Yield ~ 1 + (1 | Batch), dye2),
  penicillin = lmer(diameter ~ 1 + (1 | plate) + (1 | sample), pen)
)
options(digits = 12)
for (nm in names(models)) {
  cat("##", nm, "\n")
  print(confint(models[[nm]], method = "profile", oldNames = FALSE))
}
