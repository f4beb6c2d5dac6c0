"""The link protocol: the kinds of items a frame carries, and frames to items and back.

A frame is a batch: a plain pickle of a list of tuples of str, int, bytes
and None. It is loaded by an unpickler that refuses every global, so a frame
can carry no code; messages inside are separate payloads for the serializer.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from ._errors import SerializationError

# Item kinds, the first element of each tuple. Ids are RefId tuples.
TELL = 0  # (TELL, path, uid, sender_id | None, payload)
ASK = 1  # (ASK, path, uid, sender_id | None, payload, request)
REPLY = 2  # (REPLY, request, ok, payload): the value, or the error
WATCH = 3  # (WATCH, path, uid, watcher_id)
UNWATCH = 4  # (UNWATCH, path, uid, watcher_id)
NOTICE = 5  # (NOTICE, path, uid, payload): a Terminated for a watcher on this node
# TELL, ASK, SEND, STOP and NOTICE carry one more element while tracing is on:
# the sender's trace context (for a NOTICE, the stop's), a W3C traceparent
# (None if no span was current).
SPAWN = 6  # (SPAWN, request, payload): (actor_class, args, kwargs, name)
STOP = 7  # (STOP, path, uid, request): answered once the actor has terminated
LOOKUP = 8  # (LOOKUP, request, path)
SEND = 9  # (SEND, path, uid, sender_id | None, payload, request): tell, acked when queued
FRAME = 10  # (FRAME, seq, ack): the first item of every frame; ack = last seq received
# (REFUSED, seq, tell, reason): the receiver refused the tell-th TELL (from 0) of
# frame seq (its payload, or its target); the sender makes it a dead letter.
REFUSED = 11
# (RESUME_ASK, link_id): "that link between us ended on my side: what did you
# receive on it?"; answered with (RESUME, link_id, last frame received there).
RESUME_ASK = 12
RESUME = 13
# (PING, nonce): "answer at once with (PONG, nonce)"; a link sends one inside a
# frame it sends anyway, at most one in flight and one per PING_INTERVAL, to
# measure its round-trip time (_link.Link.pinged/ponged).
PING = 14
PONG = 15

Item = tuple[Any, ...]

# What an item costs in a frame beside its payload (an upper bound).
ITEM_OVERHEAD = 256


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise SerializationError(
            what=f"{module}.{name}"[:200], problem="a frame may hold only tuples of plain values"
        )


def encode_frame(items: list[Item]) -> bytes:
    """A batch of items as one frame."""
    return pickle.dumps(items, 5)


def decode_frame(frame: bytes) -> list[Item]:
    """The items of a frame.

    Raises:
        SerializationError: the frame is not a list of item tuples.
    """
    try:
        items = _NoGlobals(io.BytesIO(frame)).load()
    except SerializationError:
        raise
    except Exception as error:
        raise SerializationError(
            what="a frame", problem=f"it is garbage ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(items, list):
        raise SerializationError(what="a frame", problem="it is not a list of items")
    return items  # each item is checked where it is dispatched
