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


def git_commit(root: Path = _ROOT) -> str | None:
    """The commit of the checkout wam-eval runs from (with "+dirty" when files differ from it), or
    None when it does not run from a git checkout (an installed wheel) or git is missing."""
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if head else None
