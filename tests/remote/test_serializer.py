"""Serializers: messages survive the round trip, refs re-resolve, restricted mode refuses."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given

from actorlib import ActorRef, ActorStopped, Terminated
from actorlib._ref import AskContext, ref_resolver
from actorlib.remote import PickleSerializer, RestrictedSerializer, SerializationError
from actorlib.remote._serializer import RefId
from tests.properties.strategies import FieldError, RefStandIn, remote_messages


class FakeTarget:
    """Just enough of a Target for refs that are only compared, never sent to."""

    def __init__(self, path: str, uid: int) -> None:
        self.path = path
        self.name = path.rsplit("/", 1)[-1]
        self.uid = uid

    def ask_context(self) -> AskContext:
        raise NotImplementedError


class Codec:
    """A RefCodec that records what it resolved (a node would look the actor up)."""

    def __init__(self) -> None:
        self.resolved: list[tuple[str, int]] = []

    def encode_ref(self, ref: ActorRef[Any]) -> RefId:
        return ("node-a", None, ref.path, ref._target.uid)

    def decode_ref(self, ref_id: RefId) -> ActorRef[Any]:
        _, _, path, uid = ref_id
        return self.resolve(path, uid)

    def resolve(self, path: str, uid: int) -> ActorRef[Any]:
        self.resolved.append((path, uid))
        return ActorRef(FakeTarget(path, uid))  # type: ignore[arg-type]


def materialize(value: object) -> object:
    """The strategy's value with each RefStandIn made a real ref."""
    if isinstance(value, RefStandIn):
        return ActorRef(FakeTarget(value.path, value.uid))  # type: ignore[arg-type]
    if isinstance(value, list):
        return [materialize(v) for v in value]
    if isinstance(value, tuple):
        return tuple(materialize(v) for v in value)
    if isinstance(value, dict):
        return {k: materialize(v) for k, v in value.items()}
    return value


def same(a: object, b: object) -> bool:
    """Equality that also compares exceptions by type, args and fields."""
    if isinstance(a, BaseException):
        return type(a) is type(b) and a.args == b.args and vars(a) == vars(b)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@given(remote_messages)
def test_any_message_survives_the_pickle_round_trip(value: object) -> None:
    message = materialize(value)
    codec = Codec()
    serializer = PickleSerializer()
    assert same(serializer.loads(serializer.dumps(message, codec), codec), message)


@given(remote_messages)
def test_any_message_of_allowed_types_survives_the_restricted_round_trip(value: object) -> None:
    message = materialize(value)
    codec = Codec()
    serializer = RestrictedSerializer(types=[FieldError])
    assert same(serializer.loads(serializer.dumps(message, codec), codec), message)


def test_refs_nested_in_messages_are_resolved_by_the_receiving_side() -> None:
    codec = Codec()
    ref: ActorRef[Any] = ActorRef(FakeTarget("/user/a", 7))  # type: ignore[arg-type]
    serializer = PickleSerializer()
    loaded = serializer.loads(serializer.dumps({"reply_to": [ref]}, codec), codec)
    assert loaded == {"reply_to": [ref]}
    assert codec.resolved == [("/user/a", 7)]


def test_a_ref_pickled_by_plain_pickle_inside_a_message_resolves_through_ref_resolver() -> None:
    codec = Codec()
    ref: ActorRef[Any] = ActorRef(FakeTarget("/user/b", 3))  # type: ignore[arg-type]
    token = ref_resolver.set(codec)
    try:
        inner = pickle.dumps(ref)
    finally:
        ref_resolver.reset(token)
    serializer = PickleSerializer()

    class Loads:
        def __reduce__(self) -> tuple[object, tuple[bytes]]:
            return pickle.loads, (inner,)

    loaded = serializer.loads(serializer.dumps(Loads(), codec), codec)
    assert loaded == ref
    assert ("/user/b", 3) in codec.resolved


def test_closures_and_lambdas_travel_with_cloudpickle() -> None:
    codec = Codec()
    base = 10
    serializer = PickleSerializer()
    function = serializer.loads(serializer.dumps(lambda x: x + base, codec), codec)
    assert function(1) == 11  # type: ignore[operator]


def test_exceptions_keep_their_fields_and_notes() -> None:
    codec = Codec()
    error = ActorStopped(path="/user/x", message_type="str")
    error.add_note("raised by actor /user/x")
    serializer = PickleSerializer()
    loaded = serializer.loads(serializer.dumps(error, codec), codec)
    assert isinstance(loaded, ActorStopped)
    assert loaded.path == "/user/x"
    assert loaded.__notes__ == ["raised by actor /user/x"]


def test_the_restricted_mode_refuses_an_unregistered_type() -> None:
    codec = Codec()
    data = PickleSerializer().dumps(FieldError(1, "x"), codec)
    with pytest.raises(SerializationError, match="FieldError: it is not a registered message type"):
        RestrictedSerializer().loads(data, codec)


def test_the_restricted_mode_refuses_a_pickle_that_would_run_code() -> None:
    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return os.system, ("true",)

    data = b"P" + pickle.dumps(Exploit())
    with pytest.raises(SerializationError, match=r"(posix|os)\.system"):
        RestrictedSerializer().loads(data, Codec())


def test_the_restricted_mode_accepts_runtime_messages() -> None:
    codec = Codec()
    ref: ActorRef[Any] = ActorRef(FakeTarget("/user/a", 1))  # type: ignore[arg-type]
    serializer = RestrictedSerializer()
    notice = Terminated(ref, ActorStopped(path="/user/a", message_type="int"))
    loaded = serializer.loads(serializer.dumps(notice, codec), codec)
    assert isinstance(loaded, Terminated)
    assert loaded.ref == ref
    assert same(loaded.error, notice.error)


def test_an_unpicklable_message_is_a_clear_error() -> None:
    import threading

    with pytest.raises(SerializationError, match="cannot serialize a lock message"):
        PickleSerializer().dumps(threading.Lock(), Codec())


def test_garbage_is_a_clear_error() -> None:
    with pytest.raises(SerializationError, match="cannot serialize a received message"):
        PickleSerializer().loads(b"P\x80\x05garbage", Codec())
    with pytest.raises(SerializationError, match="unknown kind byte"):
        PickleSerializer().loads(b"Zxx", Codec())


def test_restricted_serializer_types_must_be_classes() -> None:
    with pytest.raises(TypeError, match="types must hold classes, got 'Foo'"):
        RestrictedSerializer(types=["Foo"])  # type: ignore[list-item]


def test_a_plain_value_payload_cannot_smuggle_a_pickle() -> None:
    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return os.system, ("true",)

    for kind in (b"S", b"U", b"I", b"B", b"F"):
        try:
            value = RestrictedSerializer().loads(kind + pickle.dumps(Exploit()), Codec())
        except SerializationError:
            continue
        assert type(value) in (str, bytes)  # decoded as a plain value, never unpickled
