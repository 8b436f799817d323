"""Files from the Hugging Face cache, read locally and never downloaded (only harness/fetch.py
downloads): `hf://REPO/FILE` references, the sha256 that `wam-eval fetch` recorded beside each file,
and the one-line error naming the fetch command when a file is missing."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from harness.api.errors import MissingDependencyError, UsageError

SCHEME = "hf://"
SHA256_SUFFIX = ".sha256"


@dataclass(frozen=True)
class HubRef:
    repo: str  # org/name
    path: str  # file inside the repo

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.repo}/{self.path}"


@dataclass(frozen=True)
class CachedFile:
    """A hub file found in the local cache, as a stored run records it."""

    repo: str
    path: str
    revision: str  # the snapshot (commit) it came from
    local_path: str
    sha256: str  # hex; recorded by `wam-eval fetch` beside the file, else computed here


def is_hub_ref(value: str | None) -> bool:
    return bool(value) and str(value).startswith(SCHEME)


def parse_ref(value: str) -> HubRef:
    parts = value[len(SCHEME) :].split("/") if value.startswith(SCHEME) else []
    if len(parts) < 3 or not all(parts):
        raise UsageError(f"{value!r} is not hf://ORG/REPO/FILE (e.g. hf://yuanty/fastwam/libero_uncond_2cam224.pt)")
    return HubRef("/".join(parts[:2]), "/".join(parts[2:]))


def cache_dir() -> Path:
    """The hub cache as huggingface_hub finds it, read from the environment now (its constants module
    reads it once, at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"


def file_sha256(path: str | Path, chunk: int = 1 << 24) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_path(path: str | Path) -> Path:
    return Path(str(path) + SHA256_SUFFIX)


def write_sha256(path: str | Path, digest: str) -> Path:
    """`<file>.sha256` in sha256sum's format, beside the file."""
    side = sha256_path(path)
    side.write_text(f"{digest}  {Path(path).name}\n")
    return side


def recorded_sha256(path: str | Path) -> str | None:
    side = sha256_path(path)
    if not side.is_file():
        return None
    digest = side.read_text().split()[0] if side.read_text().split() else ""
    return digest if len(digest) == 64 else None


def locate(ref: HubRef, *, fetch_hint: str | None = None) -> Path:
    """The cached copy of `ref` at the repo's `main` snapshot, or one line naming the fetch command."""
    from huggingface_hub import try_to_load_from_cache  # reads the cache folder only

    found = try_to_load_from_cache(ref.repo, ref.path, cache_dir=str(cache_dir()))
    if not isinstance(found, str) or not Path(found).is_file():
        how = f"wam-eval fetch {fetch_hint or ref.url}"
        raise MissingDependencyError(
            f"{ref.url} is not in the Hugging Face cache ({cache_dir()}); run `{how}` first (runs never download)"
        )
    return Path(found)


def cached(ref: HubRef, *, fetch_hint: str | None = None) -> CachedFile:
    """`locate`, plus the snapshot and the file's sha256 (the recorded one, else computed)."""
    found = locate(ref, fetch_hint=fetch_hint)
    snapshot = found
    for _ in ref.path.split("/"):
        snapshot = snapshot.parent
    return CachedFile(ref.repo, ref.path, snapshot.name, str(found), recorded_sha256(found) or file_sha256(found))
