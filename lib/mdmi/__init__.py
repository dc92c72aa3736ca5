"""mdmi: pairwise mutual information in masked discrete sequence models (arXiv 2605.20187).

The method for any model that follows the masked-model protocol (:mod:`mdmi.core.protocol`),
importable from here (docs/api.md has a runnable example)::

    import mdmi
    mi = mdmi.exact_mi(model, tokens)                      # [L, L] nats, from clamped passes
    head = mdmi.fit_estimator(model, states, labels)        # the neural MI head
    out = mdmi.decode(model, batch, "mi", estimator=head, rule="budget", gamma=1.0, lam=1.0)

The package is layered (docs/design.md): ``core`` (the method), ``train``, ``evaluate``,
``pipeline`` (the workflow's plumbing), ``tools``, ``cli``; domains plug in through
:mod:`mdmi.domains.base`. The names below are imported on first use, so that ``python -m mdmi``
starts without loading torch.
"""

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_API = {
    "MaskedModel": "mdmi.core.protocol",
    "random_mask": "mdmi.core.masking",
    "entropy": "mdmi.core.mi",
    "marginals": "mdmi.core.mi",
    "exact_mi": "mdmi.core.mi",
    "exact_mi_batch": "mdmi.core.mi",
    "EstimatorConfig": "mdmi.core.estimator",
    "MIHead": "mdmi.core.estimator",
    "fit_estimator": "mdmi.train.estimator",
    "load_estimator": "mdmi.train.estimator",
    "decode": "mdmi.core.decoding",
    "DecodeResult": "mdmi.core.decoding",
    "METHODS": "mdmi.core.knobs",
    "MI_RULES": "mdmi.core.knobs",
    "pseudo_log_likelihood": "mdmi.core.pseudo_likelihood",
    "MdmiError": "mdmi.errors",
    "UsageError": "mdmi.errors",
}
__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mdmi' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
