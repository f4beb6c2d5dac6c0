"""Properties of rebalancing, with hypothesis: which active keys move, and how fast."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actorlib.cluster._placement import preferred
from actorlib.cluster._rebalance import Mover, check_rate, misplaced
from tests.properties.strategies import member_sets, node_ids

KEYS = [f"user-{index}" for index in range(600)]


def placed(members: set[str]) -> dict[str, list[str]]:
    """Each member's active keys, every key on its preferred member (a settled cluster)."""
    held: dict[str, list[str]] = {member: [] for member in members}
    for key in KEYS:
        held[preferred("Cart", key, members)].append(key)  # type: ignore[index]
    return held


@given(member_sets, node_ids)
def test_when_a_member_joins_only_the_keys_it_now_wins_move_about_one_in_n(
    members: set[str], newcomer: str
) -> None:
    if newcomer in members:
        return
    after = members | {newcomer}
    moving = {
        key: holder
        for holder, keys in placed(members).items()
        for key in misplaced("Cart", keys, after, holder)
    }
    changed = {
        key for key in KEYS if preferred("Cart", key, after) != preferred("Cart", key, members)
    }
    assert set(moving) == changed  # exactly the keys whose preferred member changed ...
    assert all(preferred("Cart", key, after) == newcomer for key in moving)  # ... to the newcomer
    # About 1/n of them (binomial: within five standard deviations of len(KEYS)/n).
    expected = len(KEYS) / len(after)
    assert abs(len(moving) - expected) <= 5 * math.sqrt(expected)


@given(member_sets, st.data())
def test_when_a_member_leaves_no_key_active_on_the_others_moves(
    members: set[str], data: st.DataObject
) -> None:
    leaver = data.draw(st.sampled_from(sorted(members)))
    remaining = members - {leaver}
    held = placed(members)
    # The leaver's keys stopped with it; the others' keys stay where they are.
    for holder in remaining:
        assert misplaced("Cart", held[holder], remaining, holder) == []


@given(member_sets, node_ids)
def test_a_member_missing_from_its_own_view_moves_nothing(members: set[str], me: str) -> None:
    if me not in members:
        assert misplaced("Cart", KEYS, members, me) == []


@given(
    st.floats(0.5, 50),
    st.lists(st.tuples(st.floats(0, 2), st.integers(0, 30)), min_size=1, max_size=30),
)
def test_moves_never_exceed_the_rate_and_every_queued_key_moves_once(
    rate: float, steps: list[tuple[float, int]]
) -> None:
    mover = Mover(rate, now=0.0)
    now, queued, taken = 0.0, 0, []
    for elapsed, added in steps:
        now += elapsed
        mover.add(f"k{queued + i}" for i in range(added))
        queued += added
        taken += mover.take(now)
        # A burst of at most max(1, rate), then `rate` per second.
        assert len(taken) <= max(1.0, rate) + rate * now + 1e-9
    for _ in range(queued + 1):  # then, waiting two moves' time each: at least one move
        now += 2 / rate
        taken += mover.take(now)
    assert taken == [f"k{i}" for i in range(queued)]  # in order, each once


def test_a_rate_must_be_a_positive_number_or_none() -> None:
    assert check_rate(None) is None
    assert check_rate(5) == 5.0
    for bad in (0, -1, math.inf, math.nan, "10", True):
        with pytest.raises(ValueError, match=r"^moves_per_second must be a number of moves > 0"):
            check_rate(bad)
