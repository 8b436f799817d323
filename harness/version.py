"""Moved to harness.api.version; this name stays for code written against it."""

from harness.api.version import *  # noqa: F403
from harness.api.version import _ROOT  # noqa: F401
