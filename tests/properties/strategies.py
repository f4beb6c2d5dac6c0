"""Hypothesis strategies for the property tests: sender plans, supervision trees, failure times,
remote messages, attacks on a listening node, and steps on a KV store.

Sizes stay small on purpose: every example runs a real ActorSystem on each backend.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import tempfile
from dataclasses import dataclass
from typing import Literal

from hypothesis import strategies as st

from actorlib import Directive

BACKENDS = ("asyncio", "trio")

SendMode = Literal["tell", "send", "ask"]


#: One step of a parent's children: spawn a child under a name, or stop the child of that name
#: (from outside, with ``await system.stop``, or from the parent's own handler, which then
#: spawns a namesake before it has been told of the stop).
ChildStep = tuple[Literal["spawn", "stop", "replace"], str]


def child_steps() -> st.SearchStrategy[list[ChildStep]]:
    """Up to twelve spawns and stops over three names, so names are often reused."""
    return st.lists(
        st.tuples(st.sampled_from(("spawn", "stop", "replace")), st.sampled_from("abc")),
        max_size=12,
    )


@dataclass(frozen=True)
class Sender:
    """One sender: an outside task or an actor, the way it sends each message, and its pauses.

    Message ``i`` of this sender is sent with ``modes[i]``, then the sender yields to the
    scheduler ``pauses[i]`` times, so senders interleave differently in each example.
    """

    is_actor: bool
    modes: tuple[SendMode, ...]
    pauses: tuple[int, ...]


@dataclass(frozen=True)
class OrderingPlan:
    """Several senders talking to one receiver, whose mailbox may be bounded.

    ``schedule`` is the order in which the test hands out "send your next message" turns
    to actor senders (outside tasks run on their own, steered only by their pauses).
    """

    senders: tuple[Sender, ...]
    capacity: int | None
    schedule: tuple[int, ...]


@st.composite
def ordering_plans(draw: st.DrawFn) -> OrderingPlan:
    """Up to four senders with up to eight messages each, into a bounded or unbounded mailbox."""
    capacity = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=3)))
    # ask and tell fail on a full bounded mailbox (Overflow.FAIL); send waits for room.
    modes: st.SearchStrategy[SendMode] = (
        st.sampled_from(("tell", "send", "ask")) if capacity is None else st.just("send")
    )
    senders = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        count = draw(st.integers(min_value=0, max_value=8))
        senders.append(
            Sender(
                is_actor=draw(st.booleans()),
                modes=tuple(draw(st.lists(modes, min_size=count, max_size=count))),
                pauses=tuple(draw(st.lists(st.integers(0, 3), min_size=count, max_size=count))),
            )
        )
    turns = [i for i, sender in enumerate(senders) if sender.is_actor for _ in sender.modes]
    schedule = tuple(draw(st.permutations(turns)))
    return OrderingPlan(senders=tuple(senders), capacity=capacity, schedule=schedule)


@dataclass(frozen=True)
class NodeSpec:
    """One actor of a supervision tree.

    Attributes:
        parent: index of the parent node, or None for a top-level actor.
        directive: what this node's supervisor decides when it fails.
        max_restarts: the restart limit of that supervisor (None: unlimited).
        failing_starts: how many of its first on_start calls fail.
    """

    parent: int | None
    directive: Directive
    max_restarts: int | None
    failing_starts: int


ActionKind = Literal["fail", "stop", "poison", "sync"]
Action = tuple[ActionKind, int]


@dataclass(frozen=True)
class TreeScenario:
    """A tree of actors (parents before children) and what happens to it before shutdown."""

    nodes: tuple[NodeSpec, ...]
    actions: tuple[Action, ...]


@st.composite
def tree_scenarios(draw: st.DrawFn) -> TreeScenario:
    """Up to seven actors in a random tree, with random directives, failures and stops."""
    size = draw(st.integers(min_value=1, max_value=7))
    nodes = tuple(
        NodeSpec(
            parent=draw(st.one_of(st.none(), st.integers(0, i - 1))) if i else None,
            directive=draw(st.sampled_from(list(Directive))),
            max_restarts=draw(st.one_of(st.none(), st.integers(0, 3))),
            failing_starts=draw(st.integers(0, 2)),
        )
        for i in range(size)
    )
    kinds: st.SearchStrategy[ActionKind] = st.sampled_from(
        ("fail", "fail", "stop", "poison", "sync")
    )
    action = st.tuples(kinds, st.integers(0, size - 1))
    actions = tuple(draw(st.lists(action, max_size=10)))
    return TreeScenario(nodes=nodes, actions=actions)


@dataclass(frozen=True)
class FailureTimes:
    """Failures of one child at chosen times, under a restart limit and window.

    Times are whole seconds and the window ends on a half second, so no failure sits
    exactly on a window boundary.
    """

    times: tuple[float, ...]
    max_restarts: int | None
    within: float


@st.composite
def failure_times(draw: st.DrawFn) -> FailureTimes:
    """Up to eight failures at increasing whole-second times."""
    gaps = draw(st.lists(st.integers(min_value=0, max_value=6), max_size=8))
    times, now = [], 0
    for gap in gaps:
        now += gap
        times.append(float(now))
    return FailureTimes(
        times=tuple(times),
        max_restarts=draw(st.one_of(st.none(), st.integers(0, 4))),
        within=draw(st.integers(min_value=1, max_value=10)) + 0.5,
    )


def first_stopping_failure(plan: FailureTimes) -> int | None:
    """The index of the failure that exceeds the restart intensity, or None.

    Restart intensity (Erlang's MaxR/MaxT): a failure stops the child when the restarts
    in the window ending at that failure (itself included) would be more than
    ``max_restarts``; a restart ``within`` seconds old or older has left the window.
    """
    restarts: list[float] = []
    for index, time in enumerate(plan.times):
        recent = [r for r in restarts if time - r < plan.within]
        if plan.max_restarts is not None and len(recent) + 1 > plan.max_restarts:
            return index
        restarts.append(time)
    return None


@dataclass(frozen=True)
class JobSpec:
    """One job of a mix: when it is due, how it fails, whether and when the test cancels it.

    The job fails its first ``failures`` attempts and may run ``attempts`` times in all;
    ``cancel_at`` is the virtual second at which the test cancels it (None: never).
    """

    priority: int
    delay: int
    failures: int
    attempts: int
    cancel_at: int | None


@dataclass(frozen=True)
class JobMix:
    """Jobs submitted at time 0 to a queue of ``workers`` workers, in this order."""

    workers: int
    jobs: tuple[JobSpec, ...]


job_specs = st.builds(
    JobSpec,
    priority=st.integers(-2, 2),
    delay=st.sampled_from([0, 0, 1, 2, 3]),
    failures=st.integers(0, 2),
    attempts=st.integers(1, 3),
    cancel_at=st.none() | st.integers(0, 4),
)

job_mixes = st.builds(
    JobMix, workers=st.integers(1, 3), jobs=st.lists(job_specs, max_size=12).map(tuple)
)


# ---------------------------------------------------------------- remote messages


@dataclass(frozen=True)
class RefStandIn:
    """Where a strategy wants an ActorRef: the test turns it into one (path, uid)."""

    path: str
    uid: int


class FieldError(Exception):
    """A user exception with fields of its own, as handlers raise them."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=8)
_ref_stand_ins = st.builds(
    RefStandIn, st.builds(lambda a, b: f"/user/{a}/{b}", _names, _names), st.integers(1, 2**40)
)
_exceptions = st.one_of(
    st.builds(ValueError, st.text(max_size=20)),
    st.builds(FieldError, st.integers(), st.text(max_size=20)),
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.binary(max_size=30),
)

#: Messages as users send them: scalars, containers, refs (as stand-ins) and exceptions, nested.
remote_messages = st.recursive(
    st.one_of(_scalars, _ref_stand_ins, _exceptions),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=12,
)


# ------------------------------------------------------------ attacks on a node's listener


@dataclass(frozen=True)
class Attack:
    """What an outsider without the secret does on one connection to a node.

    It reads the node's hello first (or not), sends *chunks* as they are,
    then half-closes and waits for the node to hang up.
    """

    read_hello: bool
    chunks: tuple[bytes, ...]


#: Where a pickle among the attacks would make a directory, were it ever loaded.
PWNED = os.path.join(tempfile.gettempdir(), f"actorlib-fuzz-pwned-{os.getpid()}")


class _Payload:
    """Unpickled, it makes the PWNED directory: proof that the node ran a peer's code."""

    def __reduce__(self) -> tuple[object, ...]:
        return (os.mkdir, (PWNED,))


def frame(payload: bytes) -> bytes:
    """*payload* with its 4-byte length prefix, as a node reads frames."""
    return struct.pack(">I", len(payload)) + payload


_hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["evil\nERROR actorlib.remote forged", "\x1b[2J\x1b[31m", "\u202eevil", "x" * 5000]
    ),
)
_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _hostile_text),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
_hello_fields = st.fixed_dictionaries(
    {},
    optional={
        "protocol": st.sampled_from(["actorlib/1", "actorlib/0"]) | _json,
        "node": _hostile_text | _json,
        "address": _hostile_text | _json,
        "nonce": st.sampled_from(["ab" * 32, "zz" * 32, "ab"]) | _json,
        "extra": _json,
    },
)
_pickles = st.sampled_from(
    [pickle.dumps(_Payload(), protocol) for protocol in (2, 5)]
    + [pickle.dumps([(0, os.system)]), pickle.dumps((1, 0, 0))]
)
# A hello that passes every check of its form, then a proof that cannot be right.
_plausible_hello = st.builds(
    lambda node, nonce: json.dumps(
        {"protocol": "actorlib/1", "node": node, "address": None, "nonce": nonce.hex()}
    ).encode(),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20),
    st.binary(min_size=32, max_size=32),
)
_chunks = st.one_of(
    st.binary(max_size=300),  # random bytes
    st.binary(max_size=300).map(frame),  # random frames
    st.binary(min_size=1, max_size=64).flatmap(  # a frame cut short
        lambda payload: st.integers(0, len(payload) + 3).map(lambda cut: frame(payload)[:cut])
    ),
    st.integers(4097, 2**32 - 1).map(lambda size: struct.pack(">I", size)),  # oversized
    _hello_fields.map(lambda hello: frame(json.dumps(hello).encode())),  # bad hellos
    st.integers(1, 4000).map(lambda depth: frame(b"[" * depth + b"]" * depth)),  # deep JSON
    _pickles.map(frame),  # a pickle where the hello goes
    st.tuples(_plausible_hello, st.binary(min_size=32, max_size=32), _pickles).map(
        lambda steps: b"".join(frame(step) for step in steps)  # a pickle after a hello
    ),
)

#: One outsider's connection: up to four of the chunks above.
attacks = st.builds(Attack, st.booleans(), st.lists(_chunks, max_size=4).map(tuple))


# ---------------------------------------------------------------- cluster placement

# Node ids as NatsTransport makes them (a name and a random suffix), and entity keys.
node_ids = st.from_regex(r"[a-z]{1,6}-[0-9a-f]{8}", fullmatch=True)
member_sets = st.sets(node_ids, min_size=1, max_size=8)
entity_keys = st.text(min_size=1, max_size=40)


# The in-memory KV store against a model (test_memory_kv_model.py): a few keys
# in two prefixes, writes with every kind of expect and a few TTLs, fenced
# writes, deletes and advances of virtual time around those TTLs.
KV_KEYS = ("k0.a", "k0.b", "k1.a")
KvStep = (
    tuple[Literal["write"], str, str, int | None]
    | tuple[Literal["fenced"], str, str, str]
    | tuple[Literal["delete"], str, str]
    | tuple[Literal["advance"], float]
)
_kv_key = st.sampled_from(KV_KEYS)
_kv_expect = st.sampled_from(["none", "current", "zero", "stale"])
kv_steps: st.SearchStrategy[list[KvStep]] = st.lists(
    st.one_of(
        st.tuples(st.just("write"), _kv_key, _kv_expect, st.sampled_from([None, 1, 2])),
        st.tuples(st.just("fenced"), _kv_key, _kv_key, st.sampled_from(["current", "stale"])),
        st.tuples(st.just("delete"), _kv_key, _kv_expect),
        st.tuples(st.just("advance"), st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.5])),
    ),
    max_size=40,
)
