"""The link handshake: proofs of the shared secret both ways, then per-link session keys.

Nothing is unpickled before it succeeds: the handshake exchanges only a small
JSON hello (protocol, node id, address, heartbeat, a random nonce), whose
size is checked from its length prefix before it is read, and a MAC. Each
side proves that it knows the secret by MACing the transcript (both hellos)
and its own role, so a proof can be neither replayed on another link nor
reflected back at its sender (Erlang's cookie, with a real MAC). The same
transcript salts the session keys, one per direction, that seal every frame
after it (see `_sealed`).
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets

import anyio
import attrs

from actorlib._clock import TimerQueue, fail_after

from ._crypto import KEY_BYTES, TAG_BYTES, digest, hkdf, tag, tags_equal
from ._errors import AuthenticationError, FrameTooLarge
from ._framing import FrameChannel

PROTOCOL = "actorlib/2"
MAX_HELLO = 4096
_NONCE_BYTES = 32
HANDSHAKE_TIMEOUT = 5.0
# What a hello may carry: node ids as check_node_id allows them, addresses of
# printable ASCII; nothing a peer sends can forge a log line.
_NODE_ID = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
_ADDRESS = re.compile(r"[\x21-\x7e]{1,512}")


@attrs.frozen
class PeerInfo:
    """Who is at the other end of an authenticated link.

    Attributes:
        node: the peer's node id.
        address: where it listens (None if it only connects out).
    """

    node: str
    address: str | None


@attrs.frozen(repr=False)
class Session:
    """What a handshake establishes: the peer, the link's keys and its heartbeat.

    Attributes:
        peer: who the peer is.
        link_id: the hash of the transcript, unique to this link.
        send_key: the key sealing frames this node sends.
        receive_key: the key opening frames the peer sends.
        initiator: whether this node dialed.
        heartbeat: seconds between frames on an idle link, agreed by both
            ends (the shorter of the two, if either wants heartbeats).
    """

    peer: PeerInfo
    link_id: bytes
    send_key: bytes
    receive_key: bytes
    initiator: bool
    heartbeat: float | None

    def __repr__(self) -> str:  # never the keys
        return f"<Session with {self.peer.node}>"


def check_secret(secret: object) -> bytes:
    """Validate a shared secret; str is encoded as UTF-8.

    Raises:
        TypeError: not bytes or str.
        ValueError: shorter than 16 bytes.
    """
    if isinstance(secret, str):
        secret = secret.encode()
    if not isinstance(secret, bytes):
        raise TypeError(f"secret must be bytes or str, got {type(secret).__name__}")
    if len(secret) < 16:
        raise ValueError(
            f"secret must be at least 16 bytes, got {len(secret)}; generate one with "
            f"`python -c 'import secrets; print(secrets.token_hex(32))'`"
        )
    return secret


def secret_from_env(name: str) -> bytes:
    """The secret held in environment variable *name* (``hex:...`` for raw bytes).

    Raises:
        ValueError: the variable is unset or too short.
    """
    value = os.environ.get(name)
    if not value:
        raise ValueError(
            f"environment variable {name} must hold the cluster's shared secret, but it is unset"
        )
    if value.startswith("hex:"):
        try:
            return check_secret(bytes.fromhex(value[4:]))
        except ValueError as error:
            raise ValueError(f"environment variable {name}: {error}") from None
    return check_secret(value)


def secret_to_env(secret: bytes) -> str:
    """*secret* as `secret_from_env` reads it."""
    return "hex:" + secret.hex()


def _proof(secret: bytes, role: str, transcript: bytes) -> bytes:
    return tag(secret, PROTOCOL.encode(), b"proof", role.encode(), transcript)


def _direction_key(secret: bytes, transcript: bytes, direction: str) -> bytes:
    info = f"{PROTOCOL} frames {direction}".encode()
    return hkdf(secret, salt=transcript, info=info, length=KEY_BYTES)


def agreed_heartbeat(mine: float | None, theirs: float | None) -> float | None:
    """The heartbeat of a link: the shorter interval if either end wants heartbeats.

    Both ends compute the same value from the two hellos, so each sends
    heartbeats exactly when the other expects them.
    """
    wanted = [value for value in (mine, theirs) if value is not None]
    return min(wanted) if wanted else None


async def handshake(
    channel: FrameChannel,
    secret: bytes,
    node: str,
    address: str | None,
    *,
    initiator: bool,
    heartbeat: float | None = None,
    timeout: float = HANDSHAKE_TIMEOUT,
    timers: TimerQueue | None = None,
) -> Session:
    """Authenticate the peer on *channel*, be authenticated by it, agree on keys.

    *timeout* runs on the clock of *timers*, the system's timer queue (None,
    outside a system: the event loop's clock).

    Raises:
        AuthenticationError: the peer spoke another protocol, sent a bad
            hello, gave a wrong proof, or took too long.
    """
    try:
        with fail_after(timers, timeout):
            return await _exchange(
                channel, secret, node, address, initiator=initiator, heartbeat=heartbeat
            )
    except TimeoutError:
        raise AuthenticationError(
            peer=channel.peer, problem=f"no handshake within {timeout:g} s"
        ) from None
    except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, OSError):
        raise AuthenticationError(
            peer=channel.peer, problem="the connection closed during the handshake"
        ) from None
    except FrameTooLarge as error:  # refused from its length prefix, never buffered
        raise AuthenticationError(
            peer=channel.peer,
            problem=f"it announced a frame of {error.size} bytes during the handshake "
            f"(at most {error.limit})",
        ) from None


async def _exchange(
    channel: FrameChannel,
    secret: bytes,
    node: str,
    address: str | None,
    *,
    initiator: bool,
    heartbeat: float | None,
) -> Session:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    hello = json.dumps(
        {
            "protocol": PROTOCOL,
            "node": node,
            "address": address,
            "nonce": nonce.hex(),
            "heartbeat": heartbeat,
        }
    ).encode()
    await channel.send_frame(hello)
    peer_hello = await channel.receive_frame(limit=MAX_HELLO)
    peer, peer_heartbeat = _parse_hello(channel.peer, peer_hello)
    # The transcript binds both hellos (nonces, node ids, addresses,
    # heartbeats) in dialing order: whatever a man in the middle changes in
    # either hello makes both proofs fail.
    transcript = digest(hello, peer_hello) if initiator else digest(peer_hello, hello)
    role, peer_role = ("connect", "accept") if initiator else ("accept", "connect")
    await channel.send_frame(_proof(secret, role, transcript))
    proof = await channel.receive_frame(limit=TAG_BYTES)
    if not tags_equal(proof, _proof(secret, peer_role, transcript)):
        raise AuthenticationError(
            peer=f"{peer.node} ({channel.peer})",
            problem="its proof of the shared secret is wrong (HMAC mismatch)",
            hint="; every node of a cluster must be given the same secret "
            "(e.g. --secret-env ACTORLIB_SECRET)",
        )
    return Session(
        peer=peer,
        link_id=transcript[:16],
        send_key=_direction_key(secret, transcript, role),
        receive_key=_direction_key(secret, transcript, peer_role),
        initiator=initiator,
        heartbeat=agreed_heartbeat(heartbeat, peer_heartbeat),
    )


def _parse_hello(peer: str, frame: bytes) -> tuple[PeerInfo, float | None]:
    try:
        hello = json.loads(frame)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested deeply
        raise AuthenticationError(
            peer=peer, problem="its hello is not JSON: not an actorlib node"
        ) from None
    if not isinstance(hello, dict) or hello.get("protocol") != PROTOCOL:
        raise AuthenticationError(peer=peer, problem=f"it does not speak {PROTOCOL}")
    node, address, nonce = hello.get("node"), hello.get("address"), hello.get("nonce")
    heartbeat = hello.get("heartbeat")
    if not isinstance(node, str) or not _NODE_ID.fullmatch(node):
        raise AuthenticationError(peer=peer, problem="its hello has a malformed node id")
    if not (address is None or (isinstance(address, str) and _ADDRESS.fullmatch(address))):
        raise AuthenticationError(peer=peer, problem="its hello has a malformed address")
    if not (
        heartbeat is None
        or (
            type(heartbeat) in (int, float)
            and math.isfinite(heartbeat)
            and 0.001 <= heartbeat <= 3600
        )
    ):
        raise AuthenticationError(peer=peer, problem="its hello has a malformed heartbeat")
    if not isinstance(nonce, str) or len(nonce) != 2 * _NONCE_BYTES:
        raise AuthenticationError(peer=peer, problem="its hello has a malformed nonce")
    try:
        bytes.fromhex(nonce)
    except ValueError:
        raise AuthenticationError(peer=peer, problem="its nonce is not hex") from None
    return PeerInfo(node=node, address=address), heartbeat
