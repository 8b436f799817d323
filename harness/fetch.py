"""`wam-eval fetch NAME`: the files a named model needs, from the Hugging Face hub.

The only module of wam-eval that downloads (a test checks it); runs read the cache through
harness/api/hub_cache.py and never touch the network. Downloads go through huggingface_hub (resumable,
its progress bar) into the standard cache, or under `--local-dir`. Before downloading, the plan (each
file, its size from the hub's metadata, the total) is printed; after, the sha256 of each file is
written beside it (`<file>.sha256`) and printed, and the run command that uses them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.api.errors import MissingDependencyError, UsageError, WamEvalError
from harness.api.hub_cache import cache_dir, file_sha256, is_hub_ref, parse_ref, write_sha256
from policies.fastwam.release import ASSETS, ASSETS_NAME, MODEL_REPO, RELEASES, HubItem, Release


@dataclass(frozen=True)
class Bundle:
    name: str
    description: str
    items: tuple[HubItem, ...]
    release: Release | None = None


def bundles() -> dict[str, Bundle]:
    out = {name: Bundle(name, f"{r.policy} checkpoint {r.checkpoint}, its dataset statistics and the shared "
                              "components", r.items(), r) for name, r in RELEASES.items()}
    out[ASSETS_NAME] = Bundle(ASSETS_NAME, "the Wan2.2 VAE, the umt5-xxl encoder and its tokenizer (every Fast-WAM)",
                              ASSETS)
    return out


def bundle_for(name: str) -> Bundle:
    if is_hub_ref(name):
        ref = parse_ref(name)
        return Bundle(name, f"one file of {ref.repo}", (HubItem(ref.repo, ref.path, "file"),))
    known = bundles()
    if name not in known:
        raise UsageError(f"nothing to fetch named {name!r}; known: {', '.join(known)} or hf://ORG/REPO/FILE")
    return known[name]


@dataclass(frozen=True)
class PlannedFile:
    repo: str
    path: str
    role: str
    size: int
    lfs_sha256: str | None  # the hub's sha256 of an LFS file's content, to check the download against
    local_dir: Path | None  # None: the Hugging Face cache


@dataclass(frozen=True)
class FetchedFile:
    planned: PlannedFile
    local_path: Path
    sha256: str


def target_dir(item_repo: str, local_dir: Path | None) -> Path | None:
    """Under --local-dir, the model repo's files sit at the top (as the official README's --local-dir
    lays them out) and each component under its repo id, the layout of the official model directory
    (DIFFSYNTH_MODEL_BASE_PATH), which `assets=DIR` reads."""
    if local_dir is None:
        return None
    return local_dir if item_repo == MODEL_REPO else local_dir / item_repo


def _hub_errors() -> tuple[type[BaseException], ...]:
    """What a hub call raises when the hub cannot be reached or answers with an error. The HTTP
    client behind huggingface_hub changed across its versions (requests, httpx, httpx2), so any
    Exception counts; callers re-raise a WamEvalError of our own before catching these."""
    return (Exception,)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _unreachable(what: str, exc: BaseException) -> MissingDependencyError:
    from huggingface_hub import constants

    offline = " (HF_HUB_OFFLINE is set)" if constants.is_offline_mode() else ""
    return MissingDependencyError(
        f"cannot {what} from the Hugging Face hub at {constants.ENDPOINT}{offline}: {_first_line(exc)}; "
        "fetch needs the network (or HF_ENDPOINT pointing at a mirror)"
    )


def plan(bundle: Bundle, local_dir: Path | None = None) -> list[PlannedFile]:
    """Each file with its size, from the hub's metadata (no file content is read)."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile

    api = HfApi()
    out: list[PlannedFile] = []
    try:
        for item in bundle.items:
            found = (api.list_repo_tree(item.repo, path_in_repo=item.path, recursive=True) if item.folder
                     else api.get_paths_info(item.repo, [item.path]))
            files = [f for f in found if isinstance(f, RepoFile)]
            if not files:
                raise MissingDependencyError(f"{item.url} is not on the hub (its {item.role}); the release may have moved")
            for f in sorted(files, key=lambda f: f.path):
                out.append(PlannedFile(item.repo, f.path, item.role, int(f.size), f.lfs.sha256 if f.lfs else None,
                                       target_dir(item.repo, local_dir)))
    except WamEvalError:
        raise
    except _hub_errors() as exc:
        raise _unreachable(f"read the file list of {bundle.name}", exc) from None
    return out


def is_cached(f: PlannedFile) -> bool:
    """Already downloaded with the planned size (the cache's or --local-dir's copy)."""
    if f.local_dir is not None:
        path = f.local_dir / f.path
        return path.is_file() and path.stat().st_size == f.size
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(f.repo, f.path, cache_dir=str(cache_dir()))
    return isinstance(found, str) and Path(found).is_file() and Path(found).stat().st_size == f.size


def download(files: Sequence[PlannedFile], *, on_file: Callable[[FetchedFile], None] | None = None) -> list[FetchedFile]:
    """Download (resuming what was cut off; huggingface_hub skips what it has), then hash and record."""
    from huggingface_hub import hf_hub_download

    out = []
    for f in files:
        try:
            local = hf_hub_download(f.repo, f.path, cache_dir=str(cache_dir()),
                                    local_dir=str(f.local_dir) if f.local_dir is not None else None)
        except _hub_errors() as exc:
            raise _unreachable(f"download hf://{f.repo}/{f.path}", exc) from None
        digest = file_sha256(local)
        if f.lfs_sha256 and digest != f.lfs_sha256:
            raise MissingDependencyError(
                f"hf://{f.repo}/{f.path}: downloaded sha256 {digest} is not the hub's {f.lfs_sha256}; delete {local} "
                "and fetch again"
            )
        write_sha256(local, digest)
        fetched = FetchedFile(f, Path(local), digest)
        if on_file is not None:
            on_file(fetched)
        out.append(fetched)
    return out


def run_command(bundle: Bundle, local_dir: Path | None) -> list[str] | None:
    """The `wam-eval run` and `wam-eval reproduce` commands that use what was fetched."""
    release = bundle.release
    if release is None:
        return None
    if local_dir is None:
        checkpoint, assets = f"hf://{MODEL_REPO}/{release.checkpoint}", "hf"
    else:
        checkpoint, assets = str(local_dir / release.checkpoint), str(local_dir)
    options = " ".join(f"--policy-option {o}" for o in (f"assets={assets}", *release.options))
    device = "--device cuda --policy-placement shared"
    return [
        f"wam-eval run --benchmark {release.benchmark} --policy {release.policy} --checkpoint {checkpoint} {options} {device}",
        f"wam-eval reproduce {release.table} --policy {release.policy} --checkpoint {checkpoint} {options} {device}",
    ]


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} TB"


def default_local_dir(value: str | os.PathLike | None) -> Path | None:
    return None if value is None else Path(value).expanduser()
