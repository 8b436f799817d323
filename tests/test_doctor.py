"""`wam-eval doctor` on the real simulator: it passes on the reference stack and lists every task it
checked; bad input is one line; under MuJoCo 3.17 (installed into a folder of its own) it names
libero_spatial task 5."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from envs.libero import LiberoBenchmark

ROOT = Path(__file__).resolve().parents[1]


def doctor(*args: str, pythonpath: str | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="250")
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run([sys.executable, "-m", "harness.cli", "doctor", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT, check=False)


def _rows(stdout: str) -> dict[str, str]:
    """Task name -> its table row."""
    tasks = next(s for s in LiberoBenchmark().suites() if s.name == "libero_object").tasks
    return {t.name: next((line for line in stdout.splitlines() if f"│ {t.name} " in line), "") for t in tasks}


def _check_libero_object(init_states: str) -> None:
    result = doctor("--suite", "libero_object", "--init-states", init_states)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rendering MUJOCO_GL=" in result.stdout and "a headless OpenGL context opens" in result.stdout
    assert "golden states recorded on mujoco 3.3.2" in result.stdout
    rows = _rows(result.stdout)
    assert all(rows.values()), f"a task is missing from the table:\n{result.stdout}"
    for row in rows.values():
        cells = [c.strip() for c in row.split("│")]
        assert cells[-2] == "ok" and cells[4] == init_states, row
        assert float(cells[5]) < 1e-5, row  # worst deviation on the reference stack: float32 rounding
    assert "ok: this stack reproduces the reference scenes" in result.stdout


def test_doctor_on_libero_object_lists_every_task_and_passes():
    _check_libero_object("1")


@pytest.mark.slow
def test_doctor_checks_every_init_state_of_libero_object():
    _check_libero_object("50")


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--init-states", "0"], "--init-states must be at least 1, not 0"),
        (["--suite", "libero_object", "--init-states", "51"], "--init-states 51: libero_object tasks have 50"),
        (["--preset", "robotwin2-official"], "preset robotwin2-official is for robotwin"),
        (["--suite", "libero_nope"], "libero_nope"),
    ],
)
def test_doctor_bad_input_is_one_line_and_exit_2(args, needle):
    result = doctor(*args, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr


@pytest.mark.slow
def test_doctor_under_mujoco_3_17_names_libero_spatial_task_5(tmp_path):
    target = tmp_path / "mujoco-3.17"  # outside the repository, never on the project's own path
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    "mujoco==3.17.0"], check=True, timeout=900)
    result = doctor("--suite", "libero_spatial", "--tasks", "4,5", "--init-states", "1",
                    pythonpath=f"{target}{os.pathsep}{ROOT}")
    assert "stack mujoco 3.17.0" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 1, result.stdout + result.stderr
    row5 = next(line for line in result.stdout.splitlines() if line.startswith("│ libero_spatial │ 5 "))
    row4 = next(line for line in result.stdout.splitlines() if line.startswith("│ libero_spatial │ 4 "))
    assert row5.split("│")[-2].strip() == "drift" and float(row5.split("│")[5]) > 0.1, row5
    assert row4.split("│")[-2].strip() == "ok", row4
    assert "DRIFT" in result.stdout and "libero_spatial task 5" in result.stdout
