# Protein data (bundled copy or online download -> splits, tasks, chains) and the MI-vs-contacts
# analysis. The model stages (MDM, labels, estimator, decoding) are the shared rules of model.smk.
PD = f"{RESULTS}/protein"
PDATA = config.get("protein", {}).get("data", {})


def _bundled_inputs(wc):
    """The bundled files the copy reads (so editing one reruns the download step)."""
    if PDATA.get("source") != "bundled":
        return []
    root = Path(workflow.basedir) / PDATA["bundled_dir"]    # an absolute bundled_dir stays as it is
    return [str(root / f) for f in PDATA["sequences"]] + [str(root / s["file"]) for s in PDATA["structures"]]


rule protein_download:
    input:
        stage_config("protein", "data"),
        _bundled_inputs,
    output:
        f"{PD}/raw/sources.json",
    log:
        f"{RESULTS}/logs/protein_download.log",
    benchmark:
        f"{RESULTS}/benchmarks/protein_download.tsv"
    threads: 1
    shell:
        "{PY} download --config {CONFIG} --domain protein --bundled-root {workflow.basedir} --out {PD}/raw 2>&1 | tee {log}"


rule protein_prepare:
    input:
        stage_config("protein", "data"),
        rules.protein_download.output,
    output:
        train=f"{PD}/data/train.fasta",
        val=f"{PD}/data/val.fasta",
        test=f"{PD}/data/test.fasta",
        val_tasks=f"{PD}/data/val_tasks.tsv",
        test_tasks=f"{PD}/data/test_tasks.tsv",
        chains=f"{PD}/data/chains.json",
        excluded=f"{PD}/data/excluded.tsv",
    log:
        f"{RESULTS}/logs/protein_prepare.log",
    benchmark:
        f"{RESULTS}/benchmarks/protein_prepare.tsv"
    threads: 1
    shell:
        "{PY} prepare --config {CONFIG} --domain protein --raw {PD}/raw --out {PD}/data 2>&1 | tee {log}"


rule protein_contacts:
    input:
        stage_config("protein", "contacts"),
        model=f"{PD}/mdm/model.pt",
        head=f"{PD}/estimator/head.pt",
        chains=rules.protein_prepare.output.chains,
    output:
        table=f"{RESULTS}/tables/contacts.csv",
        maps=directory(f"{PD}/contacts"),
    log:
        f"{RESULTS}/logs/protein_contacts.log",
    benchmark:
        f"{RESULTS}/benchmarks/protein_contacts.tsv"
    threads: config["threads"]
    resources:
        gpu=GPU,
    shell:
        "{PY} --threads {threads} contacts --config {CONFIG} --domain protein --model {input.model} "
        "--estimator {input.head} --chains {input.chains} --maps {output.maps} --out {output.table} 2>&1 | tee {log}"
