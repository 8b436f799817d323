"""What `--policy-option` may say about a remote:// policy (timeouts; capabilities for a server that
declares none), and the address it names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

from harness.api.errors import UsageError
from policies.remote.protocol import (
    MAPPINGS,
)


# -- options -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RemoteOptions:
    """`--policy-option` keys for remote://. Timeouts in seconds; the rest declare capabilities for a
    server that does not (openpi's), and are checked against those of a server that does."""

    connect_timeout: float = 30.0  # to reach the server before the run starts
    retry_timeout: float = 60.0  # how long an episode waits for a lost server to come back
    request_timeout: float = 300.0  # for one answer (a first JAX call compiles for a minute)
    action_dim: int | None = None
    horizon: int | None = None
    image_size: tuple[int, int] | None = None
    cameras: tuple[str, ...] | None = None
    mapping: str | None = None
    name: str | None = None

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> "RemoteOptions":
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(options) - known)
        if unknown:
            raise UsageError(f"unknown remote policy option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        out: dict[str, Any] = {}
        try:
            for key, value in options.items():
                if key.endswith("_timeout"):
                    out[key] = float(value)
                    if out[key] <= 0:
                        raise ValueError("must be positive")
                elif key in ("action_dim", "horizon"):
                    out[key] = int(value)
                elif key == "image_size":
                    h, _, w = value.lower().partition("x")
                    out[key] = (int(h), int(w or h))
                elif key == "cameras":
                    out[key] = tuple(c.strip() for c in value.split(",") if c.strip())
                else:
                    out[key] = value
        except ValueError as exc:
            raise UsageError(f"remote policy option {key}={value!r}: {exc}") from None
        if out.get("mapping") is not None and out["mapping"] not in MAPPINGS:
            raise UsageError(f"unknown mapping {out['mapping']!r}; known: {', '.join(MAPPINGS)}")
        return cls(**out)


def server_url(address: str) -> str:
    """remote://host:port -> ws://host:port."""
    scheme, _, rest = address.partition("://")
    if scheme != "remote" or not rest:
        raise UsageError(f"policy address {address!r} is not remote://HOST:PORT")
    parts = urlsplit(f"ws://{rest}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise UsageError(f"policy address {address!r} needs a host and a port: remote://HOST:PORT")
    return f"ws://{rest}"
