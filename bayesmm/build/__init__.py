"""PyMC model builds: latent (general) and marginal (random effects integrated out)."""
