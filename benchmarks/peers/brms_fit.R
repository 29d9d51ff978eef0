# One brms (Stan) fit: prints a JSON line. Usage: Rscript brms_fit.R CSV FORMULA FAMILY DRAWS
# "wall" is the first brm() call (Stan's C++ compilation included), "repeat" an update() of the
# compiled model with a new seed (sampling only): brms's best case.
suppressMessages({library(brms); library(posterior)})
a <- commandArgs(trailingOnly = TRUE)
frame <- read.csv(a[1])
fam <- switch(a[3], gaussian = gaussian(), binomial = binomial(), negbin = negbinomial(),
              t = student())
draws <- as.integer(a[4])
summ <- function(fit) {
  d <- as_draws_array(fit)
  keep <- grepl("^(b_|sd_|cor_|sigma|shape|nu|r_)", variables(d))
  s <- summarise_draws(subset_draws(d, variable = variables(d)[keep]), "ess_bulk", "rhat")
  ess <- as.numeric(s$ess_bulk)
  rhat <- as.numeric(s$rhat)
  ok <- is.finite(rhat)
  np <- nuts_params(fit)
  c(min(ess[ok]), max(rhat[ok]), sum(np$Value[np$Parameter == "divergent__"]))
}
t0 <- Sys.time()
fit <- brm(as.formula(a[2]), data = frame, family = fam, chains = 4, cores = 2,
           iter = 2 * draws, warmup = draws, seed = 1, refresh = 0, silent = 2)
wall <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
t1 <- Sys.time()
fit2 <- update(fit, recompile = FALSE, seed = 2, refresh = 0, silent = 2)
again <- as.numeric(difftime(Sys.time(), t1, units = "secs"))
s <- summ(fit2)
cat(sprintf('{"wall_first": %.3f, "wall": %.3f, "ess": %.3f, "rhat": %.5f, "divergences": %d}\n',
            wall, again, s[1], s[2], as.integer(s[3])))
