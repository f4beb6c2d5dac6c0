"""The local stand-in of an actor spawned on another node, supervised like a local child.

It forwards to the remote actor and fails when it fails.
"""

from __future__ import annotations

from typing import Any, Protocol

from actorlib import Actor, ActorRef, Terminated


class RemoteHost(Protocol):
    """A node that can host actors for this one (a worker process, a peer)."""

    async def spawn_remote(
        self,
        actor_class: type[Actor],
        args: tuple[object, ...],
        kwargs: dict[str, object],
        name: str | None,
    ) -> ActorRef[Any]:
        """Start the actor there; return its ref."""
        ...

    def stop_remote(self, ref: ActorRef[Any]) -> None:
        """Stop an actor started by `spawn_remote` (no wait)."""
        ...


class RemoteChild(Actor):
    """Stands for an actor on another node, in its parent's supervision tree.

    Its mailbox keeps order: messages are forwarded in the order they came
    (asks keep their reply slot, so the remote actor answers the asker).
    When the remote actor fails, or its node is lost, this actor fails with
    the same error, and the parent's strategy decides: RESTART (or RESUME)
    starts a fresh remote actor from the same class and arguments, STOP
    reports `Terminated` to watchers and parent.
    """

    def __init__(
        self,
        host: RemoteHost,
        actor_class: type[Actor],
        args: tuple[object, ...],
        kwargs: dict[str, object],
        name: str | None,
        first: list[ActorRef[Any]] | None = None,
    ) -> None:
        self.host = host
        self.spec = (actor_class, args, kwargs, name)
        # The remote actor started by spawn() itself, for the first
        # incarnation only (the list is shared by all of them: it is emptied).
        self.first = first
        self.remote: ActorRef[Any] | None = None

    async def on_start(self) -> None:
        await self._spawn()

    async def _spawn(self) -> ActorRef[Any]:
        if self.first:
            remote = self.remote = self.first.pop()
        else:
            remote = self.remote = await self.host.spawn_remote(*self.spec)
        self.context.watch(remote)
        return remote

    async def receive(self, message: object) -> None:
        remote = self.remote
        if remote is None:  # resumed after its remote actor failed: a fresh one
            remote = await self._spawn()
        if type(message) is Terminated and message.ref == remote:
            self.remote = None
            if message.error is None:
                self.context.stop()  # it stopped by itself (a PoisonPill): so does its stand-in
                return
            raise message.error
        self.context.forward(remote)

    async def on_stop(self) -> None:
        remote, self.remote = self.remote, None
        if remote is not None:
            self.context.unwatch(remote)
            self.host.stop_remote(remote)
