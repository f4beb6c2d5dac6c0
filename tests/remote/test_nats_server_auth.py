"""NATS's own security passed through: user/password, tokens and TLS on a real nats-server."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from actorlib import ActorSystem
from actorlib.remote import NatsTransport
from tests.helpers import Collector
from tests.nats_server import NatsServer

from .conftest import SECRET

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py runs on asyncio only


def server_with(tmp_path: Path, config: str) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path)
    server.config.write_text(f"listen: 127.0.0.1:{server.port}\n{config}\n")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def password_server(tmp_path: Path) -> Iterator[NatsServer]:
    yield from server_with(tmp_path, 'authorization { user: "node", password: "s3cret-pw" }')


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[NatsServer]:
    yield from server_with(tmp_path, 'authorization { token: "t0ken-0123456789" }')


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(tmp_path: Path, ca: trustme.CA) -> Iterator[NatsServer]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "server.crt"))
    yield from server_with(
        tmp_path,
        f'tls {{ cert_file: "{tmp_path / "server.crt"}", key_file: "{tmp_path / "server.key"}" }}',
    )


async def found_across(first: NatsTransport, second: NatsTransport) -> None:
    """Two nodes on the server: one finds and asks the other's actor."""
    async with ActorSystem("a", transport=first), ActorSystem("b", transport=second) as b:
        await b.spawn(Collector, name="behind-auth")
        ref = await first.lookup("behind-auth")
        assert ref is not None
        ref.tell("hello")
        assert await ref.ask("get") == ["hello"]


async def test_nodes_with_the_servers_user_and_password_link_and_a_wrong_one_is_a_clear_oserror(
    password_server: NatsServer,
) -> None:
    def node(password: str) -> NatsTransport:
        return NatsTransport(
            password_server.url,
            secret=SECRET,
            lookup_timeout=10.0,
            user="node",
            password=password,
        )

    await found_across(node("s3cret-pw"), node("s3cret-pw"))
    url = password_server.url.replace(".", r"\.")
    with pytest.raises(OSError, match=f"cannot connect to NATS at {url}"):
        async with ActorSystem("intruder", transport=node("wrong")):
            pass


async def test_a_wrong_password_is_a_clear_oserror_with_the_default_reconnect_policy(
    password_server: NatsServer,
) -> None:
    transport = NatsTransport(password_server.url, secret=SECRET, user="node", password="nope")
    with pytest.raises(OSError, match="cannot connect to NATS at nats://127"):
        async with ActorSystem("intruder", transport=transport):
            pass


async def test_nodes_with_the_servers_token_link(token_server: NatsServer) -> None:
    await found_across(
        NatsTransport(
            token_server.url, secret=SECRET, lookup_timeout=10.0, token="t0ken-0123456789"
        ),
        NatsTransport(
            token_server.url, secret=SECRET, lookup_timeout=10.0, token="t0ken-0123456789"
        ),
    )


async def test_nodes_reach_a_tls_server_whose_certificate_they_trust(
    tls_server: NatsServer, ca: trustme.CA
) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    url = tls_server.url.replace("nats://", "tls://")
    await found_across(
        NatsTransport(url, secret=SECRET, lookup_timeout=10.0, tls=context),
        NatsTransport(
            url, secret=SECRET, lookup_timeout=10.0, tls=context, tls_hostname="localhost"
        ),
    )


async def test_a_tls_server_with_an_untrusted_certificate_is_a_clear_oserror(
    tls_server: NatsServer,
) -> None:
    url = tls_server.url.replace("nats://", "tls://")
    transport = NatsTransport(
        url,
        secret=SECRET,
        tls=ssl.create_default_context(),  # trusts the system's CAs, not the test's
    )
    with pytest.raises(OSError, match="cannot connect to NATS at tls://127"):
        async with ActorSystem("wary", transport=transport):
            pass


def test_nats_security_options_of_the_wrong_type_are_clear_errors() -> None:
    with pytest.raises(TypeError, match="password must be a str, got bytes"):
        NatsTransport(password=b"pw")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tls must be a SSLContext, got bool"):
        NatsTransport(tls=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"options must be a dict of nats\.connect"):
        NatsTransport(options=[("user", "x")])  # type: ignore[arg-type]
