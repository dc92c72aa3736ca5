# Every domain's data step and its analyses, from what its DomainSpec declares (no domain is named
# here). `python -m mdmi data` runs the domain's one data command and lists what it wrote in
# results/<domain>/data/MANIFEST.json (written last: the stages after it depend on that file).


def data_manifest(domain):
    return f"{RESULTS}/{domain}/data/MANIFEST.json"


def _shipped_inputs(wc):
    """Shipped files the domain's data step reads (so editing one reruns it)."""
    spec = SPECS[wc.domain]
    return spec.shipped_inputs(config[wc.domain], Path(workflow.basedir)) if spec.shipped_inputs else []


ANALYSES = {d: [a.name for a in SPECS[d].analyses] for d in DOMAINS}
ANALYSIS_NAMES = sorted({a for names in ANALYSES.values() for a in names})


def analysis_dirs(domain):
    return [f"{RESULTS}/{domain}/analysis/{name}" for name in ANALYSES[domain]]


rule data:
    input:
        config_slice("data"),
        shipped=_shipped_inputs,
    output:
        f"{RESULTS}/{{domain}}/data/MANIFEST.json",
    log:
        f"{RESULTS}/logs/{{domain}}_data.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{domain}}_data.tsv"
    threads: config["threads"]
    shell:
        "{PY} --threads {threads} data --config {CONFIG} --domain {wildcards.domain} --out {RESULTS}/{wildcards.domain}/data "
        "--repo {workflow.basedir} 2>&1 | tee {log}"


rule analysis:  # one of a domain's declared analyses (e.g. MI maps vs structure contacts)
    input:
        config_slice("analysis"),
        model=f"{RESULTS}/{{domain}}/mdm/model.pt",
        head=f"{RESULTS}/{{domain}}/estimator/head.pt",
        data=lambda wc: data_manifest(wc.domain),
    output:
        directory(f"{RESULTS}/{{domain}}/analysis/{{name}}"),
    wildcard_constraints:
        name="|".join(ANALYSIS_NAMES) or "no-analysis",
    log:
        f"{RESULTS}/logs/{{domain}}_analysis_{{name}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{domain}}_analysis_{{name}}.tsv"
    threads: config["threads"]
    resources:
        gpu=GPU,
    shell:
        "{PY} --threads {threads} analyse --config {CONFIG} --domain {wildcards.domain} --name {wildcards.name} "
        "--model {input.model} --estimator {input.head} --data {RESULTS}/{wildcards.domain}/data --out {output} "
        "2>&1 | tee {log}"
