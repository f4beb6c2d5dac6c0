"""ClaimPacing: when a queue answers other processes' notifications of new jobs.

Plain data, no actors: each test drives the pacing as the scheduler does
(`heard` on a notification, `paused` when its timer fires, `claimed` after a claim).
"""

from __future__ import annotations

import pytest

from actorlib.jobs import _pacing
from actorlib.jobs._pacing import OUTRUN_PAUSE, OUTRUN_PAUSE_MOST, ClaimPacing


def outrun() -> ClaimPacing:
    """A pacing whose claim answering a notification just found nothing."""
    pacing = ClaimPacing()
    assert pacing.heard() == "claim"
    pacing.claimed(0, heard=True)
    return pacing


def test_a_queue_that_was_not_outrun_claims_at_once_on_every_notification() -> None:
    pacing = ClaimPacing()
    assert [pacing.heard() for _ in range(3)] == ["claim"] * 3
    assert not pacing.outrun
    assert not pacing.pausing


def test_a_claim_answering_a_notification_that_finds_nothing_makes_the_next_one_wait() -> None:
    pacing = outrun()
    assert pacing.outrun
    assert pacing.heard() == "wait"
    assert pacing.pause == OUTRUN_PAUSE  # the first pause is not doubled


def test_notifications_heard_while_the_timer_is_set_are_coalesced_into_it() -> None:
    pacing = outrun()
    assert [pacing.heard() for _ in range(4)] == ["wait", "coalesce", "coalesce", "coalesce"]
    assert pacing.pausing


def test_once_the_timer_fired_the_next_notification_sets_it_again() -> None:
    pacing = outrun()
    assert pacing.heard() == "wait"
    pacing.paused()
    assert not pacing.pausing
    assert pacing.heard() == "wait"


def test_each_late_claim_that_finds_nothing_doubles_the_pause() -> None:
    pacing = outrun()
    pauses = [pacing.pause]
    for _ in range(2):
        pacing.claimed(0, heard=True)
        pauses.append(pacing.pause)
    assert pauses == [OUTRUN_PAUSE, OUTRUN_PAUSE * 2, OUTRUN_PAUSE * 4]


def test_the_pause_doubles_up_to_its_bound_and_no_further() -> None:
    pacing = outrun()
    for _ in range(20):
        pacing.claimed(0, heard=True)
        assert pacing.pause <= OUTRUN_PAUSE_MOST
    assert pacing.pause == OUTRUN_PAUSE_MOST


def test_a_claim_that_finds_jobs_resets_the_pause_and_claims_at_once_again() -> None:
    pacing = outrun()
    pacing.claimed(0, heard=True)
    pacing.claimed(0, heard=True)
    pacing.claimed(1, heard=True)
    assert not pacing.outrun
    assert pacing.pause == OUTRUN_PAUSE
    assert pacing.heard() == "claim"


def test_a_claim_of_the_queue_s_own_that_finds_jobs_resets_the_pause_too() -> None:
    pacing = outrun()
    pacing.claimed(0, heard=True)
    pacing.claimed(3, heard=False)  # a submit, a timer or a poll of its own
    assert not pacing.outrun
    assert pacing.pause == OUTRUN_PAUSE


def test_a_claim_of_the_queue_s_own_that_finds_nothing_changes_nothing() -> None:
    pacing = ClaimPacing()
    pacing.claimed(0, heard=False)
    assert pacing.heard() == "claim"
    late = outrun()
    late.claimed(0, heard=False)
    assert (late.outrun, late.pause) == (True, OUTRUN_PAUSE)


def test_the_pauses_are_read_when_used_so_they_can_be_changed_before_a_queue_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_pacing, "OUTRUN_PAUSE", 1.0)
    monkeypatch.setattr(_pacing, "OUTRUN_PAUSE_MOST", 3.0)
    pacing = outrun()
    assert pacing.pause == 1.0
    pacing.claimed(0, heard=True)
    pacing.claimed(0, heard=True)
    assert pacing.pause == 3.0
    pacing.claimed(1, heard=True)
    assert pacing.pause == 1.0
