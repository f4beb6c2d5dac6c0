"""Properties of entity placement (rendezvous hashing), with hypothesis."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actorlib.cluster._placement import preferred
from tests.properties.strategies import entity_keys, member_sets, node_ids


@given(member_sets, entity_keys)
def test_every_member_computes_the_same_host_whatever_the_order_it_knows_them_in(
    members: set[str], key: str
) -> None:
    ordered = sorted(members)
    chosen = preferred("Cart", key, ordered)
    assert chosen in members
    assert preferred("Cart", key, reversed(ordered)) == chosen


@given(member_sets, node_ids, st.lists(entity_keys, min_size=1, max_size=30))
def test_a_member_joining_takes_keys_only_for_itself_and_leaving_gives_back_only_its_own(
    members: set[str], newcomer: str, keys: list[str]
) -> None:
    before = {key: preferred("Cart", key, members) for key in keys}
    after = {key: preferred("Cart", key, members | {newcomer}) for key in keys}
    for key in keys:
        # A key moves only to the newcomer: no shuffling among the others.
        assert after[key] in (before[key], newcomer)
    if newcomer not in members:
        # And when it leaves again, every key goes back where it was.
        assert {key: preferred("Cart", key, members) for key in keys} == before


def test_no_members_means_no_host() -> None:
    assert preferred("Cart", "k", []) is None


@given(st.lists(entity_keys, min_size=200, max_size=200, unique=True))
def test_keys_spread_over_every_member(keys: list[str]) -> None:
    members = ["a-00000001", "b-00000002", "c-00000003"]
    hosts = [preferred("Cart", key, members) for key in keys]
    # 200 keys over 3 members: each gets some (a fair share is about 67).
    assert all(hosts.count(member) >= 30 for member in members)
