"""A policy server's handshake, read without building the policy: connect, read the metadata the
server sends on connect, close. The driver reads it before any executor exists, so a remote policy's
preferred preset and its PolicyInfo (hence the run identity) are known up front: a remote run builds
one executor, and one with nothing left to do stops before Ray starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from policies.base import PolicyContext, PolicyInfo
from policies.remote.client import open_connection, served_policy_info
from policies.remote.options import RemoteOptions, server_url
from policies.remote.protocol import ServerCapabilities


@dataclass(frozen=True)
class ServerHandshake:
    url: str
    options: RemoteOptions
    metadata: Any  # what the server sent on connect
    capabilities: ServerCapabilities | None  # None: not a wam-eval server (openpi's declares nothing usable)

    @property
    def preferred_presets(self) -> dict[str, str]:
        """benchmark -> preset the served policy names; a server without capabilities names none."""
        return dict(self.capabilities.policy.preferred_presets) if self.capabilities else {}

    def policy_info(self, ctx: PolicyContext) -> PolicyInfo:
        """The PolicyInfo the policy built by `make_remote_policy` under `ctx` reports, with the same
        refusals (another benchmark, another action size, options the server contradicts)."""
        return served_policy_info(self.url, self.options, ctx, self.metadata, self.capabilities)[0]


def read_handshake(address: str, options: Mapping[str, str]) -> ServerHandshake:
    """Connect to `remote://HOST:PORT` within the `connect_timeout` option (as the policy itself would:
    a server still loading its model is waited for), read its metadata, close. An unreachable server
    or one that is not a policy server is one line (exit 2), as when the policy is built."""
    url, opts = server_url(address), RemoteOptions.parse(options)
    connection = open_connection(url, opts)
    connection.close()
    return ServerHandshake(url, opts, connection.metadata, connection.capabilities)
