"""Loading and validating a workflow config (one YAML per scale) against the JSON schema."""
from __future__ import annotations

import itertools
from pathlib import Path

import jsonschema
import yaml

from .errors import MdmiError

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")


class ConfigError(MdmiError, ValueError):
    """A config that fails the schema or a cross-field check."""


def validate(cfg: dict, source: str = "config") -> dict:
    """Raise ConfigError with a one-line message naming the bad key; return cfg."""
    from .decoding import KNOBS, sweep_schema
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    schema["$defs"].update({f"sweep_{m}": sweep_schema(m) for m in KNOBS})   # each method's knobs, typed
    try:
        jsonschema.validate(cfg, schema)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "<top>"
        raise ConfigError(f"{source}: invalid config at '{where}': {e.message} "
                          f"(see workflow/schemas/config.schema.yaml)") from None
    for domain in cfg["domains"]:
        if domain not in cfg:
            raise ConfigError(f"{source}: domains lists {domain!r} but the config has no '{domain}' section")
        for section in ("train", "labels"):
            s = cfg[domain][section]
            if s["mask_min"] > s["mask_max"]:
                raise ConfigError(f"{source}: {domain}.{section}.mask_min must be <= mask_max")
        m = cfg[domain]["model"]
        if m["d_model"] % m["n_heads"]:
            raise ConfigError(f"{source}: {domain}.model.d_model must be divisible by n_heads")
    if "protein" in cfg:
        d = cfg["protein"]["data"]
        if d["min_length"] > d["max_length"]:
            raise ConfigError(f"{source}: protein.data.min_length must be <= max_length")
        if d["source"] == "online" and "online" not in d:
            raise ConfigError(f"{source}: protein.data.source is 'online' but protein.data.online is missing")
    return cfg


def load_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found; use one of config/*.yaml")
    try:
        cfg = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return validate(cfg, str(path))


def domain_config(cfg: dict, domain: str) -> dict:
    """The domain's section with the global seed added."""
    return {**cfg[domain], "seed": cfg["seed"]}


def knob_grid(sweep) -> list[dict]:
    """Expand a sweep (dict of lists, or a list of such dicts) into a list of knob dicts."""
    grids = sweep if isinstance(sweep, list) else [sweep]
    out = []
    for g in grids:
        keys = list(g)
        for values in itertools.product(*(g[k] for k in keys)):
            out.append(dict(zip(keys, values)))
    return out or [{}]
