# Per-domain table parts -> results/tables; notebooks (papermill, one per paper item) -> executed
# .ipynb + HTML (+ figures); then the manifest and the resource check. Items whose domain is not in
# config["domains"] are listed in the manifest as not run. Outputs marked report(...) make up
# `snakemake --report results/report.html` (make report), each with its caption in workflow/report/.
REPORTED_TABLES = {"table1": "table1.csv", "table2": "table2.csv", "claims": "claims.csv",
                   "decoding_sweep": "decoding_sweep.csv"}   # the CSVs, under "Data"; each table's page is its notebook


rule combine_tables:
    localrule: True            # aggregation, seconds (see rule tables)
    input:
        config=CONFIG,
        parts=expand(f"{RESULTS}/tables/parts/{{domain}}/{{name}}.csv", domain=DOMAINS, name=TABLE_NAMES),
        analyses=[a for d in DOMAINS for a in analysis_dirs(d)],
    output:
        [report(f"{RESULTS}/tables/{name}.csv", caption="../report/table_csv.rst", category="Data",
                labels={"file": title}) for name, title in REPORTED_TABLES.items()],
        expand(f"{RESULTS}/tables/{{name}}.md", name=TABLE_NAMES),
        [f"{RESULTS}/tables/{name}.csv" for name in TABLE_NAMES if name not in REPORTED_TABLES],
        expand(f"{RESULTS}/tables/table2_{{domain}}.csv", domain=DOMAINS),
        ANALYSIS_TABLES,
        panels=f"{RESULTS}/tables/panels.json",
    params:
        parts=lambda wc, input: os.path.dirname(os.path.dirname(input.parts[0])),
        out=lambda wc, output: os.path.dirname(output.panels),
    log:
        f"{RESULTS}/logs/combine_tables.log",
    benchmark:
        f"{RESULTS}/benchmarks/combine_tables/all.tsv"
    threads: 1
    resources:
        mem_mb=res("combine_tables", "mem_mb"),
        runtime=res("combine_tables", "runtime"),
    shell:
        "python -m mdmi combine --config {input.config} --parts {params.parts} --out-dir {params.out} 2>&1 | tee {log}"


# One rule per figure (a report caption is fixed per rule): the figures of the run's domains and Figure 3.
for _nb in FIGURE_NOTEBOOKS:

    rule:
        name:
            f"figure_{_nb}"
        input:
            notebook=NOTEBOOK_PATHS[_nb],
            data=NOTEBOOK_INPUTS[_nb],
            config=CONFIG,
        output:
            ipynb=f"{RESULTS}/notebooks/{_nb}.ipynb",
            html=f"{RESULTS}/notebooks/{_nb}.html",
            png=report(f"{RESULTS}/figures/{_nb}.png", caption=FIGURE_CAPTIONS[_nb], category="Figures",
                       labels={"figure": _nb}),
            pdf=f"{RESULTS}/figures/{_nb}.pdf",
        params:
            results=lambda wc, output: os.path.dirname(os.path.dirname(output.ipynb)),
            scale=config["scale"],
        log:
            f"{RESULTS}/logs/notebook_{_nb}.log",
        benchmark:
            f"{RESULTS}/benchmarks/notebook/{_nb}.tsv"
        resources:
            mem_mb=res("notebook", "mem_mb"),
            runtime=res("notebook", "runtime"),
        shell:
            RUN_NOTEBOOK


# One rule per table notebook too: the executed notebook's HTML is the table's page in the report.
for _nb in TABLE_NOTEBOOKS:

    rule:
        name:
            f"table_{_nb}"
        input:
            notebook=NOTEBOOK_PATHS[_nb],
            data=NOTEBOOK_INPUTS[_nb],
            config=CONFIG,
        output:
            ipynb=f"{RESULTS}/notebooks/{_nb}.ipynb",
            html=report(f"{RESULTS}/notebooks/{_nb}.html", caption=os.path.join(REPORT_DIR, f"{_nb}.rst"),
                        category="Tables", labels={"table": _nb}),
        params:
            results=lambda wc, output: os.path.dirname(os.path.dirname(output.ipynb)),
            scale=config["scale"],
        log:
            f"{RESULTS}/logs/notebook_{_nb}.log",
        benchmark:
            f"{RESULTS}/benchmarks/notebook/{_nb}.tsv"
        resources:
            mem_mb=res("notebook", "mem_mb"),
            runtime=res("notebook", "runtime"),
        shell:
            RUN_NOTEBOOK


rule manifest:
    input:
        config=CONFIG,
        notebooks=expand(f"{RESULTS}/notebooks/{{nb}}.{{ext}}", nb=NOTEBOOKS_RUN, ext=["ipynb", "html"]),
        figures=expand(f"{RESULTS}/figures/{{nb}}.{{ext}}", nb=FIGURE_NOTEBOOKS, ext=["png", "pdf"]),
    output:
        f"{RESULTS}/manifest.json",
    params:
        results=lambda wc, output: os.path.dirname(output[0]),
    log:
        f"{RESULTS}/logs/manifest.log",
    threads: 1
    localrule: True
    shell:
        "python -m mdmi manifest --config {input.config} --results {params.results} --out {output} 2>&1 | tee {log}"


rule resources:  # declared vs measured memory and time of every job of the run (fails if one is above)
    input:
        config=CONFIG,
        manifest=f"{RESULTS}/manifest.json",
    output:
        report(f"{RESULTS}/benchmarks/resources.csv", caption="../report/resources.rst", category="Run",
               labels={"table": "declared vs measured resources"}),
    params:
        benchmarks=lambda wc, output: os.path.dirname(output[0]),
    log:
        f"{RESULTS}/logs/resources.log",
    threads: 1
    localrule: True
    shell:
        "python -m mdmi resources --config {input.config} --benchmarks {params.benchmarks} --out {output} 2>&1 | tee {log}"
