"""Handler of ``eval-estimator``: the estimator's fidelity on held-out states and Figure 1's example
(decoding sweeps: :mod:`mdmi.cli.decode`)."""

from __future__ import annotations

import json
from pathlib import Path

from mdmi.cli.context import log, model_label, setup_command
from mdmi.evaluate.fidelity import evaluate_estimator, mi_by_relation, write_example_state
from mdmi.train.estimator import load_estimator
from mdmi.train.mdm import load_mdm
from mdmi.util.checkpoint_io import load_torch
from mdmi.util.io import write_json, write_text


def cmd_eval_estimator(args):
    cfg, section, domain, device = setup_command(args)
    model = load_mdm(domain, Path(args.model), device)
    head = load_estimator(Path(args.estimator), device)
    labels = load_torch(args.labels)
    boot = {"reps": cfg["claims"]["bootstrap"], "seed": cfg["seed"]}  # as the claims use them
    ev, pred = evaluate_estimator(model, head, labels, device, **boot)
    ev["scale"], ev["config"] = cfg["scale"], args.config
    ev["model"] = model_label(model, domain)
    rel = domain.relations()
    if rel is not None:
        table, summary = mi_by_relation(
            labels["mi"], pred, labels["tokens"], model.mask_id, *rel, **boot
        )
        ev["relations"] = summary
        write_text(args.relations, table.to_csv(index=False))
    else:  # no a-priori relations in this domain (a domain may analyse MI its own way: SPEC.analyses)
        write_text(args.relations, "relation,pairs,exact_mean,exact_median,learned_mean\n")
    write_example_state(args.example, labels, pred, rel, model.mask_id)
    write_json(args.out, ev)
    log.info("estimator: %s", json.dumps(ev["all"]))
