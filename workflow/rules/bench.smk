# `python -m mdmi bench` on the trained models of every domain: batched vs naive exact labelling,
# estimator vs exact, decoding cost, matmul rate. Not part of `all` (it reruns labelling one pass at a
# time); run it with `make bench` or `snakemake results/benchmarks/bench.json`.


def _bench_inputs(wc):
    files = [CONFIG]
    for d in DOMAINS:
        files += [f"{RESULTS}/{d}/mdm/model.pt", f"{RESULTS}/{d}/estimator/head.pt", f"{RESULTS}/{d}/labels/val.pt",
                  data_manifest(d)]
    return files


rule bench:
    input:
        _bench_inputs,
    output:
        f"{RESULTS}/benchmarks/bench.json",
    log:
        f"{RESULTS}/logs/bench.log",
    threads: config["threads"]
    resources:
        gpu=GPU,
    shell:
        "{PY} --threads {threads} bench --config {CONFIG} --results {RESULTS} --out {output} 2>&1 | tee {log}"
