"""What a report folder may say about the machines behind it. A report is meant to be moved and
shared, so by default it names no host and no host path: a path becomes its last component
(`.../libero_uncond_2cam224.pt`), host names are left out. `report --include-paths` keeps them."""

from __future__ import annotations

import re
from typing import Any

HIDDEN = "..."
# An absolute POSIX path, a home-relative one, or a Windows drive path, as a whole string or as a
# word inside one (an argv item such as --video-dir=/data/x).
_PATH = re.compile(r"(?<![\w.:/])(?:~?/|[A-Za-z]:[\\/])[^\s'\",;]*")


def scrub_path(text: str) -> str:
    """Every host path in the text replaced by .../<its last component>."""

    def short(m: re.Match[str]) -> str:
        path = m.group(0).rstrip("/\\")
        name = re.split(r"[\\/]", path)[-1]
        return f"{HIDDEN}/{name}" if name else HIDDEN

    return _PATH.sub(short, text)


def scrub(value: Any) -> Any:
    """A JSON-able value with every host path in its strings shortened (see scrub_path)."""
    if isinstance(value, str):
        return scrub_path(value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value
