# Every domain's data step and its analyses, from what its DomainSpec declares (no domain is named
# here). `python -m mdmi data` runs the domain's one data command and lists what it wrote in
# results/<domain>/data/MANIFEST.json (written last: the stages after it depend on that file).


rule data:
    input:
        config=config_slice("data"),
        shipped=shipped_inputs,
    output:
        f"{RESULTS}/{{domain}}/data/MANIFEST.json",
    params:
        out=lambda wc, output: os.path.dirname(output[0]),
        repo=workflow.basedir,
    log:
        f"{RESULTS}/logs/{{domain}}_data.log",
    benchmark:
        f"{RESULTS}/benchmarks/data/{{domain}}.tsv"
    threads: config["threads"]
    priority: CHAIN_PRIORITY
    resources:
        mem_mb=res("data", "mem_mb"),
        runtime=res("data", "runtime"),
    shell:
        "python -m mdmi --threads {threads} data --config {input.config} --domain {wildcards.domain} "
        "--out {params.out} --repo {params.repo} 2>&1 | tee {log}"


rule analysis:  # one of a domain's declared analyses (e.g. MI maps vs structure contacts)
    input:
        config=config_slice("analysis"),
        model=f"{RESULTS}/{{domain}}/mdm/model.pt",
        head=f"{RESULTS}/{{domain}}/estimator/head.pt",
        data=lambda wc: data_manifest(wc.domain),
    output:
        directory(f"{RESULTS}/{{domain}}/analysis/{{name}}"),
    wildcard_constraints:
        name="|".join(ANALYSIS_NAMES) or "no-analysis",
    params:
        data=lambda wc, input: os.path.dirname(input.data),
    log:
        f"{RESULTS}/logs/{{domain}}_analysis_{{name}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/analysis/{{domain}}_{{name}}.tsv"
    threads: config["threads"]
    priority: CHAIN_PRIORITY
    resources:
        mem_mb=res("analysis", "mem_mb"),
        runtime=res("analysis", "runtime"),
        gpu=GPU,
    shell:
        "python -m mdmi --threads {threads} analyse --config {input.config} --domain {wildcards.domain} "
        "--name {wildcards.name} --model {input.model} --estimator {input.head} --data {params.data} "
        "--out {output} 2>&1 | tee {log}"
