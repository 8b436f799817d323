"""Serve any Policy over websocket on openpi's wire format (`wam-eval serve`).

One asyncio event loop owns the sockets; every policy call runs on one dedicated thread, so a slow
`infer` never blocks the loop (handshakes, health checks and ping/pong go on meanwhile) and the
policy is never called from two threads at once. Requests that wait together, from different
connections, may be answered by one batched `infer` call (`max_batch`; 1, the default, keeps each
call to one observation, exactly as in-process).

A bad message gets an error reply and the connection stays open: a text frame naming the problem
(malformed msgpack, a map that is not an observation, a message over the declared size limit) or
the policy's traceback (openpi's convention). Only a message so large that buffering it would be a
risk (over `OVERSIZE_FACTOR` times the limit) is cut off by the websocket layer itself, which closes
that connection with code 1009 and the sizes in the reason. Either way the server stays up.

What the server holds is bounded (ServerLimits): at most `max_connections` connections (one more is
refused at the handshake with HTTP 503), each closed after `idle_timeout_s` without a request, each
buffering at most one unread message, and the room for over-limit messages is one pool
(`max_oversize_bytes`) that connections draw their share from as they open: one without a share has a
request past the limit cut off (1009) instead of read.
"""

from __future__ import annotations

import asyncio
import http
import itertools
import logging
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import websockets
import websockets.asyncio.server as ws_server

from harness.api.types import ActionChunk, EpisodeKey, Observation
from policies.base import Policy, PolicyInfo
from policies.remote.codec import CodecError, decode, encode
from policies.remote.protocol import (
    META_KEY,
    MalformedRequest,
    ServerCapabilities,
    WireRequest,
    chunk_to_wire,
    observation_from_wire,
)
from policies.transforms import apply_transforms

log = logging.getLogger("wam_eval.serve")

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # about 80 frames of 3x320x240; a LIBERO request is ~0.4 MB
DEFAULT_MAX_CONNECTIONS = 64  # simulator workers of a large cluster, each with one connection
DEFAULT_IDLE_TIMEOUT_S = 600.0  # far above any episode's pause between requests (a worker's env rebuild)
DEFAULT_MAX_OVERSIZE_BYTES = 256 * 1024 * 1024
# A request somewhat over the limit is read and answered with an error (the client learns why, and its
# connection goes on); one past this multiple is not worth holding in memory and closes the connection.
OVERSIZE_FACTOR = 4


@dataclass(frozen=True)
class ServerLimits:
    """What one server may hold at once (flags of `wam-eval serve`)."""

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    idle_timeout_s: float | None = DEFAULT_IDLE_TIMEOUT_S  # None: never
    max_oversize_bytes: int = DEFAULT_MAX_OVERSIZE_BYTES

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {self.max_connections}")
        if self.idle_timeout_s is not None and not self.idle_timeout_s > 0:
            raise ValueError(f"idle_timeout_s must be positive, not {self.idle_timeout_s}")
        if self.max_oversize_bytes < 0:
            raise ValueError(f"max_oversize_bytes must not be negative, not {self.max_oversize_bytes}")


class _OversizePool:
    """The bytes over the message limit that connections may buffer, shared: a connection takes its
    share (up to the per-message allowance) when it opens and gives it back when it closes."""

    def __init__(self, total: int):
        self.free = total

    def take(self, wanted: int) -> int:
        share = min(wanted, self.free)
        self.free -= share
        return share

    def give(self, share: int) -> None:
        self.free += share


class PolicyCallError(Exception):
    """The served policy raised; `text` is the traceback sent back to the client."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


@dataclass
class _Pending:
    request: WireRequest
    reset_key: EpisodeKey | None
    received: float = field(default_factory=time.perf_counter)
    future: asyncio.Future | None = None


class _PolicyRunner:
    """Calls the policy on one thread, in arrival order, batching the requests that queued together."""

    def __init__(self, policy: Policy, info: PolicyInfo, *, max_batch: int):
        self._policy = policy
        self._info = info
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wam-eval-policy")

    async def submit(self, pending: _Pending) -> tuple[ActionChunk, dict[str, float]]:
        pending.future = asyncio.get_running_loop().create_future()
        await self._queue.put(pending)
        return await pending.future

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            started = time.perf_counter()
            try:
                chunks, reset_ms, infer_ms = await loop.run_in_executor(self._thread, self._call, batch)
            except Exception:  # noqa: BLE001 - the policy's fault goes back to each caller
                text = traceback.format_exc()
                log.error("policy call failed for %d request(s):\n%s", len(batch), text)
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(PolicyCallError(text))
                continue
            for p, chunk in zip(batch, chunks):
                timing = {
                    "infer_ms": infer_ms,
                    "queue_ms": (started - p.received) * 1000.0,
                    "batch_size": float(len(batch)),
                }
                if p.reset_key is not None:
                    timing["reset_ms"] = reset_ms
                if not p.future.done():
                    p.future.set_result((chunk, timing))

    def _call(self, batch: Sequence[_Pending]) -> tuple[list[ActionChunk], float, float]:
        t0 = time.perf_counter()
        for p in batch:
            if p.reset_key is not None:
                self._policy.reset(p.reset_key)
        t1 = time.perf_counter()
        # A wam-eval client applied the policy's declared transforms already (as the harness does
        # in-process); a foreign client (openpi's) applied none, so the server does it for it.
        observations: list[Observation] = [
            p.request.observation if p.request.from_wam_eval
            else apply_transforms(p.request.observation, self._info.input_transforms)
            for p in batch
        ]
        chunks = list(self._policy.infer(observations))
        t2 = time.perf_counter()
        if len(chunks) != len(batch):
            raise RuntimeError(f"policy returned {len(chunks)} action chunks for {len(batch)} observations")
        chunks = [
            c if p.request.from_wam_eval else apply_transforms(c, self._info.output_transforms)
            for p, c in zip(batch, chunks)
        ]
        return chunks, (t1 - t0) * 1000.0, (t2 - t1) * 1000.0

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)


class PolicyServer:
    def __init__(self, policy: Policy, *, benchmark: str, host: str = "127.0.0.1", port: int = 8000,
                 max_batch: int = 1, max_message_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES,
                 server_version: str = "", limits: ServerLimits = ServerLimits()):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self.limits = limits
        self._open: set[int] = set()  # connection numbers being served
        self._pool = _OversizePool(limits.max_oversize_bytes)
        self.policy = policy
        self.info = policy.info()
        self.host, self.port = host, port
        self.capabilities = ServerCapabilities(
            policy=self.info,
            benchmark=benchmark,
            instance=uuid.uuid4().hex,
            max_message_bytes=max_message_bytes,
            max_batch=max_batch,
            server_version=server_version,
        )
        self._metadata = encode({META_KEY: self.capabilities.to_wire()})
        self._connections = itertools.count(1)

    async def serve(self, *, ready: Callable[[str, int], None] | None = None, stop: asyncio.Event | None = None) -> None:
        runner = _PolicyRunner(self.policy, self.info, max_batch=self.capabilities.max_batch)
        runner_task = asyncio.create_task(runner.run_forever())
        try:
            async with ws_server.serve(
                lambda ws: self._handle(ws, runner),
                self.host,
                self.port,
                compression=None,
                # Each connection's own limit is raised by its share of the oversize pool (_handle).
                max_size=self.capabilities.max_message_bytes,
                # A client sends one request and waits for its answer: one message buffered is enough,
                # and 16 (the default) would let one connection hold 16 messages of the largest size.
                max_queue=1,
                process_request=self._process_request,
            ) as server:
                host, port = server.sockets[0].getsockname()[:2]
                self.port = port
                if ready is not None:
                    ready(host, port)
                if stop is None:
                    await server.serve_forever()
                else:
                    await stop.wait()
        finally:
            runner_task.cancel()
            runner.close()

    def run(self, *, ready: Callable[[str, int], None] | None = None) -> None:
        asyncio.run(self.serve(ready=ready))

    def _process_request(self, connection: ws_server.ServerConnection, request: ws_server.Request):
        if request.path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        if len(self._open) >= self.limits.max_connections:
            log.warning("refused a connection from %s: %d open (--max-connections)", connection.remote_address,
                        len(self._open))
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE,
                                      f"wam-eval server: {len(self._open)} connections open, the most it serves "
                                      "(wam-eval serve --max-connections); try again later\n")
        return None

    async def _handle(self, ws: ws_server.ServerConnection, runner: _PolicyRunner) -> None:
        number = next(self._connections)
        if len(self._open) >= self.limits.max_connections:
            # Handshakes that raced past the check in _process_request.
            await ws.close(1013, f"{len(self._open)} connections open, the most this server serves; try again later")
            return
        self._open.add(number)
        limit = self.capabilities.max_message_bytes
        share = 0
        if limit is not None:
            share = self._pool.take(limit * (OVERSIZE_FACTOR - 1))
            ws.protocol.max_message_size = limit + share
        try:
            await self._serve_connection(ws, runner, number)
        finally:
            self._open.discard(number)
            self._pool.give(share)

    async def _serve_connection(self, ws: ws_server.ServerConnection, runner: _PolicyRunner, number: int) -> None:
        # openpi's protocol has no episodes: a foreign client's connection is one episode.
        foreign_key = EpisodeKey("remote", "foreign-client", f"connection-{number}", "default", 0)
        foreign_started = False
        log.info("connection %d from %s opened", number, ws.remote_address)
        prev_total_ms: float | None = None
        idle = self.limits.idle_timeout_s
        try:
            await ws.send(self._metadata)
            while True:
                try:
                    message = await asyncio.wait_for(ws.recv(), timeout=idle)
                except TimeoutError:
                    log.info("connection %d: no request for %g s; closed (--idle-timeout)", number, idle)
                    await ws.close(1001, f"no request for {idle:g} s (wam-eval serve --idle-timeout)")
                    return
                started = time.monotonic()
                limit = self.capabilities.max_message_bytes
                if limit is not None and len(message) > limit:
                    log.warning("connection %d: request of %d bytes over the limit of %d", number, len(message), limit)
                    await ws.send(f"wam-eval server: request of {len(message)} bytes is over this server's limit of "
                                  f"{limit} bytes (wam-eval serve --max-message-mb); send smaller or fewer images")
                    continue
                try:
                    request = observation_from_wire(decode(message), default_episode=foreign_key.id)
                    reset_key = _reset_key(request)
                except (CodecError, MalformedRequest) as exc:
                    log.warning("connection %d: malformed request: %s", number, exc)
                    await ws.send(f"wam-eval server: malformed request: {exc}")
                    continue
                if not request.from_wam_eval and not foreign_started:
                    reset_key, foreign_started = foreign_key, True
                try:
                    chunk, timing = await runner.submit(_Pending(request, reset_key))
                except PolicyCallError as exc:
                    await ws.send(exc.text)
                    continue
                if prev_total_ms is not None:
                    # openpi's field: the previous request's full cycle, its send included.
                    timing["prev_total_ms"] = prev_total_ms
                try:
                    reply = encode(chunk_to_wire(chunk, timing))
                except (TypeError, ValueError, OverflowError) as exc:
                    await ws.send(f"wam-eval server: the policy's answer cannot be encoded: {exc}")
                    continue
                await ws.send(reply)
                prev_total_ms = (time.monotonic() - started) * 1000.0
        except websockets.ConnectionClosed as exc:
            log.info("connection %d closed (%s)", number, exc)


def _reset_key(request: WireRequest) -> EpisodeKey | None:
    if not request.reset:
        return None
    try:
        return EpisodeKey.from_id(request.observation.episode_id)
    except ValueError as exc:
        raise MalformedRequest(f"cannot reset: {exc}") from None

