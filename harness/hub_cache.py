"""Moved to harness.api.hub_cache; this name stays for code written against it."""

from harness.api.hub_cache import *  # noqa: F403
