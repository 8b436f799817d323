"""The messages on the wire: openpi's shapes, plus fields of our own that openpi's side ignores.

openpi's protocol (websocket, one binary msgpack-numpy frame per message):
  1. on connect the server sends one metadata map (openpi: the policy's metadata, often {});
  2. the client sends an observation map; the server answers with an action map holding
     "actions" (horizon x action_dim) and "server_timing": {"infer_ms": ..., "prev_total_ms": ...};
  3. on an error the server sends a text frame with the traceback instead.

What wam-eval adds, always under names openpi's side does not read (docs/remote.md):
  - metadata["wam_eval"]: the served policy's PolicyInfo (cameras, image size, action dimension,
    horizon, transforms), the server's message limit and an instance id;
  - observation fields "wam_eval/episode_id", "wam_eval/step", "wam_eval/reset" (Policy.reset,
    which openpi's protocol lacks, rides on the episode's first request) and "wam_eval/extras";
  - images as "observation/images/<camera>" (every camera by name) for our server, or under the
    keys a mapping names ("observation/image", "observation/wrist_image") for openpi's LIBERO server;
  - reply fields "wam_eval/execute" and "wam_eval/info" (ActionChunk.execute and .info).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from harness.api.types import ActionChunk, Observation, jsonable
from policies.base import PolicyInfo
from policies.transforms import TransformSpec

PROTOCOL_VERSION = 1
META_KEY = "wam_eval"

# observation map
STATE_KEY = "observation/state"
PROMPT_KEY = "prompt"
IMAGE_PREFIX = "observation/images/"
EPISODE_KEY = "wam_eval/episode_id"
STEP_KEY = "wam_eval/step"
RESET_KEY = "wam_eval/reset"
EXTRAS_KEY = "wam_eval/extras"

# action map
ACTIONS_KEY = "actions"
SERVER_TIMING_KEY = "server_timing"
POLICY_TIMING_KEY = "policy_timing"  # openpi's own Policy adds its model time here
EXECUTE_KEY = "wam_eval/execute"
INFO_KEY = "wam_eval/info"


class MalformedRequest(ValueError):
    """A decoded message that is not an observation this server can use."""


@dataclass(frozen=True)
class WireMapping:
    """How an Observation's parts are named in the observation map.

    image_keys: camera name -> key. Empty: every camera goes under "observation/images/<camera>".
    """

    name: str
    image_keys: Mapping[str, str] = field(default_factory=dict)
    state_key: str = STATE_KEY
    prompt_key: str = PROMPT_KEY

    def image_key(self, camera: str) -> str | None:
        if not self.image_keys:
            return IMAGE_PREFIX + camera
        return self.image_keys.get(camera)

    @property
    def cameras(self) -> tuple[str, ...] | None:
        return tuple(self.image_keys) or None


NATIVE = WireMapping("wam-eval")
# openpi examples/libero/main.py: third-person and wrist frames (rotated 180, resized to 224), the
# 8-D eef state, the task's instruction as the prompt; openpi's LiberoInputs reads exactly these.
OPENPI_LIBERO = WireMapping(
    "openpi-libero", {"agentview": "observation/image", "robot0_eye_in_hand": "observation/wrist_image"}
)
MAPPINGS: Mapping[str, WireMapping] = {m.name: m for m in (NATIVE, OPENPI_LIBERO)}
# Keys our server also understands, so that openpi's LIBERO client can talk to it.
_FOREIGN_IMAGE_KEYS = {key: camera for camera, key in OPENPI_LIBERO.image_keys.items()}


# -- observations ----------------------------------------------------------------------------------
def observation_to_wire(obs: Observation, mapping: WireMapping, *, reset: bool) -> dict[str, Any]:
    msg: dict[str, Any] = {
        mapping.state_key: np.asarray(obs.state),
        mapping.prompt_key: obs.instruction,
        EPISODE_KEY: obs.episode_id,
        STEP_KEY: int(obs.step),
    }
    for camera, image in obs.images.items():
        key = mapping.image_key(camera)
        if key is not None:
            msg[key] = np.asarray(image)
    if reset:
        msg[RESET_KEY] = True
    if obs.extras:
        msg[EXTRAS_KEY] = {str(k): _wire_value(v) for k, v in obs.extras.items()}
    return msg


def _wire_value(value: Any) -> Any:
    return value if isinstance(value, np.ndarray) else jsonable(value)


@dataclass
class WireRequest:
    observation: Observation
    reset: bool
    from_wam_eval: bool  # False: a foreign client (openpi's) that applied none of the policy's transforms


def observation_from_wire(msg: Any, *, default_episode: str) -> WireRequest:
    if not isinstance(msg, dict):
        raise MalformedRequest(f"an observation must be a map, not {type(msg).__name__}")
    images: dict[str, np.ndarray] = {}
    for key, value in msg.items():
        if not isinstance(key, str):
            continue
        camera = key[len(IMAGE_PREFIX):] if key.startswith(IMAGE_PREFIX) else _FOREIGN_IMAGE_KEYS.get(key)
        if camera is None:
            continue
        if not isinstance(value, np.ndarray) or value.ndim != 3 or value.dtype != np.uint8:
            raise MalformedRequest(f"{key!r} must be a uint8 HxWxC array, not {_describe(value)}")
        images[camera] = value
    if STATE_KEY not in msg:
        # Keys shown quoted: the reply is one line whatever a client put in them.
        raise MalformedRequest(f"observation lacks {STATE_KEY!r}; keys: {', '.join(map(repr, msg)) or 'none'}")
    state = msg[STATE_KEY]
    if isinstance(state, list):  # a hand-written client may send a plain list of numbers
        try:
            state = np.asarray(state, dtype=np.float64)
        except (TypeError, ValueError):
            raise MalformedRequest(f"{STATE_KEY} must hold numbers only") from None
    if not isinstance(state, np.ndarray) or state.ndim != 1 or not np.issubdtype(state.dtype, np.number):
        raise MalformedRequest(f"{STATE_KEY} must be a 1-D numeric array, not {_describe(state)}")
    prompt = msg.get(PROMPT_KEY, "")
    if not isinstance(prompt, str):
        raise MalformedRequest(f"{PROMPT_KEY} must be a string, not {_describe(prompt)}")
    episode = msg.get(EPISODE_KEY)
    if episode is not None and not isinstance(episode, str):
        raise MalformedRequest(f"{EPISODE_KEY} must be a string, not {_describe(episode)}")
    step = msg.get(STEP_KEY, 0)
    if not isinstance(step, int):
        raise MalformedRequest(f"{STEP_KEY} must be an int, not {_describe(step)}")
    extras = msg.get(EXTRAS_KEY, {})
    if not isinstance(extras, dict):
        raise MalformedRequest(f"{EXTRAS_KEY} must be a map, not {_describe(extras)}")
    obs = Observation(
        images=images, state=state, instruction=prompt, episode_id=episode or default_episode, step=step, extras=extras
    )
    return WireRequest(obs, reset=bool(msg.get(RESET_KEY, False)), from_wam_eval=episode is not None)


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__


# -- action chunks ---------------------------------------------------------------------------------
def chunk_to_wire(chunk: ActionChunk, server_timing: Mapping[str, float]) -> dict[str, Any]:
    msg: dict[str, Any] = {ACTIONS_KEY: np.asarray(chunk.actions), SERVER_TIMING_KEY: dict(server_timing)}
    if chunk.execute is not None:
        msg[EXECUTE_KEY] = int(chunk.execute)
    if chunk.info:
        msg[INFO_KEY] = {str(k): _wire_value(v) for k, v in chunk.info.items()}
    return msg


@dataclass
class WireReply:
    chunk: ActionChunk  # actions, execute and the served policy's own info
    server_timing: dict[str, float]
    policy_timing: dict[str, float]


def chunk_from_wire(msg: Any) -> WireReply:
    if not isinstance(msg, dict) or ACTIONS_KEY not in msg:
        keys = ", ".join(map(str, msg)) if isinstance(msg, dict) else type(msg).__name__
        raise ValueError(f"the server's reply has no {ACTIONS_KEY!r} ({keys})")
    execute = msg.get(EXECUTE_KEY)
    info = msg.get(INFO_KEY) or {}
    return WireReply(
        chunk=ActionChunk(np.asarray(msg[ACTIONS_KEY]), execute=execute, info=dict(info)),
        server_timing=_numbers(msg.get(SERVER_TIMING_KEY)),
        policy_timing=_numbers(msg.get(POLICY_TIMING_KEY)),
    )


def _numbers(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        return {}
    return {str(k): float(v) for k, v in value.items() if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)}


# -- metadata (the capability handshake) -----------------------------------------------------------
def policy_info_to_wire(info: PolicyInfo) -> dict[str, Any]:
    return jsonable(info)


def policy_info_from_wire(data: Any) -> PolicyInfo:
    if not isinstance(data, dict):
        raise ValueError(f"policy info must be a map, not {type(data).__name__}")

    def specs(items: Any) -> tuple[TransformSpec, ...]:
        return tuple(TransformSpec(str(s["name"]), dict(s.get("params") or {})) for s in items or ())

    cameras = data.get("cameras")
    image_size = data.get("image_size")
    return PolicyInfo(
        name=str(data["name"]),
        action_dim=int(data["action_dim"]),
        horizon=int(data["horizon"]),
        checkpoint_digest=str(data.get("checkpoint_digest", "none")),
        cameras=None if cameras is None else tuple(str(c) for c in cameras),
        image_size=None if image_size is None else (int(image_size[0]), int(image_size[1])),
        input_transforms=specs(data.get("input_transforms")),
        output_transforms=specs(data.get("output_transforms")),
        preferred_presets={str(k): str(v) for k, v in dict(data.get("preferred_presets") or {}).items()},
        trained=None if data.get("trained", True) is None else bool(data.get("trained", True)),
        description=str(data.get("description", "")),
        extra=dict(data.get("extra") or {}),
    )


@dataclass(frozen=True)
class ServerCapabilities:
    """What a wam-eval server declares on connect (metadata["wam_eval"])."""

    policy: PolicyInfo
    benchmark: str
    instance: str  # changes when the server restarts: its policy state is gone
    max_message_bytes: int | None
    max_batch: int
    protocol: int = PROTOCOL_VERSION
    server_version: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "server_version": self.server_version,
            "instance": self.instance,
            "benchmark": self.benchmark,
            "max_message_bytes": self.max_message_bytes,
            "max_batch": self.max_batch,
            "policy": policy_info_to_wire(self.policy),
            "observation_keys": {"images": IMAGE_PREFIX + "<camera>", "state": STATE_KEY, "prompt": PROMPT_KEY},
        }

    @classmethod
    def from_metadata(cls, metadata: Any) -> "ServerCapabilities | None":
        """None when the server is not a wam-eval server (openpi's sends its policy's own metadata)."""
        if not isinstance(metadata, dict) or not isinstance(metadata.get(META_KEY), dict):
            return None
        data = metadata[META_KEY]
        try:
            protocol = int(data["protocol"])
            if protocol != PROTOCOL_VERSION:
                raise ValueError(f"protocol version {protocol}; this client speaks {PROTOCOL_VERSION}")
            limit = data.get("max_message_bytes")
            return cls(
                policy=policy_info_from_wire(data["policy"]),
                benchmark=str(data["benchmark"]),
                instance=str(data["instance"]),
                max_message_bytes=None if limit is None else int(limit),
                max_batch=int(data.get("max_batch", 1)),
                protocol=protocol,
                server_version=str(data.get("server_version", "")),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"unreadable wam_eval metadata: {type(exc).__name__}: {exc}") from None
