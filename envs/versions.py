"""Installed versions of the packages that make up a simulator stack, all read here so that a missing
package is spelt one way in every record."""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Iterable

NOT_INSTALLED = "not installed"


def installed_version(*names: str) -> str:
    """The version of the first of `names` installed (a distribution published under several names
    lists them all), else NOT_INSTALLED."""
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return NOT_INSTALLED


def package_versions(names: Iterable[str]) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in names:
        out[name] = installed_version(name)
    return out
