# Per-domain table parts -> results/tables; notebooks (papermill, one per paper item) -> executed
# .ipynb + HTML (+ figures); then the manifest. Items whose domain is not in config["domains"] are
# listed in the manifest as not run.
def _notebook_path(path):
    return path if os.path.isabs(path) else os.path.join(workflow.basedir, path)


# shared notebooks (every run) and each run domain's own figures (DomainSpec.figures)
NOTEBOOK_INPUTS = {
    "fig3_decoding": [f"{RESULTS}/tables/decoding_sweep.csv", f"{RESULTS}/tables/panels.json"],
    "table1_estimator": [f"{RESULTS}/tables/table1.csv"],
    "table2_decoding": [f"{RESULTS}/tables/table2.csv"],
    "claims": [f"{RESULTS}/tables/claims.csv"],
}
NOTEBOOK_PATHS = {nb: os.path.join(NOTEBOOKS, f"{nb}.ipynb") for nb in NOTEBOOK_INPUTS}
DOMAIN_FIGURES = [fig for d in DOMAINS for fig in SPECS[d].figures]
for _fig in DOMAIN_FIGURES:
    NOTEBOOK_INPUTS[_fig.stem] = [f"{RESULTS}/{f}" for f in _fig.inputs]
    NOTEBOOK_PATHS[_fig.stem] = _notebook_path(_fig.notebook)
NOTEBOOKS_RUN = list(NOTEBOOK_INPUTS)
FIGURE_NOTEBOOKS = [fig.stem for fig in DOMAIN_FIGURES] + ["fig3_decoding"]
TABLE_NOTEBOOKS = [nb for nb in NOTEBOOKS_RUN if nb not in FIGURE_NOTEBOOKS]
ANALYSIS_TABLES = [f"{RESULTS}/tables/{a}.csv" for d in DOMAINS for a in ANALYSES[d]]
RUN_NOTEBOOK = (
    "papermill {input.notebook} {output.ipynb}.tmp.ipynb -p results {RESULTS} -p scale {config[scale]} "
    "-p config_path {CONFIG} > {log} 2>&1 && mv {output.ipynb}.tmp.ipynb {output.ipynb} && "
    "jupyter nbconvert --to html --output-dir {RESULTS}/notebooks {output.ipynb} >> {log} 2>&1"
)


rule combine_tables:
    input:
        CONFIG,
        expand(f"{RESULTS}/tables/parts/{{domain}}/{{name}}.csv", domain=DOMAINS, name=TABLE_NAMES),
        [a for d in DOMAINS for a in analysis_dirs(d)],
    output:
        expand(f"{RESULTS}/tables/{{name}}.{{ext}}", name=TABLE_NAMES, ext=["csv", "md"]),
        expand(f"{RESULTS}/tables/table2_{{domain}}.csv", domain=DOMAINS),
        ANALYSIS_TABLES,
        panels=f"{RESULTS}/tables/panels.json",
    log:
        f"{RESULTS}/logs/combine_tables.log",
    threads: 1
    shell:
        "{PY} combine --config {CONFIG} --parts {RESULTS}/tables/parts --out-dir {RESULTS}/tables 2>&1 | tee {log}"


rule notebook_figure:
    input:
        notebook=lambda wc: NOTEBOOK_PATHS[wc.nb],
        data=lambda wc: NOTEBOOK_INPUTS[wc.nb],
    output:
        ipynb=f"{RESULTS}/notebooks/{{nb}}.ipynb",
        html=f"{RESULTS}/notebooks/{{nb}}.html",
        png=f"{RESULTS}/figures/{{nb}}.png",
        pdf=f"{RESULTS}/figures/{{nb}}.pdf",
    wildcard_constraints:
        nb="|".join(FIGURE_NOTEBOOKS),
    log:
        f"{RESULTS}/logs/notebook_{{nb}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/notebook_{{nb}}.tsv"
    shell:
        RUN_NOTEBOOK


rule notebook_table:
    input:
        notebook=lambda wc: NOTEBOOK_PATHS[wc.nb],
        data=lambda wc: NOTEBOOK_INPUTS[wc.nb],
    output:
        ipynb=f"{RESULTS}/notebooks/{{nb}}.ipynb",
        html=f"{RESULTS}/notebooks/{{nb}}.html",
    wildcard_constraints:
        nb="|".join(TABLE_NOTEBOOKS),
    log:
        f"{RESULTS}/logs/notebook_{{nb}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/notebook_{{nb}}.tsv"
    shell:
        RUN_NOTEBOOK


rule manifest:
    input:
        CONFIG,
        expand(f"{RESULTS}/notebooks/{{nb}}.{{ext}}", nb=NOTEBOOKS_RUN, ext=["ipynb", "html"]),
        expand(f"{RESULTS}/figures/{{nb}}.{{ext}}", nb=FIGURE_NOTEBOOKS, ext=["png", "pdf"]),
    output:
        f"{RESULTS}/manifest.json",
    threads: 1
    shell:
        "{PY} manifest --config {CONFIG} --results {RESULTS} --out {output}"
