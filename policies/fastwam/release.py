"""Where the released Fast-WAM files live on the Hugging Face hub: data only, no model code.

- Checkpoints and their dataset statistics: model repo yuanty/fastwam (official README).
- The frozen components, as the official loader fetches them
  (src/fastwam/models/wan22/helpers/loader.py `_resolve_configs`, redirect_common_files=True):
  the Wan2.2 VAE and the umt5-xxl encoder from DiffSynth-Studio/Wan-Series-Converted-Safetensors,
  the umt5-xxl tokenizer folder `google/umt5-xxl/` from Wan-AI/Wan2.1-T2V-1.3B (tokenizer_model_id).
"""

from __future__ import annotations

from dataclasses import dataclass

MODEL_REPO = "yuanty/fastwam"
CONVERTED_REPO = "DiffSynth-Studio/Wan-Series-Converted-Safetensors"
TOKENIZER_REPO = "Wan-AI/Wan2.1-T2V-1.3B"


@dataclass(frozen=True)
class HubItem:
    repo: str
    path: str  # a file, or a folder when `folder`
    role: str  # what it is, as the plan prints it
    folder: bool = False

    @property
    def url(self) -> str:
        return f"hf://{self.repo}/{self.path}"


VAE = HubItem(CONVERTED_REPO, "Wan2.2_VAE.safetensors", "Wan2.2 VAE")
TEXT_ENCODER = HubItem(CONVERTED_REPO, "models_t5_umt5-xxl-enc-bf16.safetensors", "umt5-xxl text encoder")
TOKENIZER = HubItem(TOKENIZER_REPO, "google/umt5-xxl", "umt5-xxl tokenizer", folder=True)
TOKENIZER_FILE = "google/umt5-xxl/tokenizer.json"  # the one file of the folder the tokenizer is read from
ASSETS = (VAE, TEXT_ENCODER, TOKENIZER)


@dataclass(frozen=True)
class Release:
    """A released checkpoint: what `wam-eval fetch NAME` downloads and how to run it."""

    name: str
    checkpoint: str  # file in MODEL_REPO
    policy: str
    benchmark: str
    table: str  # the `wam-eval reproduce` target
    options: tuple[str, ...] = ()  # policy options the run command adds

    @property
    def stats(self) -> str:
        return self.checkpoint.rsplit(".", 1)[0] + "_dataset_stats.json"

    def items(self) -> tuple[HubItem, ...]:
        return (HubItem(MODEL_REPO, self.checkpoint, "checkpoint"), HubItem(MODEL_REPO, self.stats, "dataset statistics"),
                *ASSETS)


RELEASES: dict[str, Release] = {
    r.name: r
    for r in (
        Release("fastwam-libero", "libero_uncond_2cam224.pt", "fastwam", "libero", "table2"),
        Release("fastwam-libero-idm", "libero_optional_idm_2cam224.pt", "fastwam-idm", "libero", "table2",
                ("action_infer_mode=idm",)),
        Release("fastwam-robotwin", "robotwin_uncond_3cam_384.pt", "fastwam", "robotwin", "table1"),
    )
}
ASSETS_NAME = "fastwam-assets"  # the shared components alone


def fetch_name_for(repo: str, path: str) -> str | None:
    """The `wam-eval fetch` name that downloads this hub file, if any."""
    for release in RELEASES.values():
        if repo == MODEL_REPO and path in (release.checkpoint, release.stats):
            return release.name
    if any(repo == a.repo and (path == a.path or (a.folder and path.startswith(a.path + "/"))) for a in ASSETS):
        return ASSETS_NAME
    return None
