"""Config validation and the CLI's one-line errors."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import resolved_config
from mdmi.errors import MdmiError
from mdmi.pipeline.config import ConfigError, knob_grid, load_config, validate

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((ROOT / "config").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_configs_validate(path):
    """Each file validates; one that names a scale is named after it, and one that does not (a part
    of a scale, e.g. ci_sudoku.yaml) keeps the scale of the file it extends, so its tables match."""
    cfg = load_config(path)
    own = yaml.safe_load(path.read_text())
    if "scale" in own or "extends" not in own:
        assert cfg["scale"] == path.stem
    else:
        assert cfg["scale"] == load_config(path.parent / own["extends"])["scale"]
        assert path.stem.startswith(cfg["scale"] + "_")


def test_the_config_and_knob_schemas_are_valid_schemas():
    """Values are checked without re-checking their schema each call (mdmi.util.schema_check), so the
    schemas themselves are checked here: the full config schema (every domain's fragment and every
    method's sweep merged in, its slice form too) and each knob's value schema."""
    import jsonschema

    from mdmi.core.knobs import KNOBS
    from mdmi.pipeline.config import _optional, schema

    full = schema()
    for s in (full, _optional(full)):
        jsonschema.validators.validator_for(s).check_schema(s)
    for knobs in KNOBS.values():
        for s in knobs.values():
            jsonschema.Draft202012Validator.check_schema(s)
    with pytest.raises(ConfigError, match="invalid config at 'seed'"):
        validate({**load_config(ROOT / "config" / "ci.yaml"), "seed": "zero"})


def test_config_errors_name_the_key(tmp_path):
    cfg = resolved_config(ROOT / "config" / "ci.yaml")
    cfg["sudoku"]["train"]["lr"] = -1
    with pytest.raises(ConfigError, match="sudoku/train/lr"):
        validate(cfg)
    cfg = resolved_config(ROOT / "config" / "ci.yaml")
    cfg["sudoku"]["train"]["typo"] = 1
    with pytest.raises(ConfigError, match="typo"):
        validate(cfg)
    cfg = resolved_config(ROOT / "config" / "ci.yaml")
    cfg["sudoku"]["model"]["n_heads"] = 3
    with pytest.raises(ConfigError, match="divisible"):
        validate(cfg)
    cfg = resolved_config(ROOT / "config" / "ci.yaml")
    cfg["protein"]["tasks"]["inpaint"]["fraction"] = 0.15  # the key before fractions/patterns
    with pytest.raises(ConfigError, match="fraction"):
        validate(cfg)
    cfg = resolved_config(ROOT / "config" / "ci.yaml")
    cfg["protein"]["tasks"]["inpaint"]["fractions"] = [0.151, 0.149]  # both band 15
    with pytest.raises(ConfigError, match="same band twice"):
        validate(cfg)
    cfg = resolved_config(ROOT / "config" / "ci.yaml")
    del cfg["protein"]["model"]["family"]  # the family backbone without its model
    with pytest.raises(ConfigError, match="protein.model.family"):
        validate(cfg)
    (tmp_path / "x.yaml").write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "x.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def _set(cfg: dict, dotted: str, value):
    *path, last = dotted.split(".")
    node = cfg
    for key in path:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value


DELETE = object()


# The config-mistake rows of docs/design.md's fault table: each gives one line naming the key (at dry-run
# time too: the Snakefile calls the same validate()).
@pytest.mark.parametrize(
    "key, value, match",
    [
        ("threads", 0, "threads"),
        ("seed", -1, "seed"),
        ("device", "gpu", "device"),
        ("domains", ["sudoku", "chess"], "chess"),
        ("domains", [], "domains"),
        ("plugins", ["no/such/plugin.py"], "plugin"),
        ("claims.level", 1.5, "claims/level"),
        ("claims.bootstrap", 0, "claims/bootstrap"),
        ("sudoku.decode.quality_tolerance", -0.02, "quality_tolerance"),
        ("sudoku.labels.skip_tol", -0.001, "skip_tol"),
        ("sudoku.labels.max_batch", 0, "max_batch"),
        ("sudoku.decode.methods.eb", {"gamma": []}, "gamma"),
        ("sudoku.decode.methods", {}, "methods"),
        ("sudoku.data.test_puzzles", DELETE, "test_puzzles"),
        ("antibody.sampling.repeats", 0, "repeats"),
        ("antibody.sampling.max_batch", DELETE, "max_batch"),
    ],
)
def test_config_mistakes_name_the_key(key, value, match):
    cfg = resolved_config(ROOT / "config" / "ci.yaml")
    _set(cfg, key, value)
    with pytest.raises(MdmiError, match=match) as e:
        validate(cfg)
    assert "\n" not in str(e.value).strip()


def test_knob_grid_expands_sweeps():
    assert knob_grid({"eps": [1, 2], "rule": ["a"]}) == [
        {"eps": 1, "rule": "a"},
        {"eps": 2, "rule": "a"},
    ]
    assert knob_grid([{"k": [1]}, {"k": [2], "x": [0]}]) == [{"k": 1}, {"k": 2, "x": 0}]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "mdmi", *args], capture_output=True, text=True)


def test_cli_errors_are_one_line_and_nonzero(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scale: x\n")
    r = _cli("generate", "--config", str(bad), "--out", str(tmp_path / "out"))
    assert (
        r.returncode == 2
        and len(r.stderr.strip().splitlines()) == 1
        and "invalid config" in r.stderr
    )
    assert not (tmp_path / "out").exists()
    r = _cli("solve", "--model", str(tmp_path / "nope.pt"), str(tmp_path / "p.txt"))
    assert r.returncode == 2 and "nope.pt" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_notebooks_are_stored_without_outputs():
    import nbformat

    for path in (ROOT / "notebooks").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells), path
        for c in nb.cells:
            if c.cell_type == "code":
                assert not c.outputs and c.execution_count is None, path


def test_projection_counts_passes_from_the_config():
    from mdmi.pipeline.config import domain_config, load_config
    from mdmi.tools.projection import rule_passes

    cfg = load_config(ROOT / "config" / "default.yaml")
    d = domain_config(cfg, "sudoku")
    work = {"length": 81, "values": 9, "tasks": {"val": (10, 50.0), "test": (20, 50.0)}}
    p = rule_passes(d, work, trains=True)
    assert p["train_mdm"] == 3 * d["train"]["steps"] * d["train"]["batch_size"]
    lab = d["labels"]
    assert p["label_train"] == pytest.approx(
        lab["train_states"] * (1 + 0.5 * (lab["mask_min"] + lab["mask_max"]) * 81 * 9)
    )
    assert p["decode_test"] == 2 * p["decode_val"]
    assert rule_passes(d, work, trains=False)["train_mdm"] == 0


def test_project_needs_a_rate(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "mdmi", "project", "--config", str(ROOT / "config" / "ci.yaml")],
        capture_output=True,
        text=True,
    )
    assert (
        r.returncode == 2
        and "--flops-per-s" in r.stderr
        and len(r.stderr.strip().splitlines()) == 1
    )


def test_make_targets_come_before_configfile():
    """`--configfile` takes several files: a target after it would be read as a config file."""
    r = subprocess.run(
        ["make", "-n", "-W", "requirements.txt", "bench", "paper", "dry-run", "slurm", "lint"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    lines = [ln for ln in r.stdout.splitlines() if "snakemake" in ln and "--configfile" in ln]
    assert len(lines) == 6, r.stdout + r.stderr  # paper runs the report too
    for ln in lines:
        after = ln.split("--configfile", 1)[1].split()
        values = [
            t
            for t in after[
                : next((k for k, t in enumerate(after) if t.startswith("-")), len(after))
            ]
        ]
        assert len(values) == 1, ln  # only the config file, then options


def test_solve_uses_the_shipped_model_out_of_the_box(tmp_path):
    """`python -m mdmi solve FILE` with no --model: the shipped checkpoint (checksum verified) solves
    the bundled examples, easy and hard, one cell per pass."""
    r = _cli("solve", str(ROOT / "data" / "sudoku" / "examples.txt"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) >= 6 and all(" valid" in ln and "matches-solution" in ln for ln in lines), (
        r.stdout
    )
    puzzles = [
        ln.split(",")[0]
        for ln in (ROOT / "data" / "sudoku" / "examples.txt").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    passes = [int(ln.split("passes=")[1].split()[0]) for ln in lines]
    assert passes == [p.count(".") + p.count("0") for p in puzzles]  # one cell per forward pass
    # the --method mi error is one line, before anything is loaded
    r = _cli("solve", "--method", "mi", str(ROOT / "data" / "sudoku" / "examples.txt"))
    assert (
        r.returncode == 2 and "--estimator" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    )


@pytest.mark.parametrize(
    "method, knobs, match",
    [
        ("topk", {"kk": [2, 3]}, "'kk' was unexpected"),
        ("topk", {"k": [0]}, "less than the minimum of 1"),
        ("threshold", {"tau": ["abc"]}, "not of type 'number'"),
        (
            "eb",
            {"order": ["margin"]},
            "'order' was unexpected",
        ),  # EB orders by entropy, it has no order knob
        ("mi", [{"eps": [0.1], "rule": ["prefx"]}], "not one of"),
    ],
)
def test_a_knob_typo_in_a_config_fails_validation(method, knobs, match):
    cfg = resolved_config(ROOT / "config" / "ci.yaml")
    cfg["sudoku"]["decode"]["methods"][method] = knobs
    with pytest.raises(ConfigError, match=match):
        validate(cfg)


def test_cli_knobs_are_checked_against_the_method(tmp_path):
    from mdmi.core.knobs import check_knobs
    from mdmi.errors import UsageError

    assert check_knobs("mi", {"eps": 0.02, "rule": "prefix", "max_set": None}) == {
        "eps": 0.02,
        "rule": "prefix",
        "max_set": None,
    }
    for method, knobs, match in [
        ("mi", {"epsilon": 0.1}, "no knob 'epsilon'; its knobs: eps"),
        ("threshold", {"tau": "abc"}, "tau='abc'"),
        ("threshold", {"tau": 1.5}, "maximum"),
        ("nope", {}, "unknown decoding method"),
    ]:
        with pytest.raises(UsageError, match=match):
            check_knobs(method, knobs)
    puzzles = ROOT / "data" / "sudoku" / "examples.txt"
    for knob, words in [
        ("tau=abc", "tau='abc'"),
        ("epsilon=0.1", "no knob 'epsilon'"),
        ("tau", "name=value"),
    ]:
        r = _cli("solve", "--method", "threshold", "--knob", knob, str(puzzles))
        assert (
            r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1
        ), r.stderr
        assert not r.stdout


def test_user_errors_are_one_line_bugs_keep_their_traceback(monkeypatch, capsys):
    """The CLI catches only the project's own error classes; --debug shows a user error's traceback."""
    from mdmi.cli import main as cli
    from mdmi.errors import UsageError

    def user_error(args):
        raise UsageError("bad thing; do the fix")

    def bug(args):
        raise KeyError("internal")

    parser = cli.build_parser()
    for fn, debug, expect in [
        (user_error, False, 2),
        (user_error, True, UsageError),
        (bug, False, KeyError),
    ]:
        monkeypatch.setattr(cli, "build_parser", lambda argv=None: _with_fn(parser, fn))
        argv = (["--debug"] if debug else []) + ["checksum", "x.pt"]
        if isinstance(expect, int):
            assert cli.main(argv) == expect
            assert capsys.readouterr().err.strip() == "mdmi checksum: error: bad thing; do the fix"
        else:
            with pytest.raises(expect):
                cli.main(argv)


def _with_fn(parser, fn):
    """The parser with every subcommand's function replaced by ``fn``."""
    import argparse

    for action in parser._subparsers._group_actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(fn=fn)
    return parser


def test_a_jobs_threads_bound_every_thread_pool():
    """``--threads 1`` must bind NumPy's OpenBLAS too, not torch alone: on 2 cores OpenBLAS otherwise runs
    two threads in a one-thread job and takes the core `make paper` gives to the job beside it."""
    code = (
        "from mdmi.util.device import pick_device\n"
        "pick_device('cpu', 1)\n"
        "from threadpoolctl import threadpool_info\n"
        "import torch\n"
        "print(max(p['num_threads'] for p in threadpool_info()), torch.get_num_threads())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}  # the defaults
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["1", "1"], out.stdout
