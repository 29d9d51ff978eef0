# Reference profile-likelihood intervals for tests/infer/test_profile.py (lme4's
# confint(method = "profile"), which profiles the ML deviance even for REML fits).
# Run: Rscript benchmarks/r/profile_reference.R ../shared/data
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args)) args[1] else "../shared/data"
rd <- function(f) read.csv(file.path(dir, f))
sleep <- rd("sleepstudy.csv"); sleep$Subject <- factor(sleep$Subject)
diet <- rd("dietox.csv"); diet$Pig <- factor(diet$Pig)
orth <- rd("Orthodont.csv")
ergo <- rd("ergoStool.csv"); ergo$Subject <- factor(ergo$Subject)
dye2 <- rd("Dyestuff2.csv")
models <- list(
  sleepstudy = lmer(Reaction ~ Days + (Days | Subject), sleep),
  dietox = lmer(Weight ~ Time + Cu + (1 | Pig), diet),
  orthodont = lmer(distance ~ age + Sex + (age | Subject), orth),
  ergostool = lmer(effort ~ Type + (1 | Subject), ergo),
  dyestuff2 = lmer(Yield ~ 1 + (1 | Batch), dye2)
)
options(digits = 12)
for (nm in names(models)) {
  cat("##", nm, "\n")
  print(confint(models[[nm]], method = "profile", oldNames = FALSE))
}
