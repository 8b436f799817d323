"""`wam-eval compare`: paired tests on shared episode keys, independent tests otherwise, verdict
words only where significant, and runs under different presets refused unless allowed."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from envs.presets import resolve_preset
from harness.cli import main
from harness.report.aggregate import load_run, open_store, run_row
from harness.report.compare import (
    AVERAGE,
    BY_TEST_INTERVAL_EXCLUDES_0,
    BY_TEST_INTERVAL_INCLUDES_0,
    NO_DIFFERENCE,
    PAIRED_TEST,
    POOLED,
    UNPAIRED_TEST,
    WEIGHTED,
    compare_rows,
    compare_runs,
    matched_seed_delta,
)
from harness.reporting import layout_for
from harness.stats import (
    PairedCounts,
    mcnemar_exact,
    newcombe_interval,
    newcombe_paired_interval,
    two_proportion_z,
)
from tests.report_data import (
    libero_keys,
    libero_preset,
    make_manifest,
    result,
    robotwin_keys,
    robotwin_preset,
    write_run,
)

# Per suite: successes of A and of B on the same 10 episodes (episode index < k succeeds).
OUTCOMES = {"libero_object": (10, 3), "libero_spatial": (5, 6)}


@pytest.fixture()
def two_runs(tmp_path):
    store = tmp_path / "c.sqlite"
    keys = libero_keys(OUTCOMES, tasks=1, episodes=10)
    a = write_run(
        store,
        make_manifest(libero_preset(), checkpoint="step-1000"),
        keys,
        lambda k: result(k, k.episode < OUTCOMES[k.suite][0]),
    )
    b = write_run(
        store,
        make_manifest(libero_preset(), checkpoint="step-2000"),
        keys,
        lambda k: result(k, k.episode < OUTCOMES[k.suite][1]),
    )
    return store, a, b


def test_paired_comparison_on_shared_keys(two_runs):
    store, id_a, id_b = two_runs
    with open_store(store) as s:
        a, b = load_run(s, id_a), load_run(s, id_b)
    comps = {c.label: c for c in compare_runs(layout_for("libero"), a, b, alpha=0.05)}
    # Both suites have 10 episodes, so pooling weights them as the paper does: no Pooled row.
    assert list(comps) == ["Spatial", "Object", AVERAGE]
    obj = comps["Object"]
    # B keeps 3 of A's 10 successes: 7 discordant pairs, all against B: p = 2 / 2^7 = 0.015625.
    assert obj.test == PAIRED_TEST and obj.pairs == PairedCounts(3, 7, 0, 0)
    assert obj.p_value == pytest.approx(2 / 2**7)
    assert obj.diff == pytest.approx(-0.7)
    lo, hi = newcombe_paired_interval(PairedCounts(3, 7, 0, 0), 0.95)
    assert obj.interval == pytest.approx((-hi, -lo))
    assert obj.verdict == "worse"
    spatial = comps["Spatial"]
    # One discordant pair (episode 5 succeeds only under B): p = 1.
    assert spatial.pairs == PairedCounts(5, 0, 1, 4) and spatial.p_value == 1.0
    assert spatial.verdict == NO_DIFFERENCE
    average = comps[AVERAGE]
    assert average.pairs == PairedCounts(8, 7, 1, 4)
    # Table 2's Average difference: (+0.1 + -0.7) / 2 = -0.3 (with equal suites also the pooled one).
    assert average.diff == pytest.approx(-0.3)
    assert average.a.rate == pytest.approx((0.5 + 1.0) / 2) and average.b.rate == pytest.approx((0.6 + 0.3) / 2)
    # Equal weight per episode: the test of the weighted difference is the exact McNemar test of the
    # summed pairs. b=7, c=1: 2 * P(X <= 1 | 8) = 18/256 = 0.070: not significant at 0.05, so no verdict word.
    assert average.test == PAIRED_TEST
    assert average.p_value == pytest.approx(2 * (1 + 8) / 2**8)
    assert average.decision == NO_DIFFERENCE
    # Its interval: each column's half-widths (Newcombe paired, B - A) combined as variances over K^2 = 4.
    s_lo, s_hi = spatial.interval
    o_lo, o_hi = obj.interval
    lo = -0.3 - math.sqrt((0.5 * (0.1 - s_lo)) ** 2 + (0.5 * (-0.7 - o_lo)) ** 2)
    hi = -0.3 + math.sqrt((0.5 * (s_hi - 0.1)) ** 2 + (0.5 * (o_hi + 0.7)) ** 2)
    assert average.interval == pytest.approx((lo, hi), abs=1e-12)
    assert average.interval == pytest.approx((-0.45507, -0.06692), abs=5e-5)
    # The interval excludes 0 while the exact test does not reject: the verdict follows the test and says so.
    assert average.verdict == NO_DIFFERENCE + BY_TEST_INTERVAL_EXCLUDES_0 and not average.interval_agrees
    assert obj.interval_agrees and spatial.interval_agrees
    # At alpha 0.01 the Object difference (p = 0.0156) is no longer called worse.
    strict = {c.label: c for c in compare_runs(layout_for("libero"), a, b, alpha=0.01)}
    assert strict["Object"].decision == NO_DIFFERENCE
    # ... though its 99% interval still excludes 0 (exact McNemar is conservative at 7 discordant pairs).
    assert strict["Object"].verdict == NO_DIFFERENCE + BY_TEST_INTERVAL_EXCLUDES_0
    assert strict["Object"].interval[1] < 0


def test_independent_comparison_without_shared_keys(tmp_path):
    store = tmp_path / "u.sqlite"
    keys_a = libero_keys(["libero_goal"], tasks=1, episodes=20)
    keys_b = [k for k in libero_keys(["libero_goal"], tasks=2, episodes=20) if k.task.endswith("1")]
    id_a = write_run(store, make_manifest(libero_preset(), checkpoint="a"), keys_a, lambda k: result(k, k.episode < 18))
    id_b = write_run(store, make_manifest(libero_preset(), checkpoint="b"), keys_b, lambda k: result(k, k.episode < 8))
    with open_store(store) as s:
        a, b = load_run(s, id_a), load_run(s, id_b)
    goal = compare_runs(layout_for("libero"), a, b)[0]
    assert goal.test == UNPAIRED_TEST and goal.pairs is None
    assert goal.p_value == pytest.approx(two_proportion_z(8, 20, 18, 20))
    # By hand: pooled 26/40 = 0.65, se = sqrt(0.65 * 0.35 * 0.1) = 0.15083, z = -0.5 / 0.15083 = -3.315.
    assert goal.p_value == pytest.approx(math.erfc(0.5 / math.sqrt(0.65 * 0.35 * 0.1) / math.sqrt(2)))
    assert goal.interval == pytest.approx(newcombe_interval(8, 20, 18, 20))
    assert goal.verdict == "worse"


def test_same_key_on_another_seed_is_not_a_pair(tmp_path):
    store = tmp_path / "rt.sqlite"
    keys = robotwin_keys(["stack_blocks_two"], 6, settings=("clean",))
    id_a = write_run(
        store, make_manifest(robotwin_preset(), checkpoint="a"), keys, lambda k: result(k, True, seed=100 + k.episode)
    )
    id_b = write_run(
        store, make_manifest(robotwin_preset(), checkpoint="b"), keys, lambda k: result(k, False, seed=200 + k.episode)
    )
    with open_store(store) as s:
        clean = compare_runs(layout_for("robotwin"), load_run(s, id_a), load_run(s, id_b))[0]
    assert clean.test == UNPAIRED_TEST


def test_matched_seed_delta_pairs_the_same_task_and_seed_only(tmp_path):
    """Table 1's randomized - clean within one run: an episode of each setting on the same task and
    simulator seed is a pair, whatever its index in each setting's seed list; other episodes are left out."""
    # (task, setting, episode) -> (seed, success)
    plan = {
        ("a", "clean", 0): (1, True),
        ("a", "randomized", 0): (1, False),  # only clean succeeds
        ("a", "clean", 1): (2, True),
        ("a", "randomized", 2): (2, True),  # a pair at different indices
        ("a", "clean", 2): (3, False),
        ("a", "randomized", 1): (3, True),  # only randomized succeeds
        ("a", "clean", 3): (4, True),
        ("a", "randomized", 3): (5, False),  # seeds 4 and 5: no partner
        ("b", "clean", 0): (1, False),
        ("b", "randomized", 0): (1, False),  # seed 1 of another task
    }
    keys = [k for k in robotwin_keys(["a", "b"], 4) if (k.task, k.setting, k.episode) in plan]
    store = tmp_path / "m.sqlite"
    run_id = write_run(
        store,
        make_manifest(robotwin_preset()),
        keys,
        lambda k: result(k, plan[(k.task, k.setting, k.episode)][1], seed=plan[(k.task, k.setting, k.episode)][0]),
    )
    with open_store(store) as s:
        delta = matched_seed_delta(layout_for("robotwin"), load_run(s, run_id))
    assert delta.test == PAIRED_TEST and delta.label == "Randomized - Clean"
    assert delta.pairs == PairedCounts(both=1, first_only=1, second_only=1, neither=1)
    assert (delta.unpaired_a, delta.unpaired_b) == (1, 1)
    assert delta.diff == 0.0 and delta.p_value == 1.0 and delta.verdict == NO_DIFFERENCE
    lo, hi = newcombe_paired_interval(delta.pairs)
    assert delta.interval == pytest.approx((-hi, -lo))


def test_matched_seed_delta_needs_both_settings(tmp_path):
    store = tmp_path / "one.sqlite"
    keys = robotwin_keys(["a"], 3, settings=("clean",))
    run_id = write_run(store, make_manifest(robotwin_preset()), keys, lambda k: result(k, True, seed=k.episode))
    with open_store(store) as s:
        assert matched_seed_delta(layout_for("robotwin"), load_run(s, run_id)) is None


def cli_rows(out: str) -> dict[str, str]:
    """The compare table's rows by label, each row's cells joined with its wrapped continuation lines."""
    rows: dict[str, list[str]] = {}
    label = None
    for line in out.splitlines():
        if line.count("│") <= 3:
            continue
        cells = [c.strip() for c in line.split("│")]  # no outer border: the first and last cells are whole
        if cells[0]:
            label = cells[0]
            rows[label] = cells
        elif label is not None:
            rows[label] = [f"{old} {new}".strip() for old, new in zip(rows[label], cells)]
    return {k: " │ ".join(v) for k, v in rows.items()}


def test_compare_cli_words_only_where_significant(two_runs, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    store, a, b = two_runs
    assert main(["compare", a, b, "--store", str(store)]) == 0
    out = capsys.readouterr().out
    lines = cli_rows(out)
    assert "worse" in lines["Object"] and "better" not in lines["Object"]
    assert "no significant difference" in lines["Spatial"]
    assert "better" not in lines["Spatial"] and "worse" not in lines["Spatial"]
    assert "exact McNemar" in lines["Object"]
    assert "no significant difference (by the test; the interval excludes 0)" in lines[AVERAGE]
    assert "-30.0 [-45.5, -6.7]" in lines[AVERAGE]
    assert f"  {AVERAGE}: mean of 2 of 4 suites" in out  # the episodes each row compares, under the table
    assert "Overall" not in lines and POOLED not in lines


def test_compare_refuses_different_presets_then_accepts_with_the_flag(tmp_path):
    store = tmp_path / "m.sqlite"
    keys = libero_keys(["libero_object"], tasks=1, episodes=4)
    a = write_run(store, make_manifest(libero_preset("openpi-libero")), keys, lambda k: result(k, True))
    b = write_run(store, make_manifest(resolve_preset("lerobot-libero")), keys, lambda k: result(k, k.episode < 2))
    cmd = [sys.executable, "-m", "harness.cli", "compare", a, b, "--store", str(store)]
    refused = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    err = refused.stderr.strip()
    assert len(err.splitlines()) == 1
    assert "openpi-libero" in err and "lerobot-libero" in err and "--allow-preset-mismatch" in err
    accepted = subprocess.run(cmd + ["--allow-preset-mismatch"], capture_output=True, text=True, timeout=120)
    assert accepted.returncode == 0, accepted.stderr
    assert "PRESET MISMATCH" in accepted.stdout
    assert "openpi-libero" in accepted.stdout and "lerobot-libero" in accepted.stdout


def _paired_store(tmp_path, plan):
    """plan: suite -> list of (A succeeds, B succeeds), one per episode of one task."""
    store = tmp_path / "w.sqlite"
    keys = [k for suite, outcomes in plan.items() for k in libero_keys([suite], tasks=1, episodes=len(outcomes))]
    runs = []
    for side, checkpoint in ((0, "a"), (1, "b")):
        runs.append(
            write_run(
                store,
                make_manifest(libero_preset(), checkpoint=checkpoint),
                keys,
                lambda k, side=side: result(k, plan[k.suite][k.episode][side]),
            )
        )
    with open_store(store) as s:
        return [load_run(s, r) for r in runs]


def test_average_is_the_papers_average_difference_not_the_pooled_one(tmp_path):
    # Spatial: 10 pairs, A 10/10, B 8/10 -> -0.2. Object: 2 pairs, A 0/2, B 2/2 -> +1.0.
    plan = {
        "libero_spatial": [(True, e < 8) for e in range(10)],
        "libero_object": [(False, True), (False, True)],
    }
    a, b = _paired_store(tmp_path, plan)
    layout = layout_for("libero")
    comps = {c.label: c for c in compare_runs(layout, a, b)}
    assert list(comps) == ["Spatial", "Object", AVERAGE, POOLED]
    average, pooled = comps[AVERAGE], comps[POOLED]
    # Table 2 averages the suites: A (1.0 + 0.0) / 2 = 0.5, B (0.8 + 1.0) / 2 = 0.9, B - A = +0.4 ...
    assert average.diff == pytest.approx(0.4)
    rows = {r.run.run_id: r for r in (run_row(layout, a), run_row(layout, b))}
    assert average.diff == pytest.approx(rows[b.run_id].average.estimate.rate - rows[a.run_id].average.estimate.rate)
    # ... while pooling the 12 pairs gives 10/12 each: B - A = 0 (the old "Overall").
    assert pooled.diff == pytest.approx(0.0) and pooled.pairs == PairedCounts(8, 2, 2, 0)
    assert pooled.p_value == 1.0 and pooled.test == PAIRED_TEST
    # The exact test of the weighted difference: each discordant pair of Spatial weighs 1/2 * 1/10,
    # each of Object 1/2 * 1/2, i.e. 1 : 5. Observed 1 * (0 - 2) + 5 * (2 - 0) = 8. Under no
    # difference Spatial's c - b is -2, 0, 2 (1/4, 1/2, 1/4), Object's 5 * (-2, 0, 2) likewise; the
    # sum reaches 8 only with Object at +10 (1/4): p = 2 * 1/4 = 0.5.
    assert average.test == PAIRED_TEST + WEIGHTED and average.p_value == pytest.approx(0.5)
    assert average.decision == NO_DIFFERENCE
    # The interval: the columns' Newcombe half-widths, combined as variances summed over K^2 = 4.
    s_lo, s_hi = newcombe_paired_interval(PairedCounts(8, 2, 0, 0))  # A - B
    o_lo, o_hi = newcombe_paired_interval(PairedCounts(0, 0, 2, 0))
    s_lo, s_hi, o_lo, o_hi = -s_hi, -s_lo, -o_hi, -o_lo  # B - A
    lo = 0.4 - math.sqrt((0.5 * (-0.2 - s_lo)) ** 2 + (0.5 * (1.0 - o_lo)) ** 2)
    hi = 0.4 + math.sqrt((0.5 * (s_hi + 0.2)) ** 2 + (0.5 * (o_hi - 1.0)) ** 2)
    assert average.interval == pytest.approx((lo, hi), abs=1e-12)
    assert comps["Spatial"].interval == pytest.approx((s_lo, s_hi)) and comps["Object"].interval == pytest.approx(
        (o_lo, o_hi)
    )
    assert average.a.rate == pytest.approx(0.5) and average.b.rate == pytest.approx(0.9)


def test_robotwin_columns_compare_means_over_tasks(tmp_path):
    # Clean only, seeds that differ between the runs: independent samples. Task a: A 4/4, B 2/4;
    # task b: A 2/2, B 0/2. Table 1's clean cell: A (1 + 1) / 2 = 1.0, B (0.5 + 0) / 2 = 0.25.
    outcomes = {("a", "a"): 4, ("a", "b"): 2, ("b", "a"): 2, ("b", "b"): 0}
    store = tmp_path / "rt.sqlite"
    keys = robotwin_keys(["a"], 4, settings=("clean",)) + robotwin_keys(["b"], 2, settings=("clean",))
    ids = [
        write_run(
            store,
            make_manifest(robotwin_preset(), checkpoint=side),
            keys,
            lambda k, side=side, base=base: result(k, k.episode < outcomes[(k.task, side)], seed=base + k.episode),
        )
        for side, base in (("a", 100), ("b", 200))
    ]
    layout = layout_for("robotwin")
    with open_store(store) as s:
        a, b = load_run(s, ids[0]), load_run(s, ids[1])
    comps = {c.label: c for c in compare_runs(layout, a, b)}
    assert list(comps) == ["Clean", AVERAGE, POOLED]
    clean = comps["Clean"]
    assert clean.diff == pytest.approx((-0.5 + -1.0) / 2)
    assert (clean.a.rate, clean.b.rate) == (pytest.approx(1.0), pytest.approx(0.25))
    assert clean.diff == pytest.approx(
        run_row(layout, b).cells["clean"].estimate.rate - run_row(layout, a).cells["clean"].estimate.rate
    )
    # Stratified z by hand: task a pools 6/8 = 0.75, variance 0.75 * 0.25 * (1/4 + 1/4) = 0.09375;
    # task b pools 2/4, 0.25 * (1/2 + 1/2) = 0.25; each weighs 1/2: var = (0.09375 + 0.25) / 4.
    z = 0.75 / math.sqrt((0.09375 + 0.25) / 4)
    assert z == pytest.approx(2.5584, abs=1e-4)
    assert clean.test == UNPAIRED_TEST + WEIGHTED and clean.p_value == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert clean.verdict == "worse" and clean.note == "mean over 2 tasks"
    # One setting stored: the Average is the clean column; pooling 6/6 vs 2/6 weighs task a double.
    assert comps[AVERAGE].diff == pytest.approx(clean.diff) and comps[AVERAGE].interval == pytest.approx(clean.interval)
    assert comps[AVERAGE].note == "mean of 1 of 2 settings"
    assert comps[POOLED].diff == pytest.approx(2 / 6 - 1.0)
    assert comps[POOLED].p_value == pytest.approx(two_proportion_z(2, 6, 6, 6))


def test_the_verdict_follows_the_test_and_says_when_the_interval_disagrees():
    # 8 pairs: 1 only A, 6 only B, 1 neither. Exact McNemar: 2 * P(X <= 1 | 7) = 16/128 = 0.125,
    # while Newcombe's paired interval for B - A = 5/8 just excludes 0.
    rows_a, rows_b = [], []
    for i, (sa, sb) in enumerate([(True, False)] + [(False, True)] * 6 + [(False, False)]):
        base = {
            "episode_id": f"libero/libero_object/t/default/{i}",
            "suite": "libero_object",
            "task": "t",
            "seed": None,
        }
        rows_a.append({**base, "success": sa})
        rows_b.append({**base, "success": sb})
    c = compare_rows("Object", rows_a, rows_b, alpha=0.05)
    assert c.pairs == PairedCounts(0, 1, 6, 1) and c.p_value == pytest.approx(mcnemar_exact(1, 6)) == 0.125
    assert c.diff == pytest.approx(5 / 8) and c.interval[0] > 0
    assert c.decision == NO_DIFFERENCE and c.verdict == NO_DIFFERENCE + BY_TEST_INTERVAL_EXCLUDES_0
    assert not c.interval_agrees
    # The other way round: 1/2 vs 0/7, independent. The z-test rejects (p = 0.047), Newcombe's
    # hybrid interval (-0.905, +0.038) holds 0: "worse", by the test, and said so.
    indep_a = [{"episode_id": f"a{i}", "suite": "s", "task": "t", "seed": None, "success": i < 1} for i in range(2)]
    indep_b = [{"episode_id": f"b{i}", "suite": "s", "task": "t", "seed": None, "success": False} for i in range(7)]
    c = compare_rows("Goal", indep_a, indep_b, alpha=0.05)
    assert c.test == UNPAIRED_TEST and c.p_value == pytest.approx(0.04722, abs=1e-5)
    assert c.interval == pytest.approx((-0.9055, 0.0385), abs=5e-5)
    assert c.decision == "worse" and c.verdict == "worse" + BY_TEST_INTERVAL_INCLUDES_0
