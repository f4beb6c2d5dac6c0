"""Hypothesis strategies for schedules and faults; hypothesis, an extra, is imported lazily."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._cluster_faults import (
    ClusterFault,
    CrashNode,
    Heal,
    NetworkDelay,
    NetworkDrop,
    NetworkDuplicate,
    Partition,
    RestartNode,
    Skew,
)
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


CLUSTER_FAULT_KINDS = ("partition", "crash", "drop", "duplicate", "delay", "skew")


def cluster_faults(
    nodes: Sequence[str],
    *,
    kinds: Sequence[str] = CLUSTER_FAULT_KINDS,
    max_faults: int = 3,
    max_step: int = 200,
    max_nth: int = 20,
    max_delay: float = 5.0,
    max_skew: float = 5.0,
    backward_skew: bool = False,
) -> SearchStrategy[list[ClusterFault]]:
    """Lists of faults for a `SimulatedCluster` of *nodes*, shrinking toward no fault.

    Each drawn fault is one of *kinds*:

    - ``"partition"``: `Partition` of some of the nodes from the rest at a
      step, and (unless it shrinks away) the `Heal` some steps later;
    - ``"crash"``: `CrashNode` at a step, and (unless it shrinks away)
      its `RestartNode` some steps later;
    - ``"drop"``, ``"duplicate"``, ``"delay"``: `NetworkDrop`,
      `NetworkDuplicate`, `NetworkDelay` of the n-th message between two
      nodes (either may be any);
    - ``"skew"``: `Skew` of a node's clock at a step (a step forward
      only, unless *backward_skew*: the Clock seam is monotonic).

    Hypothesis shrinks a failing list toward fewer faults, earlier steps,
    the first node, smaller counts and shorter delays.

    Args:
        nodes: the cluster's node names (``sim.names``).
        kinds: which kinds of fault to draw.
        max_faults: the most faults in one list (a partition and its
            heal, or a crash and its restart, count as one).
        max_step: the latest step a fault strikes before.
        max_nth: the latest message (1-based) a message fault hits.
        max_delay: the longest `NetworkDelay`, in virtual seconds.
        max_skew: the largest clock step, in seconds.
        backward_skew: draw steps back too (a clock the cluster may not
            trust: its leases then break, by design).

    Raises:
        RuntimeError: hypothesis is not installed; the message names the extra.
        ValueError: no nodes, or *kinds* names no kind of fault.
    """
    _require_hypothesis("cluster_faults()")
    from hypothesis import strategies as st

    names = list(nodes)
    if not names:
        raise ValueError("cluster_faults() needs the names of the cluster's nodes")
    unknown = [kind for kind in kinds if kind not in CLUSTER_FAULT_KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be among {CLUSTER_FAULT_KINDS}, got {list(kinds)!r}")
    node = st.sampled_from(names)
    any_node = st.none() | node
    step = st.integers(1, max_step)
    later = st.none() | st.integers(1, max_step)
    nth = st.integers(1, max_nth)
    options: list[SearchStrategy[list[ClusterFault]]] = []

    def then(first: ClusterFault, second: ClusterFault | None) -> list[ClusterFault]:
        return [first] if second is None else [first, second]

    if "partition" in kinds and len(names) > 1:
        side = st.lists(node, min_size=1, max_size=len(names) - 1, unique=True)
        options.append(
            st.builds(
                lambda group, at, heal: then(
                    Partition([group], at=at), None if heal is None else Heal(at=at + heal)
                ),
                side,
                step,
                later,
            )
        )
    if "crash" in kinds:
        options.append(
            st.builds(
                lambda name, at, restart: then(
                    CrashNode(name, at=at),
                    None if restart is None else RestartNode(name, at=at + restart),
                ),
                node,
                step,
                later,
            )
        )
    if "drop" in kinds:
        options.append(st.builds(NetworkDrop, sender=any_node, to=any_node, nth=nth).map(_one))
    if "duplicate" in kinds:
        options.append(st.builds(NetworkDuplicate, sender=any_node, to=any_node, nth=nth).map(_one))
    if "delay" in kinds:
        seconds = st.floats(0.001, max_delay, allow_nan=False, allow_infinity=False)
        options.append(
            st.builds(NetworkDelay, seconds=seconds, sender=any_node, to=any_node, nth=nth).map(
                _one
            )
        )
    if "skew" in kinds:
        lowest = -max_skew if backward_skew else 0.0
        skew = st.floats(lowest, max_skew, allow_nan=False, allow_infinity=False)
        options.append(st.builds(Skew, node=node, seconds=skew, at=step).map(_one))
    return st.lists(st.one_of(options), max_size=max_faults).map(_flat)


def _one(fault: ClusterFault) -> list[ClusterFault]:
    return [fault]


def _flat(groups: list[list[ClusterFault]]) -> list[ClusterFault]:
    return [fault for group in groups for fault in group]


def _require_hypothesis(caller: str) -> None:
    # hypothesis is an extra, not a runtime dependency: say which one installs it.
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        raise RuntimeError(f'{caller} needs hypothesis: pip install "actorlib[testing]"') from None
