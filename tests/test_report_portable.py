"""A report folder you can move and share: its videos inside it and linked relatively (the links
resolve after the folder is copied elsewhere and the originals are gone), no host name or host path
unless --include-paths, each preset's content once, the wam-eval version and commit recorded, and the
command's output keeping a long path on one line when piped.

Runtime: about 15 s (three report builds, no simulator)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from html import unescape
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote

from harness.api.version import git_commit
from tests.report_data import libero_keys, libero_preset, make_manifest, result, write_run


def _store(root: Path) -> tuple[Path, list[str], dict[str, Path]]:
    store = root / "results" / "s.sqlite"
    store.parent.mkdir(parents=True)
    keys = libero_keys(["libero_object"], tasks=1, episodes=2)
    videos = {}
    runs = []
    for policy in ("alpha", "beta"):
        for k in keys:
            path = root / "results" / "videos" / policy / f"{k.id.replace('/', '__')}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"frames of {policy} {k.id}".encode())
            videos[f"{policy}:{k.id}"] = path
        runs.append(write_run(store, make_manifest(libero_preset(), policy=policy), keys,
                              lambda k, p=policy: result(k, False, extra={"video": str(videos[f"{p}:{k.id}"])})))
    return store, runs, videos


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=600,
                          env=env)


def test_a_copied_report_folder_keeps_its_videos_and_every_link_resolves(tmp_path):
    store, runs, videos = _store(tmp_path / "work")
    out = tmp_path / "work" / "rep"
    proc = cli("report", *runs, "--store", str(store), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    moved = tmp_path / "elsewhere" / "shared-report"
    shutil.copytree(out, moved)
    shutil.rmtree(tmp_path / "work")  # the store, the original videos and the first folder are gone
    html = (moved / "report.html").read_text()
    md = (moved / "report.md").read_text()
    html_links = [unescape(h) for h in re.findall(r'<a href="([^"]+)"', html)]
    md_links = re.findall(r"\]\(([^)]+\.mp4)\)", md)
    assert len(html_links) == len(md_links) == len(videos) == 4
    for link in html_links + md_links:
        assert not link.startswith(("/", "file:")) and ".." not in link, link
        target = moved / unquote(link)
        assert target.is_file() and target.read_bytes().startswith(b"frames of ")
    for link in re.findall(r'(?:src|href)="([^"]+)"', html):  # nothing else is fetched from outside
        assert link.startswith(("data:image/png;base64,", "videos/")), link[:40]


def test_the_manifest_names_no_host_or_host_path_unless_asked(tmp_path):
    store, runs, _ = _store(tmp_path)
    out = tmp_path / "rep"
    assert cli("report", *runs, "--store", str(store), "--out", str(out)).returncode == 0
    host = socket.gethostname()
    for name in ("report.html", "report.md", "tables.tex", "manifest.json"):
        text = (out / name).read_text()
        assert str(tmp_path) not in text and "/tmp/" not in text, name
        # (a host name may be as short as "vm": looked for where the manifest would put it)
        assert f" on {host}:" not in text and f'"{host}"' not in text and f"| {host} |" not in text, name
    md = (out / "report.md").read_text()
    assert "| Host |" not in md and "| Store |" not in md
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["paths_included"] is False and all("host" not in r for r in manifest["runs"])

    full = tmp_path / "rep-full"
    assert cli("report", *runs, "--store", str(store), "--out", str(full), "--include-paths").returncode == 0
    text = (full / "report.md").read_text()
    assert str(store) in text and f"| Host | {host} |" in text and f" on {host}:" in text
    assert json.loads((full / "manifest.json").read_text())["runs"][0]["host"] == host


def test_each_preset_once_and_the_wam_eval_version_and_commit_recorded(tmp_path):
    store, runs, _ = _store(tmp_path)
    out = tmp_path / "rep"
    assert cli("report", *runs, "--store", str(store), "--out", str(out)).returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    preset = libero_preset()
    assert list(manifest["presets"]) == [preset.hash]  # two runs, one preset: its content once
    assert [r["preset_hash"] for r in manifest["runs"]] == [preset.hash, preset.hash]
    assert all("preset" not in r for r in manifest["runs"])
    assert manifest["wam_eval"]["version"] == metadata.version("wam-eval")
    assert manifest["wam_eval"]["commit"] == git_commit() and git_commit()  # this is a git checkout
    md = (out / "report.md").read_text()
    assert md.count("<summary>Preset openpi-libero") == 1 and md.count('"episodes_per_task"') == 1
    html = (out / "report.html").read_text()
    assert html.count('<details class="preset">') == 1
    assert f"by wam-eval {metadata.version('wam-eval')} (commit {git_commit()})" in md


def test_the_latency_table_keeps_one_unit_per_column(tmp_path):
    store, runs, _ = _store(tmp_path)
    out = tmp_path / "rep"
    assert cli("report", *runs, "--store", str(store), "--out", str(out)).returncode == 0
    md = (out / "report.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| Run / method"))
    units = re.findall(r"\((ms/[a-z]+)\)", header)
    assert units == ["ms/step", "ms/episode", "ms/episode", "ms/episode", "ms/call", "ms/call"]
    for line in md.split(header)[1].splitlines()[2:4]:  # our two runs: plain numbers, no unit in a cell
        assert "/ step" not in line and "/ episode" not in line


def test_piped_output_keeps_a_long_path_on_one_line(tmp_path):
    store, runs, _ = _store(tmp_path)
    out = tmp_path / ("a-folder-name-long-enough-to-wrap-an-eighty-column-line-" * 3) / "report"
    proc = cli("report", *runs, "--store", str(store), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(str(out) in line for line in lines), proc.stdout
    assert lines[-1] == str((out / "report.html").resolve())


def test_scrub_shortens_host_paths_and_keeps_urls_and_names():
    from harness.report.privacy import scrub

    record = {"argv": ["wam-eval", "run", "--store", "/home/ana/results/s.sqlite", "--video-dir=/data/v/"],
              "checkpoint": "~/ckpt/libero_uncond_2cam224.pt", "source": "https://arxiv.org/abs/2603.16666",
              "hub": "hf://yuanty/fastwam/libero_uncond_2cam224.pt", "preset": "fastwam-libero", "steps": 400}
    assert scrub(record) == {
        "argv": ["wam-eval", "run", "--store", ".../s.sqlite", "--video-dir=.../v"],
        "checkpoint": ".../libero_uncond_2cam224.pt", "source": "https://arxiv.org/abs/2603.16666",
        "hub": "hf://yuanty/fastwam/libero_uncond_2cam224.pt", "preset": "fastwam-libero", "steps": 400,
    }
