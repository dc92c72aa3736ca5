"""Handlers of the commands that build a domain's models: data, MDM training, labels, the estimator, analyses
(evaluation and decoding: :mod:`mdmi.cli.evaluation`)."""

from __future__ import annotations

from pathlib import Path

from mdmi.cli.context import log, model_label, setup_command
from mdmi.domains import get_spec
from mdmi.errors import UsageError
from mdmi.pipeline.cache import adopt_checkpoint
from mdmi.pipeline.config import stage_of_keys
from mdmi.train.estimator import load_estimator, train_estimator
from mdmi.train.labels import label_split, train_label_fingerprint
from mdmi.train.loop import model_fingerprint
from mdmi.train.mdm import domain_training_data, load_mdm, train_mdm, training_record
from mdmi.util.checkpoint_io import load_torch, save_torch
from mdmi.util.integrity import write_folder_manifest


def cmd_data(args):
    """The domain's data step (whatever it involves), then a listing of what it wrote."""
    cfg, section, domain, _ = setup_command(args)
    out = Path(args.out)
    domain.make_data(out, threads=cfg["threads"], repo=Path(args.repo))
    write_folder_manifest(out, domain=domain.name, scale=cfg["scale"])


def cmd_train_mdm(args):
    cfg, section, domain, device = setup_command(args)
    if section.get("checkpoint") and not cfg.get("retrain"):
        if domain.pretrained:
            raise UsageError(
                f"{domain.name}.checkpoint is for MDMs trained here; a pretrained backbone "
                f"({domain.backbone}) takes its weights from {domain.name}.weights"
            )
        wanted = training_record(section, *domain_training_data(domain, Path(args.data)))
        adopt_checkpoint(domain.name, section["checkpoint"], wanted, Path(args.out))
        return
    train_mdm(domain, section, Path(args.data), Path(args.out), Path(args.ckpt), device)


def cmd_label(args):
    cfg, section, domain, device = setup_command(args)
    model = load_mdm(domain, Path(args.model), device)
    labels = label_split(model, domain, Path(args.data), args.split, section["labels"], cfg["seed"])
    labels["scale"] = cfg["scale"]
    n = len(labels["kind"])
    log.info(
        "labelled %d states: %d clamped passes in %.1f s (%.3f s/state)",
        n,
        labels["clamped_passes"],
        labels["seconds"],
        labels["seconds"] / n,
    )
    save_torch(args.out, labels)


def estimator_record(domain, section: dict, model, data: Path) -> dict:
    """What a head trained by this config depends on: the domain's model, label and estimator settings
    (its data settings enter through the fingerprint of the states the train labels are drawn from, its
    checkpoint paths not at all), the seed, and fingerprints of the MDM's weights and of those states."""
    stage_of = stage_of_keys(domain.name)
    config = {
        k: v
        for k, v in section.items()
        if stage_of.get(k) in ("model", "labels", "estimator")
        and k not in ("checkpoint", "estimator_checkpoint")
    }
    return {
        "domain": domain.name,
        "config": config,
        "seed": section["seed"],
        "model": model_fingerprint(model),
        "label_states": train_label_fingerprint(domain, data, section["seed"]),
    }


def cmd_train_estimator(args):
    """Train the MI head on the train split's labels or, with ``<domain>.estimator_checkpoint`` set (and
    no ``retrain``), verify and adopt a head trained by the same config (no labels needed)."""
    cfg, section, domain, device = setup_command(args)
    model = load_mdm(domain, Path(args.model), device)
    record = estimator_record(domain, section, model, Path(args.data))
    spec = section.get("estimator_checkpoint")
    if spec and not cfg.get("retrain"):
        adopt_checkpoint(domain.name, spec, record, Path(args.out), key="estimator_checkpoint")
        return
    if not args.labels:
        raise UsageError(
            f"{domain.name}: no --labels to train the MI head on and no estimator_checkpoint to adopt; "
            f"pass the train split's labels (python -m mdmi label --split train)"
        )
    train_estimator(
        model,
        load_torch(args.labels),
        section["estimator"],
        cfg["seed"],
        Path(args.out),
        Path(args.ckpt),
        device,
        record=record,
    )


def cmd_analyse(args):
    """One of the domain's declared analyses (``SPEC.analyses``) on the trained MDM and estimator."""
    cfg, section, domain, device = setup_command(args)
    spec = get_spec(domain.name)
    analyses = {a.name: a for a in spec.analyses}
    if args.name not in analyses:
        raise UsageError(
            f"domain {domain.name} declares no analysis {args.name!r}; it has: {', '.join(analyses) or 'none'}"
        )
    model = load_mdm(domain, Path(args.model), device)
    head = load_estimator(Path(args.estimator), device) if args.estimator else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    analyses[args.name].run(
        domain, model, head, Path(args.data), out, cfg, device, model_label(model, domain)
    )
    write_folder_manifest(
        out, domain=domain.name, analysis=args.name, scale=cfg["scale"]
    )  # what the tables may trust
