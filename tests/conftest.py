"""Shared fixtures: every async test runs on asyncio and on trio; hypothesis profiles."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Fixtures of the remote tests (nats_server, remote_log) and of the PostgreSQL job store.
pytest_plugins = [
    "tests.nats_server",
    "tests.postgres_server",
    "tests.postgres_instance",
    "tests.remote_log",
]

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param("trio", id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each `@pytest.mark.anyio` test once per anyio backend."""
    return str(request.param)
