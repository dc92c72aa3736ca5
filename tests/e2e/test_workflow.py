"""The ci config run end to end (the session's shared ``ci_run``, tests/conftest.py): the manifest, resources,
slices, notebooks, reruns, the bench, solve, cached checkpoints, knob edits, damaged results, the README."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from conftest import ROOT, TIMING, resolved_config, run_env, snakemake


def test_ci_run_produces_every_manifest_output(ci_run):
    from mdmi.domains import builtin
    from mdmi.pipeline.manifest import expected_outputs, items

    domains = set(builtin())
    manifest = json.loads((ci_run / "results" / "manifest.json").read_text())
    assert set(manifest["items"]) == set(items()) and manifest["scale"] == "ci"
    for rel in expected_outputs(domains):
        assert (ci_run / "results" / rel).stat().st_size > 0, rel
    for item, entry in manifest["items"].items():
        assert entry["scale"] == "ci" and entry["config"]
        for f in entry["files"]:
            assert (ci_run / f).exists(), f
    claims = pd.read_csv(ci_run / "results" / "tables" / "claims.csv")
    assert list(claims.columns) == [
        "claim",
        "paper_value",
        "measured",
        "estimate",
        "ci_low",
        "ci_high",
        "n",
        "rule",
        "holds",
        "domain",
        "model",
        "scale",
    ]
    verdicts = {"yes", "no", "inconclusive", "non-diagnostic", "not measured"}
    assert set(claims.holds.dropna()) <= verdicts and (claims.scale == "ci").all()
    judged = claims[claims.holds.isin(["yes", "no", "inconclusive", "non-diagnostic"])]
    assert len(judged) and judged.n.notna().all() and judged.rule.notna().all()
    assert domains == set(claims.domain)
    t1 = pd.read_csv(ci_run / "results" / "tables" / "table1.csv")
    t2 = pd.read_csv(ci_run / "results" / "tables" / "table2.csv")
    assert domains == set(t1.domain)
    cfg = resolved_config(ROOT / "config" / "ci.yaml")
    for domain in domains:  # every configured method has its row, and the all-at-once floor always
        methods = set(t2[t2.domain == domain].method)
        assert (
            set(cfg[domain]["decode"]["methods"]) | {"sequential", "all-at-once", "mi"} <= methods
        ), (domain, methods)
        assert t2[t2.domain == domain].wall_speedup_vs_sequential.notna().all()
        part = pd.read_csv(ci_run / "results" / "tables" / f"table2_{domain}.csv")
        assert len(part) == (t2.domain == domain).sum() and list(part.columns[:3]) == [
            "domain",
            "method",
            "knob",
        ]
    frontier = pd.read_csv(ci_run / "results" / "tables" / "frontier.csv")
    assert set(frontier.holds) <= {
        "mi better",
        "baseline better",
        "no difference shown",
        "not measured",
    }
    measured = frontier[frontier.holds != "not measured"]
    assert measured.ci_low.notna().all() if len(measured) else True
    assert frontier[frontier.holds == "not measured"].note.str.contains("outside").all()
    choice = pd.read_csv(ci_run / "results" / "tables" / "knob_choice.csv")
    assert (choice.groupby(["domain", "method"]).chosen.sum() == 1).all()
    md = (ci_run / "results" / "tables" / "table2.md").read_text()
    assert md.count("### ") == len(domains)
    panels = json.loads((ci_run / "results" / "tables" / "panels.json").read_text())
    assert set(panels) == domains


def test_ci_run_declares_enough_resources_for_every_job(ci_run):
    """The resources rule ran (part of `all`): every job of the run has a benchmark and stayed inside the
    memory and time its rule declares in the config."""
    rows = pd.read_csv(ci_run / "results" / "benchmarks" / "resources.csv")
    assert {
        "data",
        "train_mdm",
        "label",
        "train_estimator",
        "eval_estimator",
        "decode",
        "tables",
        "analysis",
        "combine_tables",
        "notebook",
    } <= set(rows.rule)
    assert len(rows) == len(list((ci_run / "results" / "benchmarks").glob("*/*.tsv")))
    assert (
        (rows.mem_used <= 1).all() and (rows.time_used <= 1).all() and (rows.max_rss_mb > 0).all()
    )


def test_each_command_receives_only_its_stage_slice(ci_run):
    """Every rule that runs a domain stage is given its slice (results/config/<domain>/<stage>-<digest>.yaml)
    as --config, and the file there is the slice of the run's config."""
    import yaml

    from mdmi.pipeline.config import dump, stage_slice

    cfg = yaml.safe_load((ci_run / "results" / "config.yaml").read_text())
    r = snakemake(
        "-n",
        "-p",
        "--forceall",
        "--cores",
        "2",
        "--configfile",
        str(ROOT / "config" / "ci.yaml"),
        cwd=ci_run,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    logs = r.stdout
    for d in cfg["domains"]:
        for stage in ("data", "model", "labels", "estimator", "decode", "tables"):
            text, digest = dump(stage_slice(cfg, d, stage))
            path = ci_run / "results" / "config" / d / f"{stage}-{digest}.yaml"
            assert path.read_text() == text, path
            assert f"--config results/config/{d}/{stage}-{digest}.yaml --domain {d}" in logs, (
                d,
                stage,
            )


def test_ci_run_protein_half_is_labelled_and_complete(ci_run):
    res = ci_run / "results"
    contacts = pd.read_csv(res / "tables" / "contacts.csv")
    assert {
        "chain",
        "length",
        "model",
        "source",
        "p_at_L5",
        "p_at_L",
        "chance",
        "in_family",
        "range",
    } <= set(contacts.columns)
    assert set(contacts.chain) == {"1ubi_A", "5pti_A", "1a0j_A"}  # <structure file stem>_<chain id>
    assert {"exact", "exact_apc", "learned", "jacobian", "separation", "alignment_apc"} <= set(
        contacts.source
    )
    assert set(contacts.range) == {"all", "short", "medium", "long"}
    # 1a0j_A is a member of the training family (its row in the bundled alignment): the only chain with
    # the alignment baseline; the others are other folds
    fam = contacts.groupby("chain").in_family.agg(["min", "max"])
    assert fam.loc["1a0j_A"].tolist() == [True, True] and not fam.drop("1a0j_A")["max"].any()
    assert set(contacts[contacts.source == "alignment_apc"].chain) == {"1a0j_A"}
    ranged = contacts[contacts.range == "all"][["p_at_L5", "p_at_L", "chance"]]
    assert ranged.apply(lambda c: c.between(0, 1)).all().all()
    # the family model reads only its family's chain, through the aligned row: MI maps for 1a0j_A alone, covering
    # the pairs of its residues on kept columns (not those on inserts or gap-rich columns); baselines for all
    assert set(contacts[contacts.source == "exact"].chain) == {"1a0j_A"}
    cost = {
        c["chain"]: c
        for c in json.loads((res / "protein" / "analysis" / "contacts" / "cost.json").read_text())[
            "chains"
        ]
    }
    assert cost["1a0j_A"]["states"] == 1 and 0.8 < cost["1a0j_A"]["pair_coverage"] < 1.0
    assert all(
        c["states"] == 0 and c["pair_coverage"] == 0 for n, c in cost.items() if n != "1a0j_A"
    )
    # the model trained here is labelled FALLBACK (a stand-in for ESM-C) in every protein output
    for name in ("contacts", "table1", "table2", "claims", "decoding_sweep"):
        t = pd.read_csv(res / "tables" / f"{name}.csv")
        rows = t if name == "contacts" else t[t.domain == "protein"]
        assert len(rows) and rows.model.str.startswith("FALLBACK").all(), name
    for nb in ("fig2_protein_mi", "fig3_decoding", "claims"):
        assert "FALLBACK" in (res / "notebooks" / f"{nb}.html").read_text(), nb
    manifest = json.loads((res / "manifest.json").read_text())
    assert (
        manifest["items"]["fig2"]["status"] == "done"
        and "FALLBACK" in manifest["model_notes"]["protein"]
    )
    q = pd.read_csv(res / "protein" / "decode" / "test" / "sequential.csv")
    assert {"recovery", "pppl", "low_complexity", "max_run", "band"} <= set(q.columns)
    inpaint = q.band.isin(["scattered-5", "contiguous-5"])
    assert (
        set(q.band) == {"scattered-5", "contiguous-5", "unconditional"}
        and q.recovery[inpaint].notna().all()
    )


def test_notebooks_executed_without_errors(ci_run):
    import nbformat

    for nb_path in (ci_run / "results" / "notebooks").glob("*.ipynb"):
        nb = nbformat.read(nb_path, as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert outputs, nb_path
        assert not [o for o in outputs if o.get("output_type") == "error"], nb_path
        assert "scale: ci" in json.dumps(outputs), nb_path


def test_rerun_is_a_noop(ci_run):
    # Determinism (a second run from scratch, same seed and config, gives the same tables) is checked by
    # test_killed_runs_resume_to_the_same_tables, whose run starts from an empty folder, and by
    # make test-slurm (the same config through Slurm): neither repeats a third run here.
    r = snakemake(
        "-n", "--cores", "2", "--configfile", str(ROOT / "config" / "ci.yaml"), cwd=ci_run
    )
    assert r.returncode == 0 and "Nothing to be done" in (r.stdout + r.stderr)


def test_bench_command_on_the_ci_models(ci_run):
    r = snakemake(
        "results/benchmarks/bench.json",
        "--cores",
        "2",
        "--configfile",
        str(ROOT / "config" / "ci.yaml"),
        cwd=ci_run,
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    bench = json.loads((ci_run / "results" / "benchmarks" / "bench.json").read_text())
    for key in (
        "labelling_speedup_vs_naive",
        "label_max_abs_diff_nats",
        "estimator_speedup_vs_exact",
        "matmul_fraction",
    ):
        assert bench[key] > 0 or key == "label_max_abs_diff_nats", key
    assert bench["label_max_abs_diff_nats"] <= 1e-5 and bench["device"] and bench["config"]
    assert set(bench["domains"]) == set(resolved_config(ROOT / "config" / "ci.yaml")["domains"])
    for d in bench["domains"].values():
        assert {x["method"] for x in d["decoding"]} >= {"sequential", "mi"}
        assert d["labelling"]["clamped_passes"] > 0 and d["flops_per_clamped_pass"] > 0
        assert d["forward_batch_vs_single"]["ratio"] > 0
        variants = {v["variant"]: v for v in d["labelling"]["variants"]}
        assert (
            any(k.startswith("exact, max_batch") for k in variants)
            and "certified skip 1e-06 nats" in variants
        )
        for v in variants.values():
            if v["precision"] == "fp32" and v["skip_tol"] == 0:
                assert v["max_abs_diff_nats"] <= 1e-5, v  # chunking never changes exact labels
        skip = variants["certified skip 1e-06 nats"]
        assert (
            skip["max_abs_diff_nats"] <= 1e-6 + 1e-5
            and skip["clamped_passes"] <= d["labelling"]["naive_clamped_passes"]
        )

    # projected cost of the CI config from the rate this bench measured
    out = ci_run / "results" / "benchmarks" / "projection.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mdmi",
            "project",
            "--config",
            str(ROOT / "config" / "ci.yaml"),
            "--bench",
            str(ci_run / "results" / "benchmarks" / "bench.json"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())["rules"]
    assert {(x["domain"], x["rule"]) for x in rows} >= {
        ("sudoku", "train_mdm"),
        ("sudoku", "label_train"),
        ("protein", "contacts"),
        ("protein", "decode_test"),
    }
    assert all(x["seconds"] >= 0 and x["flops_per_pass"] > 0 for x in rows)
    assert "total (serial)" in r.stdout


def test_solve_command_on_a_user_puzzle_file(ci_run, tmp_path):
    model = ci_run / "results" / "sudoku" / "mdm" / "model.pt"
    puzzles = (ci_run / "results" / "sudoku" / "data" / "test.txt").read_text().splitlines()[:3]
    f = tmp_path / "mine.txt"
    f.write_text(
        "# my puzzles\n" + "\n".join(p.split(",")[0].replace("0", ".") for p in puzzles) + "\n"
    )
    for method, knobs in [
        ("sequential", []),
        ("threshold", ["--knob", "tau=0.8"]),
        (
            "mi",
            [
                "--estimator",
                str(ci_run / "results/sudoku/estimator/head.pt"),
                "--knob",
                "gamma=0.4",
                "--knob",
                "lam=2",
            ],
        ),
    ]:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "mdmi",
                "solve",
                "--model",
                str(model),
                "--method",
                method,
                *knobs,
                str(f),
            ],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        lines = r.stdout.strip().splitlines()
        assert len(lines) == 3 and all(
            "passes=" in ln and ("valid" in ln or "INVALID" in ln) for ln in lines
        )
        for ln, p in zip(lines, puzzles):
            grid, given = ln.split()[0], p.split(",")[0]
            assert all(g == "0" or g == c for g, c in zip(given, grid))  # givens kept
        if (
            method == "sequential"
        ):  # a long file goes batch by batch: same lines, printed as batches finish
            b = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "mdmi",
                    "solve",
                    "--model",
                    str(model),
                    "--batch",
                    "2",
                    str(f),
                ],
                capture_output=True,
                text=True,
            )
            assert b.returncode == 0 and b.stdout == r.stdout, b.stderr
    bad = tmp_path / "bad.txt"
    bad.write_text("1234\n")
    r = subprocess.run(
        [sys.executable, "-m", "mdmi", "solve", "--model", str(model), str(bad)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "line 1" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not r.stdout


def test_cached_checkpoint_is_verified_and_used(ci_run, tmp_path):
    """A trained model.pt supplied by path replaces training; a wrong checksum or config is a clear error."""
    import torch

    res = ci_run / "results" / "sudoku"
    src = res / "mdm" / "model.pt"
    snippet = _checksum_snippet(src, "checkpoint")
    cfg = resolved_config(ROOT / "config" / "ci.yaml")

    def train(cfg, out):
        return _mdmi_with_config(
            cfg,
            tmp_path,
            ["train-mdm", "--domain", "sudoku", "--data", str(res / "data")]
            + ["--out", str(out), "--ckpt", str(tmp_path / "ck.pt")],
        )

    cfg["sudoku"]["checkpoint"] = snippet
    r = train(cfg, tmp_path / "ok.pt")
    assert r.returncode == 0, r.stderr
    assert "using cached checkpoint" in r.stderr and "train MDM" not in r.stderr
    a, b = torch.load(src, weights_only=False), torch.load(tmp_path / "ok.pt", weights_only=False)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert b["cached_from"]["sha256"] == snippet["sha256"]

    bad_sum = {**snippet, "sha256": "0" * 64}
    r = train({**cfg, "sudoku": {**cfg["sudoku"], "checkpoint": bad_sum}}, tmp_path / "bad1.pt")
    assert r.returncode == 2 and "SHA-256" in _one_error_line(r.stderr)
    assert not (tmp_path / "bad1.pt").exists()

    other = {
        **cfg["sudoku"],
        "checkpoint": snippet,
        "train": {**cfg["sudoku"]["train"], "steps": 7},
    }
    r = train({**cfg, "sudoku": other}, tmp_path / "bad2.pt")
    assert r.returncode == 2 and "train.steps: checkpoint" in _one_error_line(r.stderr)
    assert not (tmp_path / "bad2.pt").exists()

    missing = {**snippet, "path": str(tmp_path / "nowhere.pt")}
    r = train({**cfg, "sudoku": {**cfg["sudoku"], "checkpoint": missing}}, tmp_path / "bad3.pt")
    assert (
        r.returncode == 2
        and "not found" in _one_error_line(r.stderr)
        and not (tmp_path / "bad3.pt").exists()
    )


def test_cached_estimator_is_verified_and_used(ci_run, tmp_path):
    """A trained head.pt supplied by path (estimator_checkpoint) replaces the train labels and training; a
    wrong checksum, another config or another MDM is one clear error line and writes nothing."""
    import torch

    res = ci_run / "results" / "sudoku"
    src = res / "estimator" / "head.pt"
    snippet = _checksum_snippet(src, "estimator_checkpoint")
    cfg = resolved_config(ROOT / "config" / "ci.yaml")

    def adopt(cfg, out, model=res / "mdm" / "model.pt"):
        return _mdmi_with_config(
            cfg,
            tmp_path,
            ["train-estimator", "--domain", "sudoku", "--data", str(res / "data")]
            + ["--model", str(model), "--out", str(out), "--ckpt", str(tmp_path / "ck.pt")],
        )

    r = adopt(
        {**cfg, "sudoku": {**cfg["sudoku"], "estimator_checkpoint": snippet}}, tmp_path / "ok.pt"
    )
    assert r.returncode == 0, r.stderr
    assert "using cached checkpoint" in r.stderr and "train estimator" not in r.stderr
    a, b = torch.load(src, weights_only=False), torch.load(tmp_path / "ok.pt", weights_only=False)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert b["trained_with"]["label_states"] and b["cached_from"]["sha256"] == snippet["sha256"]

    bad_sum = {**snippet, "sha256": "0" * 64}
    r = adopt(
        {**cfg, "sudoku": {**cfg["sudoku"], "estimator_checkpoint": bad_sum}}, tmp_path / "b1.pt"
    )
    assert r.returncode == 2 and "SHA-256" in _one_error_line(r.stderr)
    labels = {**cfg["sudoku"]["labels"], "train_states": 3}
    other = {**cfg["sudoku"], "estimator_checkpoint": snippet, "labels": labels}
    r = adopt({**cfg, "sudoku": other}, tmp_path / "b2.pt")
    line = _one_error_line(r.stderr)
    assert r.returncode == 2 and "config.labels.train_states: checkpoint" in line, line
    assert "estimator_checkpoint" in line
    state = torch.load(res / "mdm" / "model.pt", weights_only=False)  # another MDM: other weights
    state["state_dict"] = {k: v + 0.01 for k, v in state["state_dict"].items()}
    torch.save(state, tmp_path / "other_mdm.pt")
    ok_cfg = {**cfg, "sudoku": {**cfg["sudoku"], "estimator_checkpoint": snippet}}
    r = adopt(ok_cfg, tmp_path / "b3.pt", model=tmp_path / "other_mdm.pt")
    assert r.returncode == 2 and "model: checkpoint" in _one_error_line(r.stderr)
    r = adopt(cfg, tmp_path / "b4.pt")  # nothing to adopt and no labels to train on
    assert r.returncode == 2 and "--labels" in _one_error_line(r.stderr)
    assert not any((tmp_path / f"b{i}.pt").exists() for i in range(1, 5))


def _checksum_snippet(path, key: str) -> dict:
    """`python -m mdmi checksum PATH`'s {path, sha256} under ``sudoku.<key>``."""
    import yaml

    r = subprocess.run(
        [sys.executable, "-m", "mdmi", "checksum", str(path)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)["sudoku"][key]


def _mdmi_with_config(cfg: dict, tmp_path, args: list[str]):
    """``python -m mdmi <command> --config <cfg, written to tmp_path> <the rest of args>``."""
    import yaml

    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    command, *rest = args
    return subprocess.run(
        [sys.executable, "-m", "mdmi", command, "--config", str(path), *rest],
        capture_output=True,
        text=True,
    )


def _one_error_line(stderr: str) -> str:
    """The single 'error:' line of a failed command (log lines aside); no traceback."""
    errors = [ln for ln in stderr.splitlines() if ": error: " in ln]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    return errors[0]


def _planned_rules(dry_run_stdout: str) -> set[str]:
    """The rules a dry run would run (a job group's members are listed indented under it)."""
    return {
        ln.split()[1].rstrip(":")
        for ln in dry_run_stdout.splitlines()
        if ln.lstrip().startswith("rule ")
    }


def test_editing_a_decoding_knob_reruns_only_what_depends_on_it(ci_run, tmp_path):
    """Rules depend on their stage's slice of the config: no retraining for a decoding change."""
    import shutil

    import yaml

    shutil.copytree(ci_run / "results", tmp_path / "results")  # copy2 keeps the timestamps
    # and Snakemake's record of each job's inputs: a changed slice is a new file name, which Snakemake's
    # input trigger sees through that record (a copy without it warns of missing provenance)
    shutil.copytree(ci_run / ".snakemake" / "metadata", tmp_path / ".snakemake" / "metadata")
    cfg = resolved_config(ROOT / "config" / "ci.yaml")
    cfg["sudoku"]["decode"]["quality_tolerance"] = 0.5
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = snakemake("-n", "--cores", "2", "--configfile", str(path), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    jobs = _planned_rules(r.stdout)
    assert {"decode", "tables", "combine_tables"} <= jobs
    assert not jobs & {"data", "train_mdm", "label", "train_estimator", "analysis"}, jobs
    assert (
        "protein/decode" not in r.stdout and "potts/decode" not in r.stdout
    )  # the other domains are untouched
    # what a job asks of a scheduler is read by no stage's command: editing it reruns no stage of any domain
    cfg = resolved_config(ROOT / "config" / "ci.yaml")
    cfg["resources"]["rules"]["decode"] = {"mem_mb": 4321, "runtime": 9}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = snakemake("-n", "--cores", "2", "--configfile", str(path), cwd=tmp_path)
    jobs = _planned_rules(r.stdout)
    assert not jobs & {
        "data",
        "train_mdm",
        "label",
        "train_estimator",
        "analysis",
        "decode",
        "tables",
    }, jobs


def test_a_damaged_result_stops_in_one_line_and_make_papers_check_remakes_it(ci_run, tmp_path):
    """Truncate one decode file of a finished run (a full disk): the tables job refuses it in one line
    instead of reporting n = 2; `make paper`'s check-results moves it aside, and the rerun remakes it
    to the same tables. A damaged data file sends its whole data step back."""
    import shutil

    shutil.copytree(ci_run / "results", tmp_path / "results")
    shutil.copytree(ci_run / ".snakemake" / "metadata", tmp_path / ".snakemake" / "metadata")
    eb = tmp_path / "results" / "sudoku" / "decode" / "test" / "eb.csv"
    eb.write_text("\n".join(eb.read_text().splitlines()[:3]) + "\n")
    target = ("results/tables/table2.csv",)
    r = snakemake(
        *target, "--cores", "2", "--configfile", str(ROOT / "config" / "ci.yaml"), cwd=tmp_path
    )
    log = (tmp_path / "results" / "logs" / "sudoku_tables.log").read_text()
    assert r.returncode != 0 and str(eb.relative_to(tmp_path)) in _one_error_line(log)
    fix = subprocess.run(
        [sys.executable, "-m", "mdmi", "check-results", "--fix"],
        cwd=tmp_path,
        env=run_env(),
        capture_output=True,
        text=True,
    )
    assert fix.returncode == 0 and fix.stderr.count("moved") == 1 and "eb.csv" in fix.stderr, (
        fix.stderr
    )
    r = snakemake(
        *target, "--cores", "2", "--configfile", str(ROOT / "config" / "ci.yaml"), cwd=tmp_path
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    out = r.stdout + r.stderr  # (Snakemake remakes a moved file when a job downstream needs it)
    assert "rule data:" not in out and "rule train_mdm:" not in out
    for name in ["table2", "claims", "decoding_sweep"]:
        a = pd.read_csv(ci_run / "results" / "tables" / f"{name}.csv")
        b = pd.read_csv(tmp_path / "results" / "tables" / f"{name}.csv")
        keep = [c for c in a.columns if not any(t in c for t in TIMING)]
        pd.testing.assert_frame_equal(a[keep], b[keep])
    data = tmp_path / "results" / "potts" / "data"
    victim = next(
        p
        for p in sorted(data.iterdir())
        if p.is_file() and p.name != "MANIFEST.json" and not p.name.startswith(".")
    )
    victim.write_bytes(victim.read_bytes()[:10])
    fix = subprocess.run(
        [sys.executable, "-m", "mdmi", "check-results", "--fix"],
        cwd=tmp_path,
        env=run_env(),
        capture_output=True,
        text=True,
    )
    assert fix.returncode == 0 and "its step's folder" in fix.stderr and not data.exists(), (
        fix.stderr
    )
    assert list((tmp_path / "results" / ".damaged").rglob("MANIFEST.json"))


def test_readme_results_block_is_generated_from_the_tables(ci_run, tmp_path):
    from mdmi.pipeline.readme import BEGIN, END, ReadmeError, update_readme

    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{BEGIN}\nold typed numbers\n{END}\n\nrest\n")
    update_readme(readme, ci_run / "results")
    text = readme.read_text()
    assert (
        "old typed numbers" not in text
        and text.endswith("\n\nrest\n")
        and text.startswith("# title")
    )
    t2 = pd.read_csv(ci_run / "results" / "tables" / "table2.csv")
    for domain in ("sudoku", "protein", "potts"):
        assert f"**{domain}**" in text
    assert f"{t2.passes.iloc[0]:.3f}" in text  # numbers come from the tables
    assert "recovery" in text and "solved" in text  # each domain's own quality column
    with pytest.raises(ReadmeError, match="make paper"):
        update_readme(readme, tmp_path / "no-results")
