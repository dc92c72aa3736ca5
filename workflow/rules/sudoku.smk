# Sudoku data: generated puzzles (train grids, val/test puzzles). The model stages are in model.smk.
SD = f"{RESULTS}/sudoku"


rule sudoku_generate:
    input:
        stage_config("sudoku", "data"),
        shipped=config["sudoku"]["data"].get("train_puzzles_file", []) if "sudoku" in config else [],
    output:
        grids=f"{SD}/data/train_grids.txt",
        puzzles=f"{SD}/data/train_puzzles.txt",
        val=f"{SD}/data/val.txt",
        val_meta=f"{SD}/data/val_meta.csv",
        test=f"{SD}/data/test.txt",
        test_meta=f"{SD}/data/test_meta.csv",
    log:
        f"{RESULTS}/logs/sudoku_generate.log",
    benchmark:
        f"{RESULTS}/benchmarks/sudoku_generate.tsv"
    threads: config["threads"]
    shell:
        "{PY} --threads {threads} generate --config {CONFIG} --domain sudoku --out {SD}/data 2>&1 | tee {log}"
