"""One websocket connection to a policy server, reopened with backoff when it drops; each request
says how long it took and how long it waited for a reconnect."""

from __future__ import annotations

import inspect
import logging
import time
from typing import Any, Callable

import websockets
import websockets.sync.client as ws_client

from harness.api.errors import UsageError
from policies.remote.codec import CodecError, decode, encode
from policies.remote.protocol import (
    ServerCapabilities,
)

log = logging.getLogger("wam_eval.remote")

MESSAGE_TOO_BIG = 1009  # websocket close code for a refused oversized message
_FIRST_BACKOFF_S = 0.05
_MAX_BACKOFF_S = 2.0
# websockets >= 17 deprecates a connection held outside a `with` block unless it is asked for.
_LONG_LIVED = {"legacy": True} if "legacy" in inspect.signature(ws_client.connect).parameters else {}


class ServerUnreachable(ConnectionError):
    """The policy server could not be reached within the allowed time."""


class RemotePolicyError(RuntimeError):
    """The server answered with an error, or the answer cannot be used; retrying would not help."""


# -- one connection, reopened when it drops -----------------------------------------------------------
class PolicyConnection:
    """A websocket to a policy server that reconnects with exponential backoff.

    While the server is unreachable a request waits for it up to `retry_timeout` (counted from when
    it was first found gone), then fails; once that time has passed, each later request tries only
    once and fails fast, so a dead server costs each remaining episode one connection attempt.
    """

    def __init__(self, url: str, *, connect_timeout: float, retry_timeout: float, request_timeout: float):
        self.url = url
        self.connect_timeout = connect_timeout
        self.retry_timeout = retry_timeout
        self.request_timeout = request_timeout
        self.metadata: Any = None
        self.capabilities: ServerCapabilities | None = None
        self.connects = 0
        self._ws: ws_client.ClientConnection | None = None
        self._down_since: float | None = None

    @property
    def instance(self) -> str | None:
        return self.capabilities.instance if self.capabilities else None

    def open(self) -> None:
        try:
            self._connect(time.monotonic() + self.connect_timeout)
        except ServerUnreachable as exc:
            raise ServerUnreachable(f"cannot reach the policy server at {self.url} within {self.connect_timeout:g} s: {exc}") from None

    def _connect(self, deadline: float) -> None:
        delay = _FIRST_BACKOFF_S
        last: Exception | None = None
        while True:
            remaining = deadline - time.monotonic()
            try:
                ws = ws_client.connect(
                    self.url,
                    compression=None,  # frames are mostly images: deflate costs time and saves little
                    max_size=None,  # replies are small; requests are capped by the server
                    open_timeout=max(min(remaining, 10.0), 0.5),
                    close_timeout=1.0,
                    **_LONG_LIVED,
                )
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed) as exc:
                last = exc
            except websockets.InvalidURI as exc:
                raise UsageError(f"policy server address {self.url}: {exc}") from None
            else:
                try:
                    metadata = decode(ws.recv(timeout=max(remaining, 5.0)))
                    capabilities = ServerCapabilities.from_metadata(metadata)
                except (CodecError, ValueError) as exc:
                    ws.close()
                    raise RemotePolicyError(f"{self.url} is not a policy server on openpi's wire format: {exc}") from None
                except (OSError, TimeoutError, websockets.ConnectionClosed) as exc:
                    ws.close()
                    last = exc
                else:
                    if self.connects:
                        try:
                            self._check_same_policy(metadata, capabilities)
                        except RemotePolicyError:
                            ws.close()
                            raise
                    self._ws, self.metadata, self.capabilities = ws, metadata, capabilities
                    self._down_since = None
                    self.connects += 1
                    return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServerUnreachable(_describe_error(last))
            time.sleep(min(delay, remaining))  # the last attempt falls on the deadline
            delay = min(delay * 2, _MAX_BACKOFF_S)

    def _check_same_policy(self, metadata: Any, capabilities: ServerCapabilities | None) -> None:
        """After a reconnect: the run was checked against the first handshake, so a server that came
        back with another policy must not answer for it."""
        before = self.capabilities
        if before is None or capabilities is None:
            if metadata != self.metadata:
                raise RemotePolicyError(f"the server at {self.url} came back with different metadata: {metadata!r}")
            return
        if (capabilities.policy, capabilities.benchmark) != (before.policy, before.benchmark):
            raise RemotePolicyError(
                f"the server at {self.url} came back serving another policy ({capabilities.policy.name} "
                f"{capabilities.policy.checkpoint_digest}, {capabilities.policy.action_dim}-D, horizon "
                f"{capabilities.policy.horizon}) than the run was checked against ({before.policy.name} "
                f"{before.policy.checkpoint_digest}, {before.policy.action_dim}-D, horizon {before.policy.horizon})"
            )
        if capabilities.instance != before.instance:
            log.warning("the policy server at %s restarted; episodes in flight continue on a fresh policy state", self.url)

    def _reconnect(self) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
        deadline = self._down_since + self.retry_timeout
        # Gone for longer than the retry timeout already: one attempt only (deadline in the past).
        try:
            self._connect(deadline)
        except ServerUnreachable as exc:
            down = time.monotonic() - self._down_since
            raise ServerUnreachable(
                f"the policy server at {self.url} has been unreachable for {down:.1f} s "
                f"(retry_timeout {self.retry_timeout:g} s): {exc}"
            ) from None

    def _drop(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.close()

    def request(self, build: Callable[[], dict]) -> tuple[Any, float, float]:
        """Send the message `build()` makes (rebuilt after a reconnect) and return (reply,
        round trip ms of the attempt that succeeded, ms spent waiting to reconnect)."""
        reconnect_ms = 0.0
        while True:
            if self._ws is None:
                t0 = time.perf_counter()
                try:
                    self._reconnect()
                finally:
                    reconnect_ms += (time.perf_counter() - t0) * 1000.0
            t0 = time.perf_counter()
            data = encode(build())
            limit = self.capabilities.max_message_bytes if self.capabilities else None
            if limit is not None and len(data) > limit:
                raise RemotePolicyError(f"observation is {len(data)} bytes; the server at {self.url} takes at most {limit}")
            try:
                self._ws.send(data)
                reply = self._ws.recv(timeout=self.request_timeout)
            except TimeoutError:
                self._drop()  # a late answer would be read as the next one's
                raise RemotePolicyError(f"no answer from {self.url} within {self.request_timeout:g} s (request_timeout)") from None
            except websockets.ConnectionClosed as exc:
                self._drop()
                if exc.rcvd is not None and exc.rcvd.code == MESSAGE_TOO_BIG:
                    raise RemotePolicyError(f"the server at {self.url} refused the message: {exc.rcvd.reason}") from None
                log.warning("lost the policy server at %s (%s); reconnecting", self.url, exc)
                continue
            except OSError as exc:
                self._drop()
                log.warning("lost the policy server at %s (%s); reconnecting", self.url, exc)
                continue
            if isinstance(reply, str):
                raise RemotePolicyError(f"the policy server at {self.url} answered with an error:\n{reply}")
            try:
                message = decode(reply)
            except CodecError as exc:
                raise RemotePolicyError(f"unreadable answer from {self.url}: {exc}") from None
            return message, (time.perf_counter() - t0) * 1000.0, reconnect_ms

    def close(self) -> None:
        self._drop()


def _describe_error(exc: Exception | None) -> str:
    if exc is None:
        return "no attempt finished in time"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text
