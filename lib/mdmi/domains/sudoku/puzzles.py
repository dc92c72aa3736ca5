"""Puzzle text I/O: one puzzle per line, n*n characters, digits 1..n, '0' or '.' for a blank.

Blank lines and lines starting with '#' are skipped. A line may carry a solution after a comma
(``puzzle,solution``), the format of common public puzzle lists. Malformed or contradictory lines
raise :class:`PuzzleError` naming the file and line.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from mdmi.domains.sudoku.grid import count_violations
from mdmi.errors import MdmiError

DIGITS = "123456789ABCDEFG"


class PuzzleError(MdmiError, ValueError):
    pass


def _parse_grid(text: str, box: int, where: str, allow_blank: bool = True) -> list[int]:
    n = box * box
    if len(text) != n * n:
        raise PuzzleError(
            f"{where}: expected {n * n} characters for a {n}x{n} grid, got {len(text)}; "
            f"write one puzzle per line with '0' or '.' for blanks"
        )
    grid = []
    for ch in text:
        if ch in "0." and allow_blank:
            grid.append(0)
        elif ch.upper() in DIGITS[:n]:
            grid.append(DIGITS.index(ch.upper()) + 1)
        else:
            raise PuzzleError(
                f"{where}: invalid character {ch!r}; use digits 1-{DIGITS[n - 1]} and '0' or '.' for blanks"
            )
    if count_violations(grid, box):
        raise PuzzleError(
            f"{where}: contradictory puzzle (a digit repeats in a row, column or box); fix or remove the line"
        )
    return grid


def parse_lines(
    lines, box: int, source: str = "<input>"
) -> list[tuple[list[int], list[int] | None]]:
    """[(puzzle, solution or None)] from puzzle lines."""
    out = []
    for no, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}, line {no}"
        parts = [p.strip() for p in line.split(",")]
        if len(parts) > 2:
            raise PuzzleError(
                f"{where}: expected 'puzzle' or 'puzzle,solution', got {len(parts)} fields"
            )
        puzzle = _parse_grid(parts[0], box, where)
        solution = None
        if len(parts) == 2 and parts[1]:
            solution = _parse_grid(parts[1], box, where + " (solution)", allow_blank=False)
            if any(p and p != s for p, s in zip(puzzle, solution)):
                raise PuzzleError(f"{where}: solution disagrees with the puzzle's givens")
        out.append((puzzle, solution))
    if not out:
        raise PuzzleError(f"{source}: no puzzles found (one puzzle per line, n*n characters)")
    return out


def read_puzzles(path: str | Path, box: int) -> list[tuple[list[int], list[int] | None]]:
    """Puzzles of a text file (gzip-compressed when the name ends in .gz), as editors write them: a
    UTF-8 byte-order mark, Windows line endings, trailing spaces, blank lines and '#' comments are fine."""
    path = Path(path)
    if not path.exists():
        raise PuzzleError(f"{path}: file not found")
    if path.suffix == ".gz":
        try:
            text = gzip.decompress(path.read_bytes()).decode("utf-8-sig")
        except (OSError, EOFError, UnicodeDecodeError) as e:
            raise PuzzleError(
                f"{path}: not a readable gzip text file ({e}); restore or regenerate it"
            ) from None
    else:
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise PuzzleError(
                f"{path}: not a UTF-8 text file (byte {e.start}); save it as plain text, one "
                f"puzzle per line"
            ) from None
    return parse_lines(text.splitlines(), box, str(path))


def format_grid(grid: list[int], blank: str = "0") -> str:
    return "".join(DIGITS[v - 1] if v else blank for v in grid)
