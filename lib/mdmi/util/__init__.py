"""Shared helpers every layer may use: atomic files and their integrity records, devices, locks, statistics."""
