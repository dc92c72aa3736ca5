"""Short-budget ablation of an MDM training recipe: what each choice buys.

    python -m mdmi ablate --config config/default.yaml --domain NAME \
        --data results/NAME/data --out results/ablation/NAME          # or: make ablation

The domain's ``ablation`` section names the variants, each a set of overrides of the domain's own
config (``{"train.loop_loss": false}``, ``{"model.n_loops": 1}``); the unmodified config is the
variant ``recipe``. Every variant trains its MDM for ``ablation.steps`` steps from the same data and
seed (``train_mdm``, so checkpoints resume), then decodes ``ablation.split`` (validation data: the
recipe is chosen there, never on test) with ``ablation.method`` at one setting of its knobs
(``ablation.knobs``; a method without an estimator). Writes

- ``<variant>/model.pt`` and ``<variant>/decode.csv``   (a variant whose decode.csv exists is skipped,
  unless its config changed since: ``<variant>/variant.yaml`` records the config it ran with)
- ``<variant>/scores.json``   the domain's own validation scores of the variant (``DomainSpec.ablation_scores``,
  e.g. contact precision on their val chains), when the domain declares them
- ``ablation.csv``  variant x group (each band, then ``all``): n, the domain's primary metric with a
  95% bootstrap interval, its paired difference from ``recipe`` on the same sequences, training time,
  the MDM's held-out loss at the end of training (when the domain has held-out sequences) and the
  domain's validation scores (one column each)
- ``ablation.md``   the same as a Markdown table

The budget is short on purpose (minutes per variant on 2 cores): it ranks choices by how fast they
learn, which is what can be afforded before committing two hours to a shipped model. A choice that
wins early can lose at convergence; docs/ablation.md records both kinds of evidence.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pandas as pd

from mdmi.core.knobs import check_knobs
from mdmi.domains import get_domain, get_spec
from mdmi.evaluate.sweep import run_sweep
from mdmi.pipeline.config import ConfigError, domain_config, dump, validate
from mdmi.train.mdm import load_mdm, train_mdm
from mdmi.util.checkpoint_io import load_torch
from mdmi.util.io import read_json, write_json, write_text
from mdmi.util.stats import interval, resample_weights

log = logging.getLogger(__name__)

BASELINE = "recipe"


def variant_config(cfg: dict, domain: str, overrides: dict, steps: int) -> dict:
    """The full config with ``domain``'s section overridden (``section.key: value``), its shipped
    checkpoint dropped and training cut to ``steps``; validated like any config."""
    out = copy.deepcopy(cfg)
    section = out[domain]
    section.pop("checkpoint", None)
    tcfg = section["train"]
    tcfg.update(
        steps=int(steps),
        warmup=min(int(tcfg["warmup"]), max(1, int(steps) // 10)),
        checkpoint_every=max(1, min(int(tcfg["checkpoint_every"]), int(steps))),
    )
    for key, value in overrides.items():
        part, _, name = key.partition(".")
        if not name or not isinstance(section.get(part), dict):
            raise ConfigError(
                f"{domain}.ablation: variant key {key!r} is not 'section.key' of the {domain} config "
                f"(e.g. train.loop_loss or model.n_loops)"
            )
        section[part][name] = value
    return validate(out, f"{domain}.ablation variant {overrides}")


def summarise_variants(
    frames: dict[str, pd.DataFrame],
    metric: str,
    train_seconds: dict[str, float],
    reps: int,
    level: float,
    seed: int,
    heldout: dict[str, float] | None = None,
    scores: dict[str, dict] | None = None,
) -> pd.DataFrame:
    """One row per (variant, group): n, mean metric with interval, paired difference from the baseline.

    frames: variant -> per-sequence rows with columns ``seq``, ``metric`` and optionally ``band``;
    scores: variant -> {name: value}, the domain's validation scores (a column each, on every row).
    """
    base = frames[BASELINE].set_index("seq")
    rows = []
    for name, df in frames.items():
        df = df.set_index("seq").loc[base.index]
        groups = (
            [(b, df.index[df["band"] == b]) for b in sorted(df["band"].unique())]
            if "band" in df
            else []
        )
        for group, ix in groups + [("all", df.index)]:
            scored = (
                df.loc[ix, metric].notna() & base.loc[ix, metric].notna()
            )  # e.g. no recovery without a native
            ix = ix[scored.to_numpy()]
            if not len(ix):
                continue
            x = df.loc[ix, metric].to_numpy(float)
            b = base.loc[ix, metric].to_numpy(float)
            w = resample_weights(len(ix), reps, seed)
            est = interval(w, lambda m: m(x), level)
            diff = interval(w, lambda m: m(x) - m(b), level)
            rows.append(
                {
                    "variant": name,
                    "group": group,
                    "n": len(ix),
                    metric: est.value,
                    "low": est.low,
                    "high": est.high,
                    f"diff_vs_{BASELINE}": diff.value,
                    "diff_low": diff.low,
                    "diff_high": diff.high,
                    "train_seconds": train_seconds.get(name),
                    "heldout_loss": (heldout or {}).get(name),
                    **(scores or {}).get(name, {}),
                }
            )
    return pd.DataFrame(rows)


def markdown(
    table: pd.DataFrame, metric: str, steps: int, split: str, score_names: list[str] = ()
) -> str:
    extra = "".join(f" {n} |" for n in score_names)
    lines = [
        f"Ablation: each variant trained {steps} steps, decoded on the {split} split; {metric} with 95% "
        f"bootstrap interval, and its paired difference from `{BASELINE}` on the same sequences"
        + (f"; the domain's validation scores ({', '.join(score_names)})" if score_names else "")
        + ".",
        "",
        f"| variant | group | n | {metric} [95% CI] | vs {BASELINE} [95% CI] | train s | held-out loss |"
        + extra,
        "|---|---|---|---|---|---|---|" + "---|" * len(score_names),
    ]
    for r in table.itertuples(index=False):
        d = r._asdict()
        loss = d.get("heldout_loss")
        loss = "" if loss is None or pd.isna(loss) else f"{loss:.4f}"
        cells = "".join(f" {_cell(d.get(n))} |" for n in score_names)
        lines.append(
            f"| {d['variant']} | {d['group']} | {d['n']} | {d[metric]:.3f} [{d['low']:.3f}, {d['high']:.3f}] "
            f"| {d[f'diff_vs_{BASELINE}']:+.3f} [{d['diff_low']:+.3f}, {d['diff_high']:+.3f}] "
            f"| {d['train_seconds']:.0f} | {loss} |" + cells
        )
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    return (
        ""
        if value is None or (isinstance(value, float) and pd.isna(value))
        else (f"{value:.3f}" if isinstance(value, float) else str(value))
    )


def forget_if_changed(folder: Path, section: dict, name: str) -> None:
    """Resume only what this config made: ``folder/variant.yaml`` holds the variant's resolved domain
    config (seed included; the ``ablation`` section left out, so adding a variant reruns no other); when
    it differs (the recipe or this variant was edited), the folder's model, checkpoint, decodes and
    scores are removed so the variant reruns."""
    text, _ = dump({k: v for k, v in section.items() if k != "ablation"})
    marker = folder / "variant.yaml"
    if marker.is_file() and marker.read_text() == text:
        return
    stale = [
        f for f in ("model.pt", "ckpt.pt", "decode.csv", "scores.json") if (folder / f).exists()
    ]
    if stale:
        log.warning(
            "ablation %s: its config changed since the cached run; rerunning (removed %s)",
            name,
            ", ".join(stale),
        )
        for f in stale:
            (folder / f).unlink()
    write_text(marker, text)


def run_ablation(
    cfg: dict, domain_name: str, data_dir: Path, out_dir: Path, device
) -> pd.DataFrame:
    """Train and decode every variant of ``cfg[domain_name]['ablation']``; returns the summary table."""
    spec = cfg[domain_name].get("ablation")
    if not spec:
        raise ConfigError(
            f"{domain_name}.ablation is missing from the config: it names the variants to train"
        )
    check_knobs(spec["method"], spec.get("knobs", {}))
    sweep = {k: [v] for k, v in spec.get("knobs", {}).items()}
    variants = {BASELINE: {}, **spec["variants"]}
    configs = {
        name: variant_config(cfg, domain_name, over, spec["steps"])
        for name, over in variants.items()
    }
    frames, seconds, heldout, scores, metric = {}, {}, {}, {}, None
    score_fn = get_spec(domain_name).ablation_scores
    for name, vcfg in configs.items():
        section = domain_config(vcfg, domain_name)
        domain = get_domain(domain_name, section)
        metric = domain.primary_metric
        folder = out_dir / name
        model_path, rows_path = folder / "model.pt", folder / "decode.csv"
        forget_if_changed(folder, section, name)
        if not model_path.is_file():
            log.info(
                "ablation %s: training %d steps with %s",
                name,
                spec["steps"],
                variants[name] or "the recipe",
            )
            train_mdm(domain, section, data_dir, model_path, folder / "ckpt.pt", device)
        last = load_torch(model_path)["train_log"][-1]
        seconds[name] = float(last["seconds"])
        heldout[name] = last.get("heldout_loss")
        model = None  # loaded once, when decoding or scoring needs it
        if not rows_path.is_file():
            model = load_mdm(domain, model_path, device)
            task = domain.load_task(data_dir, spec["split"])
            rows = run_sweep(
                model,
                domain,
                task,
                spec["method"],
                sweep,
                max_batch=section["decode"]["max_batch"],
                seed=cfg["seed"],
            )
            write_text(rows_path, rows.to_csv(index=False))
        frames[name] = pd.read_csv(rows_path)
        if score_fn is not None:
            if not (folder / "scores.json").is_file():
                if model is None:
                    model = load_mdm(domain, model_path, device)
                write_json(
                    folder / "scores.json",
                    score_fn(domain, model, data_dir, folder, int(cfg["seed"])),
                )
            scores[name] = read_json(folder / "scores.json")
        log.info(
            "ablation %s: %s %.3f %s",
            name,
            metric,
            frames[name][metric].mean(),
            " ".join(
                f"{k} {v:.3f}" for k, v in scores.get(name, {}).items() if isinstance(v, float)
            ),
        )
    table = summarise_variants(
        frames,
        metric,
        seconds,
        int(cfg["claims"]["bootstrap"]),
        float(cfg["claims"]["level"]),
        int(cfg["seed"]),
        heldout,
        scores,
    )
    names = list(dict.fromkeys(k for v in scores.values() for k in v))
    write_text(out_dir / "ablation.csv", table.to_csv(index=False))
    write_text(
        out_dir / "ablation.md", markdown(table, metric, spec["steps"], spec["split"], names)
    )
    return table
