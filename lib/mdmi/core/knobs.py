"""Decoding methods and their knobs, with no torch: the config schema, the workflow's rules and the
command line read these (docs/method.md §4 says what each knob does).

``KNOBS``: method -> knob -> JSON schema of one value. The config schema's decode.methods is built
from it (a typo in a sweep fails validation), and ``mdmi solve --knob`` is checked against it.
"""

from __future__ import annotations

import itertools

from mdmi.errors import UsageError
from mdmi.util.schema_check import first_error

_ORDER = {"enum": ["confidence", "margin"]}
MI_RULES = ("budget", "tc", "prefix", "pairwise")
_MI = {
    "eps": {"type": "number", "minimum": 0},
    "gamma": {"type": "number", "minimum": 0},
    "lam": {"type": "number", "minimum": 0},
    "rule": {"enum": list(MI_RULES)},
    "min_conf": {"type": "number", "minimum": 0, "maximum": 1},
    "max_set": {"type": ["integer", "null"], "minimum": 1},
    "order": _ORDER,
}
KNOBS = {
    "sequential": {"order": _ORDER},
    "all-at-once": {},
    "topk": {"k": {"type": "integer", "minimum": 1}, "order": _ORDER},
    "threshold": {"tau": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}, "order": _ORDER},
    "eb": {"gamma": {"type": "number", "minimum": 0}},
    "mi": _MI,
    "mi-exact": {**_MI, "skip_tol": {"type": "number", "minimum": 0}},
}
METHODS = tuple(KNOBS)
DEFAULT_RULE = "budget"


def sweep_schema(method: str) -> dict:
    """JSON schema of a config sweep for ``method``: {knob: [values]} or a list of such grids."""
    grid = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            k: {"type": "array", "minItems": 1, "items": v} for k, v in KNOBS[method].items()
        },
    }
    return {"oneOf": [grid, {"type": "array", "minItems": 1, "items": grid}]}


def check_knobs(method: str, knobs: dict) -> dict:
    """Raise :class:`UsageError` naming the first unknown, mistyped or out-of-range knob; return knobs."""
    if method not in KNOBS:
        raise UsageError(f"unknown decoding method {method!r}; choose one of {', '.join(METHODS)}")
    known = KNOBS[method]
    for name, value in knobs.items():
        if name not in known:
            raise UsageError(
                f"{method} has no knob {name!r}; its knobs: {', '.join(known) or 'none'}"
            )
        error = first_error(value, known[name])
        if error is not None:
            raise UsageError(f"knob {name}={value!r} for {method}: {error.message}")
    if method in ("mi", "mi-exact"):
        resolve_rule(knobs)
    return knobs


def resolve_rule(knobs: dict) -> str:
    """The MI rule of a knob set, checking that its knobs belong to it (eps to prefix/pairwise,
    gamma to budget/tc, lam to budget)."""
    rule = knobs.get("rule", DEFAULT_RULE)
    if rule not in MI_RULES:
        raise UsageError(f"unknown MI rule {rule!r}: use one of {', '.join(MI_RULES)}")
    uses = {"budget": {"gamma", "lam"}, "tc": {"gamma"}, "prefix": {"eps"}, "pairwise": {"eps"}}
    for name in ("eps", "gamma", "lam"):
        if name in knobs and name not in uses.get(rule, set()):
            raise UsageError(
                f"knob {name} does nothing with rule={rule}; rule {rule} takes "
                f"{', '.join(sorted(uses[rule]))} (rules: {', '.join(MI_RULES)})"
            )
    return rule


def parse_knobs(items) -> dict:
    """``["gamma=0.4", "rule=budget"]`` (command-line ``--knob`` values) -> {name: int, float, str or None}."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"bad --knob {item!r}: write name=value, e.g. --knob gamma=0.4")
        k, v = item.split("=", 1)
        for cast in (int, float):
            try:
                v = cast(v)
                break
            except ValueError:
                continue
        out[k] = None if v == "none" else v
    return out


def knob_grid(sweep) -> list[dict]:
    """Expand a sweep (dict of lists, or a list of such dicts) into a list of knob dicts."""
    grids = sweep if isinstance(sweep, list) else [sweep]
    out = []
    for g in grids:
        keys = list(g)
        for values in itertools.product(*(g[k] for k in keys)):
            out.append(dict(zip(keys, values)))
    return out or [{}]
