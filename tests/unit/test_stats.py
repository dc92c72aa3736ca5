"""Claims statistics: bootstrap intervals, verdicts, matched-passes comparison, oracle subsets."""

import numpy as np
import pandas as pd
import pytest

from mdmi.domains import get_spec
from mdmi.evaluate.report import claims, decoding_claims
from mdmi.evaluate.sweep import stratified_subset
from mdmi.util.stats import combine, interp_quality, interval, resample_weights, verdict

RULES = {
    "level": 0.95,
    "bootstrap": 1000,
    "speedup_min": 3.0,
    "quality_margin": 0.02,
    "paper_passes_band": [0.8, 1.2],
    "frontier_speedups": [3, 5, 10],
    "min_units": 10,
    "relation_ratio_min": 2.0,
    "contact_chance_ratio": 2.0,
    "estimator_spearman_min": 0.5,
}


def test_interval_of_a_mean_covers_it_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.binomial(1, 0.7, 50).astype(float), rng.binomial(1, 0.7, 2000).astype(float)
    a = interval(resample_weights(50, 2000, 1), lambda m: m(small))
    b = interval(resample_weights(2000, 2000, 1), lambda m: m(large))
    assert a.low < a.value < a.high and b.low < b.value < b.high
    assert (b.high - b.low) < 0.5 * (a.high - a.low)
    # binomial standard error: the 95% interval is about +-1.96 sqrt(p(1-p)/n)
    assert abs((b.high - b.low) / 2 - 1.96 * np.sqrt(0.7 * 0.3 / 2000)) < 0.01


def test_paired_difference_of_identical_methods_is_exactly_zero():
    x = np.random.default_rng(1).binomial(1, 0.5, 300).astype(float)
    est = interval(resample_weights(300, 500, 0), lambda m: m(x) - m(x.copy()))
    assert est.value == est.low == est.high == 0.0


def test_same_seed_same_interval():
    x = np.random.default_rng(2).normal(size=100)
    a = interval(resample_weights(100, 500, 7), lambda m: m(x))
    b = interval(resample_weights(100, 500, 7), lambda m: m(x))
    assert (a.low, a.high) == (b.low, b.high)


@pytest.mark.parametrize(
    "low,high,threshold,hib,want",
    [
        (3.2, 4.0, 3.0, True, "yes"),
        (2.0, 2.9, 3.0, True, "no"),
        (2.5, 3.5, 3.0, True, "inconclusive"),
        (10.0, 14.0, 18.2, False, "yes"),
        (19.0, 20.0, 18.2, False, "no"),
        (np.nan, 1.0, 0.0, True, "inconclusive"),
    ],
)
def test_verdict(low, high, threshold, hib, want):
    assert verdict(low, high, threshold, hib) == want


def test_combine():
    assert combine("yes", "yes") == "yes"
    assert combine("yes", "inconclusive") == "inconclusive"
    assert combine("inconclusive", "no") == "no"


def test_interp_quality_matches_numpy_and_clamps():
    p, q = np.array([[30.0, 10.0, 20.0]]), np.array([[0.9, 0.5, 0.7]])
    assert interp_quality(p, q, np.array([15.0]))[0] == pytest.approx(0.6)
    assert interp_quality(p, q, np.array([5.0]))[0] == pytest.approx(0.5)
    assert interp_quality(p, q, np.array([99.0]))[0] == pytest.approx(0.9)


def test_stratified_subset_is_seeded_proportional_and_not_the_first_rows():
    meta = pd.DataFrame({"band": ["easy"] * 200 + ["hard"] * 500})
    a = stratified_subset(meta, 14, seed=3)
    assert a == stratified_subset(meta, 14, seed=3) and a != stratified_subset(meta, 14, seed=4)
    bands = meta.band.iloc[a].value_counts()
    assert bands["easy"] == 4 and bands["hard"] == 10 and a != list(range(14))
    assert stratified_subset(meta, 1000, seed=0) == list(range(700))
    tiny = pd.DataFrame({"band": ["easy"] * 98 + ["hard"] * 2})
    assert set(tiny.band.iloc[stratified_subset(tiny, 5, seed=0)]) == {
        "easy",
        "hard",
    }  # every band present


def _decodes(n=400, seed=0, mi_solved=0.8, seq_solved=0.8):
    """Synthetic test decodes: sequential (81-ish passes), mi (~16 passes), eb and threshold curves."""
    rng = np.random.default_rng(seed)
    band = np.where(np.arange(n) < n // 4, "easy", "hard")
    base = rng.random(n)
    rows = []

    def add(method, knob, passes, solved_p):
        for s in range(n):
            rows.append(
                {
                    "method": method,
                    "knob": knob,
                    "seq": s,
                    "band": band[s],
                    "passes": passes + rng.integers(-2, 3),
                    "solved": float(base[s] < solved_p),
                }
            )

    add("sequential", "order=margin", 55, seq_solved)
    add("mi", "eps=0.05", 14, mi_solved)
    for k, (p, q) in enumerate([(10, 0.3), (16, 0.5), (30, 0.7)]):
        add("eb", f"gamma={k}", p, q)
        add("threshold", f"tau={k}", p, q - 0.1)
    return pd.DataFrame(rows)


def _t2(test):
    out = []
    for method, knob in [("sequential", "order=margin"), ("mi", "eps=0.05")]:
        mt = test[(test.method == method) & (test.knob == knob)]
        out.append(
            {"method": method, "knob": knob, "passes": mt.passes.mean(), "solved": mt.solved.mean()}
        )
    return pd.DataFrame(out)


def test_decoding_claims_hold_when_mi_is_fast_and_as_good():
    test = _decodes()
    rows = decoding_claims(get_spec("sudoku"), _t2(test), test, "solved", RULES, "order=margin")
    speed = next(r for r in rows if "fewer forward passes" in r["claim"])
    assert speed["holds"] == "yes" and speed["n"] == 400 and speed["ci_low"] > 3
    assert "0.02" in speed["rule"] and "3" in speed["rule"]
    beats = [r for r in rows if "beats" in r["claim"]]
    assert len(beats) == 2 and all(r["holds"] == "yes" and r["ci_low"] > 0 for r in beats)
    paper = next(r for r in rows if "about 15.2" in r["claim"])
    assert paper["n"] == 300 and paper["holds"] == "yes"  # hard puzzles only


def test_decoding_claims_fail_when_quality_drops():
    test = _decodes(mi_solved=0.6)
    speed = next(
        r
        for r in decoding_claims(
            get_spec("sudoku"), _t2(test), test, "solved", RULES, "order=margin"
        )
        if "fewer forward passes" in r["claim"]
    )
    assert speed["holds"] == "no"


def test_claims_table_has_interval_columns():
    test = _decodes()
    df = claims(
        get_spec("sudoku"),
        {},
        _t2(test),
        test,
        None,
        "solved",
        RULES,
        "ci",
        ref_knob="order=margin",
    )
    assert {"estimate", "ci_low", "ci_high", "n", "rule", "holds"} <= set(df.columns)
    assert set(df.holds) <= {"yes", "no", "inconclusive", ""}


def test_claims_skip_sequences_without_a_quality_score():
    """Tasks with no reference (unconditional generation: quality NaN) count for passes, not quality."""
    test = _decodes()
    test.loc[test.seq % 10 == 0, "solved"] = np.nan
    rows = decoding_claims(get_spec("sudoku"), _t2(test), test, "solved", RULES, "order=margin")
    assert all(np.isfinite([r["estimate"], r["ci_low"], r["ci_high"]]).all() for r in rows)
    assert "nan" not in " ".join(r["measured"] for r in rows)


def test_knobs_are_chosen_on_validation_rows_only():
    """Table 2's knob per method comes from the val rows: making another knob look perfect on test
    changes nothing; making it look perfect on val changes the choice."""
    from mdmi.evaluate.report import table2

    def rows(split, good_knob):
        rng = np.random.default_rng(1)
        out = []
        for s in range(60):
            out.append(
                {
                    "split": split,
                    "method": "sequential",
                    "knob": "order=margin",
                    "seq": s,
                    "passes": 50,
                    "solved": 1.0,
                    "label_passes": 0,
                    "head_seconds": 0.0,
                    "seconds": 0.0,
                }
            )
            for knob, passes in [("k=2", 25), ("k=8", 7)]:
                ok = knob == good_knob or rng.random() < 0.5
                out.append(
                    {
                        "split": split,
                        "method": "topk",
                        "knob": knob,
                        "seq": s,
                        "passes": passes,
                        "solved": float(ok),
                        "label_passes": 0,
                        "head_seconds": 0.0,
                        "seconds": 0.0,
                    }
                )
        return pd.DataFrame(out)

    def chosen(val, test):
        t2 = table2("toy", val, test, "solved", 0.02, "ci", extras=())
        return t2.set_index("method").knob["topk"]

    assert chosen(rows("val", "k=2"), rows("test", "k=2")) == "k=2"
    assert (
        chosen(rows("val", "k=2"), rows("test", "k=8")) == "k=2"
    )  # test rows do not move the choice
    assert chosen(rows("val", "k=8"), rows("test", "k=2")) == "k=8"  # val rows do


def test_table2_sequential_row_is_the_reference_setting():
    """Sequential decoding's row in Table 2 is the setting every other method is compared with (its best
    on validation), not the first of its equally fast settings."""
    import pandas as pd

    from mdmi.evaluate.report import choose_knobs

    rows = []
    for seq in range(6):
        rows.append(
            dict(
                method="sequential",
                knob="order=confidence",
                seq=seq,
                passes=50,
                label_passes=0,
                solved=float(seq < 3),
            )
        )
        rows.append(
            dict(
                method="sequential",
                knob="order=margin",
                seq=seq,
                passes=50,
                label_passes=0,
                solved=float(seq < 4),
            )
        )
        rows.append(
            dict(
                method="mi",
                knob="eps=0.1",
                seq=seq,
                passes=10,
                label_passes=0,
                solved=float(seq < 4),
            )
        )
    chosen, ref = choose_knobs(pd.DataFrame(rows), "solved", tolerance=0.5)
    assert (
        ref == "order=margin"
        and chosen["sequential"] == "order=margin"
        and chosen["mi"] == "eps=0.1"
    )


def _claim(rows, text):
    return next(r for r in rows if text in r["claim"])


def test_matched_passes_outside_the_baselines_range_is_not_measured():
    """MI at 14 passes against an EB sweep that starts at 20 passes: no clamped value, 'not measured'."""
    test = _decodes()
    test = test[test.method != "threshold"]
    test = test[~((test.method == "eb") & (test.knob == "gamma=0"))]  # EB now spans 16..30 passes
    rows = decoding_claims(get_spec("sudoku"), _t2(test), test, "solved", RULES, "order=margin")
    beats = _claim(rows, "beats eb")
    assert (
        beats["holds"] == "not measured"
        and "outside" in beats["measured"]
        and np.isnan(beats["estimate"])
    )


def test_claims_are_non_diagnostic_when_all_at_once_loses_nothing():
    """When filling everything from one pass is as good as sequential decoding, every decoding claim
    says non-diagnostic (any method would pass it); when it measurably loses, they are judged."""
    for aao_solved, want in [(0.8, "non-diagnostic"), (0.3, "yes")]:
        test = _decodes()
        base = np.random.default_rng(0).random(400)
        test = pd.concat(
            [
                test,
                pd.DataFrame(
                    [
                        {
                            "method": "all-at-once",
                            "knob": "-",
                            "seq": s,
                            "band": "hard",
                            "passes": 1,
                            "solved": float(base[s] < aao_solved),
                        }
                        for s in range(400)
                    ]
                ),
            ],
            ignore_index=True,
        )
        rows = decoding_claims(get_spec("sudoku"), _t2(test), test, "solved", RULES, "order=margin")
        floor = _claim(rows, "rewards careful decoding")
        assert floor["holds"] == ("no" if want == "non-diagnostic" else "yes")
        assert _claim(rows, "fewer forward passes")["holds"] == want


def test_paper_passes_claim_is_two_sided():
    """'About 15.2 passes' fails when MI needs far fewer passes, not only when it needs more."""
    test = _decodes()
    test.loc[test.method == "mi", "passes"] = 3
    rows = decoding_claims(get_spec("sudoku"), _t2(test), test, "solved", RULES, "order=margin")
    assert _claim(rows, "about 15.2")["holds"] == "no"


def test_a_bootstrap_over_too_few_units_is_inconclusive():
    from mdmi.evaluate.report import small_n

    df = pd.DataFrame(
        {
            "claim": ["a", "b", "c"],
            "n": [2, 40, np.nan],
            "rule": ["r"] * 3,
            "holds": ["yes", "yes", "yes"],
        }
    )
    out = small_n(df, 10)
    assert list(out.holds) == ["inconclusive", "yes", "yes"] and "too few units" in out.rule[0]


def test_frontier_compares_inside_measured_ranges_only():
    """At 3x and 5x (55 / 3 = 18.3 and 11 passes) both curves are measured; at 10x (5.5 passes) EB's
    sweep (10-30 passes) is not, and the row says so instead of a clamped value."""
    from mdmi.evaluate.report import frontier

    test = _decodes()
    for k, p in enumerate([4, 8, 14, 25]):
        test = pd.concat(
            [
                test,
                _decodes(mi_solved=0.9).query("method == 'mi'").assign(knob=f"eps={k}", passes=p),
            ]
        )
    test = test.reset_index(drop=True).assign(seconds=lambda d: d.passes * 1e-3)
    out = frontier(
        "toy",
        test,
        {"sequential": "order=margin", "mi": "eps=0.05", "eb": "gamma=0", "threshold": "tau=0"},
        "order=margin",
        "solved",
        RULES,
    )
    ten = out[(out.speedup == 10) & (out.baseline == "eb")].iloc[0]
    assert ten.holds == "not measured" and "eb" in ten.note and np.isnan(ten.get("gap", np.nan))
    three = out[(out.speedup == 3) & (out.baseline == "eb")].iloc[0]
    assert three.holds == "mi better" and three.ci_low > 0 and three.n == 400
    assert three.mi_wall_speedup == pytest.approx(
        3.0, rel=0.05
    )  # wall time here is proportional to passes


def test_knob_choice_needs_the_lower_bound_not_the_point_estimate():
    """A setting whose val mean is inside the margin but whose paired lower bound is not is never
    chosen: the rule is the lower bound, so the chosen knob does not sit on the margin by construction."""
    from mdmi.evaluate.report import choose_knobs

    rows = []
    for s in range(200):
        rows.append(
            dict(
                method="sequential",
                knob="order=confidence",
                seq=s,
                passes=50,
                label_passes=0,
                solved=1.0,
            )
        )
        rows.append(
            dict(
                method="eb",
                knob="gamma=big",
                seq=s,
                passes=5,
                label_passes=0,
                solved=float(s not in (7, 80, 150)),
            )
        )  # mean drop 0.015 < 0.02, bound below -0.02
        rows.append(
            dict(method="eb", knob="gamma=small", seq=s, passes=12, label_passes=0, solved=1.0)
        )
    chosen, ref, table = choose_knobs(pd.DataFrame(rows), "solved", 0.02, reps=1000, details=True)
    big = table[table.knob == "gamma=big"].iloc[0]
    assert big.difference > -0.02 and big.lower_bound < -0.02 and not big.clears
    assert chosen["eb"] == "gamma=small" and table[table.knob == "gamma=small"].chosen.iloc[0]


def test_a_method_with_one_setting_needs_no_validation_rows():
    """The oracle's single setting is decoded on test only: Table 2 still has its row, with no val numbers;
    a method with several settings and no val rows is a bug, not a silent pick."""
    from mdmi.evaluate.report import table2

    test = _decodes().assign(seconds=1e-3, label_passes=0, head_seconds=0.0)
    val = test[test.method.isin(["sequential", "eb"])]
    extra = test[test.method == "mi"].assign(method="mi-exact")
    t2 = table2(
        "toy",
        val,
        pd.concat([test[test.method.isin(["sequential", "eb"])], extra]),
        "solved",
        0.02,
        "ci",
        extras=(),
    )
    row = t2.set_index("method").loc["mi-exact"]
    assert row.knob == "eps=0.05" and row.val_n == 0 and np.isnan(row.val_passes)
    with pytest.raises(ValueError, match="no validation rows"):
        table2(
            "toy", val, test, "solved", 0.02, "ci", extras=()
        )  # threshold: 3 settings, none on val
