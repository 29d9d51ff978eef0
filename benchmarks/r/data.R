# The shared data sets the reference scripts fit, read from the folder given on the command
# line (default ../shared/data). Sourced by ddf_reference.R and profile_reference.R.
args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args)) args[1] else "../shared/data"
rd <- function(f) read.csv(file.path(dir, f))
sleep <- rd("sleepstudy.csv"); sleep$Subject <- factor(sleep$Subject)
diet <- rd("dietox.csv"); diet$Pig <- factor(diet$Pig)
orth <- rd("Orthodont.csv")
ergo <- rd("ergoStool.csv"); ergo$Subject <- factor(ergo$Subject)
pen <- rd("Penicillin.csv")
dye2 <- rd("Dyestuff2.csv")
