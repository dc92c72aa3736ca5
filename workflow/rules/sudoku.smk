# Sudoku half: puzzles -> MDM -> exact MI labels -> estimator -> evaluation -> decoding sweeps.
SD = f"{RESULTS}/sudoku"


rule sudoku_generate:
    input:
        CONFIG,
    output:
        grids=f"{SD}/data/train_grids.txt",
        val=f"{SD}/data/val.txt",
        val_meta=f"{SD}/data/val_meta.csv",
        test=f"{SD}/data/test.txt",
        test_meta=f"{SD}/data/test_meta.csv",
    log:
        f"{RESULTS}/logs/sudoku_generate.log",
    benchmark:
        f"{RESULTS}/benchmarks/sudoku_generate.tsv"
    threads: config["threads"]
    shell:
        "{PY} --threads {threads} generate --config {CONFIG} --domain sudoku --out {SD}/data 2>&1 | tee {log}"


rule sudoku_train_mdm:
    input:
        CONFIG,
        grids=rules.sudoku_generate.output.grids,
    output:
        f"{SD}/mdm/model.pt",
    log:
        f"{RESULTS}/logs/sudoku_train_mdm.log",
    benchmark:
        f"{RESULTS}/benchmarks/sudoku_train_mdm.tsv"
    threads: config["threads"]
    resources:
        gpu=1 if config["device"] != "cpu" else 0,
    shell:
        "{PY} --threads {threads} train-mdm --config {CONFIG} --domain sudoku --data {SD}/data --out {output} "
        "--ckpt {SD}/mdm/checkpoint.pt 2>&1 | tee {log}"


rule sudoku_label:
    input:
        CONFIG,
        model=rules.sudoku_train_mdm.output,
        data=rules.sudoku_generate.output.val,
    output:
        f"{SD}/labels/{{split}}.pt",
    wildcard_constraints:
        split="train|val",
    log:
        f"{RESULTS}/logs/sudoku_label_{{split}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/sudoku_label_{{split}}.tsv"
    threads: config["threads"]
    resources:
        gpu=1 if config["device"] != "cpu" else 0,
    shell:
        "{PY} --threads {threads} label --config {CONFIG} --domain sudoku --data {SD}/data --model {input.model} "
        "--split {wildcards.split} --out {output} 2>&1 | tee {log}"


rule sudoku_train_estimator:
    input:
        CONFIG,
        model=rules.sudoku_train_mdm.output,
        labels=f"{SD}/labels/train.pt",
    output:
        f"{SD}/estimator/head.pt",
    log:
        f"{RESULTS}/logs/sudoku_train_estimator.log",
    benchmark:
        f"{RESULTS}/benchmarks/sudoku_train_estimator.tsv"
    threads: config["threads"]
    shell:
        "{PY} --threads {threads} train-estimator --config {CONFIG} --domain sudoku --model {input.model} --labels {input.labels} "
        "--out {output} --ckpt {SD}/estimator/checkpoint.pt 2>&1 | tee {log}"


rule sudoku_eval_estimator:
    input:
        CONFIG,
        model=rules.sudoku_train_mdm.output,
        head=rules.sudoku_train_estimator.output,
        labels=f"{SD}/labels/val.pt",
    output:
        eval=f"{SD}/estimator/eval.json",
        relations=f"{SD}/estimator/mi_by_relation.csv",
        example=f"{SD}/estimator/example_state.npz",
    log:
        f"{RESULTS}/logs/sudoku_eval_estimator.log",
    benchmark:
        f"{RESULTS}/benchmarks/sudoku_eval_estimator.tsv"
    threads: config["threads"]
    shell:
        "{PY} --threads {threads} eval-estimator --config {CONFIG} --domain sudoku --model {input.model} --estimator {input.head} "
        "--labels {input.labels} --out {output.eval} --relations {output.relations} "
        "--example {output.example} 2>&1 | tee {log}"


def _decode_inputs(wc):
    inputs = {"config": CONFIG, "model": f"{SD}/mdm/model.pt", "data": f"{SD}/data/{wc.split}.txt"}
    if wc.method == "mi":
        inputs["head"] = f"{SD}/estimator/head.pt"
    return inputs


rule sudoku_decode:
    input:
        unpack(_decode_inputs),
    output:
        f"{SD}/decode/{{split}}/{{method}}.csv",
    wildcard_constraints:
        split="val|test",
        method="|".join(SUDOKU_METHODS),
    params:
        head=lambda wc: f"--estimator {SD}/estimator/head.pt" if wc.method == "mi" else "",
    log:
        f"{RESULTS}/logs/sudoku_decode_{{split}}_{{method}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/sudoku_decode_{{split}}_{{method}}.tsv"
    threads: 1  # many small batched passes: two single-thread jobs side by side beat one two-thread job
    shell:
        "{PY} --threads {threads} decode --config {CONFIG} --domain sudoku --data {SD}/data --model {input.model} {params.head} "
        "--split {wildcards.split} --method {wildcards.method} --out {output} 2>&1 | tee {log}"


rule sudoku_tables:
    input:
        CONFIG,
        eval=rules.sudoku_eval_estimator.output.eval,
        decodes=expand(f"{SD}/decode/{{split}}/{{method}}.csv", split=["val", "test"], method=SUDOKU_METHODS),
    output:
        expand(f"{RESULTS}/tables/{{name}}.{{ext}}", name=["table1", "table2", "claims", "decoding_sweep",
               "decoding_sweep_by_band"], ext=["csv", "md"]),
    log:
        f"{RESULTS}/logs/sudoku_tables.log",
    threads: 1
    shell:
        "{PY} --threads {threads} tables --config {CONFIG} --domain sudoku --estimator-eval {input.eval} "
        "--decodes {input.decodes} --out-dir {RESULTS}/tables 2>&1 | tee {log}"
