"""Tools beside the paper's DAG: benchmarks, cost projections, ablations."""
