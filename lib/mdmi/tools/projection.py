"""Projected wall time of a config's expensive rules, from counted FLOPs and a throughput.

Work per rule, in forward passes of one sequence of the domain's nominal length L (V values):

  train_mdm        3 x steps x batch_size         (forward + backward ~ 3 forwards; 0 when the
                                                   backbone is pretrained or a checkpoint is supplied)
  label_<split>    states x (1 + m L V)           m = mean mask ratio of labels.mask_min..mask_max
  train_estimator  train_states                   (one feature pass per state; the head is tiny)
  <domain steps>   what ``Domain.extra_rule_passes`` declares (e.g. contact maps of each chain)
  decode_<split>   sum over methods but mi-exact, over knobs, of tasks x masked positions
                   (sequential's passes: an upper bound for the parallel decoders)

FLOPs per pass are counted by ``torch.utils.flop_counter`` on an untrained model of the configured
architecture; time = FLOPs / rate, with rate the FLOP/s a device really sustains on these passes:
``python -m mdmi bench`` measures it (matmul rate x fraction reached by labelling) on the machine it
runs on. The mi-exact oracle's lazy labelling depends on the model and is not projected.
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from mdmi.core.protocol import model_device
from mdmi.domains import get_domain
from mdmi.pipeline.config import domain_config, knob_grid


def flops_per_pass(model, length: int) -> float:
    """FLOPs of one forward pass on one sequence of ``length`` tokens (counted, not estimated)."""
    x = torch.zeros(1, length, dtype=torch.long, device=model_device(model))
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        model(x)
    return float(fc.get_total_flops())


def rule_passes(
    section: dict, work: dict, trains: bool, extra: dict | None = None
) -> dict[str, float]:
    """Forward-pass equivalents per rule for one domain (see the module docstring)."""
    L, V = work["length"], work["values"]
    lab = section["labels"]
    per_state = 1 + 0.5 * (lab["mask_min"] + lab["mask_max"]) * L * V
    train = (
        3.0 * section["train"]["steps"] * section["train"]["batch_size"] if trains else 0.0
    )  # a pretrained
    out = {
        "train_mdm": train,  # domain has no train
        "label_train": lab["train_states"] * per_state,
        "label_val": lab["val_states"] * per_state,
        "train_estimator": float(lab["train_states"]),
    }
    out.update(extra or {})  # the domain's own steps (Domain.extra_rule_passes)
    knobs = sum(
        len(knob_grid(s)) for m, s in section["decode"]["methods"].items() if m != "mi-exact"
    )
    for split, (tasks, masked) in work["tasks"].items():
        out[f"decode_{split}"] = knobs * tasks * masked
    return out


def project(cfg: dict, rates: dict[str, float]) -> list[dict]:
    """One row per (domain, rule): passes, TFLOP and projected seconds at ``rates[domain]`` FLOP/s."""
    rows = []
    for name in cfg["domains"]:
        section = domain_config(cfg, name)
        domain = get_domain(name, section)
        work = domain.workload()
        fpp = flops_per_pass(work["architecture"]().eval(), work["length"])
        trains = not domain.pretrained and not section.get("checkpoint")
        for rule, passes in rule_passes(
            section, work, trains, domain.extra_rule_passes(work)
        ).items():
            flops = passes * fpp
            rows.append(
                {
                    "domain": name,
                    "rule": rule,
                    "passes": passes,
                    "tflop": flops / 1e12,
                    "flops_per_pass": fpp,
                    "rate_flops_per_s": rates[name],
                    "seconds": flops / rates[name],
                }
            )
    return rows


def rates_from_bench(bench: dict) -> dict[str, float]:
    """Sustained FLOP/s per domain measured by ``python -m mdmi bench`` (labelling passes)."""
    return {d: r["matmul_flops_per_s"] * r["matmul_fraction"] for d, r in bench["domains"].items()}


def format_projection(rows: list[dict]) -> str:
    lines = [
        f"{'domain':<8} {'rule':<16} {'passes':>12} {'TFLOP':>10} {'rate TFLOP/s':>12} {'projected':>10}"
    ]
    for r in rows:
        s = r["seconds"]
        t = f"{s:.0f} s" if s < 120 else (f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h")
        lines.append(
            f"{r['domain']:<8} {r['rule']:<16} {r['passes']:12.3g} {r['tflop']:10.3g} "
            f"{r['rate_flops_per_s'] / 1e12:12.3g} {t:>10}"
        )
    total = sum(r["seconds"] for r in rows)
    lines.append(f"total (serial): {total / 3600:.2f} h")
    return "\n".join(lines)
