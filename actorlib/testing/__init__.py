"""actorlib.testing: probes, virtual time and schedule exploration for actor protocols.

`SimulatedSystem` runs real actors with every delivery chosen by a
`Schedule`; with hypothesis's `schedules()` strategy, a failing interleaving
is found and shrunk toward the natural order. `VirtualClock` makes timers,
ask timeouts and backoff instant. `TestProbe` is an actor that tests talk
through. See docs/testing.md.
"""

from __future__ import annotations

from ._controller import Deadlock
from ._faults import Crash, Delay, Drop, Duplicate, Fault, InjectedFault
from ._portal import SystemPortal
from ._probe import TestProbe
from ._schedule import Schedule, Step, Trace
from ._simulation import SimulatedSystem, eventually
from ._strategies import faults, schedules
from ._virtual_clock import VirtualClock

__all__ = [
    "Crash",
    "Deadlock",
    "Delay",
    "Drop",
    "Duplicate",
    "Fault",
    "InjectedFault",
    "Schedule",
    "SimulatedSystem",
    "Step",
    "SystemPortal",
    "TestProbe",
    "Trace",
    "VirtualClock",
    "eventually",
    "faults",
    "schedules",
]
