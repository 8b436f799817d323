"""`wam-eval fetch` against a loopback server speaking the hub's API to the real huggingface_hub
client; `hf://` checkpoints and `assets=hf` resolved from a cache laid out here in huggingface_hub's
own layout with HF_HUB_OFFLINE=1, through a real LIBERO episode; and the rule that only
harness/fetch.py downloads."""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub_server import HubServer, commit_of

ROOT = Path(__file__).resolve().parents[1]
SHORT_PRESET = str(ROOT / "tests" / "data" / "fastwam-short-libero.toml")
CKPT = "libero_uncond_2cam224.pt"
STATS = "libero_uncond_2cam224_dataset_stats.json"
CONVERTED = "DiffSynth-Studio/Wan-Series-Converted-Safetensors"
TOKENIZER_REPO = "Wan-AI/Wan2.1-T2V-1.3B"

HUB = {
    "yuanty/fastwam": {CKPT: b"c" * 5000, STATS: b'{"state": {}}'},
    CONVERTED: {"Wan2.2_VAE.safetensors": b"v" * 1500, "models_t5_umt5-xxl-enc-bf16.safetensors": b"t" * 2500},
    TOKENIZER_REPO: {"google/umt5-xxl/tokenizer.json": b"{}", "google/umt5-xxl/spiece.model": b"s" * 10,
                     "README.md": b"not fetched"},
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", "fetch", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def test_fetch_plans_from_hub_metadata_downloads_records_sha256_and_prints_the_run_command(tmp_path):
    with HubServer(HUB) as hub:
        env = {"HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "hf")}
        first = fetch("fastwam-libero", env=env)
        assert first.returncode == 0, first.stderr
        out = first.stdout
        # The plan, from the hub's metadata: each file, its size, and the total (5000+13+1500+2500+2+10 bytes).
        for name, size in ((CKPT, "5.00 KB"), (STATS, "13 B"), ("Wan2.2_VAE.safetensors", "1.50 KB"),
                           ("models_t5_umt5-xxl-enc-bf16.safetensors", "2.50 KB"),
                           ("google/umt5-xxl/tokenizer.json", "2 B"), ("google/umt5-xxl/spiece.model", "10 B")):
            assert name in out and size in out, (name, out)
        assert "README.md" not in out  # only the tokenizer folder of that repo
        assert "total 9.03 KB in 6 file(s); 9.03 KB to download" in out
        assert out.index("total 9.03 KB") < out.index("sha256 ")  # planned before anything downloads
        # After: each sha256 printed and recorded beside its file in the standard cache.
        snapshot = tmp_path / "hf" / "hub" / "models--yuanty--fastwam" / "snapshots" / commit_of("yuanty/fastwam")
        for repo, files in HUB.items():
            for path, data in files.items():
                if path == "README.md":
                    continue
                assert f"sha256 {sha(data)}" in out
                local = tmp_path / "hf" / "hub" / f"models--{repo.replace('/', '--')}" / "snapshots" / commit_of(repo) / path
                assert local.read_bytes() == data
                assert Path(str(local) + ".sha256").read_text() == f"{sha(data)}  {Path(path).name}\n"
        assert (snapshot / CKPT).is_symlink()  # huggingface_hub's own layout: snapshot -> blob
        assert ("wam-eval run --benchmark libero --policy fastwam --checkpoint hf://yuanty/fastwam/"
                f"{CKPT} --policy-option assets=hf") in out
        assert "wam-eval reproduce table2 --policy fastwam" in out

        again = fetch("fastwam-libero", "--plan", env=env)  # everything is cached now
        assert again.returncode == 0 and "0 B to download" in again.stdout and "to download │" not in again.stdout

        local = fetch("fastwam-libero", "--local-dir", str(tmp_path / "ckpts"), env=env)
        assert local.returncode == 0, local.stderr
        assert (tmp_path / "ckpts" / CKPT).read_bytes() == HUB["yuanty/fastwam"][CKPT]
        # Components under their repo ids: the official model-directory layout that assets=DIR reads.
        assert (tmp_path / "ckpts" / CONVERTED / "Wan2.2_VAE.safetensors").is_file()
        assert (tmp_path / "ckpts" / TOKENIZER_REPO / "google/umt5-xxl/tokenizer.json").is_file()
        assert f"--checkpoint {tmp_path / 'ckpts' / CKPT} --policy-option assets={tmp_path / 'ckpts'}" in local.stdout


@pytest.mark.parametrize("offline", [True, False])
def test_without_the_hub_fetch_fails_in_one_line(tmp_path, offline):
    if offline:
        env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    else:
        with HubServer({}) as closed:
            endpoint = closed.endpoint  # nothing listens there once closed
        env = {"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path)}
    proc = fetch("fastwam-libero-idm", env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wam-eval: error: cannot read the file list of fastwam-libero-idm")
    assert ("HF_HUB_OFFLINE is set" in lines[0]) == offline


def test_unknown_names_are_refused(tmp_path):
    proc = fetch("fastwam-xl", env={"HF_HOME": str(tmp_path)})
    assert proc.returncode == 2 and "known: fastwam-libero, fastwam-libero-idm, fastwam-robotwin, fastwam-assets" in proc.stderr


# -- resolution from the cache ------------------------------------------------------------------


def lay_out(cache: Path, repo: str, files: dict[str, Path], revision: str) -> Path:
    """huggingface_hub's cache layout, by hand: blobs/<sha256>, snapshots/<rev>/<path> -> blob, refs/main."""
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(revision)
    for path, source in files.items():
        data = source.read_bytes()
        blob = root / "blobs" / sha(data)
        blob.write_bytes(data)
        link = root / "snapshots" / revision / path
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return root / "snapshots" / revision


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A tiny Fast-WAM under the released names in a hub cache, HF_HUB_OFFLINE=1."""
    from policies.fastwam.checkpoint import save_checkpoint
    from tests.fastwam.builders import seeded_network, write_assets, write_stats

    made = tmp_path / "made"
    made.mkdir()
    save_checkpoint(made / CKPT, seeded_network(seed=1), variant=None)
    write_stats(made / STATS)
    write_assets(made / "assets")
    cache = tmp_path / "hub"
    snapshot = lay_out(cache, "yuanty/fastwam", {CKPT: made / CKPT, STATS: made / STATS}, "a" * 40)
    weights = made / "assets" / CONVERTED
    lay_out(cache, CONVERTED, {n: weights / n for n in ("Wan2.2_VAE.safetensors", "models_t5_umt5-xxl-enc-bf16.safetensors")},
            "b" * 40)
    lay_out(cache, TOKENIZER_REPO, {"google/umt5-xxl/tokenizer.json":
                                    made / "assets" / TOKENIZER_REPO / "google/umt5-xxl/tokenizer.json"}, "c" * 40)
    (snapshot / (CKPT + ".sha256")).write_text(f"{sha((made / CKPT).read_bytes())}  {CKPT}\n")  # as fetch records it
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return {"cache": cache, "made": made}


def test_hf_checkpoint_and_assets_resolve_from_the_cache_and_the_run_records_them(hub_cache, tmp_path):
    from harness.driver import RunOptions, run_evaluation
    from harness.spec import EvalSpec
    from harness.store import ResultStore

    spec = EvalSpec(benchmark="libero", policy="fastwam", preset=SHORT_PRESET, suites=("libero_object",), tasks="0",
                    episodes=1, checkpoint=f"hf://yuanty/fastwam/{CKPT}", policy_options={"assets": "hf"})
    outcome = run_evaluation(spec, RunOptions(store=tmp_path / "s.sqlite", quiet=True))
    assert outcome.ran == 1
    with ResultStore(tmp_path / "s.sqlite") as store:
        run = store.get_run(outcome.run_id)
        assert len(store.episode_rows(outcome.run_id)) == 1
    hub = run.policy["checkpoint_hub"]
    assert (hub["repo"], hub["path"], hub["revision"]) == ("yuanty/fastwam", CKPT, "a" * 40)
    assert hub["sha256"] == sha((hub_cache["made"] / CKPT).read_bytes())
    assert run.policy["trained"] is True and run.spec["checkpoint"] == f"hf://yuanty/fastwam/{CKPT}"
    assets = {(a["repo"], a["path"]): a for a in run.policy["extra"]["assets_hub"]}
    assert set(assets) == {(CONVERTED, "Wan2.2_VAE.safetensors"), (CONVERTED, "models_t5_umt5-xxl-enc-bf16.safetensors"),
                           (TOKENIZER_REPO, "google/umt5-xxl/tokenizer.json")}
    vae = hub_cache["made"] / "assets" / CONVERTED / "Wan2.2_VAE.safetensors"
    assert assets[(CONVERTED, "Wan2.2_VAE.safetensors")]["sha256"] == sha(vae.read_bytes())  # computed: none recorded
    assert run.policy["extra"]["assets"].startswith("hf cache: ")


def test_a_finished_run_on_a_hub_checkpoint_builds_nothing_while_the_cache_holds_its_file(hub_cache, tmp_path):
    """The identity of a hf:// checkpoint is its file's sha256, known from the cache alone: a finished
    run stops before the policy is built, until the cache's `main` points at another file."""
    import io

    from rich.console import Console

    from harness.driver import RunOptions, run_evaluation
    from harness.spec import EvalSpec
    from policies.fastwam.checkpoint import save_checkpoint
    from tests.fastwam.builders import seeded_network

    class Built(Exception):
        pass

    built: list[str] = []

    def factory(ref, ctx):
        built.append(ctx.checkpoint)
        raise Built

    def again() -> str:
        out = io.StringIO()
        outcome = run_evaluation(spec, RunOptions(store=store, quiet=True, executor_factory=factory),
                                 console=Console(file=out, width=200))
        assert outcome.run_id == first.run_id and outcome.ran == 0
        return out.getvalue()

    store = tmp_path / "s.sqlite"
    spec = EvalSpec(benchmark="libero", policy="fastwam", preset=SHORT_PRESET, suites=("libero_object",), tasks="0",
                    episodes=1, checkpoint=f"hf://yuanty/fastwam/{CKPT}", policy_options={"assets": "hf"})
    first = run_evaluation(spec, RunOptions(store=store, quiet=True))
    assert first.ran == 1
    assert "nothing to do: all 1 planned episode(s) are stored already" in again()
    snapshot = hub_cache["cache"] / "models--yuanty--fastwam" / "snapshots" / ("a" * 40)
    (snapshot / (CKPT + ".sha256")).unlink()  # fetched by other means: the sha256 is computed instead
    assert "nothing to do" in again() and built == []

    # `main` moves to a snapshot holding other weights under the same name: another model, built.
    other = tmp_path / "other" / CKPT
    other.parent.mkdir()
    save_checkpoint(other, seeded_network(seed=2), variant=None)
    lay_out(hub_cache["cache"], "yuanty/fastwam", {CKPT: other, STATS: hub_cache["made"] / STATS}, "d" * 40)
    with pytest.raises(Built):
        run_evaluation(spec, RunOptions(store=store, quiet=True, executor_factory=factory))
    assert built == [str(hub_cache["cache"] / "models--yuanty--fastwam" / "snapshots" / ("d" * 40) / CKPT)]


def test_missing_hub_files_are_one_line_naming_the_fetch_command(hub_cache, tmp_path):
    from harness.api.errors import MissingDependencyError
    from harness.driver import RunOptions, run_evaluation
    from harness.spec import EvalSpec

    def spec(checkpoint, **options):
        return EvalSpec(benchmark="libero", policy="fastwam-idm", preset=SHORT_PRESET, suites=("libero_object",),
                        tasks="0", episodes=1, checkpoint=checkpoint, policy_options=options)

    with pytest.raises(MissingDependencyError) as err:
        run_evaluation(spec("hf://yuanty/fastwam/libero_optional_idm_2cam224.pt"), RunOptions(store=tmp_path / "s.sqlite"))
    assert "run `wam-eval fetch fastwam-libero-idm` first" in str(err.value) and "\n" not in str(err.value)
    (hub_cache["cache"] / f"models--{CONVERTED.replace('/', '--')}" / "snapshots" / ("b" * 40) /
     "Wan2.2_VAE.safetensors").unlink()
    with pytest.raises(MissingDependencyError, match="Wan2.2_VAE.safetensors is not in the Hugging Face cache.*"
                                                     "`wam-eval fetch fastwam-assets`"):
        run_evaluation(spec(None, size="tiny", assets="hf"), RunOptions(store=tmp_path / "s.sqlite"))
    assert not (tmp_path / "s.sqlite").exists()  # refused before the store was opened


DOWNLOADERS = {"hf_hub_download", "snapshot_download", "hf_hub_url", "HfFileSystem", "http_get"}


def test_only_the_fetch_module_downloads():
    offenders = []
    for folder in ("harness", "envs", "policies", "wam_eval"):
        for path in sorted((ROOT / folder).rglob("*.py")) if (ROOT / folder).is_dir() else []:
            rel = path.relative_to(ROOT).as_posix()
            if rel == "harness/fetch.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("huggingface_hub"):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.Attribute):
                    names = [node.attr]
                elif isinstance(node, ast.Name):
                    names = [node.id]
                offenders += [f"{rel}:{node.lineno} {n}" for n in names if n in DOWNLOADERS]
    assert offenders == []
    fetch_source = (ROOT / "harness" / "fetch.py").read_text()
    assert "hf_hub_download" in fetch_source  # the check looks for a name the downloader really uses
