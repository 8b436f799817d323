"""Which wam-eval produced a result: the package version and, from a git checkout, its commit."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding harness/api/


def wam_eval_version() -> str:
    try:
        return metadata.version("wam-eval")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def git_commit(root: Path = _ROOT, *, length: int = 40, mark_dirty: bool = True) -> str | None:
    """The commit checked out in the git clone whose top folder is `root`, by default the checkout
    wam-eval runs from, cut to `length` characters (with "+dirty" when tracked files differ from it and
    mark_dirty), or None when `root` is no clone's top (an installed wheel) or git is missing.
    Only `root` itself is asked, never a folder above it: a wheel installed in a virtualenv inside some
    other project's clone must not report that project's commit."""
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        if not mark_dirty:
            return head[:length] or None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head[:length] + ("+dirty" if dirty else "") if head else None
