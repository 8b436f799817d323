"""What the writers put in the files: LaTeX escapes and the tables tables.tex holds, video links as
URLs, and which rows carry the protocol marks (a baseline's protocol by preset hash, a run's preset
against the first run's)."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from urllib.parse import unquote

from envs.presets import resolve_preset
from harness.cli import main
from harness.report.aggregate import load_run, open_store
from harness.report.baselines import baseline_dirs
from harness.report.tables import main_table
from harness.report.write_latex import tex_escape
from harness.reporting import build_report, load_baselines
from tests.report_data import libero_keys, libero_preset, make_manifest, renamed, result, write_run


def test_tex_escape_maps_the_characters_ot1_prints_as_other_glyphs():
    assert tex_escape("p < 0.05, n > 3 | x") == r"p $<$ 0.05, n $>$ 3 \textbar{} x"
    assert tex_escape("a_b & 5% #1 {x} ~^\\") == (
        r"a\_b \& 5\% \#1 \{x\} \textasciitilde{}\textasciicircum{}\textbackslash{}"
    )


def _run_with_videos(tmp_path: Path, folder: str) -> tuple[Path, str, dict[str, Path]]:
    store = tmp_path / "results" / "s.sqlite"
    store.parent.mkdir(parents=True)
    keys = libero_keys(["libero_object"], tasks=1, episodes=2)
    videos = {k.id: tmp_path / "videos" / folder / f"{folder} {k.id.replace('/', '__')}.mp4" for k in keys}
    for path in videos.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not really a video")
    run_id = write_run(
        store,
        make_manifest(libero_preset()),
        keys,
        lambda k: result(k, False, extra={"video": str(videos[k.id])}),
    )
    return store, run_id, videos


def test_video_links_are_percent_encoded_urls_that_reach_the_files(tmp_path):
    store, run_id, videos = _run_with_videos(tmp_path, "run#1 50% (a)?")
    out = tmp_path / "rep"
    assert main(["report", run_id, "--store", str(store), "--out", str(out)]) == 0
    html = (out / "report.html").read_text()
    links = dict((text, unescape(href)) for href, text in re.findall(r'<a href="([^"]+)">([^<]+)</a>', html))
    assert sorted(links) == sorted(videos)
    for episode_id, href in links.items():
        # Unencoded, the browser would read "#1 50% (a)?..." as a fragment and a query.
        assert "/run%231%2050%25%20%28a%29%3F%20" in href and href.startswith("videos/")
        assert "#" not in href and "?" not in href and " " not in href
        # The file sits in the report folder (hard-linked or copied), the link relative to it.
        assert (out / unquote(href)).read_bytes() == videos[episode_id].read_bytes()
    md = (out / "report.md").read_text()
    assert all(f"]({href})" in md for href in links.values())


def _tex_tables(tex: str) -> dict[str, str]:
    return {
        m.group(1): m.group(0)
        for m in re.finditer(r"\\begin\{table\}.*?\\label\{tab:([^}]+)\}.*?\\end\{table\}", tex, re.S)
    }


def test_tables_tex_holds_the_latency_and_manifest_tables_escaped(tmp_path):
    store, run_id, _ = _run_with_videos(tmp_path, "plain")
    out = tmp_path / "rep"
    assert main(["report", run_id, "--store", str(store), "--out", str(out)]) == 0
    tex = (out / "tables.tex").read_text()
    tables = _tex_tables(tex)
    assert list(tables) == ["libero-compact", "libero-intervals", "libero-main", "libero-tasks", "latency",
                            f"manifest-{run_id}"]
    latency = tables["latency"]
    assert r"\resizebox" not in latency and "p50 (ms/call)" in latency
    assert "Fast-WAM$^\\dagger$ & RTX 5090D V2 32GB" in latency
    manifest = tables[f"manifest-{run_id}"]
    # Long values wrap in paragraph columns instead of being scaled down with the table.
    assert r"\begin{tabular}{p{0.22\linewidth}p{0.74\linewidth}}" in manifest and r"\resizebox" not in manifest
    assert "Identity & " in manifest and "Invocation 1 & " in manifest
    assert "-$>$ complete" in manifest  # the invocation's "-> complete"
    # Every < and > of the text is in math mode; a bare one would print as an inverted ! or ?.
    assert not re.search(r"[<>]", tex.replace("$<$", "").replace("$>$", ""))
    assert "|" not in tex


def _main_rows(runs, baselines) -> tuple[dict[str, list], list[str]]:
    report = build_report(runs, baselines, out_dir=Path("."), allow_preset_mismatch=True, figures=False)
    (section,) = report.sections
    return {row.cells[0]: row.cells for row in main_table(section, 0.95).rows}, main_table(section, 0.95).notes


def test_baseline_protocol_is_compared_by_the_built_in_presets_hash(tmp_path):
    store = tmp_path / "p.sqlite"
    keys = libero_keys(["libero_object"], tasks=1, episodes=2)
    official = resolve_preset("fastwam-libero")
    edited = renamed(official, "fastwam-libero", warmup_steps=official.warmup_steps + 1)
    assert edited.name == official.name and edited.hash != official.hash
    as_built = write_run(store, make_manifest(official, checkpoint="a"), keys, lambda k: result(k, True))
    as_edited = write_run(store, make_manifest(edited, checkpoint="b"), keys, lambda k: result(k, True))
    baselines = load_baselines(baseline_dirs())
    with open_store(store) as s:
        built_run, edited_run = load_run(s, as_built), load_run(s, as_edited)

    rows, notes = _main_rows([built_run], baselines)
    # The paper's own Fast-WAM rows were measured under this very preset; other methods' were not.
    assert "Fast-WAM" in rows and "Fast-WAM-IDM" in rows and "OpenVLA†" in rows
    assert not any("is not the built-in" in n for n in notes)

    rows, notes = _main_rows([edited_run], baselines)
    # Same name, other content: another protocol than the paper's script.
    assert "Fast-WAM†" in rows and "Fast-WAM-IDM†" in rows and "Fast-WAM" not in rows
    assert any(f"#{official.hash}" in n and f"#{edited.hash}" in n and "is not the built-in" in n for n in notes)

    rows, notes = _main_rows([built_run, edited_run], baselines)
    assert "Fast-WAM†" in rows  # one of the runs was not under the paper's protocol
    ours = [cells[0] for cells in rows.values() if cells[0].startswith("scripted")]
    # ‡ only on the run whose preset differs from the first run's.
    assert [name.endswith("‡") for name in ours] == [False, True]
    assert any(n.startswith("‡ PRESET MISMATCH: the marked runs") and as_built in n for n in notes)


def test_a_protocol_that_is_no_built_in_preset_is_compared_by_name(tmp_path):
    store = tmp_path / "u.sqlite"
    keys = libero_keys(["libero_object"], tasks=1, episodes=2)
    mine = renamed(libero_preset(), "my-lab-libero", warmup_steps=3)
    run_id = write_run(store, make_manifest(mine), keys, lambda k: result(k, True))
    folder = tmp_path / "baselines"
    folder.mkdir()
    (folder / "mine.toml").write_text(
        '[source]\nid = "mine"\ntitle = "ours"\n\n[[result]]\nbenchmark = "libero"\nmethod = "ours-v1"\n'
        'protocol = "my-lab-libero"\nsuccess = { libero_object = 90.0 }\n\n[[result]]\nbenchmark = "libero"\n'
        'method = "ours-v0"\nprotocol = "openpi-libero"\nsuccess = { libero_object = 80.0 }\n'
    )
    with open_store(store) as s:
        run = load_run(s, run_id)
    rows, _ = _main_rows([run], load_baselines(baseline_dirs(folder)))
    assert "ours-v1" in rows and "ours-v0†" in rows


def test_a_run_on_another_simulator_than_the_protocols_is_noted(tmp_path):
    """fastwam-libero names MuJoCo 3.3.2 (the official README's pin); the report says when a run's
    recorded MuJoCo differs, and says nothing for a preset that names no simulator."""
    store = tmp_path / "m.sqlite"
    keys = libero_keys(["libero_object"], tasks=1, episodes=2)
    fastwam = resolve_preset("fastwam-libero")
    assert fastwam.simulator == {"mujoco": "3.3.2"}
    other = write_run(store, make_manifest(fastwam), keys, lambda k: result(k, True))  # VERSIONS: mujoco 3.x
    no_stack = renamed(libero_preset(), "openpi-libero-no-stack", simulator={})
    plain = write_run(store, make_manifest(no_stack, checkpoint="b"), keys, lambda k: result(k, True))
    baselines = load_baselines(baseline_dirs())
    with open_store(store) as s:
        other_run, plain_run = load_run(s, other), load_run(s, plain)
    _, notes = _main_rows([other_run], baselines)
    assert [n for n in notes if "simulated with" in n] == [
        f"{other}: simulated with mujoco 3.x (the protocol's 3.3.2); fastwam-libero's authors ran the protocol's "
        "version, and LIBERO success rates move with MuJoCo's."
    ]
    _, notes = _main_rows([plain_run], baselines)
    assert not [n for n in notes if "simulated with" in n]
    assert fastwam.simulator_differences({"mujoco": "3.3.2"}) == []
    assert fastwam.simulator_differences({}) == [("mujoco", "3.3.2", "not installed")]
