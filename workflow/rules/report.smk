# Per-domain table parts -> results/tables; notebooks (papermill, one per paper item) -> executed
# .ipynb + HTML (+ figures); then the manifest. Items whose domain is not in config["domains"] are
# listed in the manifest as not run.
NOTEBOOK_INPUTS = {
    "fig1_sudoku_mi": [f"{RESULTS}/sudoku/estimator/example_state.npz", f"{RESULTS}/sudoku/estimator/mi_by_relation.csv",
                       f"{RESULTS}/sudoku/estimator/eval.json"],
    "fig2_protein_mi": [f"{RESULTS}/tables/contacts.csv", f"{RESULTS}/protein/contacts"],
    "fig3_decoding": [f"{RESULTS}/tables/decoding_sweep.csv"],
    "table1_estimator": [f"{RESULTS}/tables/table1.csv"],
    "table2_decoding": [f"{RESULTS}/tables/table2.csv"],
    "claims": [f"{RESULTS}/tables/claims.csv"],
}
NOTEBOOK_DOMAIN = {"fig1_sudoku_mi": "sudoku", "fig2_protein_mi": "protein"}
NOTEBOOKS_RUN = [nb for nb in NOTEBOOK_INPUTS if NOTEBOOK_DOMAIN.get(nb, DOMAINS[0]) in DOMAINS]
FIGURE_NOTEBOOKS = [nb for nb in ["fig1_sudoku_mi", "fig2_protein_mi", "fig3_decoding"] if nb in NOTEBOOKS_RUN]
TABLE_NOTEBOOKS = [nb for nb in NOTEBOOKS_RUN if nb not in FIGURE_NOTEBOOKS]
RUN_NOTEBOOK = (
    "papermill {input.notebook} {output.ipynb}.tmp.ipynb -p results {RESULTS} -p scale {config[scale]} "
    "-p config_path {CONFIG} > {log} 2>&1 && mv {output.ipynb}.tmp.ipynb {output.ipynb} && "
    "jupyter nbconvert --to html --output-dir {RESULTS}/notebooks {output.ipynb} >> {log} 2>&1"
)


rule combine_tables:
    input:
        CONFIG,
        expand(f"{RESULTS}/tables/parts/{{domain}}/{{name}}.csv", domain=DOMAINS, name=TABLE_NAMES),
    output:
        expand(f"{RESULTS}/tables/{{name}}.{{ext}}", name=TABLE_NAMES, ext=["csv", "md"]),
    log:
        f"{RESULTS}/logs/combine_tables.log",
    threads: 1
    shell:
        "{PY} combine --config {CONFIG} --parts {RESULTS}/tables/parts --out-dir {RESULTS}/tables 2>&1 | tee {log}"


rule notebook_figure:
    input:
        notebook=os.path.join(NOTEBOOKS, "{nb}.ipynb"),
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
        notebook=os.path.join(NOTEBOOKS, "{nb}.ipynb"),
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
