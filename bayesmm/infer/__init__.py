"""Inference: NUTS sampling and REML/ML/MAP optimisation."""
