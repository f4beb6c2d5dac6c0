"""A restricted serializer allocates at most a small multiple of the payload it is given."""

from __future__ import annotations

import struct
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actorlib import ActorRef
from actorlib.remote import RestrictedSerializer, SerializationError

# What loading may allocate beyond the payload's own size: the unpickler's
# buffers and the objects a legitimate payload of that size describes.
SLACK = 1 << 20
FACTOR = 64

CONSTRUCTORS = [
    ("builtins", "bytearray"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("collections", "deque"),
    ("collections", "OrderedDict"),
]


class NoRefs:
    def encode_ref(self, ref: ActorRef[Any]) -> Any:
        raise AssertionError("no refs here")

    def decode_ref(self, ref_id: Any) -> ActorRef[Any]:
        raise AssertionError("no refs here")

    def resolve(self, path: str, uid: int) -> ActorRef[Any]:
        raise AssertionError("no refs here")


def peak_of_loading(payload: bytes) -> int:
    """The peak allocation while a restricted serializer loads *payload* (refused or not)."""
    serializer = RestrictedSerializer()
    tracemalloc.start()
    try:
        serializer.loads(payload, NoRefs())
    except SerializationError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def int4(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


@settings(max_examples=60, deadline=None)
@given(
    constructor=st.sampled_from(CONSTRUCTORS),
    size=st.integers(min_value=1, max_value=2**31 - 1),
    through_range=st.booleans(),
    repeats=st.integers(min_value=1, max_value=200),
)
def test_a_constructor_call_cannot_allocate_far_beyond_the_payload(
    constructor: tuple[str, str], size: int, through_range: bool, repeats: int
) -> None:
    # constructor(size) or constructor(range(size)), memoized and called again
    # and again: a few bytes a call.
    argument = glob("builtins", "range") + int4(size) + b"\x85R" if through_range else int4(size)
    body = glob(*constructor) + b"\x94" + argument + b"\x94" + b"\x85R0"
    again = b"h\x00h\x01\x85R0" * (repeats - 1)
    payload = b"P\x80\x04" + body + again + b"N."
    assert peak_of_loading(payload) <= FACTOR * len(payload) + SLACK


COUNTED = [b"B", b"\x8e", b"\x96", b"X", b"\x8d", b"T", b"C", b"\x8c", b"U", b"\x8a", b"\x8b"]


@settings(max_examples=60, deadline=None)
@given(
    opcode=st.sampled_from(COUNTED),
    claimed=st.integers(min_value=0, max_value=2**40),
    tail=st.binary(max_size=64),
)
def test_counted_opcodes_alone_cannot_allocate_far_beyond_the_payload(
    opcode: bytes, claimed: int, tail: bytes
) -> None:
    width = {b"C": 1, b"\x8c": 1, b"U": 1, b"\x8a": 1, b"\x8e": 8, b"\x96": 8, b"\x8d": 8}.get(
        opcode, 4
    )
    count = (claimed % (1 << (8 * width))).to_bytes(width, "little")
    if opcode in (b"T", b"\x8b"):  # signed counts
        count = (claimed % (1 << 31)).to_bytes(4, "little")
    payload = b"P\x80\x05" + opcode + count + tail + b"."
    assert peak_of_loading(payload) <= FACTOR * len(payload) + SLACK


def test_a_300_mb_bytearray_from_a_32_byte_payload_is_refused() -> None:
    payload = b"P\x80\x02" + glob("builtins", "bytearray") + int4(300_000_000) + b"\x85R."
    with pytest.raises(SerializationError, match=r"bytearray\(300000000\).*number is refused"):
        RestrictedSerializer().loads(payload, NoRefs())


def test_legitimate_containers_still_load() -> None:
    import collections

    serializer = RestrictedSerializer()
    values = [
        bytearray(b"abc" * 1000),
        {1, 2, 3},
        frozenset(range(1000)),
        collections.deque(range(100), maxlen=200),
        collections.OrderedDict(a=1),
        range(10**12),
        b"B" * 100_000,
    ]
    for value in values:
        assert serializer.loads(serializer.dumps(value, NoRefs()), NoRefs()) == value
