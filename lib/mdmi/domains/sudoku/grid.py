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
    boxes = [
        tuple((br + i) * n + bk + j for i in range(box) for j in range(box))
        for br in range(0, n, box)
        for bk in range(0, n, box)
    ]
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


@lru_cache(maxsize=None)
def _unit_index(box: int) -> tuple[tuple[int, int, int], ...]:
    """(row, column, box) index of each cell."""
    n = box * box
    return tuple((c // n, c % n, (c // n) // box * box + (c % n) // box) for c in range(n * n))


def _used_digits(grid: list[int], box: int) -> tuple[list[int], list[int], list[int]]:
    """Bitmasks of the digits placed in each row, column and box (bit d-1 for digit d)."""
    n = box * box
    idx = _unit_index(box)
    rows, cols, boxes = [0] * n, [0] * n, [0] * n
    for c, v in enumerate(grid):
        if v:
            r, k, b = idx[c]
            bit = 1 << (v - 1)
            rows[r] |= bit
            cols[k] |= bit
            boxes[b] |= bit
    return rows, cols, boxes


def _hidden_single(unit_cells, unit_used, masks: list[int], full: int, n: int):
    """(cell, digit bit) of a digit with one place left in a unit; False when a digit a unit lacks has no
    place left (no solution); None when neither. masks: every open cell's candidates, 0 for filled cells."""
    for u, cells in enumerate(unit_cells):
        once = twice = 0
        for c in cells:
            m = masks[c]
            twice |= once & m
            once |= m
        missing = full & ~unit_used[u // n][u % n]
        if missing & ~once:
            return False
        single = missing & ~twice
        if single:
            bit = single & -single
            return next(c for c in cells if masks[c] & bit), bit
    return None


def solve(
    grid: list[int],
    box: int,
    limit: int = 2,
    rng: random.Random | None = None,
    forbid: tuple[int, int] | None = None,
    singles: bool = False,
) -> list[list[int]]:
    """Up to ``limit`` solutions by depth-first search with the fewest-candidates heuristic.

    With ``rng`` the digit order is shuffled (used to draw random full grids). ``forbid=(cell, digit)``
    excludes that digit from that (blank) cell. Digits used per row, column and box are kept as
    bitmasks and updated on each placement, so a cell's candidates cost three ORs. With ``singles``,
    when no cell has a single candidate, a digit with one place left in a row, column or box is placed
    there first (a hidden single), and a digit with no place left in a unit that lacks it ends the
    branch: far fewer nodes on sparse grids, but another search order (random grids keep the plain one).
    """
    n = box * box
    full = (1 << n) - 1
    g = list(grid)
    if count_violations(g, box):
        return []
    idx = _unit_index(box)
    rows, cols, boxes = _used_digits(g, box)
    empties = [c for c in range(n * n) if not g[c]]
    if any(not full & ~(rows[idx[c][0]] | cols[idx[c][1]] | boxes[idx[c][2]]) for c in empties):
        return []
    fcell, fbit = (forbid[0], 1 << (forbid[1] - 1)) if forbid is not None else (-1, 0)
    solutions: list[list[int]] = []

    unit_cells, unit_used = units(box), (rows, cols, boxes)

    def search() -> bool:
        masks = [0] * (n * n)  # candidates of the cells scanned (read with singles)
        best, best_mask, best_count = -1, 0, n + 1
        for c in empties:
            if g[c]:
                continue
            r, k, b = idx[c]
            mask = full & ~(rows[r] | cols[k] | boxes[b])
            if c == fcell:
                mask &= ~fbit
            cnt = mask.bit_count()
            masks[c] = mask
            if cnt < best_count:
                best, best_mask, best_count = c, mask, cnt
                if cnt <= 1:
                    break
        if best < 0:
            solutions.append(list(g))
            return len(solutions) >= limit
        if best_count == 0:
            return False
        if singles and best_count > 1:  # every cell scanned: look for a hidden single
            found = _hidden_single(unit_cells, unit_used, masks, full, n)
            if found is False:
                return False
            if found:
                best, best_mask = found
        digits = [d + 1 for d in range(n) if best_mask >> d & 1]
        if rng is not None:
            rng.shuffle(digits)
        r, k, b = idx[best]
        for d in digits:
            bit = 1 << (d - 1)
            g[best] = d
            rows[r] |= bit
            cols[k] |= bit
            boxes[b] |= bit
            done = search()
            rows[r] &= ~bit
            cols[k] &= ~bit
            boxes[b] &= ~bit
            if done:
                return True
        g[best] = 0
        return False

    search()
    return solutions


def has_solution(grid: list[int], box: int, forbid: tuple[int, int] | None = None) -> bool:
    """Whether the grid has a solution (with ``forbid=(cell, digit)``: one without that digit there): the
    question the clue-removal loops ask. The answer does not depend on how the search runs, so neither do
    their puzzles: this search propagates before it branches. Each scan of the open cells places every
    naked single it meets (a cell left with no candidate ends the branch), a scan that placed none
    looks for a hidden single (a digit with one place left in a unit) or a digit with no place left (the
    branch ends), and only then branches on a cell with fewest candidates; a node's placements are undone
    on the way back. Fewer, cheaper nodes than :func:`solve` (its answers are the same: tests)."""
    n = box * box
    full = (1 << n) - 1
    g = list(grid)
    if count_violations(g, box):
        return False
    idx = _unit_index(box)
    rows, cols, boxes = _used_digits(g, box)
    fcell, fbit = (forbid[0], 1 << (forbid[1] - 1)) if forbid is not None else (-1, 0)
    unit_cells, unit_used = units(box), (rows, cols, boxes)
    masks = [0] * (n * n)  # candidates of the open cells, as of the last scan (0 once filled)

    def place(c: int, bit: int) -> None:
        r, k, b = idx[c]
        g[c] = bit
        masks[c] = 0  # a filled cell offers no candidate to the hidden-single search
        rows[r] |= bit
        cols[k] |= bit
        boxes[b] |= bit

    def unplace(c: int) -> None:
        r, k, b = idx[c]
        bit = g[c]
        g[c] = 0
        rows[r] &= ~bit
        cols[k] &= ~bit
        boxes[b] &= ~bit

    def search(open_cells: list[int]) -> bool:
        placed: list[int] = []
        try:
            while True:
                best, best_mask, best_count, progress, still = -1, 0, n + 1, False, []
                for c in open_cells:
                    if g[c]:
                        continue
                    r, k, b = idx[c]
                    mask = full & ~(rows[r] | cols[k] | boxes[b])
                    if c == fcell:
                        mask &= ~fbit
                    if not mask:
                        return False
                    if not mask & (mask - 1):  # a naked single: place it now
                        place(c, mask)
                        placed.append(c)
                        progress = True
                        continue
                    masks[c] = mask
                    still.append(c)
                    cnt = mask.bit_count()
                    if cnt < best_count:
                        best, best_mask, best_count = c, mask, cnt
                open_cells = still
                if progress:
                    continue
                if best < 0:
                    return True
                hidden = _hidden_single(unit_cells, unit_used, masks, full, n)
                if hidden is False:
                    return False
                if hidden is None:
                    break
                place(*hidden)
                placed.append(hidden[0])
            while best_mask:
                bit = best_mask & -best_mask
                best_mask ^= bit
                place(best, bit)
                found = search(open_cells)
                unplace(best)
                if found:
                    return True
            return False
        finally:
            for c in reversed(placed):
                unplace(c)

    return search([c for c in range(n * n) if not g[c]])


def random_full_grid(box: int, rng: random.Random) -> list[int]:
    """A uniformly shuffled search from the empty grid: a random valid full grid."""
    return solve([0] * (box**4), box, limit=1, rng=rng)[0]


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


def _remove_clues(puzzle: list[int], order: list[int], box: int, min_givens: int = 0) -> list[int]:
    """Try each cell of ``order`` in turn: its clue goes when the solution stays unique. In place.

    A clue can go when no solution puts another digit in its cell: one search for a solution with
    that digit forbidden there (about twice as fast as counting solutions up to two, same result).
    """
    givens = sum(1 for v in puzzle if v)
    for c in order:
        if givens <= min_givens:
            break
        keep = puzzle[c]
        if not keep:
            continue
        puzzle[c] = 0
        if has_solution(puzzle, box, forbid=(c, keep)):
            puzzle[c] = keep
        else:
            givens -= 1
    return puzzle


def make_puzzle(
    solution: list[int], box: int, rng: random.Random, min_givens: int = 0
) -> list[int]:
    """A minimal puzzle: remove clues in random order while the solution stays unique (down to ``min_givens``)."""
    order = list(range(len(solution)))
    rng.shuffle(order)
    return _remove_clues(list(solution), order, box, min_givens)


def sparsify(
    puzzle: list[int],
    solution: list[int],
    box: int,
    rng: random.Random,
    target: int,
    max_steps: int,
) -> list[int]:
    """Hill-climb a minimal puzzle towards ``target`` givens or fewer, keeping its unique solution.

    One step: drop one clue (two, 30% of the time), add the solution's digit in a random blank; when the
    solution is still unique, remove every clue that can go (random order) and keep the result if it
    has no more givens than before. Random minimal puzzles have 22-27 givens; this reaches 21 within
    about 600 steps for 9 of 10 starts (about a second each). Returns the sparsest puzzle reached
    (check its givens: the search can stall above ``target``).
    """
    p = list(puzzle)
    givens = sum(1 for v in p if v)
    for _ in range(max_steps):
        if givens <= target:
            break
        clues = [c for c, v in enumerate(p) if v]
        blanks = [c for c, v in enumerate(p) if not v]
        q = list(p)
        removed = rng.sample(clues, 2 if rng.random() < 0.3 else 1)
        for c in removed:
            q[c] = 0
        a = rng.choice(blanks)
        q[a] = solution[a]
        # p was unique, so another solution of q must differ from ``solution`` at a removed clue
        if not any(has_solution(q, box, forbid=(c, solution[c])) for c in removed):
            order = [c for c, v in enumerate(q) if v]
            rng.shuffle(order)
            q = _remove_clues(q, order, box)
            gq = sum(1 for v in q if v)
            if gq <= givens:
                p, givens = q, gq
    return p


def difficulty(puzzle: list[int], box: int) -> str:
    """'easy' when naked/hidden singles solve it, otherwise 'hard'."""
    return "easy" if solve_by_singles(puzzle, box) is not None else "hard"
