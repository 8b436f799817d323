"""The client side: a Policy whose `infer` is answered by a policy server over websocket.

`remote://host:port` resolves here. The server is either a wam-eval server (`wam-eval serve`),
which declares the served policy's capabilities on connect, or openpi's server, which declares
nothing we can use: then the capabilities come from `--policy-option` declarations and the
observation goes out under openpi's LIBERO keys.

The remote policy stays a Policy (not a PolicyClient) so that every executor, in-process or Ray,
runs it unchanged; what it waited for (network, the server's queue, reconnects) it reports as the
chunk's `queue_ms`, which the harness books as queue time rather than policy time.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from dataclasses import replace
from typing import Any, Sequence

from harness.api.errors import MissingDependencyError, UsageError
from harness.api.types import ActionChunk, EpisodeKey, Observation
from policies.base import PolicyContext, PolicyInfo
from policies.remote.connection import _LONG_LIVED, PolicyConnection, RemotePolicyError, ServerUnreachable
from policies.remote.options import RemoteOptions, server_url
from policies.remote.protocol import (
    MAPPINGS,
    NATIVE,
    OPENPI_LIBERO,
    ServerCapabilities,
    WireMapping,
    chunk_from_wire,
    observation_to_wire,
)
from policies.transforms import TransformSpec

log = logging.getLogger("wam_eval.remote")

# The mapping to use with a server that declares nothing, per benchmark.
DEFAULT_FOREIGN_MAPPING = {"libero": OPENPI_LIBERO.name}
DEFAULT_FOREIGN_IMAGE_SIZE = {OPENPI_LIBERO.name: (224, 224)}  # openpi's LIBERO client resizes to 224

# The connection's errors (and its websocket flags) stay importable from here.
__all__ = ["RemotePolicy", "RemotePolicyError", "ServerUnreachable", "make_remote_policy", "_LONG_LIVED"]


# -- the Policy ------------------------------------------------------------------------------------
_UNSEEN = object()
_EPISODES_REMEMBERED = 4096


class RemotePolicy:
    def __init__(self, connection: PolicyConnection, info: PolicyInfo, mapping: WireMapping):
        self.connection = connection
        self._info = info
        self._mapping = mapping
        # episode id -> the server instance that saw its reset; a restarted server needs it again
        self._reset_on: OrderedDict[str, str | None] = OrderedDict()

    def info(self) -> PolicyInfo:
        return self._info

    def reset(self, episode: EpisodeKey) -> None:
        # openpi's protocol has no reset message: it rides on the episode's next request.
        self._reset_on.pop(episode.id, None)

    def infer(self, observations: Sequence[Observation]) -> list[ActionChunk]:
        return [self._infer_one(obs) for obs in observations]

    def _infer_one(self, obs: Observation) -> ActionChunk:
        def build() -> dict:
            reset = self._reset_on.get(obs.episode_id, _UNSEEN) != self.connection.instance
            return observation_to_wire(obs, self._mapping, reset=reset)

        message, roundtrip_ms, reconnect_ms = self.connection.request(build)
        self._reset_on[obs.episode_id] = self.connection.instance
        self._reset_on.move_to_end(obs.episode_id)
        while len(self._reset_on) > _EPISODES_REMEMBERED:
            self._reset_on.popitem(last=False)
        try:
            reply = chunk_from_wire(message)
        except ValueError as exc:
            raise RemotePolicyError(str(exc)) from None
        server = reply.server_timing
        infer_ms = server.get("infer_ms", 0.0) + server.get("reset_ms", 0.0)
        info = dict(reply.chunk.info)
        # everything but the policy's own work: wire, (de)serialisation, server queue, reconnects
        waited_ms = max(roundtrip_ms - infer_ms, 0.0) + reconnect_ms
        info.update(
            roundtrip_ms=roundtrip_ms,
            server_infer_ms=server.get("infer_ms", 0.0),
            queue_ms=waited_ms,  # kept with the call's other timings; the harness books the chunk's field
            network_ms=max(roundtrip_ms - infer_ms - server.get("queue_ms", 0.0), 0.0),
        )
        for ours, theirs in (("server_queue_ms", "queue_ms"), ("server_reset_ms", "reset_ms"),
                             ("server_prev_total_ms", "prev_total_ms")):
            if theirs in server:
                info[ours] = server[theirs]
        if "batch_size" in server:
            info["server_batch_size"] = int(server["batch_size"])
        if "infer_ms" in reply.policy_timing:
            info["model_infer_ms"] = reply.policy_timing["infer_ms"]
        if reconnect_ms:
            info["reconnect_ms"] = reconnect_ms
        return replace(reply.chunk, info=info, queue_ms=waited_ms)

    def close(self) -> None:
        self.connection.close()


# -- capabilities: declared by the server, else by options ------------------------------------------
def _served_info(caps: ServerCapabilities, opts: RemoteOptions, ctx: PolicyContext, url: str) -> PolicyInfo:
    info = caps.policy
    if caps.benchmark != ctx.benchmark:
        raise UsageError(f"the server at {url} serves policy {info.name} built for {caps.benchmark}, not {ctx.benchmark}")
    if info.action_dim != ctx.action_dim:
        raise UsageError(
            f"the server at {url} serves policy {info.name} with {info.action_dim}-D actions; "
            f"{ctx.benchmark} takes {ctx.action_dim}-D"
        )
    declared = {"action_dim": info.action_dim, "horizon": info.horizon, "image_size": info.image_size,
                "cameras": info.cameras}
    for key, served in declared.items():
        wanted = getattr(opts, key)
        if wanted is not None and wanted != served:
            raise UsageError(f"the server at {url} declares {key} {served}; --policy-option {key} says {wanted}")
    extra = dict(info.extra)
    extra.update(remote=url, capabilities="declared by the server", server_version=caps.server_version)
    return replace(info, extra=extra)


def _declared_info(opts: RemoteOptions, ctx: PolicyContext, url: str, metadata: Any) -> tuple[PolicyInfo, WireMapping]:
    mapping_name = opts.mapping or DEFAULT_FOREIGN_MAPPING.get(ctx.benchmark)
    if mapping_name is None:
        raise UsageError(
            f"the server at {url} declares no capabilities and wam-eval knows no openpi key mapping for "
            f"{ctx.benchmark}; serve the policy with `wam-eval serve` or pass --policy-option mapping=NAME "
            f"({', '.join(MAPPINGS)})"
        )
    mapping = MAPPINGS[mapping_name]
    image_size = opts.image_size or DEFAULT_FOREIGN_IMAGE_SIZE.get(mapping.name)
    cameras = opts.cameras if opts.cameras is not None else mapping.cameras
    transforms = (TransformSpec("resize", {"height": image_size[0], "width": image_size[1]}),) if image_size else ()
    label = ctx.checkpoint
    info = PolicyInfo(
        name=opts.name or "openpi-server",
        action_dim=opts.action_dim if opts.action_dim is not None else ctx.action_dim,
        horizon=opts.horizon if opts.horizon is not None else 0,  # 0: unknown, any chunk length is taken
        checkpoint_digest=f"label:{label}" if label else _undeclared_digest(url, metadata),
        cameras=cameras,
        image_size=image_size,
        input_transforms=transforms,
        description=f"served at {url} by a server that declares no capabilities",
        extra={"remote": url, "capabilities": "declared by --policy-option", "mapping": mapping.name,
               "server_metadata": _jsonable_metadata(metadata)},
    )
    return info, mapping


def _warn_undeclared(info: PolicyInfo, mapping: WireMapping, opts: RemoteOptions, ctx: PolicyContext, url: str) -> None:
    """Said once per policy built (not when the driver only reads the handshake): what was assumed."""
    assumed = [k for k in ("action_dim", "horizon", "name") if getattr(opts, k) is None]
    hints = []
    if assumed:
        hints.append(f"assumed, not declared: {', '.join(assumed)} (--policy-option KEY=VALUE)")
    if not ctx.checkpoint:
        hints.append("no --checkpoint LABEL names the served checkpoint in the run's identity")
    log.warning(
        "the server at %s is not a wam-eval server (no capabilities in its metadata): using %s keys, "
        "action_dim %d, horizon %s, cameras %s, images %s%s",
        url, mapping.name, info.action_dim, info.horizon or "any", ",".join(info.cameras or ()) or "all",
        "x".join(map(str, info.image_size)) if info.image_size else "as rendered", "".join(f"; {h}" for h in hints),
    )


def served_policy_info(url: str, opts: RemoteOptions, ctx: PolicyContext, metadata: Any,
                       capabilities: ServerCapabilities | None) -> tuple[PolicyInfo, WireMapping]:
    """The PolicyInfo of the policy served at `url` under `ctx`, and the wire mapping to talk to it:
    declared by the server (checked against `ctx` and the options), else by the options. A function of
    the handshake alone, so the driver's probe (handshake.py) and the built policy agree on it."""
    if capabilities is not None:
        return _served_info(capabilities, opts, ctx, url), MAPPINGS[opts.mapping] if opts.mapping else NATIVE
    return _declared_info(opts, ctx, url, metadata)


def _undeclared_digest(url: str, metadata: Any) -> str:
    """What stands for the checkpoint of a server that names none: its address and metadata. Two
    models behind different addresses (or metadata) are then two runs; the same address serving
    another model later is not told apart, hence the warning asking for --checkpoint LABEL."""
    body = json.dumps({"url": url, "metadata": _jsonable_metadata(metadata)}, sort_keys=True, default=str)
    return "undeclared:" + hashlib.sha256(body.encode()).hexdigest()[:16]


def _jsonable_metadata(metadata: Any) -> Any:
    from harness.api.types import jsonable

    try:
        return jsonable(metadata)
    except Exception:  # noqa: BLE001 - recorded for reference only
        return repr(metadata)


def open_connection(url: str, opts: RemoteOptions) -> PolicyConnection:
    """A connection to the server at `url` with its handshake read, or one line saying why there is none."""
    connection = PolicyConnection(url, connect_timeout=opts.connect_timeout, retry_timeout=opts.retry_timeout,
                                  request_timeout=opts.request_timeout)
    try:
        connection.open()
    except ServerUnreachable as exc:
        raise MissingDependencyError(f"{exc} (start it with `wam-eval serve` or openpi's serve_policy.py)") from None
    except RemotePolicyError as exc:
        raise UsageError(str(exc)) from None
    return connection


def make_remote_policy(address: str, ctx: PolicyContext) -> RemotePolicy:
    """The factory behind `--policy remote://host:port`: connect, read the handshake, check it."""
    url = server_url(address)
    opts = RemoteOptions.parse(ctx.options)
    connection = open_connection(url, opts)
    try:
        info, mapping = served_policy_info(url, opts, ctx, connection.metadata, connection.capabilities)
        if connection.capabilities is None:
            _warn_undeclared(info, mapping, opts, ctx, url)
        return RemotePolicy(connection, info, mapping)
    except Exception:
        connection.close()
        raise
