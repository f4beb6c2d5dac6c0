"""Supervisor strategies, directives, backoff and restart counting; pure policy, no runtime."""

from __future__ import annotations

import enum
import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeVar

import attrs

T = TypeVar("T")


class Directive(enum.Enum):
    """What a supervisor does with a failed child."""

    RESTART = "restart"
    """Replace the child's instance with a fresh one; queued messages are kept."""
    RESUME = "resume"
    """Keep the instance and its state; carry on with the next message."""
    STOP = "stop"
    """Stop the child for good; the parent gets `Terminated` with the error."""
    ESCALATE = "escalate"
    """Fail the parent with the same error; its own supervisor decides."""


def default_decider(error: BaseException) -> Directive:
    """Restart on any `Exception` (Akka's and Erlang's default); escalate anything else."""
    return Directive.RESTART if isinstance(error, Exception) else Directive.ESCALATE


def _finite_non_negative(name: str) -> Callable[[object, object, float], None]:
    def check(_: object, __: object, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{name} must be a number of seconds, got {value!r}")
        if math.isnan(value) or math.isinf(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    return check


@attrs.frozen
class Backoff:
    """Delays between restarts that grow while a child keeps failing.

    The first restart waits `min`, each next one `factor` times longer, capped
    at `max`, then spread by a random ± `jitter` fraction. After a quiet period
    of `reset_after` seconds (default: `max`) without a failure, the delay
    starts again from `min`.

    Raises:
        ValueError: a negative, NaN or infinite bound, ``max < min``,
            ``factor < 1``, or a jitter outside [0, 1].
    """

    min: float = attrs.field(validator=_finite_non_negative("Backoff min"))
    max: float = attrs.field(validator=_finite_non_negative("Backoff max"))
    factor: float = attrs.field(default=2.0)
    jitter: float = attrs.field(default=0.0)
    reset_after: float | None = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        if self.max < self.min:
            raise ValueError(f"Backoff max must be >= min, got min={self.min!r}, max={self.max!r}")
        if (
            isinstance(self.factor, bool)
            or not isinstance(self.factor, int | float)
            or math.isnan(self.factor)
            or self.factor < 1
        ):
            raise ValueError(f"Backoff factor must be a number >= 1, got {self.factor!r}")
        if (
            isinstance(self.jitter, bool)
            or not isinstance(self.jitter, int | float)
            or not 0 <= self.jitter <= 1
        ):
            raise ValueError(f"Backoff jitter must be a fraction in [0, 1], got {self.jitter!r}")
        if self.reset_after is not None:
            _finite_non_negative("Backoff reset_after")(None, None, self.reset_after)

    @property
    def quiet_period(self) -> float:
        """Seconds without failure after which the delay starts again from `min`."""
        return self.max if self.reset_after is None else self.reset_after

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The delay before restart number *attempt* (0 for the first)."""
        base = self.min * self.factor ** min(attempt, 1000) if self.min else 0.0
        base = min(self.max, base)
        if self.jitter and base:
            spread = (rng or random).uniform(-self.jitter, self.jitter)
            base = max(0.0, base * (1 + spread))
        return base


def _check_max_restarts(_: object, __: object, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_restarts must be an int or None (unlimited), got {value!r}")
    if value < 0:
        raise ValueError(f"max_restarts must be >= 0 (or None for unlimited), got {value!r}")


def _check_within(_: object, __: object, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"within must be a number of seconds, got {value!r}")
    if math.isnan(value) or value <= 0:
        raise ValueError(f"within must be a number of seconds > 0, got {value!r}")


def _check_backoff(_: object, __: object, value: Backoff | None) -> None:
    if value is not None and not isinstance(value, Backoff):
        raise TypeError(f"backoff must be a Backoff or None, got {value!r}")


def _check_decider(_: object, __: object, value: object) -> None:
    if not callable(value):
        raise TypeError(
            f"decider must be a callable taking the exception and returning a Directive, "
            f"got {value!r}"
        )


@attrs.frozen
class SupervisorStrategy:
    """How a parent handles its children's failures.

    Args:
        max_restarts: restarts allowed within `within` seconds; one more
            failure stops the child instead. None: unlimited.
        within: the length of the restart-counting window, in seconds.
        backoff: delays between restarts, or None to restart at once.
        decider: maps the exception to a `Directive`.

    Raises:
        ValueError: a negative `max_restarts` or a non-positive `within`.
        TypeError: arguments of the wrong type.
    """

    max_restarts: int | None = attrs.field(default=3, validator=_check_max_restarts)
    within: float = attrs.field(default=5.0, validator=_check_within)
    backoff: Backoff | None = attrs.field(default=None, validator=_check_backoff)
    decider: Callable[[BaseException], Directive] = attrs.field(
        default=default_decider, validator=_check_decider
    )

    def affected(self, failed: T, children: Sequence[T]) -> list[T]:
        """The children to restart when *failed* is restarted, in start order."""
        raise NotImplementedError


@attrs.frozen
class OneForOne(SupervisorStrategy):
    """Restart only the child that failed (Erlang's ``one_for_one``)."""

    def affected(self, failed: T, children: Sequence[T]) -> list[T]:
        """Only *failed*."""
        return [failed]


@attrs.frozen
class OneForAll(SupervisorStrategy):
    """Restart every child when one fails (Erlang's ``one_for_all``)."""

    def affected(self, failed: T, children: Sequence[T]) -> list[T]:
        """All children, in start order."""
        return list(children)


@attrs.frozen
class RestForOne(SupervisorStrategy):
    """Restart the failed child and those started after it (Erlang's ``rest_for_one``)."""

    def affected(self, failed: T, children: Sequence[T]) -> list[T]:
        """*failed* and its younger siblings, in start order."""
        try:
            index = list(children).index(failed)
        except ValueError:
            return [failed]
        return list(children[index:])


DEFAULT_STRATEGY = OneForOne()


@attrs.define
class RestartStats:
    """One child's restart history, kept across its incarnations.

    Attributes:
        total: restarts so far (shown by ``system.tree()``).
    """

    window: deque[float] = attrs.Factory(deque)
    attempt: int = 0
    last_restart_at: float = -math.inf
    total: int = 0

    def next_restart(
        self, strategy: SupervisorStrategy, now: float, rng: random.Random | None = None
    ) -> float | None:
        """Record a failure at *now*; return the delay before restarting, or None.

        None means the restart intensity is exceeded: more than
        ``max_restarts`` restarts within ``within`` seconds.
        """
        window = self.window
        while window and window[0] <= now - strategy.within:
            window.popleft()
        if strategy.max_restarts is not None and len(window) >= strategy.max_restarts:
            return None
        window.append(now)
        self.total += 1
        backoff = strategy.backoff
        if backoff is None:
            self.last_restart_at = now
            return 0.0
        if now - self.last_restart_at >= backoff.quiet_period:
            self.attempt = 0
        delay = backoff.delay(self.attempt, rng)
        self.attempt += 1
        self.last_restart_at = now + delay
        return delay
