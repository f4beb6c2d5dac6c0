"""SystemPortal: drive a running actor system from synchronous code (hypothesis stateful tests)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager, ExitStack
from types import TracebackType
from typing import Any, TypeVar, cast, overload

from anyio.from_thread import BlockingPortal, start_blocking_portal

from .._actor import Actor
from .._messages import Request
from .._ref import DEFAULT_TIMEOUT, ActorRef
from .._system import ActorSystem
from ._scheduled_run import note_for_hypothesis

T = TypeVar("T")
M = TypeVar("M")


class SystemPortal:
    """Runs an ActorSystem on an event loop in a background thread; call it synchronously.

    Made for ``hypothesis.stateful.RuleBasedStateMachine``, whose rules and
    invariants are plain functions::

        class Machine(RuleBasedStateMachine):
            def __init__(self) -> None:
                super().__init__()
                self.portal = SystemPortal(lambda: ActorSystem("model")).start()
                self.counter = self.portal.spawn(Counter)

            def teardown(self) -> None:
                self.portal.close()

    Args:
        factory: makes the system (called in the event loop thread).
        backend: ``"asyncio"`` or ``"trio"``.
        backend_options: passed to anyio.
    """

    def __init__(
        self,
        factory: Callable[[], ActorSystem] = ActorSystem,
        *,
        backend: str = "asyncio",
        backend_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(factory):
            raise TypeError(f"factory must be a callable returning an ActorSystem, got {factory!r}")
        self._factory = factory
        self._backend = backend
        self._backend_options = dict(backend_options) if backend_options else None
        self._stack: ExitStack | None = None
        self._portal: BlockingPortal | None = None
        self._system: ActorSystem | None = None

    @property
    def system(self) -> ActorSystem:
        """The running system.

        Raises:
            RuntimeError: the portal is not started.
        """
        if self._system is None:
            raise RuntimeError("the SystemPortal is not started; call start() or use `with`")
        return self._system

    def start(self) -> SystemPortal:
        """Start the event loop thread and enter the system; return self."""
        if self._stack is not None:
            raise RuntimeError("this SystemPortal is already started")
        stack = ExitStack()
        try:
            portal = stack.enter_context(
                start_blocking_portal(self._backend, self._backend_options)
            )
            system = portal.call(self._make_system)
            manager: AbstractContextManager[ActorSystem] = portal.wrap_async_context_manager(system)
            stack.enter_context(manager)
        except BaseException:
            stack.close()
            raise
        self._stack, self._portal, self._system = stack, portal, system
        return self

    def _make_system(self) -> ActorSystem:
        system = self._factory()
        if not isinstance(system, ActorSystem):
            raise TypeError(f"factory must return an ActorSystem, got {system!r}")
        return system

    def close(self) -> None:
        """Shut the system down (every on_stop runs) and stop the loop thread."""
        stack, self._stack = self._stack, None
        system, self._system = self._system, None
        self._portal = None
        if stack is not None:
            stack.close()
        report = getattr(system, "report", None)
        if report is not None:
            # The system's own note was made in the loop thread, where
            # hypothesis cannot see it; make it here, in the test's thread.
            note_for_hypothesis(report())

    def __enter__(self) -> SystemPortal:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def call(self, fn: Callable[..., Awaitable[T] | T], *args: object) -> T:
        """Run ``fn(*args)`` in the loop thread (awaiting it if async); return its result."""
        if self._portal is None:
            raise RuntimeError("the SystemPortal is not started; call start() or use `with`")
        return cast(T, self._portal.call(fn, *args))

    def spawn(self, actor_class: type[Actor[M]], *args: object, **options: Any) -> ActorRef[M]:
        """`ActorSystem.spawn`, synchronously.

        The ref is typed like ``system.spawn``'s (``ActorRef[M]`` for an
        ``Actor[M]``); the constructor's arguments are checked at run time
        only.
        """
        return self.call(functools.partial(self.system.spawn, actor_class, *args, **options))

    def tell(self, ref: ActorRef[M], message: M) -> None:
        """`ActorRef.tell`, from this thread."""
        self.call(ref.tell, message)

    @overload
    def ask(
        self,
        ref: ActorRef[Any],
        message: Request[T],
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> T: ...
    @overload
    def ask(  # type: ignore[overload-cannot-match]  # as ActorRef.ask's second
        self,
        ref: ActorRef[Any],
        message: Request[object],
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> object: ...
    @overload
    def ask(
        self, ref: ActorRef[M], message: M, *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> Any: ...
    def ask(
        self, ref: ActorRef[Any], message: object, *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> Any:
        """`ActorRef.ask`, synchronously (a `Request`'s reply typed as it declares)."""
        return self.call(functools.partial(ref.ask, message, timeout=timeout))

    def settle(self) -> None:
        """For a SimulatedSystem: deliver until nothing is in flight."""
        settle = getattr(self.system, "settle", None)
        if settle is None:
            raise TypeError("settle() needs a SimulatedSystem; this portal runs an ActorSystem")
        self.call(settle)
