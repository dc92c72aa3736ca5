"""Masked models the domains build on: a small transformer and an adapter for Hugging Face masked LMs."""
