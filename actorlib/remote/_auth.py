"""The link handshake: HMAC-SHA256 challenge-response on a shared secret, both ways.

Nothing is unpickled before it succeeds: the handshake itself exchanges only
a small JSON hello (protocol, node id, address, a random nonce) and a MAC.
Each side proves that it knows the secret by MACing both nonces, both node
ids and its own role, so a proof can be neither replayed on another link nor
reflected back at its sender (Erlang's cookie, with a real MAC).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets

import anyio
import attrs

from ._errors import AuthenticationError
from ._framing import FrameChannel

PROTOCOL = "actorlib/1"
_MAX_HELLO = 4096
_NONCE_BYTES = 32
HANDSHAKE_TIMEOUT = 5.0


@attrs.frozen
class PeerInfo:
    """Who is at the other end of an authenticated link.

    Attributes:
        node: the peer's node id.
        address: where it listens (None if it only connects out).
    """

    node: str
    address: str | None


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


def _proof(
    secret: bytes, role: str, challenge: bytes, own_nonce: bytes, own: str, peer: str
) -> bytes:
    text = f"{PROTOCOL}|{role}|{own}|{peer}|".encode() + challenge + own_nonce
    return hmac.new(secret, text, hashlib.sha256).digest()


async def handshake(
    channel: FrameChannel, secret: bytes, node: str, address: str | None, *, initiator: bool
) -> PeerInfo:
    """Authenticate the peer on *channel* and be authenticated by it.

    Raises:
        AuthenticationError: the peer spoke another protocol, sent a bad
            hello, gave a wrong proof, or took too long.
    """
    try:
        with anyio.fail_after(HANDSHAKE_TIMEOUT):
            return await _exchange(channel, secret, node, address, initiator=initiator)
    except TimeoutError:
        raise AuthenticationError(
            peer=channel.peer, problem=f"no handshake within {HANDSHAKE_TIMEOUT:g} s"
        ) from None
    except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, OSError):
        raise AuthenticationError(
            peer=channel.peer, problem="the connection closed during the handshake"
        ) from None


async def _exchange(
    channel: FrameChannel, secret: bytes, node: str, address: str | None, *, initiator: bool
) -> PeerInfo:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    hello = {"protocol": PROTOCOL, "node": node, "address": address, "nonce": nonce.hex()}
    await channel.send_frame(json.dumps(hello).encode())
    peer_node, peer_address, peer_nonce = _parse_hello(channel.peer, await channel.receive_frame())
    role, peer_role = ("connect", "accept") if initiator else ("accept", "connect")
    await channel.send_frame(_proof(secret, role, peer_nonce, nonce, node, peer_node))
    expected = _proof(secret, peer_role, nonce, peer_nonce, peer_node, node)
    if not hmac.compare_digest(await channel.receive_frame(), expected):
        raise AuthenticationError(
            peer=f"{peer_node} ({channel.peer})",
            problem="its proof of the shared secret is wrong (HMAC mismatch)",
            hint="; every node of a cluster must be given the same secret "
            "(e.g. --secret-env ACTORLIB_SECRET)",
        )
    return PeerInfo(node=peer_node, address=peer_address)


def _parse_hello(peer: str, frame: bytes) -> tuple[str, str | None, bytes]:
    if len(frame) > _MAX_HELLO:
        raise AuthenticationError(peer=peer, problem=f"a hello of {len(frame)} bytes is too long")
    try:
        hello = json.loads(frame)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested deeply
        raise AuthenticationError(
            peer=peer, problem="its hello is not JSON: not an actorlib node"
        ) from None
    if not isinstance(hello, dict) or hello.get("protocol") != PROTOCOL:
        raise AuthenticationError(peer=peer, problem=f"it does not speak {PROTOCOL}")
    node, address, nonce = hello.get("node"), hello.get("address"), hello.get("nonce")
    if (
        not isinstance(node, str)
        or not (address is None or isinstance(address, str))
        or not isinstance(nonce, str)
        or len(nonce) != 2 * _NONCE_BYTES
    ):
        raise AuthenticationError(peer=peer, problem="its hello is malformed")
    try:
        return node, address, bytes.fromhex(nonce)
    except ValueError:
        raise AuthenticationError(peer=peer, problem="its nonce is not hex") from None
