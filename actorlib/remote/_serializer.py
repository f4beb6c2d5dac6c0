"""Serializers: messages to bytes and back, refs re-resolved on the receiving node.

Refs never travel as plain pickles here: the pickler swaps every `ActorRef`
for a persistent id (its node, address, path and uid), and the unpickler
turns that back into a live ref through the receiving node's resolver, which
is also installed as the core's `ref_resolver` while loading.
"""

from __future__ import annotations

import builtins
import collections
import io
import pickle
import pickletools
import struct
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import cloudpickle

import actorlib
from actorlib import ActorRef
from actorlib._deadletters import brief
from actorlib._ref import RefResolver, ref_resolver

from . import _errors
from ._errors import SerializationError

# A pickled ref: (node id, node address or None, path on that node, uid).
RefId = tuple[str, "str | None", str, int]

_OBJECT = b"P"
_PROTOCOL = 5
_FLOAT = struct.Struct(">d")

# Plain values skip pickle both ways (the hot path of tells, and nothing in
# them can name a global): a kind byte, then the value's own bytes.
# (The same for every serializer: it is part of the wire format.)
PLAIN_ENCODE: dict[type, Callable[[Any], bytes]] = {
    str: lambda value: b"U" + value.encode("utf-8", "surrogatepass"),
    bytes: lambda value: b"B" + value,
    int: lambda value: b"I" + str(value).encode(),
    float: lambda value: b"F" + _FLOAT.pack(value),
    bool: lambda value: b"1" if value else b"0",
    type(None): lambda value: b"N",
}
PLAIN_DECODE: dict[int, Callable[[bytes], object]] = {
    ord("U"): lambda data: data[1:].decode("utf-8", "surrogatepass"),
    ord("B"): lambda data: data[1:],
    ord("I"): lambda data: int(data[1:]),
    ord("F"): lambda data: _FLOAT.unpack(data[1:])[0],
    ord("1"): lambda data: True,
    ord("0"): lambda data: False,
    ord("N"): lambda data: None,
}


class RefCodec(RefResolver, Protocol):
    """The node's side of ref serialization."""

    def encode_ref(self, ref: ActorRef[Any]) -> RefId:
        """The persistent id of *ref*."""
        ...

    def decode_ref(self, ref_id: RefId) -> ActorRef[Any]:
        """The live ref for a persistent id (a dead one if the actor is gone)."""
        ...


class Serializer(Protocol):
    """Turns one message into bytes and back (DESIGN.md seam 4)."""

    def dumps(self, message: object, refs: RefCodec) -> bytes:
        """Serialize *message*.

        Raises:
            SerializationError: it cannot be serialized.
        """
        ...

    def loads(self, data: bytes, refs: RefCodec) -> object:
        """Deserialize a message.

        Raises:
            SerializationError: the data is corrupt or holds a refused type.
        """
        ...


class _RefPickling:
    """A pickler that writes each ActorRef as its ref id (mixed into both picklers)."""

    def __init__(self, file: io.BytesIO, refs: RefCodec) -> None:
        super().__init__(file, protocol=_PROTOCOL)  # type: ignore[call-arg]
        self._refs = refs

    def persistent_id(self, obj: object) -> RefId | None:
        if type(obj) is ActorRef:
            return self._refs.encode_ref(obj)
        return None


class _CloudRefPickler(_RefPickling, cloudpickle.Pickler):  # type: ignore[misc]
    pass


class _PlainRefPickler(_RefPickling, pickle.Pickler):
    pass


class _RefUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, refs: RefCodec) -> None:
        super().__init__(io.BytesIO(data))
        self._refs = refs

    def persistent_load(self, pid: object) -> ActorRef[Any]:
        if (
            not isinstance(pid, tuple)
            or len(pid) != 4
            or not all(isinstance(part, str) for part in (pid[0], pid[2]))
            or not isinstance(pid[3], int)
        ):
            raise SerializationError(what=f"a ref id {brief(pid)}", problem="malformed")
        return self._refs.decode_ref(pid)


def _dumps(
    pickler: type[_CloudRefPickler | _PlainRefPickler], message: object, refs: RefCodec
) -> bytes:
    encode = PLAIN_ENCODE.get(type(message))
    if encode is not None:
        return encode(message)
    buffer = io.BytesIO()
    buffer.write(_OBJECT)
    try:
        pickler(buffer, refs).dump(message)
    except SerializationError:
        raise
    except Exception as error:
        raise SerializationError(
            what=f"a {type(message).__name__} message", problem=f"{type(error).__name__}: {error}"
        ) from error
    return buffer.getvalue()


def _loads(unpickler: type[_RefUnpickler], data: bytes, refs: RefCodec) -> object:
    decode = PLAIN_DECODE.get(data[0]) if data else None
    if decode is not None:
        try:
            return decode(data)
        except (ValueError, struct.error) as error:
            raise SerializationError(what="a plain value", problem=str(error)) from None
    if data[:1] != _OBJECT:
        raise SerializationError(what="a message", problem=f"unknown kind byte {data[:1]!r}")
    token = ref_resolver.set(refs)
    try:
        return unpickler(data[1:], refs).load()
    except SerializationError:
        raise
    except Exception as error:
        raise SerializationError(
            what="a received message", problem=f"{type(error).__name__}: {error}"
        ) from error
    finally:
        ref_resolver.reset(token)


class PickleSerializer:
    """cloudpickle: any picklable object, classes and closures included.

    For trusted, authenticated links only: loading a pickle can run code.
    """

    def __repr__(self) -> str:
        return "PickleSerializer()"

    def dumps(self, message: object, refs: RefCodec) -> bytes:
        """Serialize *message* with cloudpickle.

        Raises:
            SerializationError: it cannot be pickled (a lock, a socket...).
        """
        return _dumps(_CloudRefPickler, message, refs)

    def loads(self, data: bytes, refs: RefCodec) -> object:
        """Deserialize a message.

        Raises:
            SerializationError: the data is corrupt.
        """
        return _loads(_RefUnpickler, data, refs)


def _default_allowed() -> set[tuple[str, str]]:
    allowed = {
        ("builtins", name)
        for name in ("set", "frozenset", "complex", "bytearray", "range", "slice")
    }
    allowed |= {
        ("builtins", name)
        for name, value in vars(builtins).items()
        if isinstance(value, type) and issubclass(value, Exception)
    }
    allowed |= {("collections", "OrderedDict"), ("collections", "deque")}
    # actorlib's errors and actorlib.remote's: what a handler or a node may
    # answer an ask with must reach a restricted asker as itself.
    errors = [getattr(actorlib, name) for name in actorlib.__all__]
    errors += vars(_errors).values()
    for value in errors:
        if isinstance(value, type) and issubclass(value, Exception):
            allowed.add((value.__module__, value.__qualname__))
    for message in (actorlib.Terminated, actorlib.PoisonPill, actorlib.DeadLetter):
        allowed.add((message.__module__, message.__qualname__))
    return allowed


def _opcode_table() -> list[tuple[int, int, bool] | None]:
    # Per opcode byte: (fixed arg bytes, or -lines for newline-ended args,
    # or 0; count-prefix bytes, 0 if none; whether the count is signed).
    table: list[tuple[int, int, bool] | None] = [None] * 256
    for op in pickletools.opcodes:
        arg = op.arg
        code = ord(op.code.encode("latin-1"))
        if arg is None:
            table[code] = (0, 0, False)
        elif arg.n >= 0:
            table[code] = (arg.n, 0, False)
        elif arg.n == pickletools.UP_TO_NEWLINE:
            table[code] = (-2 if arg.name.endswith("_pair") else -1, 0, False)
        else:
            prefix = {
                pickletools.TAKEN_FROM_ARGUMENT1: 1,
                pickletools.TAKEN_FROM_ARGUMENT4: 4,
                pickletools.TAKEN_FROM_ARGUMENT4U: 4,
                pickletools.TAKEN_FROM_ARGUMENT8U: 8,
            }[arg.n]
            table[code] = (0, prefix, arg.n == pickletools.TAKEN_FROM_ARGUMENT4)
    return table


_OPCODES = _opcode_table()
# The opcodes whose count the C unpickler allocates before reading the data.
_PREALLOCATING = (b"B", b"\x8e", b"\x96")


def _check_counts(data: bytes, pos: int) -> None:
    """Refuse a pickle whose counted data claims more bytes than it holds.

    The C unpickler allocates BINBYTES, BINBYTES8 and BYTEARRAY8 data at
    their stated size before reading it: 15 bytes could make it reserve
    8 GiB. Only a pickle holding one of those opcode bytes is walked.
    """
    if not any(byte in data for byte in _PREALLOCATING):
        return
    end = len(data)
    while pos < end:
        entry = _OPCODES[data[pos]]
        pos += 1
        if entry is None:
            return  # not an opcode: the unpickler refuses it itself
        fixed, prefix, signed = entry
        if fixed > 0:
            pos += fixed
        elif fixed < 0:
            for _ in range(-fixed):
                pos = data.find(b"\n", pos) + 1
                if pos == 0:
                    return  # truncated: the unpickler refuses it
        elif prefix:
            count = int.from_bytes(data[pos : pos + prefix], "little", signed=signed)
            pos += prefix
            if count > end - pos:
                raise SerializationError(
                    what="a received message",
                    problem=f"it claims {count} bytes of data but holds {end - pos}",
                )
            pos += max(count, 0)


class _Budget:
    """What constructor calls in one payload may still allocate (elements or bytes)."""

    __slots__ = ("left",)

    def __init__(self, size: int) -> None:
        # A legitimate pickle passes these constructors only data it holds
        # itself (protocol 5 even writes sets, bytearrays and deques inline).
        self.left = 4096 + 4 * size

    def sized(self, cls: Callable[..., object]) -> Callable[..., object]:
        """*cls*, charging its first argument's size to this budget."""

        def construct(*args: object) -> object:
            if args:
                first = args[0]
                if isinstance(first, int):  # bytearray(n): n bytes from a few
                    raise SerializationError(
                        what=f"{cls.__name__}({brief(first)})",
                        problem="a size given as a number is refused on a restricted link",
                    )
                try:
                    cost = len(first)  # type: ignore[arg-type]
                except (TypeError, OverflowError):
                    cost = self.left + 1  # unsized, or a range past sys.maxsize
                self.left -= cost
                if self.left < 0:
                    raise SerializationError(
                        what=f"a {cls.__name__} of {brief(first)}",
                        problem="the payload builds far more than its own size",
                    )
            return cls(*args)

        return construct


# The allowed globals that allocate from their first argument.
_SIZED = {bytearray, set, frozenset, collections.deque, collections.OrderedDict}


class RestrictedSerializer:
    """Plain pickle that loads only registered types (for links that must not run code).

    Scalars, lists, tuples, dicts, sets, refs, builtin exceptions, actorlib's
    messages and errors are always accepted; anything else must be listed in
    *types*. Classes travel by reference: both nodes must import them.

    Args:
        types: the message classes (and exception classes) to accept.

    Raises:
        TypeError: an entry of *types* is not a class.
    """

    def __init__(self, types: Iterable[type] = ()) -> None:
        self.allowed = _default_allowed()
        for cls in types:
            if not isinstance(cls, type):
                raise TypeError(f"types must hold classes, got {cls!r}")
            self.allowed.add((cls.__module__, cls.__qualname__))
        allowed = self.allowed

        class Unpickler(_RefUnpickler):
            def __init__(self, data: bytes, refs: RefCodec) -> None:
                super().__init__(data, refs)
                self._budget = _Budget(len(data))

            def find_class(self, module: str, name: str) -> Any:
                if (module, name) not in allowed:
                    raise SerializationError(
                        what=f"{module}.{name}"[:200],  # names come from the peer
                        problem="it is not a registered message type and this link is "
                        "restricted; register it with RestrictedSerializer(types=[...])",
                    )
                found = super().find_class(module, name)
                return self._budget.sized(found) if found in _SIZED else found

        self._unpickler = Unpickler

    def __repr__(self) -> str:
        return f"RestrictedSerializer({len(self.allowed)} types)"

    def dumps(self, message: object, refs: RefCodec) -> bytes:
        """Serialize *message* with plain pickle (classes by reference).

        Raises:
            SerializationError: it cannot be pickled.
        """
        return _dumps(_PlainRefPickler, message, refs)

    def loads(self, data: bytes, refs: RefCodec) -> object:
        """Deserialize a message of a registered type.

        Raises:
            SerializationError: a type that is not registered, or corrupt data.
        """
        if data[:1] == _OBJECT:
            _check_counts(data, 1)
        return _loads(self._unpickler, data, refs)
