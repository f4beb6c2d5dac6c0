"""actorlib.testing: probes, virtual time and schedule exploration for actor protocols.

`SimulatedSystem` runs real actors with every delivery chosen by a
`Schedule`; with hypothesis's `schedules()` strategy, a failing interleaving
is found and shrunk toward the natural order. `VirtualClock` makes timers,
ask timeouts and backoff instant. `TestProbe` is an actor that tests talk
through. See docs/testing.md.
"""

from __future__ import annotations

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
from ._deadlock import Deadlock
from ._faults import Crash, Delay, Drop, Duplicate, Fault, InjectedFault
from ._portal import SystemPortal
from ._probe import TestProbe
from ._schedule import Schedule, Step, Trace
from ._sim_cluster import SimulatedCluster
from ._sim_node import SimulatedNode
from ._simulation import SimulatedSystem, eventually
from ._strategies import cluster_faults, faults, schedules
from ._virtual_clock import VirtualClock

__all__ = [
    "ClusterFault",
    "Crash",
    "CrashNode",
    "Deadlock",
    "Delay",
    "Drop",
    "Duplicate",
    "Fault",
    "Heal",
    "InjectedFault",
    "NetworkDelay",
    "NetworkDrop",
    "NetworkDuplicate",
    "Partition",
    "RestartNode",
    "Schedule",
    "SimulatedCluster",
    "SimulatedNode",
    "SimulatedSystem",
    "Skew",
    "Step",
    "SystemPortal",
    "TestProbe",
    "Trace",
    "VirtualClock",
    "cluster_faults",
    "eventually",
    "faults",
    "schedules",
]
