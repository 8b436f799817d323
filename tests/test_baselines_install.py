"""The published baselines are found when wam-eval is installed from a wheel, away from any checkout.

Runtime: about 10 s (one wheel build and install into a temporary prefix)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "harness", "envs", "policies", "wam_eval", "results/baselines")

PROBE = """
import json, harness.report.baselines as b
from harness.reporting import load_baselines
from harness.report.robustness_baselines import robustness_baseline_dirs
base = load_baselines(b.baseline_dirs())
print(json.dumps({"module": b.__file__, "shipped": str(b.shipped_baseline_dir()),
                  "methods": sorted({r.method for r in base.results}), "files": [str(f) for f in base.files],
                  "robustness": [sorted(str(f) for f in d.glob("*.toml")) for d in robustness_baseline_dirs()]}))
"""


def test_wheel_install_ships_the_baselines(tmp_path):
    src = tmp_path / "src"
    for name in SOURCES:
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif origin.exists():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(origin, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        pip + ["wheel", str(src), "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next((tmp_path / "dist").glob("wam_eval-*.whl"))
    prefix = tmp_path / "prefix"
    # --ignore-installed: never touch the environment's own (editable) wam-eval.
    subprocess.run(
        pip + ["install", "--no-deps", "--ignore-installed", "--prefix", str(prefix), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    site = next(prefix.glob("lib/python*/site-packages"))
    user = tmp_path / "elsewhere"
    (user / "results" / "baselines").mkdir(parents=True)
    (user / "results" / "baselines" / "lab.toml").write_text(
        '[source]\nid = "lab"\ntitle = "lab runs"\n[[result]]\nbenchmark = "robotwin"\nmethod = "lab-policy"\n'
        'protocol = "robotwin2-official"\nsuccess = { clean = 50.0 }\n'
    )
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=user,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert Path(found["module"]).is_relative_to(prefix)
    assert Path(found["shipped"]) == prefix / "share" / "wam-eval" / "baselines"
    assert {"Fast-WAM", "OpenVLA", "Motus from WAN2.2", "lab-policy"} <= set(found["methods"])
    assert found["files"] == [
        str(prefix / "share/wam-eval/baselines/fastwam-paper.toml"),
        str(prefix / "share/wam-eval/baselines/fastwam-readme.toml"),
        str(user / "results/baselines/lab.toml"),
    ]
    # The robustness baselines sit one folder down; a glob of results/baselines/*.toml alone misses them.
    assert found["robustness"] == [[str(prefix / "share/wam-eval/baselines/robustness/libero-pro.toml")]]
