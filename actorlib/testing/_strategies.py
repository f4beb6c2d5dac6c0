"""Hypothesis strategies for schedules and faults; hypothesis, an extra, is imported lazily."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._faults import Crash, Delay, Drop, Duplicate, Fault
from ._schedule import Schedule

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy


def schedules(*, max_steps: int = 64, max_choice: int = 7) -> SearchStrategy[Schedule]:
    """Schedules as lists of small choices that shrink toward the natural order.

    Each choice picks among the deliverable candidates (modulo their
    number); all zeros is oldest-first, and hypothesis shrinks a failing
    schedule toward fewer and smaller deviations.

    Args:
        max_steps: how many steps may deviate from the natural order.
        max_choice: the largest choice drawn.

    Raises:
        RuntimeError: hypothesis is not installed; the message names the extra.
    """
    _require_hypothesis("schedules()")
    from hypothesis import strategies as st

    return st.lists(st.integers(0, max_choice), max_size=max_steps).map(Schedule.replay)


def faults(
    actors: Sequence[str],
    *,
    kinds: Sequence[type] = (Crash, Drop, Duplicate, Delay),
    max_faults: int = 2,
    max_nth: int = 5,
    max_delay: float = 10.0,
) -> SearchStrategy[list[Fault]]:
    """Lists of faults aimed at *actors* (paths or top-level names).

    Args:
        actors: where faults may strike.
        kinds: which fault classes to draw.
        max_faults: the most faults in one list.
        max_nth: the latest message (1-based) a fault may hit.
        max_delay: the longest `Delay`, in virtual seconds.

    Raises:
        RuntimeError: hypothesis is not installed; the message names the extra.
        ValueError: *actors* is empty, or *kinds* names no fault class.
    """
    _require_hypothesis("faults()")
    from hypothesis import strategies as st

    if not actors:
        raise ValueError("faults() needs at least one actor to aim at")
    actor = st.sampled_from(list(actors))
    nth = st.integers(1, max_nth)
    options: list[SearchStrategy[Fault]] = []
    if Crash in kinds:
        options.append(st.builds(Crash, actor=actor, at_message=nth))
    if Drop in kinds:
        options.append(st.builds(Drop, to=actor, nth=nth))
    if Duplicate in kinds:
        options.append(st.builds(Duplicate, to=actor, nth=nth))
    if Delay in kinds:
        seconds = st.floats(0.001, max_delay, allow_nan=False, allow_infinity=False)
        options.append(st.builds(Delay, seconds=seconds, to=actor, nth=nth))
    if not options:
        raise ValueError(f"kinds must name fault classes such as Crash, got {kinds!r}")
    return st.lists(st.one_of(options), max_size=max_faults)


def _require_hypothesis(caller: str) -> None:
    # hypothesis is an extra, not a runtime dependency: say which one installs it.
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        raise RuntimeError(f'{caller} needs hypothesis: pip install "actorlib[testing]"') from None
