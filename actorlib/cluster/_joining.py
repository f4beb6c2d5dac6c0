"""What `Cluster.join` returns, to await or enter: it starts the member; it knows no entities."""

from __future__ import annotations

import math
from collections.abc import Generator, Iterable
from types import TracebackType
from typing import Any

from actorlib import ActorSystem
from actorlib.remote import NatsTransport

from ._cluster import Cluster, _check_name, _joined
from ._errors import ClusterError
from ._store import KeyValue


class Joining:
    """What `Cluster.join` returns: await it, or enter it with ``async with``.

    Internal: ``store=`` (not offered by `Cluster.join`) keeps the cluster's
    bucket in that KeyValue store instead of JetStream; a simulated cluster
    passes a `MemoryKV` on the system's clock, shared by its members.
    """

    def __init__(
        self,
        system: ActorSystem,
        name: str,
        roles: Iterable[str],
        down_after: float,
        *,
        store: KeyValue | None = None,
    ) -> None:
        transport = getattr(system, "transport", None)
        if not isinstance(transport, NatsTransport):
            raise TypeError(
                f"Cluster.join() needs a system whose transport is a NatsTransport, got "
                f"{transport!r}; create it with ActorSystem(..., transport=NatsTransport(url, "
                f"secret=...))"
            )
        self._transport = transport
        self._system = system
        self._name = _check_name("name", name)
        if isinstance(roles, str):
            raise TypeError(f"roles must be an iterable of role names, got the string {roles!r}")
        self._roles = frozenset(_check_name("a role", role) for role in roles)
        if (
            isinstance(down_after, bool)
            or not isinstance(down_after, int | float)
            or not math.isfinite(down_after)
            or down_after < 1
            or down_after != round(down_after)
        ):
            raise ValueError(f"down_after must be whole seconds >= 1, got {down_after!r}")
        self._down_after = float(down_after)
        self._store = store
        self._cluster: Cluster | None = None

    async def _join(self) -> Cluster:
        if self._transport._client is None:
            raise ClusterError(
                reason="Cluster.join() needs a running system: join inside "
                "`async with ActorSystem(...)`"
            )
        cluster = Cluster(
            self._system,
            self._transport,
            self._name,
            self._roles,
            self._down_after,
            store=self._store,
        )
        if cluster._jetstream is not None:
            await cluster._jetstream.open()
        await cluster.membership.start()
        _joined.setdefault(self._system, []).append(cluster)
        return cluster

    def __await__(self) -> Generator[Any, None, Cluster]:
        return self._join().__await__()

    async def __aenter__(self) -> Cluster:
        self._cluster = await self._join()
        return self._cluster

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._cluster is not None:
            await self._cluster.leave()
