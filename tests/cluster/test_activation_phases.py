"""The phases of an activation in its region: the moves allowed, and those refused."""

from __future__ import annotations

import re
from typing import Any, cast

import pytest

from actorlib.cluster._activation import Activation, Phase


def activation(phase: Phase = Phase.ACTIVE) -> Activation:
    # The moves read only the phase: no actor or context is needed.
    return Activation(cast(Any, None), cast(Any, None), 0.0, phase=phase)


def refused(start: Phase, end: Phase) -> str:
    return re.escape(f"an activation cannot go from {start} to {end}")


def test_a_new_activation_is_active() -> None:
    assert activation().phase is Phase.ACTIVE


def test_an_active_activation_that_is_handed_off_goes_to_draining() -> None:
    handed = activation()
    handed.move(Phase.DRAINING)
    assert handed.phase is Phase.DRAINING


def test_an_active_activation_that_is_stopped_goes_to_stopping() -> None:
    stopped = activation()
    stopped.move(Phase.STOPPING)
    assert stopped.phase is Phase.STOPPING


def test_a_draining_activation_that_is_stopped_goes_to_stopping() -> None:
    stopped = activation(Phase.DRAINING)
    stopped.move(Phase.STOPPING)
    assert stopped.phase is Phase.STOPPING


@pytest.mark.parametrize("phase", [Phase.ACTIVE, Phase.DRAINING, Phase.STOPPING])
def test_an_activation_that_has_terminated_ends_from_any_phase_before_ended(
    phase: Phase,
) -> None:
    ended = activation(phase)
    ended.move(Phase.ENDED)
    assert ended.phase is Phase.ENDED


@pytest.mark.parametrize("phase", list(Phase))
def test_an_ended_activation_moves_nowhere(phase: Phase) -> None:
    ended = activation(Phase.ENDED)
    with pytest.raises(AssertionError, match=refused(Phase.ENDED, phase)):
        ended.move(phase)
    assert ended.phase is Phase.ENDED


@pytest.mark.parametrize("phase", [Phase.ACTIVE, Phase.DRAINING, Phase.STOPPING])
def test_a_stopping_activation_moves_only_to_ended(phase: Phase) -> None:
    stopping = activation(Phase.STOPPING)
    with pytest.raises(AssertionError, match=refused(Phase.STOPPING, phase)):
        stopping.move(phase)
    assert stopping.phase is Phase.STOPPING


@pytest.mark.parametrize("phase", [Phase.ACTIVE, Phase.DRAINING])
def test_a_draining_activation_never_becomes_active_again_or_drains_twice(phase: Phase) -> None:
    draining = activation(Phase.DRAINING)
    with pytest.raises(AssertionError, match=refused(Phase.DRAINING, phase)):
        draining.move(phase)
    assert draining.phase is Phase.DRAINING


def test_an_active_activation_cannot_move_to_active() -> None:
    with pytest.raises(AssertionError, match=refused(Phase.ACTIVE, Phase.ACTIVE)):
        activation().move(Phase.ACTIVE)
