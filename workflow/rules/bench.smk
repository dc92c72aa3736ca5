# `python -m mdmi bench` on the trained models of every domain: batched vs naive exact labelling,
# estimator vs exact, decoding cost, matmul rate. Not part of `all` (it reruns labelling one pass at a
# time); run it with `make bench` or `snakemake results/benchmarks/bench.json`.


rule bench:
    input:
        config=CONFIG,
        models=expand(f"{RESULTS}/{{domain}}/mdm/model.pt", domain=DOMAINS),
        heads=expand(f"{RESULTS}/{{domain}}/estimator/head.pt", domain=DOMAINS),
        labels=expand(f"{RESULTS}/{{domain}}/labels/val.pt", domain=DOMAINS),
        data=[data_manifest(d) for d in DOMAINS],
    output:
        f"{RESULTS}/benchmarks/bench.json",
    params:
        results=lambda wc, input: os.path.dirname(input.config),
    log:
        f"{RESULTS}/logs/bench.log",
    threads: config["threads"]
    resources:
        mem_mb=res("bench", "mem_mb"),
        runtime=res("bench", "runtime"),
        gpu=GPU,
    shell:
        "python -m mdmi --threads {threads} bench --config {input.config} --results {params.results} --out {output} "
        "2>&1 | tee {log}"
