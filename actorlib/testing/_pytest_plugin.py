"""The pytest plugin (entry point ``pytest11``): ``actor_system`` and ``virtual_clock`` fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .._system import ActorSystem
from ._virtual_clock import VirtualClock


@pytest.fixture
def virtual_clock() -> VirtualClock:
    """A fresh VirtualClock at t=0; `actor_system` uses it when both are requested."""
    return VirtualClock()


@pytest.fixture
async def actor_system(
    request: pytest.FixtureRequest, anyio_backend: object
) -> AsyncIterator[ActorSystem]:
    """A fresh ActorSystem per test, on the test's anyio backend, shut down afterwards."""
    clock = (
        request.getfixturevalue("virtual_clock")
        if "virtual_clock" in request.fixturenames
        else None
    )
    async with ActorSystem(
        f"test-{request.node.name}"[:64].translate(_SAFE), clock=clock
    ) as system:
        yield system


# Test ids contain '[', ']', ':' ...; system names allow letters, digits, '-', '_', '.'.
_SAFE = {ord(c): "-" for c in "[]:/ ,()'\"=+*<>|\\{}!?@#$%^&;~`"}
