"""Errors the user can act on. The CLI prints each as one line and exits with code 2."""

from __future__ import annotations


class WamEvalError(Exception):
    """A problem with the user's input or machine, stated so that they can fix it."""

    exit_code = 2


class UsageError(WamEvalError):
    """Bad command-line input: an unknown name, an index out of range, a bad combination."""


class MissingDependencyError(WamEvalError):
    """Something the run needs is not installed or not reachable (a package, assets, a GL driver)."""


class PolicyOutputError(Exception):
    """A policy returned something the harness cannot execute; ends that episode with `error`."""
