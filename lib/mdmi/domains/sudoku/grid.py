"""Sudoku grids of any box size: validity, a bitmask solver, a logic (singles) solver, generators.

A grid of box size ``b`` has side ``n = b*b`` and ``n*n`` cells, stored row-major as a list of
ints: ``0`` is blank, ``1..n`` are digits. (Model token ids are digits minus one.)
"""
from __future__ import annotations

import random
from functools import lru_cache


@lru_cache(maxsize=None)
def peers(box: int) -> tuple[tuple[int, ...], ...]:
    """For each cell, the other cells sharing its row, column or box."""
    n = box * box
    out = []
    for c in range(n * n):
        r, k = divmod(c, n)
        br, bk = r // box * box, k // box * box
        ps = {r * n + j for j in range(n)} | {i * n + k for i in range(n)}
        ps |= {(br + i) * n + bk + j for i in range(box) for j in range(box)}
        ps.discard(c)
        out.append(tuple(sorted(ps)))
    return tuple(out)


@lru_cache(maxsize=None)
def units(box: int) -> tuple[tuple[int, ...], ...]:
    """All rows, columns and boxes as tuples of cell indices."""
    n = box * box
    rows = [tuple(r * n + j for j in range(n)) for r in range(n)]
    cols = [tuple(i * n + k for i in range(n)) for k in range(n)]
    boxes = [tuple((br + i) * n + bk + j for i in range(box) for j in range(box))
             for br in range(0, n, box) for bk in range(0, n, box)]
    return tuple(rows + cols + boxes)


def count_violations(grid: list[int], box: int) -> int:
    """Number of pairs of equal non-blank digits that share a unit (0 for a valid grid)."""
    bad = 0
    for unit in units(box):
        vals = [grid[c] for c in unit if grid[c]]
        bad += len(vals) - len(set(vals))
    return bad


def is_complete_valid(grid: list[int], box: int) -> bool:
    n = box * box
    return all(1 <= v <= n for v in grid) and count_violations(grid, box) == 0


def _candidates(grid: list[int], box: int) -> list[int] | None:
    """Bitmask of allowed digits per cell (bit d-1 for digit d); None on contradiction."""
    n = box * box
    full = (1 << n) - 1
    cand = [0] * (n * n)
    pe = peers(box)
    for c in range(n * n):
        if grid[c]:
            cand[c] = 1 << (grid[c] - 1)
            continue
        used = 0
        for p in pe[c]:
            if grid[p]:
                used |= 1 << (grid[p] - 1)
        cand[c] = full & ~used
        if cand[c] == 0:
            return None
    return cand


def solve(grid: list[int], box: int, limit: int = 2, rng: random.Random | None = None,
          forbid: tuple[int, int] | None = None) -> list[list[int]]:
    """Up to ``limit`` solutions by depth-first search with the fewest-candidates heuristic.

    With ``rng`` the digit order is shuffled (used to draw random full grids). ``forbid=(cell, digit)``
    excludes that digit from that (blank) cell.
    """
    n = box * box
    pe = peers(box)
    g = list(grid)
    if count_violations(g, box):
        return []
    cand = _candidates(g, box)
    if cand is None:
        return []
    solutions: list[list[int]] = []
    empties = [c for c in range(n * n) if not g[c]]

    def search() -> bool:
        best, best_mask, best_count = -1, 0, n + 1
        for c in empties:
            if g[c]:
                continue
            used = 0
            for p in pe[c]:
                v = g[p]
                if v:
                    used |= 1 << (v - 1)
            mask = ((1 << n) - 1) & ~used
            if forbid is not None and c == forbid[0]:
                mask &= ~(1 << (forbid[1] - 1))
            cnt = bin(mask).count("1")
            if cnt < best_count:
                best, best_mask, best_count = c, mask, cnt
                if cnt <= 1:
                    break
        if best < 0:
            solutions.append(list(g))
            return len(solutions) >= limit
        if best_count == 0:
            return False
        digits = [d + 1 for d in range(n) if best_mask >> d & 1]
        if rng is not None:
            rng.shuffle(digits)
        for d in digits:
            g[best] = d
            if search():
                return True
        g[best] = 0
        return False

    search()
    return solutions


def random_full_grid(box: int, rng: random.Random) -> list[int]:
    """A uniformly shuffled search from the empty grid: a random valid full grid."""
    return solve([0] * (box ** 4), box, limit=1, rng=rng)[0]


def solve_by_singles(grid: list[int], box: int) -> list[int] | None:
    """Fill the grid with naked and hidden singles only; the full grid, or None if stuck."""
    n = box * box
    g = list(grid)
    us = units(box)
    while True:
        cand = _candidates(g, box)
        if cand is None:
            return None
        placed = False
        for c in range(n * n):
            if not g[c] and cand[c] & (cand[c] - 1) == 0:
                g[c] = cand[c].bit_length()
                placed = True
        if placed:
            continue
        for unit in us:
            for d in range(n):
                spots = [c for c in unit if not g[c] and cand[c] >> d & 1]
                if len(spots) == 1:
                    g[spots[0]] = d + 1
                    placed = True
            if placed:
                break
        if not placed:
            return g if all(g) else None


def make_puzzle(solution: list[int], box: int, rng: random.Random, min_givens: int = 0) -> list[int]:
    """Remove clues in random order while the solution stays unique (down to ``min_givens``).

    A clue can go when no solution puts another digit in its cell: one search for a solution with
    that digit forbidden there (about twice as fast as counting solutions up to two, same result).
    """
    puzzle = list(solution)
    order = list(range(len(solution)))
    rng.shuffle(order)
    givens = len(solution)
    for c in order:
        if givens <= min_givens:
            break
        keep = puzzle[c]
        puzzle[c] = 0
        if solve(puzzle, box, limit=1, forbid=(c, keep)):
            puzzle[c] = keep
        else:
            givens -= 1
    return puzzle


def difficulty(puzzle: list[int], box: int) -> str:
    """'easy' when naked/hidden singles solve it, otherwise 'hard'."""
    return "easy" if solve_by_singles(puzzle, box) is not None else "hard"
