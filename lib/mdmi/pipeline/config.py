"""Loading a workflow config (a base plus a per-scale overlay, merged) and validating it against the JSON
schema: the shared sections plus every registered domain's own fragment."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from mdmi.core.knobs import KNOBS, check_knobs, knob_grid, sweep_schema
from mdmi.domains import get_spec, load_plugins, registry
from mdmi.errors import ConfigError, UsageError
from mdmi.util.io import parse_yaml
from mdmi.util.paths import REPO
from mdmi.util.schema_check import first_error

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")
CONFIG_DIR = REPO / "config"


def schema(plugins: list[str] | None = None, base: Path | None = None) -> dict:
    """The full JSON schema: the shared sections plus each registered domain's fragment (plugins
    listed in a config are loaded first), each method's typed knobs, and the known domain names."""
    load_plugins(plugins, base)
    out = parse_yaml(SCHEMA_PATH.read_text())
    out["$defs"].update(
        {f"sweep_{m}": sweep_schema(m) for m in KNOBS}
    )  # each method's knobs, typed
    specs = registry()
    for name, spec in specs.items():
        out["properties"][name] = spec.schema
    out["properties"]["domains"]["items"] = {"enum": sorted(specs)}
    return out


def _optional(node):
    """The schema with every ``required`` dropped: a stage slice holds only the keys its stage reads."""
    if isinstance(node, dict):
        return {k: _optional(v) for k, v in node.items() if k != "required"}
    return [_optional(v) for v in node] if isinstance(node, list) else node


def _check_sweeps(methods: dict, where: str) -> None:
    """Every knob set of every sweep must make sense together (an MI rule's knobs: eps with prefix or
    pairwise, gamma and lam with budget, gamma with tc): one line naming the sweep otherwise."""
    for method, sweep in methods.items():
        for knobs in knob_grid(sweep):
            try:
                check_knobs(method, knobs)
            except UsageError as e:
                raise ConfigError(f"{where}.{method}: {e}") from None


def validate(cfg: dict, source: str = "config", base: Path | None = None) -> dict:
    """Raise ConfigError with a one-line message naming the bad key; return cfg. A stage slice (a
    config with ``stage``, cut by :func:`stage_slice` from a config validated in full) is checked for
    types only: the keys its stage does not read are absent by design."""
    plugins = cfg.get("plugins") if isinstance(cfg, dict) else None
    if plugins is not None and not (
        isinstance(plugins, list) and all(isinstance(x, str) for x in plugins)
    ):
        raise ConfigError(f"{source}: plugins must be a list of module names or .py paths")
    is_slice = isinstance(cfg, dict) and "stage" in cfg
    full = schema(plugins, base)
    e = first_error(cfg, _optional(full) if is_slice else full)
    if e is not None:
        where = "/".join(str(p) for p in e.absolute_path) or "<top>"
        raise ConfigError(
            f"{source}: invalid config at '{where}': {e.message} "
            f"(see workflow/schemas/config.schema.yaml and the domain's schema.yaml)"
        )
    if is_slice:
        return cfg
    for domain in cfg["domains"]:
        if domain not in cfg:
            raise ConfigError(
                f"{source}: domains lists {domain!r} but the config has no '{domain}' section"
            )
        section = cfg[domain]
        _check_sweeps(
            section.get("decode", {}).get("methods", {}), f"{source}: {domain}.decode.methods"
        )
        for part in ("train", "labels"):
            s = section.get(part, {})
            if s.get("mask_min", 0) > s.get("mask_max", 1):
                raise ConfigError(f"{source}: {domain}.{part}.mask_min must be <= mask_max")
        m = section.get("model", {})
        if "d_model" in m and "n_heads" in m and m["d_model"] % m["n_heads"]:
            raise ConfigError(f"{source}: {domain}.model.d_model must be divisible by n_heads")
        spec = get_spec(domain)
        if spec.validate is not None:
            spec.validate(section, source)
    return cfg


def deep_merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``: mappings merge key by key, anything else (lists too) is replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = (
            deep_merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


def _read_yaml(path: Path) -> dict:
    if not path.exists():
        raise ConfigError(f"{path}: config file not found; use one of config/*.yaml")
    try:
        cfg = parse_yaml(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return cfg


def resolve(cfg: dict, path: Path | None = None) -> dict:
    """Follow ``extends`` (a path relative to the file that says it): the base chain merged under
    ``cfg``, so an overlay holds only what differs at its scale."""
    seen = [] if path is None else [Path(path).resolve()]
    cfg = _anchor_plugins(cfg, Path(path).parent if path is not None else None)
    while "extends" in cfg:
        rel = cfg.pop("extends")
        here = Path(path).parent if path is not None else CONFIG_DIR
        path = (here / rel).resolve()
        if path in seen:
            raise ConfigError(
                f"{path}: 'extends' loops back to a file already read ({' -> '.join(map(str, seen))})"
            )
        seen.append(path)
        cfg = deep_merge(_anchor_plugins(_read_yaml(path), path.parent), cfg)
    return cfg


def _anchor_plugins(cfg: dict, folder: Path | None) -> dict:
    """Plugin .py paths relative to the file that lists them become absolute (the resolved config is
    read from results/ by every rule)."""
    plugins = cfg.get("plugins")
    if folder is None or not isinstance(plugins, list):
        return cfg
    fixed = [
        str((folder / p).resolve())
        if isinstance(p, str) and p.endswith(".py") and not Path(p).is_absolute()
        else p
        for p in plugins
    ]
    return {**cfg, "plugins": fixed}


def resolved(path: str | Path) -> dict:
    """A config file with its ``extends`` chain merged in (not validated): a complete config that can be
    edited and written anywhere."""
    path = Path(path)
    return resolve(_read_yaml(path), path)


def load_config(path: str | Path) -> dict:
    """A config file resolved (``extends``) and validated; relative plugin paths are under its folder."""
    return validate(resolved(path), str(path))


# Stages of the workflow in order, and the shared config sections each one reads. A domain assigns its
# own keys in DomainSpec.stage_keys ("none": read by no stage, e.g. the ablation's settings); a key
# assigned nowhere counts for every stage. analysis and decode are siblings (neither reads the other).
STAGE_SECTIONS = {
    "data": ["data"],
    "model": ["model", "train", "checkpoint"],
    "labels": ["labels"],
    "estimator": ["estimator", "estimator_checkpoint"],
    "analysis": [],
    "decode": ["decode"],
    "tables": [],
    "none": [],
}
STAGE_READS = {
    "data": ["data"],
    "model": ["data", "model"],
    "labels": ["data", "model", "labels"],
    "estimator": ["data", "model", "labels", "estimator"],
    "analysis": ["data", "model", "labels", "estimator", "analysis"],
    "decode": ["data", "model", "labels", "estimator", "decode"],
    "tables": ["data", "model", "labels", "estimator", "analysis", "decode", "tables"],
}
# top-level keys no stage's command reads: how the jobs are scheduled, the claims' rules (tables only), make bench's sizes
NOT_SLICED = ("resources", "claims", "domains", "extends", "stage", "bench")
# how intervals are drawn (claims.level, claims.bootstrap): also read where intervals are first computed
INTERVAL_KEYS = ("level", "bootstrap")
INTERVAL_STAGES = ("estimator", "analysis")


def stage_of_keys(domain: str) -> dict[str, str]:
    """Which stage owns each key of a domain's section (shared sections, then the domain's own
    ``stage_keys``); a key missing here counts for every stage."""
    out = {k: s for s, keys in STAGE_SECTIONS.items() for k in keys}
    out.update(get_spec(domain).stage_keys)
    return out


def stage_slice(cfg: dict, domain: str, stage: str) -> dict:
    """What the ``stage`` of ``domain`` may read from a resolved, validated config: the shared settings
    (seed, device, threads, ...), ``domains: [domain]`` and the domain's keys of this stage and the
    stages before it (plus ``claims`` for the tables). Every command of the stage receives this slice
    as its ``--config`` and nothing else, so a change to any key it reads changes the slice (its file
    name carries a digest of the content) and reruns the stage: a command reading a key outside its
    slice fails at once instead of silently missing a rerun."""
    if stage not in STAGE_READS:
        raise ConfigError(f"unknown stage {stage!r}; one of {', '.join(STAGE_READS)}")
    load_plugins(cfg.get("plugins"))
    names = set(cfg["domains"]) | set(registry())  # every domain's section, run or not
    stage_of = stage_of_keys(domain)
    shared = {k: v for k, v in cfg.items() if k not in names and k not in NOT_SLICED}
    keep = {k: v for k, v in cfg[domain].items() if stage_of.get(k, stage) in STAGE_READS[stage]}
    out = {**shared, "stage": stage, "domains": [domain], domain: keep}
    if stage == "tables":
        out["claims"] = cfg["claims"]
    elif stage in INTERVAL_STAGES:
        out["claims"] = {k: cfg["claims"][k] for k in INTERVAL_KEYS}
    return out


def dump(cfg: dict) -> tuple[str, str]:
    """(YAML text, 12-hex digest of it): the digest names the file, so a file's name says its content."""
    text = yaml.safe_dump(cfg, sort_keys=False)
    return text, hashlib.sha256(text.encode()).hexdigest()[:12]


def domain_config(cfg: dict, domain: str) -> dict:
    """The domain's section with the global seed added."""
    return {**cfg[domain], "seed": cfg["seed"]}
