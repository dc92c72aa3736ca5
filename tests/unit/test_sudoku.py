"""Sudoku domain: generator, solver, bands, seeds, splits, puzzle I/O, augmentation, quality."""

import random

import pytest
import torch

from mdmi.domains.sudoku.domain import SudokuDomain, relation_matrix
from mdmi.domains.sudoku.grid import (
    count_violations,
    difficulty,
    has_solution,
    is_complete_valid,
    make_puzzle,
    random_full_grid,
    solve,
    solve_by_singles,
)
from mdmi.domains.sudoku.puzzles import PuzzleError, parse_lines, read_puzzles


def _cfg(box=2, **bands):
    return {
        "box": box,
        "seed": 5,
        "data": {
            "train_grids": 30,
            "val_puzzles": bands or {"easy": 4},
            "test_puzzles": bands or {"easy": 4},
            "hard_max_givens": 27,
            "max_attempts": 20000,
        },
    }


@pytest.mark.parametrize("box", [2, 3])
def test_random_grids_are_valid_and_seeded(box):
    a = [random_full_grid(box, random.Random(s)) for s in range(5)]
    b = [random_full_grid(box, random.Random(s)) for s in range(5)]
    assert a == b
    assert all(is_complete_valid(g, box) for g in a)
    assert len({tuple(g) for g in a}) > 1


@pytest.mark.parametrize("box", [2, 3])
def test_puzzles_have_unique_solutions(box):
    rng = random.Random(1)
    for _ in range(3):
        sol = random_full_grid(box, rng)
        p = make_puzzle(sol, box, rng)
        sols = solve(p, box, limit=2)
        assert sols == [sol]
        # the puzzle is minimal: removing any further given breaks uniqueness
        c = next(i for i, v in enumerate(p) if v)
        q = list(p)
        q[c] = 0
        assert len(solve(q, box, limit=2)) == 2


def test_solver_detects_contradictions_and_counts():
    g = [0] * 16
    assert len(solve(g, 2, limit=5)) == 5
    bad = [1, 1] + [0] * 14
    assert solve(bad, 2) == [] and count_violations(bad, 2) == 2  # row and box


@pytest.mark.parametrize("box", [2, 3])
def test_has_solution_answers_as_the_search_does(box):
    """The clue-removal loops ask has_solution (naked and hidden singles); it must give the answer of
    the plain search on minimal, under-constrained, contradictory and unsolvable grids, with and
    without a forbidden (cell, digit), so that the generated puzzles do not depend on which one asks."""
    rng = random.Random(7)
    N, seen = box**4, set()
    for _ in range(150):
        sol = random_full_grid(box, rng)
        p = make_puzzle(sol, box, rng) if rng.random() < 0.6 else list(sol)
        for c in rng.sample(range(N), rng.randrange(0, 10)):
            p[c] = 0
        if rng.random() < 0.3:  # a random digit: often no solution left
            p[rng.randrange(N)] = rng.randrange(1, box * box + 1)
        forbid = (rng.randrange(N), rng.randrange(1, box * box + 1)) if rng.random() < 0.8 else None
        answer = bool(solve(p, box, limit=1, forbid=forbid))
        assert has_solution(p, box, forbid=forbid) == answer, (p, forbid)
        seen.add(answer)
    assert seen == {True, False}
    # Inkala's 21-clue puzzle: unique, so forbidding its solution's digit in any blank leaves none
    hard = [
        int(c)
        for c in "800000000003600000070090200050007000000045700000100030001000068008500010090000400"
    ]
    if box == 3:
        sol = solve(hard, 3, limit=1)[0]
        assert has_solution(hard, 3) and not has_solution(hard, 3, forbid=(1, sol[1]))
        assert has_solution(
            hard, 3, forbid=(1, 1 + sol[1] % 9)
        )  # another digit may go: the true one stays


def test_singles_solver_and_known_hard_puzzle():
    # A. Inkala's published 21-clue puzzle, which needs far more than singles
    hard = "800000000003600000070090200050007000000045700000100030001000068008500010090000400"
    grid = [int(c) for c in hard]
    assert solve_by_singles(grid, 3) is None and difficulty(grid, 3) == "hard"
    sol = solve(grid, 3, limit=2)
    assert len(sol) == 1 and is_complete_valid(sol[0], 3)
    easy = list(sol[0])
    easy[0] = 0
    easy[40] = 0
    assert solve_by_singles(easy, 3) == sol[0] and difficulty(easy, 3) == "easy"


def test_generate_bands_seeds_and_disjoint_splits(tmp_path):
    cfg = _cfg(3, easy=2, hard=2)
    cfg["data"]["train_grids"] = 20
    d = SudokuDomain(cfg)
    d.make_data(tmp_path / "a", threads=2)
    d.make_data(tmp_path / "b", threads=1)
    for name in ["train_grids.txt", "val.txt", "test.txt", "val_meta.csv"]:
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    train = set((tmp_path / "a" / "train_grids.txt").read_text().split())
    seen = set()
    for split in ["val", "test"]:
        task = d.load_task(tmp_path / "a", split)
        for (p, s), band, givens in zip(
            read_puzzles(tmp_path / "a" / f"{split}.txt", 3), task.meta.band, task.meta.givens
        ):
            key = "".join(map(str, s))
            assert key not in train and key not in seen
            seen.add(key)
            assert solve(p, 3, limit=2) == [s]
            assert band == difficulty(p, 3)
            assert givens == sum(1 for v in p if v)
            if band == "hard":
                assert givens <= 27
        assert sorted(task.meta.band) == ["easy", "easy", "hard", "hard"]


def test_impossible_bands_fail_clearly(tmp_path):
    cfg = _cfg(2, hard=1)
    cfg["data"]["max_attempts"] = 128
    cfg["data"]["hard_max_givens"] = 0
    with pytest.raises(RuntimeError, match="max_attempts"):
        SudokuDomain(cfg).make_data(tmp_path, threads=1)


def test_puzzle_io_errors_name_the_line(tmp_path):
    good = "1.34341221434321"
    assert parse_lines([good], 2)[0][0][1] == 0
    with pytest.raises(PuzzleError, match="line 2.*expected 16 characters"):
        parse_lines([good, "123"], 2)
    with pytest.raises(PuzzleError, match="line 1.*invalid character"):
        parse_lines(["x" * 16], 2)
    with pytest.raises(PuzzleError, match="contradictory"):
        parse_lines(["11" + "0" * 14], 2)
    with pytest.raises(PuzzleError, match="disagrees"):
        parse_lines(["2" + "0" * 15 + ",1234341221434321"], 2)
    with pytest.raises(PuzzleError, match="no puzzles"):
        parse_lines(["# only a comment", ""], 2)
    with pytest.raises(PuzzleError, match="not found"):
        read_puzzles(tmp_path / "missing.txt", 2)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(good.encode() + b" # caf\xe9\n")
    with pytest.raises(PuzzleError, match="not a UTF-8 text file"):
        read_puzzles(latin1, 2)


def test_puzzle_files_as_editors_write_them(tmp_path):
    """A byte-order mark, Windows line ends, trailing spaces, blank lines, comments, gzip: all read."""
    import gzip

    good, other = "1.34341221434321", "12..341221434321"
    text = f"\ufeff# two puzzles\r\n{good}  \r\n\r\n  {other},1234341221434321\t\r\n"
    plain, packed = tmp_path / "p.txt", tmp_path / "p.txt.gz"
    plain.write_bytes(text.encode("utf-8"))
    packed.write_bytes(gzip.compress(text.encode("utf-8")))
    for path in (plain, packed):
        pairs = read_puzzles(path, 2)
        assert [p for p, _ in pairs] == [
            parse_lines([good], 2)[0][0],
            parse_lines([other], 2)[0][0],
        ]
        assert pairs[0][1] is None and pairs[1][1] == [
            1,
            2,
            3,
            4,
            3,
            4,
            1,
            2,
            2,
            1,
            4,
            3,
            4,
            3,
            2,
            1,
        ]


def test_augment_preserves_validity():
    d = SudokuDomain({"box": 3})
    g = torch.tensor([[v - 1 for v in random_full_grid(3, random.Random(i))] for i in range(20)])
    a = d.augment(g, torch.Generator().manual_seed(0))
    assert all(is_complete_valid([v + 1 for v in r], 3) for r in a.tolist())
    assert not torch.equal(a, g)


def test_relations_and_quality():
    rel = relation_matrix(2)
    assert (
        rel[0, 1] == 1 + 4
        and rel[0, 4] == 2 + 4
        and rel[0, 5] == 4
        and rel[0, 0] == 7
        and rel[0, 10] == 0
    )
    d = SudokuDomain({"box": 2})
    sol = "1234341221434321"
    task = d.task_from_pairs("t", parse_lines(["12" + "0" * 14 + "," + sol], 2))
    perfect = torch.tensor([[int(c) - 1 for c in sol]])
    q = d.quality(perfect, task)
    assert bool(q.solved[0]) and q.cell_acc[0] == 1.0 and q.violations[0] == 0
    broken = perfect.clone()
    broken[0, 5] = broken[0, 4]
    q = d.quality(broken, task)
    assert not bool(q.solved[0]) and q.violations[0] > 0 and q.cell_acc[0] < 1


def test_augment_moves_a_puzzle_mask_with_its_cells():
    """Augmenting (solution, blanks) together gives a valid puzzle whose unique solution is the
    augmented solution: the mask is transformed exactly like the cells."""
    from mdmi.domains.sudoku.grid import make_puzzle, solve

    d = SudokuDomain({"box": 3})
    sols, masks = [], []
    for i in range(4):
        rng = random.Random(100 + i)
        sol = random_full_grid(3, rng)
        puz = make_puzzle(sol, 3, rng)
        sols.append([v - 1 for v in sol])
        masks.append([v == 0 for v in puz])
    g, m = torch.tensor(sols), torch.tensor(masks)
    ag, am = d.augment(g, torch.Generator().manual_seed(1), m)
    assert am.sum(-1).tolist() == m.sum(-1).tolist() and not torch.equal(am, m)
    for sol, mask in zip(ag.tolist(), am.tolist()):
        puzzle = [0 if hidden else v + 1 for v, hidden in zip(sol, mask)]
        assert solve(puzzle, 3, limit=2) == [[v + 1 for v in sol]]


def test_make_puzzle_is_minimal_with_a_unique_solution():
    from mdmi.domains.sudoku.grid import make_puzzle, solve

    for seed in range(3):
        rng = random.Random(seed)
        sol = random_full_grid(3, rng)
        puz = make_puzzle(sol, 3, rng)
        assert solve(puz, 3, limit=2) == [sol]
        for c in [c for c, v in enumerate(puz) if v][:8]:  # removing any clue breaks uniqueness
            fewer = list(puz)
            fewer[c] = 0
            assert len(solve(fewer, 3, limit=2)) == 2


def test_sparsify_reaches_the_target_with_the_same_unique_solution():
    from mdmi.domains.sudoku.grid import sparsify

    rng = random.Random(2)
    sol = random_full_grid(3, rng)
    puz = make_puzzle(sol, 3, rng)
    assert sum(1 for v in puz if v) > 21
    sparse = sparsify(puz, sol, 3, rng, target=21, max_steps=1500)
    assert sum(1 for v in sparse if v) <= 21
    assert all(v in (0, s) for v, s in zip(sparse, sol))  # givens are the solution's digits
    assert solve(sparse, 3, limit=2) == [sol]
    for c in [c for c, v in enumerate(sparse) if v][:6]:  # still minimal
        fewer = list(sparse)
        fewer[c] = 0
        assert len(solve(fewer, 3, limit=2)) == 2
    assert (
        sparsify(puz, sol, 3, random.Random(0), target=30, max_steps=10) == puz
    )  # already at the target


def test_a_sparse_band_leaves_the_other_bands_unchanged(tmp_path):
    cfg = _cfg(2, easy=3)
    cfg["data"]["sparse_max_givens"] = 5
    plain = SudokuDomain(cfg)
    plain.make_data(tmp_path / "a", threads=1)
    cfg["data"]["test_puzzles"] = {"easy": 3, "sparse": 2}
    SudokuDomain(cfg).make_data(tmp_path / "b", threads=1)
    a = (tmp_path / "a" / "test.txt").read_text().splitlines()
    b = (tmp_path / "b" / "test.txt").read_text().splitlines()
    assert b[:3] == a and len(b) == 5
    task = plain.load_task(tmp_path / "b", "test")
    assert task.meta.band.tolist() == ["easy"] * 3 + ["sparse"] * 2
    for (p, s), givens in zip(
        read_puzzles(tmp_path / "b" / "test.txt", 2)[3:], task.meta.givens[3:]
    ):
        assert givens == sum(1 for v in p if v) <= 5 and solve(p, 2, limit=2) == [s]


def test_training_puzzles_give_natural_masks_and_a_shipped_file_is_read(tmp_path):
    import gzip

    cfg = {
        "box": 2,
        "seed": 0,
        "data": {
            "train_grids": 40,
            "train_puzzles": {"easy": 6},
            "val_puzzles": {"easy": 3},
            "test_puzzles": {"easy": 3},
            "hard_max_givens": 16,
            "max_attempts": 20000,
        },
    }
    d = SudokuDomain(cfg)
    d.make_data(tmp_path / "gen", threads=1)
    seqs, masks = d.train_sequences(tmp_path / "gen"), d.train_masks(tmp_path / "gen")
    assert seqs.shape == (46, 16) and masks.shape == (46, 16)
    assert not masks[:40].any() and masks[40:].any(-1).all()
    givens = [
        line.split(",")[0] for line in (tmp_path / "gen" / "train_puzzles.txt").read_text().split()
    ]
    assert [[c == "0" for c in p] for p in givens] == masks[40:].tolist()
    # the same puzzles from a shipped .gz give the same training data
    shipped = tmp_path / "train_puzzles.txt.gz"
    shipped.write_bytes(gzip.compress((tmp_path / "gen" / "train_puzzles.txt").read_bytes()))
    cfg2 = {**cfg, "data": {**cfg["data"], "train_puzzles_file": str(shipped)}}
    SudokuDomain(cfg2).make_data(tmp_path / "ship", threads=1)
    assert torch.equal(d.train_sequences(tmp_path / "ship"), seqs) and torch.equal(
        d.train_masks(tmp_path / "ship"), masks
    )
    # a shipped file whose solutions collide with the val/test grids is refused
    val = (tmp_path / "gen" / "val.txt").read_text().splitlines()[0]
    shipped.write_bytes(gzip.compress((val + "\n").encode()))
    with pytest.raises(PuzzleError, match="share their solution"):
        SudokuDomain(cfg2).make_data(tmp_path / "clash", threads=1)
