# The stages every domain shares: MDM -> exact MI labels -> estimator -> evaluation -> decoding
# sweeps -> per-domain table parts. {domain} is one of config["domains"]; the data step and a
# domain's own analyses are in data.smk. Each command reads its stage's slice of the config only.


rule train_mdm:  # or, with <domain>.checkpoint set, verify and adopt a supplied model (no training)
    input:
        config=config_slice("model"),
        data=lambda wc: data_manifest(wc.domain),
        cached=lambda wc: cached_checkpoint(wc.domain),
    output:
        f"{RESULTS}/{{domain}}/mdm/model.pt",
    params:
        data=lambda wc, input: os.path.dirname(input.data),
        ckpt=lambda wc, output: os.path.join(os.path.dirname(output[0]), "checkpoint.pt"),
    log:
        f"{RESULTS}/logs/{{domain}}_train_mdm.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_mdm/{{domain}}.tsv"
    threads: config["threads"]
    priority: CHAIN_PRIORITY
    resources:
        mem_mb=res("train_mdm", "mem_mb"),
        runtime=res("train_mdm", "runtime"),
        gpu=GPU,
    shell:
        "python -m mdmi --threads {threads} train-mdm --config {input.config} --domain {wildcards.domain} "
        "--data {params.data} --out {output} --ckpt {params.ckpt} 2>&1 | tee {log}"


rule label:
    input:
        config=config_slice("labels"),
        model=f"{RESULTS}/{{domain}}/mdm/model.pt",
        data=lambda wc: data_manifest(wc.domain),
    output:
        f"{RESULTS}/{{domain}}/labels/{{split}}.pt",
    wildcard_constraints:
        split="train|val|test",
    params:
        data=lambda wc, input: os.path.dirname(input.data),
    log:
        f"{RESULTS}/logs/{{domain}}_label_{{split}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/label/{{domain}}_{{split}}.tsv"
    threads: config["threads"]
    priority: CHAIN_PRIORITY
    resources:
        mem_mb=res("label", "mem_mb"),
        runtime=res("label", "runtime"),
        gpu=GPU,
    group:
        cpu_group("label")
    shell:
        "python -m mdmi --threads {threads} label --config {input.config} --domain {wildcards.domain} "
        "--data {params.data} --model {input.model} --split {wildcards.split} --out {output} 2>&1 | tee {log}"


rule train_estimator:  # or, with <domain>.estimator_checkpoint set, verify and adopt a supplied head (no labels)
    input:
        config=config_slice("estimator"),
        model=f"{RESULTS}/{{domain}}/mdm/model.pt",
        data=lambda wc: data_manifest(wc.domain),
        labels=lambda wc: [] if cached_checkpoint(wc.domain, "estimator_checkpoint") else f"{RESULTS}/{wc.domain}/labels/train.pt",
        cached=lambda wc: cached_checkpoint(wc.domain, "estimator_checkpoint"),
    output:
        f"{RESULTS}/{{domain}}/estimator/head.pt",
    params:
        data=lambda wc, input: os.path.dirname(input.data),
        labels=lambda wc, input: f"--labels {input.labels}" if input.labels else "",
        ckpt=lambda wc, output: os.path.join(os.path.dirname(output[0]), "checkpoint.pt"),
    log:
        f"{RESULTS}/logs/{{domain}}_train_estimator.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_estimator/{{domain}}.tsv"
    threads: config["threads"]
    priority: CHAIN_PRIORITY
    resources:
        mem_mb=res("train_estimator", "mem_mb"),
        runtime=res("train_estimator", "runtime"),
        gpu=GPU,
    shell:
        "python -m mdmi --threads {threads} train-estimator --config {input.config} --domain {wildcards.domain} "
        "--data {params.data} --model {input.model} {params.labels} --out {output} --ckpt {params.ckpt} 2>&1 | tee {log}"


rule eval_estimator:
    input:
        config=config_slice("estimator"),
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
        f"{RESULTS}/benchmarks/eval_estimator/{{domain}}.tsv"
    threads: config["threads"]
    priority: CHAIN_PRIORITY
    resources:
        mem_mb=res("eval_estimator", "mem_mb"),
        runtime=res("eval_estimator", "runtime"),
        gpu=GPU,
    shell:
        "python -m mdmi --threads {threads} eval-estimator --config {input.config} --domain {wildcards.domain} "
        "--model {input.model} --estimator {input.head} --labels {input.labels} --out {output.eval} "
        "--relations {output.relations} --example {output.example} 2>&1 | tee {log}"


rule decode:  # one method's sweep (or one grid of it, job 'mi.1') on one split
    input:
        unpack(decode_inputs),
    output:
        f"{RESULTS}/{{domain}}/decode/{{split}}/{{job}}.csv",
    wildcard_constraints:
        split="val|test",
        job=DECODE_JOB,
    params:
        head=lambda wc, input: f"--estimator {input.head}" if "head" in input.keys() else "",
        data=lambda wc, input: os.path.dirname(input.data),
        method=lambda wc: wc.job.split(".")[0],
        part=lambda wc: f"--part {wc.job.split('.')[1]}" if "." in wc.job else "",
    log:
        f"{RESULTS}/logs/{{domain}}_decode_{{split}}_{{job}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/decode/{{domain}}_{{split}}_{{job}}.tsv"
    threads: 1  # many small batched passes: two single-thread jobs side by side beat one two-thread job
    priority: decode_priority   # long jobs first, after the multi-thread chain
    resources:
        mem_mb=res("decode", "mem_mb"),
        runtime=res("decode", "runtime"),
        gpu=GPU,
    group:
        cpu_group("decode")
    shell:
        "python -m mdmi --threads {threads} decode --config {input.config} --domain {wildcards.domain} "
        "--data {params.data} --model {input.model} {params.head} --split {wildcards.split} "
        "--method {params.method} {params.part} --out {output} 2>&1 | tee {log}"


# tables and combine_tables aggregate small CSVs (2-5 s, < 0.4 GB at the default scale): on a cluster they run
# where Snakemake runs (localrule), not as Slurm jobs that would wait for a node and a status poll.
rule tables:
    localrule: True
    input:
        unpack(table_inputs),
    output:
        expand(f"{RESULTS}/tables/parts/{{{{domain}}}}/{{name}}.{{ext}}", name=TABLE_NAMES, ext=["csv", "md"]),
    params:
        out=lambda wc, output: os.path.dirname(output[0]),
    log:
        f"{RESULTS}/logs/{{domain}}_tables.log",
    benchmark:
        f"{RESULTS}/benchmarks/tables/{{domain}}.tsv"
    threads: 1
    resources:
        mem_mb=res("tables", "mem_mb"),
        runtime=res("tables", "runtime"),
    shell:
        "python -m mdmi --threads {threads} tables --config {input.config} --domain {wildcards.domain} "
        "--estimator-eval {input.eval} --decodes {input.decodes} --analyses {input.analyses} "
        "--out-dir {params.out} 2>&1 | tee {log}"
