"""The typed signature of ``spawn``, shared by ActorSystem and ActorContext; spawns nothing.

Why overloads (docs/guide.md, "Typed actors"): PEP 612 forbids keyword
parameters between ``*args: P.args`` and ``**kwargs: P.kwargs``, so one
signature cannot both check the constructor's arguments and take ``name=``,
``mailbox=``, ``supervisor=`` and ``node=``. Instead:

1. Without spawn options, a ParamSpec over the class checks every
   constructor argument, positional and keyword.
2. With at least one option, a TypeVarTuple over the class checks the
   positional constructor arguments (as anyio's and trio's ``start_soon`` do
   next to their ``name=``); constructor keyword arguments passed beside an
   option are not checked, and a class with a *required* keyword-only
   parameter cannot be spawned with an option (the class is not callable
   with positional arguments alone). One overload per option, each making
   that option required, so a call without options never falls back to
   this looser form.

Every overload infers the actor's message type, so the ref is typed either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, TypeVarTuple, cast, overload

from ._transport import SpawnSpec

if TYPE_CHECKING:
    from ._actor import Actor
    from ._mailbox import Mailbox
    from ._ref import ActorRef
    from ._supervision import SupervisorStrategy
    from ._transport import Placement

P = ParamSpec("P")
Ts = TypeVarTuple("Ts")
M = TypeVar("M")


class Spawner:
    """What can create actors: ``spawn`` here, where the actor goes in subclasses."""

    __slots__ = ()

    @overload
    async def spawn(
        self, actor_class: Callable[P, Actor[M]], /, *args: P.args, **kwargs: P.kwargs
    ) -> ActorRef[M]: ...
    @overload
    async def spawn(
        self,
        actor_class: Callable[[*Ts], Actor[M]],
        /,
        *args: *Ts,
        name: str | None,
        mailbox: Mailbox | None = None,
        supervisor: SupervisorStrategy | None = None,
        node: Placement | None = None,
        **kwargs: object,
    ) -> ActorRef[M]: ...
    @overload
    async def spawn(
        self,
        actor_class: Callable[[*Ts], Actor[M]],
        /,
        *args: *Ts,
        name: str | None = None,
        mailbox: Mailbox | None,
        supervisor: SupervisorStrategy | None = None,
        node: Placement | None = None,
        **kwargs: object,
    ) -> ActorRef[M]: ...
    @overload
    async def spawn(
        self,
        actor_class: Callable[[*Ts], Actor[M]],
        /,
        *args: *Ts,
        name: str | None = None,
        mailbox: Mailbox | None = None,
        supervisor: SupervisorStrategy | None,
        node: Placement | None = None,
        **kwargs: object,
    ) -> ActorRef[M]: ...
    @overload
    async def spawn(
        self,
        actor_class: Callable[[*Ts], Actor[M]],
        /,
        *args: *Ts,
        name: str | None = None,
        mailbox: Mailbox | None = None,
        supervisor: SupervisorStrategy | None = None,
        node: Placement | None,
        **kwargs: object,
    ) -> ActorRef[M]: ...
    # mypy finds that this does not accept every call of the overloads: in
    # the first, the constructor's own parameters may be called name,
    # mailbox, supervisor or node, which spawn takes for itself (as it always
    # has); and it does not relate *Ts to *args (a mypy limitation).
    async def spawn(  # type: ignore[misc]
        self,
        actor_class: Callable[..., Actor[Any]],
        *args: object,
        name: str | None = None,
        mailbox: Mailbox | None = None,
        supervisor: SupervisorStrategy | None = None,
        node: Placement | None = None,
        **kwargs: object,
    ) -> ActorRef[Any]:
        """Create an actor and return its ref: top-level under ``/user`` when
        called on the `ActorSystem`, a child of this actor when called on its
        `ActorContext`.

        The instance is built at once (``actor_class(*args, **kwargs)``);
        ``on_start`` runs before its first message. With *node*, the actor
        runs there (another process or machine, see ``actorlib.remote``) and
        the returned ref stands for it here, supervised like a local child.
        The ref is an ``ActorRef[M]`` for a ``class C(Actor[M])``, and an
        ``ActorRef[Any]`` for an untyped ``class C(Actor)``.

        Args:
            actor_class: an `Actor` subclass (the class, not an instance).
            args: positional arguments for the class.
            name: a unique name among its siblings; generated if None.
            mailbox: the mailbox configuration (default unbounded).
            supervisor: overrides the parent's strategy for this actor.
            node: a placement (``await system.start_nodes(...)``, or a peer
                of ``actorlib.remote``); None: in this process.
            kwargs: keyword arguments for the class.

        Raises:
            TypeError: *actor_class* is not an Actor subclass, the arguments
                do not fit its ``__init__``, or *node* is not a placement.
            ValueError: an invalid name.
            NameTaken: a sibling already has *name*.
            SystemClosedError: the system is not running.
            ActorError: the parent is stopping or stopped.
            Exception: whatever the class's ``__init__`` raised.
        """
        # Checked to be an Actor subclass where the actor is made (check_actor_class).
        cls = cast("type[Actor]", actor_class)
        spec = SpawnSpec(cls, args, kwargs, name, mailbox, supervisor)
        if node is not None:
            return await self._spawn_placed_spec(spec, node)
        return self._spawn_spec(spec)

    def _spawn_spec(self, spec: SpawnSpec) -> ActorRef[Any]:
        raise NotImplementedError

    async def _spawn_placed_spec(self, spec: SpawnSpec, node: object) -> ActorRef[Any]:
        raise NotImplementedError
