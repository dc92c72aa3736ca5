"""Evaluation: estimator fidelity, decoding sweeps, knob choice, tables and claims."""
