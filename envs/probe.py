"""Probing a native rendering stack in a short subprocess, before any worker depends on it.

A wrong OpenGL backend for MuJoCo, or a Vulkan driver SAPIEN cannot open, shows up as a crash deep
inside the first render, or takes the whole process down. So each candidate is tried in a child
Python that does the smallest real thing (make a context, render a frame); its verdict is cached
per (code, environment) for the life of the process, and a failure comes back as the one line of
its output that says why, for the caller's MissingDependencyError (what is missing, the fix).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Mapping, Sequence


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    reason: str  # why not, one line ("" when ok)
    stdout: str  # what the probe printed (a device name, say)


@functools.lru_cache(maxsize=32)
def _run(
    code: str, env_items: tuple[tuple[str, str], ...], timeout: float, keywords: tuple[str, ...], what: str
) -> ProbeResult:
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], env=dict(env_items), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return ProbeResult(False, f"timed out {what}", "")
    if proc.returncode == 0:
        return ProbeResult(True, "", proc.stdout)
    lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    telling = [ln for ln in lines if any(k in ln.lower() for k in keywords)]
    return ProbeResult(False, (telling or lines or [f"exit code {proc.returncode}"])[-1][:300], proc.stdout)


def probe(
    code: str,
    environ: Mapping[str, str] | None = None,
    *,
    timeout: float = 60.0,
    keywords: Sequence[str] = (),
    what: str = "probing",
) -> ProbeResult:
    """Run `code` in a child Python with `environ` (default: this process's environment). The reason
    of a failure is the last line of its output mentioning one of `keywords` (else its last line)."""
    environ = os.environ if environ is None else environ
    return _run(code, tuple(sorted(environ.items())), float(timeout), tuple(k.lower() for k in keywords), what)


def forget() -> None:
    """Drop cached verdicts (after installing what was missing)."""
    _run.cache_clear()
