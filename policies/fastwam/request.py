"""Checks of a Fast-WAM request that need no model code (nor torch), so the driver can refuse one before it
starts Ray or imports torch (`PolicyEntry.precheck`)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.api.errors import UsageError
from harness.api.hub_cache import HubRef, locate
from policies.base import PolicyContext
from policies.fastwam.release import ASSETS_NAME, TEXT_ENCODER, TOKENIZER, TOKENIZER_FILE, VAE

OPTIONAL_IDM_WORD = "optional"


def is_optional_idm(path: str | Path) -> bool:
    """Whether a checkpoint's file name is the Optional IDM release's (libero_optional_idm_2cam224.pt:
    both 'optional' and 'idm' as words), the one model that can also act from the first frame alone."""
    words = set(re.split(r"[^a-z0-9]+", Path(path).stem.lower()))
    return {OPTIONAL_IDM_WORD, "idm"} <= words


def require_weights(ctx: PolicyContext, variant: str = "fastwam") -> None:
    """A Fast-WAM needs a checkpoint, or the user's explicit word that random weights are meant.

    A forgotten --checkpoint used to build the tiny random model silently and plan thousands of
    episodes of meaningless actions."""
    if ctx.checkpoint or str(ctx.options.get("size") or "").strip():
        return
    raise UsageError(
        f"{variant} needs weights: pass --checkpoint FILE.pt (or hf://REPO/FILE after `wam-eval fetch`), "
        "or --policy-option size=tiny (or size=full) for a random, untrained model"
    )


def precheck(name: str, ctx: PolicyContext) -> None:
    require_weights(ctx, name)
    if str(ctx.options.get("assets") or "").strip() == "hf":
        locate_hub_assets()  # one line naming `wam-eval fetch fastwam-assets` before anything starts


def hub_asset_refs() -> tuple[HubRef, HubRef, HubRef]:
    """(VAE, text encoder, tokenizer.json) as hub references, for `assets=hf`."""
    return (HubRef(VAE.repo, VAE.path), HubRef(TEXT_ENCODER.repo, TEXT_ENCODER.path), HubRef(TOKENIZER.repo, TOKENIZER_FILE))


def locate_hub_assets() -> None:
    """Refuse, in one line, when a component is not in the cache (cheap: nothing is read or hashed)."""
    for ref in hub_asset_refs():
        locate(ref, fetch_hint=ASSETS_NAME)
