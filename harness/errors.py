"""Moved to harness.api.errors; this name stays for code written against it."""

from harness.api.errors import *  # noqa: F403
