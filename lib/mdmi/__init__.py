"""mdmi: pairwise mutual information in masked discrete sequence models (arXiv 2605.20187).

Core modules know no domain: :mod:`mdmi.mi` (exact MI), :mod:`mdmi.estimator` (neural head),
:mod:`mdmi.decoding` (decoders). Domains plug in through :mod:`mdmi.domains.base`.
"""
__version__ = "0.1.0"
