# Notebooks (papermill, one per paper item) -> executed .ipynb + HTML (+ figures); then the manifest.
NOTEBOOK_INPUTS = {
    "fig1_sudoku_mi": [f"{RESULTS}/sudoku/estimator/example_state.npz", f"{RESULTS}/sudoku/estimator/mi_by_relation.csv",
                       f"{RESULTS}/sudoku/estimator/eval.json"],
    "fig3_decoding": [f"{RESULTS}/tables/decoding_sweep.csv"],
    "table1_estimator": [f"{RESULTS}/tables/table1.csv"],
    "table2_decoding": [f"{RESULTS}/tables/table2.csv"],
    "claims": [f"{RESULTS}/tables/claims.csv"],
}
FIGURE_NOTEBOOKS = ["fig1_sudoku_mi", "fig3_decoding"]
TABLE_NOTEBOOKS = [nb for nb in NOTEBOOK_INPUTS if nb not in FIGURE_NOTEBOOKS]
RUN_NOTEBOOK = (
    "papermill {input.notebook} {output.ipynb}.tmp.ipynb -p results {RESULTS} -p scale {config[scale]} "
    "-p config_path {CONFIG} > {log} 2>&1 && mv {output.ipynb}.tmp.ipynb {output.ipynb} && "
    "jupyter nbconvert --to html --output-dir {RESULTS}/notebooks {output.ipynb} >> {log} 2>&1"
)


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
        expand(f"{RESULTS}/notebooks/{{nb}}.{{ext}}", nb=list(NOTEBOOK_INPUTS), ext=["ipynb", "html"]),
        expand(f"{RESULTS}/figures/{{nb}}.{{ext}}", nb=FIGURE_NOTEBOOKS, ext=["png", "pdf"]),
    output:
        f"{RESULTS}/manifest.json",
    threads: 1
    shell:
        "{PY} manifest --config {CONFIG} --results {RESULTS} --out {output}"
