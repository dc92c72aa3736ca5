"""Benchmark: ``solve`` on a long puzzle file runs batch by batch in bounded memory.

    python -m mdmi.domains.sudoku.bench_solve --n 100000 --knob tau=0.1       # make bench-solve (after make paper)

Writes a file of ``--n`` puzzles (the run's test puzzles, repeated), solves it with ``python -m mdmi solve``
(the shipped model; threshold decoding by default, the cheapest method that still fills by confidence) at
each ``--batch`` size, and records per run the wall time and the solver process's peak resident memory
(``getrusage`` of the child) in ``--out`` (JSON), next to the same for a file of ``--small`` puzzles: equal
peaks mean memory does not grow with the file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def _peak_child_mb_after(cmd: list[str], out_path: Path) -> tuple[float, float]:
    """Run ``cmd`` in a fresh process (stdout to ``out_path``); (seconds, that process's peak RSS in MB)."""
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "r = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], 'w')); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, r.returncode)"
    )
    res = subprocess.run(
        [sys.executable, "-c", probe, str(out_path), *cmd],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, peak, rc = res.stdout.split()
    if int(rc) != 0:
        raise SystemExit(f"solve failed ({rc}): {res.stderr[-2000:]}")
    return float(seconds), float(peak)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--puzzles", default="results/sudoku/data/test.txt", help="puzzle lines to repeat"
    )
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument(
        "--small",
        type=int,
        default=2_000,
        help="the short file whose peak the long one's is compared with",
    )
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--method", default="threshold")
    p.add_argument("--knob", action="append", default=None)
    p.add_argument("--work", default="results/benchmarks/solve")
    p.add_argument("--out", default="results/benchmarks/solve_memory.json")
    args = p.parse_args(argv)
    knobs = args.knob if args.knob is not None else ["tau=0.1"]
    lines = [ln.split(",")[0] for ln in Path(args.puzzles).read_text().splitlines() if ln.strip()]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in (args.small, args.n):
        f = work / f"puzzles_{n}.txt"
        f.write_text("\n".join(lines[k % len(lines)] for k in range(n)) + "\n")
        cmd = [
            sys.executable,
            "-m",
            "mdmi",
            "solve",
            "--method",
            args.method,
            *[a for k in knobs for a in ("--knob", k)],
            "--batch",
            str(args.batch),
            str(f),
        ]
        seconds, peak = _peak_child_mb_after(cmd, work / f"solved_{n}.txt")
        solved = sum(" valid" in ln for ln in (work / f"solved_{n}.txt").read_text().splitlines())
        rows.append(
            {
                "puzzles": n,
                "batch": args.batch,
                "method": args.method,
                "knobs": knobs,
                "seconds": round(seconds, 1),
                "puzzles_per_s": round(n / seconds, 1),
                "peak_rss_mb": round(peak, 1),
                "solved": solved,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    Path(args.out).write_text(
        json.dumps({"runs": rows, "measured_at": time.strftime("%Y-%m-%d %H:%M")}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
