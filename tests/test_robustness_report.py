"""The robustness report: hand-built runs whose pairing is known get the paired test (exact McNemar,
checked by hand) or the unpaired one (Fisher's exact); a real `reproduce robustness` run on LIBERO
with the noop policy stores one episode per perturbation kind and reports it, and the HTML shows the
figure in headless Chromium.

Runtime: about 60 s (five short LIBERO episodes, one report, two Chromium starts)."""

from __future__ import annotations

import json
import textwrap

import pytest

from harness.api.types import EpisodeKey
from harness.cli import main
from harness.report.aggregate import load_run
from harness.report.robustness import ORIGINAL, PAIRED, UNPAIRED, SuiteRole, build_robustness, drop_test
from harness.report.robustness_baselines import load_published, robustness_baseline_dirs
from harness.report.robustness_writers import write_robustness
from harness.reproduce.robustness import place_suite
from harness.stats import PairedCounts, fisher_exact, mcnemar_exact, newcombe_paired_interval, wilson_interval
from harness.store import ResultStore
from tests.report_data import libero_preset, make_manifest, result, write_run
from tests.test_report_cli import browse, tables_of

KINDS = [("lan", "Language"), ("with", "Distractor"), ("env", "Environment")]
ROLES = [
    SuiteRole("libero_goal", "libero_goal", ORIGINAL, "Original"),
    SuiteRole("libero_goal_lan", "libero_goal", "lan", "Language", task_pairs={"t0": "t0", "t1": "t1"}),
    SuiteRole("libero_goal_with_milk", "libero_goal", "with", "Distractor", task_pairs=None),
    SuiteRole("libero_goal_env", "libero_goal", "env", "Environment", unavailable="every task: no BDDL file"),
]


def _outcomes() -> dict[str, bool]:
    """20 base episodes (18 succeed) and the lan suite's 20, built so that the pairs are known:
    12 both succeed, 6 only the base, 1 only lan, 1 neither. with_milk: 8 of 20, tasks unrelated."""
    out = {}
    pattern = ["both"] * 12 + ["base"] * 6 + ["lan"] + ["neither"]
    for i, kind in enumerate(pattern):
        task, ep = f"t{i // 10}", i % 10
        out[EpisodeKey("libero", "libero_goal", task, "default", ep).id] = kind in ("both", "base")
        out[EpisodeKey("libero", "libero_goal_lan", task, "default", ep).id] = kind in ("both", "lan")
    for i in range(20):
        out[EpisodeKey("libero", "libero_goal_with_milk", f"FLOOR_t{i // 10}", "default", i % 10).id] = i < 8
    return out


@pytest.fixture
def hand_built(tmp_path):
    outcomes = _outcomes()
    keys = [EpisodeKey.from_id(i) for i in outcomes]
    manifest = make_manifest(libero_preset("openpi-libero-pro"), policy="scripted")
    store = tmp_path / "store.sqlite"
    write_run(store, manifest, keys, lambda k: result(k, outcomes[k.id]))
    with ResultStore(store) as s:
        return load_run(s, manifest.run_id)


def test_known_pairs_get_the_exact_mcnemar_test(hand_built):
    report = build_robustness([hand_built], ROLES, displays={"libero_goal": "Goal"}, kinds=KINDS)
    row = report.rows[0]
    assert (row.original.successes, row.original.n) == (18, 20)
    lan = row.cells["lan"]
    assert (lan.successes, lan.n) == (13, 20) and lan.interval == wilson_interval(13, 20)
    d = lan.drop
    assert d.pairing == PAIRED and "McNemar" in d.test and d.n_pairs == 20
    assert (d.base_only, d.perturbed_only) == (6, 1)
    assert d.points == pytest.approx(25.0)  # (18 - 13) / 20
    assert d.p_value == pytest.approx(2 * (1 + 7) / 2**7)  # two-sided exact: 2 P(X <= 1), X ~ Bin(7, 1/2)
    assert d.p_value == mcnemar_exact(6, 1)
    lo, hi = newcombe_paired_interval(PairedCounts(12, 6, 1, 1))
    assert d.interval == pytest.approx((100 * lo, 100 * hi))


def test_suites_whose_tasks_do_not_pair_get_fishers_exact_test(hand_built):
    report = build_robustness([hand_built], ROLES, displays={}, kinds=KINDS)
    milk = report.rows[0].cells["with"]
    d = milk.drop
    assert d.pairing == UNPAIRED and "Fisher" in d.test and "not the base suite's" in d.test
    assert d.p_value == fisher_exact(18, 20, 8, 20)
    assert d.points == pytest.approx(50.0)
    env = report.rows[0].cells["env"]
    assert not env.measured and env.drop is None and env.note == "cannot run here: every task: no BDDL file"


def test_report_files_say_which_test_each_cell_got(hand_built, tmp_path):
    report = build_robustness([hand_built], ROLES, displays={"libero_goal": "Goal"}, kinds=KINDS)
    files = write_robustness(report, tmp_path / "out")
    md = files.markdown.read_text()
    lan = next(line for line in md.splitlines() if "| libero_goal_lan |" in line)
    milk = next(line for line in md.splitlines() if "| libero_goal_with_milk |" in line)
    assert "paired: exact McNemar on 20 episodes" in lan and "+25.0" in lan
    assert "unpaired: Fisher's exact test" in milk and "+50.0" in milk
    assert "no golden-state drift check" in md
    env = next(line for line in md.splitlines() if "| libero_goal_env |" in line).split("|")
    assert env[9].strip() == "cannot run here: every task: no BDDL file" and env[10].strip() == "-"  # test, p
    data = json.loads(files.json.read_text())
    assert data["rows"][0]["cells"]["lan"]["drop"]["pairing"] == PAIRED
    assert files.figure.read_bytes().startswith(b"\x89PNG")
    # With golden states for the base suite only, the report names what the drift check leaves out.
    covered = [SuiteRole(r.name, r.base, r.kind, r.label, r.task_pairs, r.unavailable, drift_checked=r.kind == ORIGINAL)
               for r in ROLES]
    report = build_robustness([hand_built], covered, displays={}, kinds=KINDS, drift_available=True)
    assert report.drift_coverage() == (["libero_goal"], ["libero_goal_lan", "libero_goal_with_milk", "libero_goal_env"])
    md = write_robustness(report, tmp_path / "out2").markdown.read_text()
    assert "drift check covers: libero_goal." in md and "does not cover (no golden states recorded for them): " \
        "libero_goal_lan, libero_goal_with_milk, libero_goal_env" in md


def test_pairable_suite_with_no_shared_episode_falls_back_to_unpaired(hand_built):
    role = SuiteRole("libero_goal_lan", "libero_goal", "lan", "Language", task_pairs={"t0": "elsewhere"})
    base = [r for r in hand_built.rows if r["suite"] == "libero_goal"]
    lan = [r for r in hand_built.rows if r["suite"] == "libero_goal_lan" and r["task"] == "t0"]
    d = drop_test(base, lan, role)
    assert d.pairing == UNPAIRED and "no episode shares" in d.test


def test_fisher_exact_against_published_values():
    assert fisher_exact(3, 10, 8, 10) == pytest.approx(0.0698, abs=5e-5)  # scipy.stats.fisher_exact
    assert fisher_exact(1, 2, 0, 2) == 1.0
    assert fisher_exact(10, 10, 0, 10) == pytest.approx(2 / 184756)  # only the two extreme tables
    assert fisher_exact(8, 10, 3, 10) == fisher_exact(3, 10, 8, 10)


def test_published_rows_keep_each_cells_source():
    rows, sources = load_published(robustness_baseline_dirs(), place_suite)
    by_method = {r.method: r for r in rows}
    assert {"OpenVLA", "Pi0", "Pi0.5", "MolmoAct", "NORA", "X-VLA", "UniVLA"} <= set(by_method)
    pi05 = by_method["Pi0.5"].cells
    assert pi05[("libero_goal", "swap")].value == 0.38
    assert pi05[("libero_goal", "swap")].source == "libero-pro-readme-leaderboard"
    assert pi05[("libero_goal", ORIGINAL)].value == 0.97
    assert pi05[("libero_goal", ORIGINAL)].source == "libero-pro-readme-motivation"
    assert ("libero_goal", "env") not in by_method["NORA"].cells  # "-" in the source
    assert {s.id for s in sources} == {"libero-pro-readme-leaderboard", "libero-pro-readme-motivation"}


TEST_PRESET = """\
extends = "openpi-libero"
name = "test-robustness-short"
description = "tests only: openpi-libero with 2 warm-up steps, 8 policy steps on libero_goal (and so on its perturbations), 64 px"
source = "tests/test_robustness_report.py"
warmup_steps = 2

[max_steps]
libero_goal = 8

[render]
height = 64
width = 64
"""


def test_reproduce_robustness_on_real_libero_stores_reports_and_draws(tmp_path, capsys):
    preset = tmp_path / "short.toml"
    preset.write_text(textwrap.dedent(TEST_PRESET))
    store, out = tmp_path / "store.sqlite", tmp_path / "report"
    code = main(["reproduce", "robustness", "--policy", "noop", "--suite", "libero_goal", "--tasks", "0",
                 "--episodes", "1", "--workers", "0", "--preset", str(preset), "--store", str(store), "--out", str(out),
                 "-q"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "skipped libero_goal_env: cannot run on this install" in printed
    data = json.loads((out / "robustness.json").read_text())
    cells = data["rows"][0]["cells"]
    assert data["rows"][0]["original"]["n"] == 1
    for kind in ("lan", "object", "swap", "task"):
        assert cells[kind]["n"] == 1 and cells[kind]["successes"] == 0, kind
        assert cells[kind]["drop"]["pairing"] == PAIRED  # LIBERO-PRO's four keep the base suite's tasks
    assert cells["env"]["n"] == 0 and "no BDDL" in cells["env"]["unavailable"]
    assert data["drift"]["not_covered"]  # the report says which suites the drift check leaves out
    with ResultStore(store) as s:
        rows = s.episode_rows(s.runs()[0].run_id)
    by_suite = {r["suite"]: r for r in rows}
    assert set(by_suite) == {"libero_goal", "libero_goal_lan", "libero_goal_object", "libero_goal_swap",
                             "libero_goal_task"}
    assert all(r["steps"] == 8 for r in rows)  # the base suite's limit, for every perturbation
    assert by_suite["libero_goal_lan"]["instruction"] != by_suite["libero_goal"]["instruction"]
    assert by_suite["libero_goal_task"]["instruction"] == "open the bottom drawer of the cabinet"

    html = (out / "robustness.html").read_text()
    assert html.count('<img src="data:image/png;base64,') == 1
    dom = browse(out / "robustness.html", tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'id="fig-robustness"' in dom.stdout
    table = tables_of(dom.stdout)["robustness"]
    assert table[0][:3] == ["base suite", "perturbation", "suite"]
    assert [r[1] for r in table[1:]] == ["Original", "Language", "Object", "Position", "Task", "Environment"]
    assert "paired: exact McNemar" in table[2][8]
    assert table[4][1] == "Position" and table[4][10] == "0-38% (7 models)"  # Position beside LIBERO-PRO's: Pi0.5 0.38 ... UniVLA 0.1
    published = tables_of(dom.stdout)["published-libero_goal"]
    assert published[0] == ["method", "Original", "Language", "Object", "Position", "Task", "Environment"]
    pi05 = next(r for r in published if r[0] == "Pi0.5")
    assert pi05[1] == "97% (b)" and pi05[4] == "38% (a)"  # (a) the leaderboard, (b) the motivation table
    shot = tmp_path / "shot.png"
    done = browse(out / "robustness.html", tmp_path / "profile-shot", "--window-size=1400,1800", f"--screenshot={shot}")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    from matplotlib.image import imread

    pixels = imread(str(shot))[..., :3]
    # The heat map's red cells (0% success) are drawn: strongly red pixels exist on the page.
    red = (pixels[..., 0] > 0.55) & (pixels[..., 1] < 0.25) & (pixels[..., 2] < 0.25)
    assert red.sum() > 500


def test_distractor_and_other_kinds_run_store_and_report(tmp_path):
    """The kinds `reproduce robustness` leaves to `run`: a distractor suite (its tasks are the base
    suite's behind a scene prefix, so they pair) and one of LIBERO-PRO's other experiments (two tasks,
    no base counterpart: unpaired)."""
    from envs.registry import find_suite, get_benchmark
    from harness.reproduce.robustness import task_pairs

    preset = tmp_path / "short.toml"
    preset.write_text(textwrap.dedent(TEST_PRESET).replace("libero_goal = 8", "libero_goal = 8\nlibero_object = 8"))
    store = tmp_path / "store.sqlite"
    suites = "libero_goal,libero_goal_with_mug,libero_object,libero_object_two_normal_episodes"
    assert main(["run", "--suite", suites, "--tasks", "0", "--episodes", "1", "--policy", "noop", "--workers", "0",
                 "--preset", str(preset), "--store", str(store), "-q"]) == 0
    with ResultStore(store) as s:
        data = load_run(s, s.runs()[0].run_id)
    assert {r["suite"] for r in data.rows} == set(suites.split(","))
    bench = get_benchmark("libero")
    mug, other = find_suite(bench, "libero_goal_with_mug"), find_suite(bench, "libero_object_two_normal_episodes")
    roles = [SuiteRole("libero_goal", "libero_goal", ORIGINAL, "Original"),
             SuiteRole(mug.name, "libero_goal", "with", "Distractor", task_pairs(mug, find_suite(bench, "libero_goal"))),
             SuiteRole("libero_object", "libero_object", ORIGINAL, "Original"),
             SuiteRole(other.name, "libero_object", "other", "Other",
                       task_pairs(other, find_suite(bench, "libero_object")))]
    report = build_robustness([data], roles, displays={}, kinds=[("with", "Distractor"), ("other", "Other")])
    goal, obj = report.rows
    assert goal.cells["with"].n == 1 and goal.cells["with"].drop.pairing == PAIRED
    assert obj.cells["other"].n == 1 and obj.cells["other"].drop.pairing == UNPAIRED
    assert write_robustness(report, tmp_path / "out").html.is_file()


def test_drift_coverage_from_stored_verdicts(tmp_path):
    """Episodes the drift check judged make their suite covered, and a drifted start is counted, even
    where this install has no golden states (the run happened elsewhere)."""
    from dataclasses import replace

    keys = [EpisodeKey("libero", s, "t0", "default", e) for s in ("libero_goal", "libero_goal_lan") for e in range(3)]

    def outcome(key):
        if key.suite == "libero_goal_lan":
            return replace(result(key, True), drift=None, drift_verdict="no reference")
        return replace(result(key, True), drift=0.01 if key.episode == 0 else 1e-7,
                       drift_verdict="drift" if key.episode == 0 else "ok")

    manifest = make_manifest(libero_preset("openpi-libero-pro"))
    write_run(tmp_path / "s.sqlite", manifest, keys, outcome)
    with ResultStore(tmp_path / "s.sqlite") as s:
        run = load_run(s, manifest.run_id)
    report = build_robustness([run], ROLES[:2], displays={}, kinds=KINDS[:1])
    assert report.drift_coverage() == (["libero_goal"], ["libero_goal_lan"])
    md = write_robustness(report, tmp_path / "out").markdown.read_text()
    assert "drift check covers: libero_goal." in md and "started off the golden state: libero_goal (1)" in md


def test_reproduce_robustness_chooses_the_policys_family_and_refuses_bad_input_in_one_line(capsys):
    from harness.reproduce.robustness import parse_kinds, robustness_preset

    assert robustness_preset("fastwam", None) == "fastwam-libero-pro"
    assert robustness_preset("noop", None) == "openpi-libero-pro"
    assert robustness_preset("noop", "libero-pro") == "libero-pro"
    assert parse_kinds(None) == ("lan", "object", "swap", "task", "env")
    for argv, needle in [
        (["--kinds", "lan,bogus"], "unknown perturbation kind(s) bogus; choose from: lan, object"),
        (["--suite", "libero_goal_lan"], "--suite takes base suites"),
        (["--episodes", "0"], "--episodes must be at least 1"),
    ]:
        assert main(["reproduce", "robustness", "--policy", "noop", "--workers", "0", *argv]) == 2
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1
