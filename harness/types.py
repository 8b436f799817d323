"""Moved to harness.api.types; this name stays for code written against it."""

from harness.api.types import *  # noqa: F403
