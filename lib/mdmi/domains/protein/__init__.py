"""Proteins as a masked-sequence domain: ESM-C (or a small ESM-C-architecture fallback) as the MDM."""
