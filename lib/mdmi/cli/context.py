"""Shared by the command handlers: logging, config and domain set-up, model labels."""

from __future__ import annotations

import logging
from pathlib import Path

from mdmi.domains import get_domain
from mdmi.errors import UsageError
from mdmi.pipeline.config import domain_config, load_config
from mdmi.util.device import pick_device
from mdmi.util.integrity import verify_folder

log = logging.getLogger("mdmi")


def setup_command(args):
    cfg = load_config(args.config)
    for folder in [getattr(args, "data", None), *(getattr(args, "analyses", None) or [])]:
        if (
            folder and Path(folder, "MANIFEST.json").is_file()
        ):  # a folder a step filled: as it wrote it?
            verify_folder(folder)
    if hasattr(args, "domain") and args.domain is None:
        args.domain = cfg["domains"][0]
    if hasattr(args, "domain") and args.domain not in cfg:
        raise UsageError(
            f"{args.config} has no '{args.domain}' section; its domains: {', '.join(cfg['domains'])}"
        )
    section = domain_config(cfg, args.domain) if hasattr(args, "domain") else None
    domain = get_domain(args.domain, section) if section is not None else None
    threads = args.threads or cfg["threads"]
    cfg["threads"] = threads
    device = pick_device(cfg["device"], threads)
    return cfg, section, domain, device


def model_label(model, domain) -> str:
    """How tables and figures name the MDM (a model's own ``label`` first: e.g. a fallback says what it is not)."""
    n = sum(p.numel() for p in model.parameters())
    loops = getattr(getattr(model, "cfg", None), "n_loops", 1)
    looped = f", {model.cfg.n_layers} shared blocks x {loops} loops" if loops > 1 else ""
    return (
        getattr(model, "label", None)
        or f"{domain.name} MDM trained here ({n / 1e6:.2f}M parameters{looped})"
    )
