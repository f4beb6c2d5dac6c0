"""Properties of placement, with hypothesis: entities (rendezvous hashing) and strategies."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actorlib.cluster import ByRole, LeastLoaded, Member, RoundRobin
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


loads = st.lists(
    st.tuples(node_ids, st.integers(0, 50), st.integers(0, 5), st.booleans()),
    min_size=1,
    max_size=8,
    unique_by=lambda entry: entry[0],
)


def as_members(entries: list[tuple[str, int, int, bool]]) -> list[Member]:
    return [
        Member(node, f"nats:{node}", frozenset({"work"} if worker else ()), 0.0, actors, ready)
        for node, actors, ready, worker in entries
    ]


@given(loads, st.integers(1, 4))
def test_round_robin_gives_every_member_its_turn(
    entries: list[tuple[str, int, int, bool]], rounds: int
) -> None:
    members = as_members(entries)
    strategy = RoundRobin()
    firsts = [strategy.order(members)[0].node_id for _ in range(rounds * len(members))]
    assert sorted(firsts) == sorted([m.node_id for m in members] * rounds)


@given(loads, st.integers(1, 20))
def test_least_loaded_always_picks_a_least_loaded_member_counting_its_own_placements(
    entries: list[tuple[str, int, int, bool]], spawns: int
) -> None:
    members = as_members(entries)
    strategy = LeastLoaded()
    extra = dict.fromkeys((m.node_id for m in members), 0)
    for _ in range(spawns):
        order = strategy.order(members)
        assert sorted(order, key=lambda m: m.node_id) == sorted(members, key=lambda m: m.node_id)
        loads_now = {m.node_id: m.actors + m.ready + extra[m.node_id] for m in members}
        assert loads_now[order[0].node_id] == min(loads_now.values())
        extra[order[0].node_id] += 1


@given(loads)
def test_by_role_only_offers_members_with_the_role(
    entries: list[tuple[str, int, int, bool]],
) -> None:
    members = as_members(entries)
    order = ByRole("work").order(members)
    assert {m.node_id for m in order} == {m.node_id for m in members if "work" in m.roles}
