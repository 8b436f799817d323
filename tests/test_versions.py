"""Installed versions and checkout commits, read by one helper each (envs/versions.py, harness/api/version.py)."""

from __future__ import annotations

import subprocess
from importlib import metadata

from envs.versions import NOT_INSTALLED, installed_version, package_versions
from harness.api.version import git_commit


def test_a_missing_package_is_spelt_one_way():
    assert installed_version("wam-eval-no-such-dist") == NOT_INSTALLED == "not installed"
    # A distribution published under several names: the first one installed.
    assert installed_version("wam-eval-no-such-dist", "pydantic") == metadata.version("pydantic")
    got = package_versions(["pydantic", "wam-eval-no-such-dist"])
    assert got["pydantic"] == metadata.version("pydantic") and got["wam-eval-no-such-dist"] == NOT_INSTALLED
    assert "python" in got


def test_git_commit_of_a_clone_top_cut_and_marked_dirty_on_request(tmp_path):
    clone = tmp_path / "clone"
    (clone / "sub").mkdir(parents=True)
    (clone / "f.txt").write_text("a")
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    git = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "f.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert git_commit(clone) == sha
    assert git_commit(clone, length=7, mark_dirty=False) == sha[:7]
    (clone / "f.txt").write_text("b")
    assert git_commit(clone) == sha + "+dirty" and git_commit(clone, length=7) == sha[:7] + "+dirty"
    assert git_commit(clone, length=7, mark_dirty=False) == sha[:7]
    # Only a clone's top answers: a folder inside one (a wheel's site-packages in a project's venv) does not.
    assert git_commit(clone / "sub") is None and git_commit(tmp_path) is None
