"""Training: the step loop with checkpoints, the masked diffusion model, exact-MI labels, the estimator head."""
