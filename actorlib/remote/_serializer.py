"""Serializers: messages to bytes and back, refs re-resolved on the receiving node.

Refs never travel as plain pickles here: the pickler swaps every `ActorRef`
for a persistent id (its node, address, path and uid), and the unpickler
turns that back into a live ref through the receiving node's resolver, which
is also installed as the core's `ref_resolver` while loading.
"""

from __future__ import annotations

import builtins
import io
import pickle
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
            def find_class(self, module: str, name: str) -> Any:
                if (module, name) not in allowed:
                    raise SerializationError(
                        what=f"{module}.{name}"[:200],  # names come from the peer
                        problem="it is not a registered message type and this link is "
                        "restricted; register it with RestrictedSerializer(types=[...])",
                    )
                return super().find_class(module, name)

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
        return _loads(self._unpickler, data, refs)
