"""Oracle policies (PolicyInfo.privileged): marked as such wherever a run is shown, never passed off
as a learned policy."""

from __future__ import annotations

from rich.console import Console

from harness.driver import _print_header
from harness.report.aggregate import load_run, open_store
from harness.report.baselines import baseline_dirs, load_baselines
from harness.report.model import build_report
from harness.report.write_markdown import render_markdown
from policies.base import PolicyInfo
from tests.report_data import libero_keys, libero_preset, make_manifest, result, write_run


def test_an_oracle_run_is_marked_in_the_header_the_stored_record_and_the_report(tmp_path):
    preset = libero_preset()
    info = PolicyInfo(name="an-oracle", action_dim=7, horizon=1, privileged=True)
    console = Console(record=True, width=300)
    manifest = make_manifest(preset, policy="an-oracle")
    manifest.policy = {**manifest.policy, "privileged": True}
    _print_header(console, manifest, info, preset, planned=1, todo=1, store="s.sqlite")
    assert "ORACLE: acts on privileged simulator state" in console.export_text()
    store = tmp_path / "s.sqlite"
    keys = libero_keys(["libero_object"], tasks=1, episodes=2)
    oracle = write_run(store, manifest, keys, lambda k: result(k, True))
    learned = write_run(store, make_manifest(preset, checkpoint="b"), keys, lambda k: result(k, False))
    with open_store(store) as s:
        runs = [load_run(s, oracle), load_run(s, learned)]
    assert [r.privileged for r in runs] == [True, False]  # from the stored run record
    md = render_markdown(build_report(runs, load_baselines(baseline_dirs()), out_dir=tmp_path / "r", figures=False))
    assert f"> **Oracle.** Run {oracle} is an ORACLE" in md
    assert f"{oracle} [an-oracle] (ORACLE)" in md or f"{oracle} (ORACLE)" in md
    assert f"Run {learned} is an ORACLE" not in md
