"""RoboTwin says plainly what it is not: the authors' stack in both presets, a run on another stack
labelled "same tasks, different seed sample and simulator build" (header, stored record, report), the
recorded stack (toppra, cuRobo, assets, GPU and driver; the last two outside the identity), the seed
verdicts' digest following SAPIEN and the planner build; and an oracle marked ORACLE wherever a run is
named. Runs go through the real driver, store and report with the scripted RoboTwin benchmark
(tests/robotwin/scripted_benchmark.py); the real expert and the real oracle run in test_sapien.py.
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from envs.presets import UNPINNED, builtin_presets, load_preset_file
from envs.robotwin import backend, seeds, stack
from harness.api.errors import UsageError
from harness.cli import main
from harness.driver import RunOptions, run_evaluation
from harness.spec import EvalSpec, run_identity
from harness.store import ResultStore
from policies.base import PolicyContext, PolicyInfo
from policies.registry import make_policy
from tests.robotwin.scripted_benchmark import VERSIONS_ENV

BENCH = "tests.robotwin.scripted_benchmark:ScriptedRoboTwin"
LABEL = "same tasks, different seed sample and simulator build"
RUNTIME_STACK = {"rlinf-robotwin-runtime": "0.1.3", "robotwin_code": "runtime 0.1.3", "sapien": "3.0.3",
                 "mplib": "0.2.1", "toppra": "0.6.3", "curobo": "0.7.8", "curobo_commit": "abc1234",
                 "assets": "TianxingChen/RoboTwin2.0@c15cc97be71e", "vulkan": "gpu",
                 "gpu": "NVIDIA H100 80GB HBM3", "gpu_driver": "550.54.15"}
AUTHORS_STACK = dict(RUNTIME_STACK, robotwin_code="checkout bf44be5", sapien="3.0.0b1")


def test_both_robotwin_presets_name_the_authors_stack_outside_their_hash():
    presets = builtin_presets()
    for name in ("robotwin2-official", "fastwam-robotwin"):
        p = presets[name]
        assert dict(p.simulator) == {"robotwin_code": "checkout bf44be5", "sapien": "3.0.0b1", "mplib": "0.2.1",
                                     "curobo": UNPINNED, "toppra": UNPINNED}, name
        assert p.other_stack_label == LABEL
        assert p.protocol_kind(RUNTIME_STACK) == LABEL and "official" not in p.protocol_kind(RUNTIME_STACK)
        assert p.protocol_kind(AUTHORS_STACK) == "official protocol", "cuRobo and toppra are named, not compared"
        assert [d[0] for d in p.simulator_differences(RUNTIME_STACK)] == ["robotwin_code", "sapien"]
    # The stack is advice: the protocols' hashes (and so every stored run's identity) are unchanged.
    assert presets["robotwin2-official"].hash == "ba2a96295b65587f"
    assert presets["fastwam-robotwin"].hash == "7e2db218a73319ed"
    standin = presets["robotwin2-primitives"]
    assert standin.protocol_kind(RUNTIME_STACK) == "NOT an official protocol"
    assert standin.simulator_differences(RUNTIME_STACK) == [], "the stand-in is defined on the runtime's stack"


def test_the_run_identity_records_the_gpu_and_driver_but_leaves_them_out():
    info = PolicyInfo(name="noop", action_dim=14, horizon=2)
    preset = builtin_presets()["robotwin2-official"]

    def identity(versions):
        return run_identity(policy=info, preset=preset, versions=versions, seed=0, options={}, checkpoint=None)

    base = identity(RUNTIME_STACK)
    assert identity(dict(RUNTIME_STACK, gpu="NVIDIA A100-SXM4-80GB", gpu_driver="535.1")) == base
    for key, value in (("curobo_commit", "def5678"), ("assets", "hub@000000000000"), ("toppra", "0.6.2"),
                       ("vulkan", "software (llvmpipe)"), ("sapien", "3.0.0b1")):
        assert identity(dict(RUNTIME_STACK, **{key: value})) != base, key


def test_the_seed_verdicts_digest_follows_sapien_and_the_planner_build():
    preset = builtin_presets()["robotwin2-official"]
    build = {"sapien": "3.0.3", "planner": stack.planner_build("curobo", RUNTIME_STACK)}
    assert build["planner"] == "curobo 0.7.8 abc1234; mplib 0.2.1; toppra 0.6.3"
    digest = seeds.expert_protocol(preset, "runtime 0.1.3", build)
    assert seeds.expert_protocol(preset, "runtime 0.1.3", dict(build, sapien="3.0.0b1")) != digest
    other = stack.planner_build("curobo", dict(RUNTIME_STACK, curobo_commit="fff0000"))
    assert seeds.expert_protocol(preset, "runtime 0.1.3", dict(build, planner=other)) != digest
    assert stack.planner_build("mplib", RUNTIME_STACK) == "mplib 0.2.1; mplib 0.2.1; toppra 0.6.3"


def test_curobo_build_reads_version_and_commit_without_importing_it(tmp_path, monkeypatch):
    assert stack.curobo_build(lambda name: None) == ("not installed", "not installed")
    monkeypatch.setattr(stack, "installed_version", lambda *names: "0.7.8.post1.dev5+g6e4cf2a1")
    assert stack.curobo_build(lambda name: None) == ("0.7.8.post1.dev5+g6e4cf2a1", "6e4cf2a")
    # Installed from a clone without the commit in its version: the clone says.
    clone = tmp_path / "curobo"
    (clone / "src" / "curobo").mkdir(parents=True)
    (clone / "src" / "curobo" / "__init__.py").write_text("")
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                    "--allow-empty", "-m", "x"], check=True)
    sha = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    monkeypatch.setattr(stack, "installed_version", lambda *names: "0.7.8")
    spec = SimpleNamespace(origin=str(clone / "src" / "curobo" / "__init__.py"))
    assert stack.curobo_build(lambda name: spec) == ("0.7.8", sha[:7])


def test_asset_revision_from_the_runtime_manifest_or_the_hub_bookkeeping(tmp_path):
    assert stack.asset_revision(tmp_path).startswith("unrecorded (no .robotwin-assets.json")
    meta = tmp_path / ".cache" / "huggingface" / "download"
    meta.mkdir(parents=True)
    (meta / "objects.zip.metadata").write_text("c15cc97be71e35244b6605d2d84c187f8565cc4d\netag\n1700000000\n")
    assert stack.asset_revision(tmp_path) == "hub@c15cc97be71e"
    (tmp_path / stack.ASSET_MANIFEST).write_text(json.dumps(
        {"repository": "TianxingChen/RoboTwin2.0", "revision": "c15cc97be71e35244b6605d2d84c187f8565cc4d"}))
    assert stack.asset_revision(tmp_path) == "TianxingChen/RoboTwin2.0@c15cc97be71e"


def test_gpu_and_driver_from_nvidia_smi_or_mesa(monkeypatch):
    calls = []

    def run(argv, **_):
        calls.append(argv[0])
        text = "550.54.15\n" if argv[0] == "nvidia-smi" else "Mesa 25.0.7-2~bpo12+1"
        return SimpleNamespace(returncode=0, stdout=text)

    monkeypatch.setattr(stack.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert stack.gpu_facts("NVIDIA H200", run) == {"gpu": "NVIDIA H200", "gpu_driver": "550.54.15"}
    calls.clear()
    monkeypatch.setattr(stack.shutil, "which", lambda name: None if name == "nvidia-smi" else f"/usr/bin/{name}")
    assert stack.gpu_facts("llvmpipe (LLVM 15.0.6, 256 bits)", run)["gpu_driver"] == "Mesa 25.0.7-2~bpo12+1"
    assert calls == ["dpkg-query"]


def test_a_checkout_records_its_commit_as_the_papers_give_it(tmp_path):
    root = tmp_path / "RoboTwin"
    (root / "envs").mkdir(parents=True)
    (root / "envs" / "_base_task.py").write_text("")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                    "--allow-empty", "-m", "x"], check=True)
    sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    found = backend.locate_backend({backend.ENV_ROOT: str(root)}, find_spec=lambda name: object())
    assert (found.kind, found.version) == ("checkout", sha[:7])


@pytest.fixture(autouse=True)
def stack_file(tmp_path, monkeypatch):
    """Where the scripted benchmark reads the stack it reports (the test writes it)."""
    monkeypatch.setenv(VERSIONS_ENV, str(tmp_path / "versions.json"))
    return tmp_path / "versions.json"


def _official_scripted(tmp_path: Path, name: str, versions: dict[str, str]) -> Path:
    """robotwin2-official, marked official, run by the scripted expert on the declared stack."""
    (tmp_path / "versions.json").write_text(json.dumps(versions))
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nextends = "robotwin2-official"\nversion = 1\nofficial = true\n'
        'description = "tests: robotwin2-official with a scripted expert"\nsettings = ["clean"]\n'
        "[max_steps]\nstack_blocks_two = 3\n[params]\nseed_chunk = 2\nmax_seed_tries = 20\n"
    )
    return path


def _run(preset: Path, store: Path, policy: str = "noop", episodes: int = 2):
    out = io.StringIO()
    outcome = run_evaluation(EvalSpec(benchmark=BENCH, policy=policy, preset=str(preset), tasks="stack_blocks_two",
                                      episodes=episodes),
                             RunOptions(store=store), console=Console(file=out, width=400))
    return outcome, out.getvalue()


def test_a_run_on_the_runtime_is_labelled_in_its_header_record_and_report_never_official(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    outcome, header = _run(_official_scripted(tmp_path, "official-on-runtime", RUNTIME_STACK), store)
    preset_line = next(ln for ln in header.splitlines() if ln.startswith("preset "))
    assert f"({LABEL})" in preset_line and "official protocol" not in preset_line
    assert "sapien 3.0.3 here, 3.0.0b1 in the protocol" in header and f"this run is {LABEL}" in header
    assert "pip install" not in header
    # The record: the stack as recorded (GPU and driver included) and the label read back from it.
    with ResultStore(store) as db:
        manifest = db.get_run(outcome.run_id)
    assert manifest.versions["gpu"] == "NVIDIA H100 80GB HBM3" and manifest.versions["curobo_commit"] == "abc1234"
    stored = load_preset_file(tmp_path / "official-on-runtime.toml")
    assert stored.protocol_kind(manifest.versions) == LABEL
    assert main(["report", outcome.run_id, "--store", str(store), "--out", str(tmp_path / "rep")]) == 0
    capsys.readouterr()
    md = (tmp_path / "rep" / "report.md").read_text()
    assert f"#{stored.hash} ({LABEL})" in md and "(official protocol)" not in md
    assert f"{LABEL} (not the official protocol): simulated with robotwin_code runtime 0.1.3" in md
    # Another GPU and driver, same stack: the same run, nothing to do again.
    again, header = _run(_official_scripted(tmp_path, "official-on-runtime", dict(RUNTIME_STACK, gpu="other",
                                                                                  gpu_driver="1")), store)
    assert again.run_id == outcome.run_id and again.ran == 0


def test_a_run_on_the_authors_stack_is_the_official_protocol(tmp_path):
    _, header = _run(_official_scripted(tmp_path, "official-on-bf44be5", AUTHORS_STACK), tmp_path / "s.sqlite")
    preset_line = next(ln for ln in header.splitlines() if ln.startswith("preset "))
    assert "(official protocol)" in preset_line and LABEL not in header and "simulator differs" not in header


def test_a_robotwin_oracle_run_is_marked_in_its_header_record_and_report(tmp_path, capsys):
    """The marks themselves are tested in tests/test_oracle.py; here, a RoboTwin run through the driver
    (scripted benchmark, a privileged hold-still policy) carries them."""
    store = tmp_path / "s.sqlite"
    preset = _official_scripted(tmp_path, "oracle-marks", AUTHORS_STACK)
    outcome, printed = _run(preset, store, policy="tests.robotwin.replay_policy:PrivilegedHold")
    policy_line = next(ln for ln in printed.splitlines() if ln.startswith("policy "))
    assert "ORACLE: acts on privileged simulator state" in policy_line and "untrained" not in policy_line
    with ResultStore(store) as db:
        assert db.get_run(outcome.run_id).policy["privileged"] is True
    assert main(["report", outcome.run_id, "--store", str(store), "--out", str(tmp_path / "rep")]) == 0
    capsys.readouterr()
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "> **Oracle.** Run" in md and f"{outcome.run_id} (ORACLE)" in md and "Untrained weights" not in md


def test_the_robotwin_expert_is_an_oracle_that_reads_no_frame_and_refuses_what_it_cannot_do():
    preset = builtin_presets()["robotwin2-primitives"]
    ctx = PolicyContext(benchmark="robotwin", action_dim=16, noop_action=(0.0,) * 16, preset=preset)
    info = make_policy("robotwin-expert", ctx).info()
    assert info.privileged and info.cameras == () and info.action_dim == 16 and info.horizon == 16
    fastwam = builtin_presets()["fastwam-robotwin"]
    assert make_policy("robotwin-expert", PolicyContext(benchmark="robotwin", action_dim=14, noop_action=(0.0,) * 14,
                                                        action_horizon=32, preset=fastwam)).info().horizon == 32
    for bad, message in (
        (PolicyContext(benchmark="libero", action_dim=7, noop_action=(0.0,) * 7, preset=preset), "cannot run on libero"),
        (PolicyContext(benchmark="robotwin", action_dim=16, noop_action=(0.0,) * 16, preset=preset,
                       options={"horizon": "8"}), r"takes no options \(got horizon\)"),
    ):
        with pytest.raises(UsageError, match=message):
            make_policy("robotwin-expert", bad)


def test_the_robotwin_expert_replays_the_plan_the_env_hands_it_as_privileged_data():
    # The plan comes through the observation (the env plans it at reset for a privileged policy), so the
    # policy imports no benchmark code; without it the oracle refuses in one line.
    import numpy as np

    from harness.api.types import Observation

    policy = make_policy("robotwin-expert", PolicyContext(benchmark="robotwin", action_dim=2, noop_action=(0.0, 0.0),
                                                          action_horizon=2))
    plan = np.arange(6, dtype=np.float64).reshape(3, 2)
    obs = Observation(images={}, state=np.zeros(2, np.float32), instruction="", episode_id="e", step=0,
                      extras={"sim_seed": 7, "privileged": {"expert_plan": plan, "expert_plan_ms": 12.5}})
    (first,) = policy.infer([obs])
    assert first.actions.tolist() == [[0, 1], [2, 3]] and first.info == {"expert_plan_ms": 12.5}
    (second,) = policy.infer([obs])
    assert second.actions.tolist() == [[4, 5], [4, 5]] and second.info == {}  # the last pose held
    bare = Observation(images={}, state=np.zeros(2, np.float32), instruction="", episode_id="f", step=0,
                       extras={"sim_seed": 7})
    with pytest.raises(UsageError, match=r"needs the scripted expert's plan \(Observation.extras\['privileged'\]\)"):
        policy.infer([bare])
