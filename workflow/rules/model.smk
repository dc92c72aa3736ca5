# The stages every domain shares: MDM -> exact MI labels -> estimator -> evaluation -> decoding
# sweeps -> per-domain table parts. {domain} is one of config["domains"]; the data step and a
# domain's own analyses are in data.smk.
def cached_checkpoint(domain):
    """The supplied model.pt of a domain (config `<domain>.checkpoint`), or [] to train one
    (no checkpoint, or `retrain: true`)."""
    spec = None if config.get("retrain") else config[domain].get("checkpoint")
    return [spec["path"]] if spec else []


rule train_mdm:  # or, with <domain>.checkpoint set, verify and adopt a supplied model (no training)
    input:
        config_slice("model"),
        data=lambda wc: data_manifest(wc.domain),
        cached=lambda wc: cached_checkpoint(wc.domain),
    output:
        f"{RESULTS}/{{domain}}/mdm/model.pt",
    log:
        f"{RESULTS}/logs/{{domain}}_train_mdm.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{domain}}_train_mdm.tsv"
    threads: config["threads"]
    resources:
        gpu=GPU,
    shell:
        "{PY} --threads {threads} train-mdm --config {CONFIG} --domain {wildcards.domain} "
        "--data {RESULTS}/{wildcards.domain}/data --out {output} --ckpt {RESULTS}/{wildcards.domain}/mdm/checkpoint.pt "
        "2>&1 | tee {log}"


rule label:
    input:
        config_slice("labels"),
        model=f"{RESULTS}/{{domain}}/mdm/model.pt",
        data=lambda wc: data_manifest(wc.domain),
    output:
        f"{RESULTS}/{{domain}}/labels/{{split}}.pt",
    wildcard_constraints:
        split="train|val|test",
    log:
        f"{RESULTS}/logs/{{domain}}_label_{{split}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{domain}}_label_{{split}}.tsv"
    threads: config["threads"]
    resources:
        gpu=GPU,
    shell:
        "{PY} --threads {threads} label --config {CONFIG} --domain {wildcards.domain} "
        "--data {RESULTS}/{wildcards.domain}/data --model {input.model} --split {wildcards.split} --out {output} "
        "2>&1 | tee {log}"


rule train_estimator:
    input:
        config_slice("estimator"),
        model=f"{RESULTS}/{{domain}}/mdm/model.pt",
        labels=f"{RESULTS}/{{domain}}/labels/train.pt",
    output:
        f"{RESULTS}/{{domain}}/estimator/head.pt",
    log:
        f"{RESULTS}/logs/{{domain}}_train_estimator.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{domain}}_train_estimator.tsv"
    threads: config["threads"]
    resources:
        gpu=GPU,
    shell:
        "{PY} --threads {threads} train-estimator --config {CONFIG} --domain {wildcards.domain} --model {input.model} "
        "--labels {input.labels} --out {output} --ckpt {RESULTS}/{wildcards.domain}/estimator/checkpoint.pt "
        "2>&1 | tee {log}"


rule eval_estimator:
    input:
        config_slice("estimator"),
        model=f"{RESULTS}/{{domain}}/mdm/model.pt",
        head=f"{RESULTS}/{{domain}}/estimator/head.pt",
        labels=f"{RESULTS}/{{domain}}/labels/test.pt",   # held-out: the head's knobs were chosen on val.pt
    output:
        eval=f"{RESULTS}/{{domain}}/estimator/eval.json",
        relations=f"{RESULTS}/{{domain}}/estimator/mi_by_relation.csv",
        example=f"{RESULTS}/{{domain}}/estimator/example_state.npz",
    log:
        f"{RESULTS}/logs/{{domain}}_eval_estimator.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{domain}}_eval_estimator.tsv"
    threads: config["threads"]
    resources:
        gpu=GPU,
    shell:
        "{PY} --threads {threads} eval-estimator --config {CONFIG} --domain {wildcards.domain} --model {input.model} "
        "--estimator {input.head} --labels {input.labels} --out {output.eval} --relations {output.relations} "
        "--example {output.example} 2>&1 | tee {log}"


def _decode_inputs(wc):
    inputs = {"config": stage_config(wc.domain, "decode"), "model": f"{RESULTS}/{wc.domain}/mdm/model.pt",
              "data": data_manifest(wc.domain)}
    if wc.method == "mi":
        inputs["head"] = f"{RESULTS}/{wc.domain}/estimator/head.pt"
    return inputs


rule decode:
    input:
        unpack(_decode_inputs),
    output:
        f"{RESULTS}/{{domain}}/decode/{{split}}/{{method}}.csv",
    wildcard_constraints:
        split="val|test",
        method="|".join(ALL_METHODS),
    params:
        head=lambda wc: f"--estimator {RESULTS}/{wc.domain}/estimator/head.pt" if wc.method == "mi" else "",
    log:
        f"{RESULTS}/logs/{{domain}}_decode_{{split}}_{{method}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{domain}}_decode_{{split}}_{{method}}.tsv"
    threads: 1  # many small batched passes: two single-thread jobs side by side beat one two-thread job
    resources:
        gpu=GPU,
    shell:
        "{PY} --threads {threads} decode --config {CONFIG} --domain {wildcards.domain} --data {RESULTS}/{wildcards.domain}/data "
        "--model {input.model} {params.head} --split {wildcards.split} --method {wildcards.method} --out {output} "
        "2>&1 | tee {log}"


def _table_inputs(wc):
    return {"config": stage_config(wc.domain, "tables"), "eval": f"{RESULTS}/{wc.domain}/estimator/eval.json",
            "decodes": expand(f"{RESULTS}/{wc.domain}/decode/{{split}}/{{method}}.csv", split=["val", "test"],
                              method=METHODS[wc.domain]),
            "analyses": analysis_dirs(wc.domain)}


rule tables:
    input:
        unpack(_table_inputs),
    output:
        expand(f"{RESULTS}/tables/parts/{{{{domain}}}}/{{name}}.{{ext}}", name=TABLE_NAMES, ext=["csv", "md"]),
    log:
        f"{RESULTS}/logs/{{domain}}_tables.log",
    threads: 1
    shell:
        "{PY} --threads {threads} tables --config {CONFIG} --domain {wildcards.domain} --estimator-eval {input.eval} "
        "--decodes {input.decodes} --analyses {input.analyses} --out-dir {RESULTS}/tables/parts/{wildcards.domain} 2>&1 | tee {log}"
