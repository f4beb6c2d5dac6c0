"""Where a PostgreSQL store lives: its URL, parsed and checked; knows no connection."""

from __future__ import annotations

import urllib.parse

from ._postgres_sql import SCHEMA_NAME

#: libpq settings a URL gets unless it names them: a server that cannot be reached
#: fails a connect in 10 s, not the system's minutes; a connection whose server went
#: silent (a cut network) fails within about 11 s of keepalives instead of hanging
#: the call; the queue then rides the outage out (`_outage`).
CONNECTION_DEFAULTS = {
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
}


def parse_url(url: str, schema: str | None) -> tuple[str, str, str]:
    """The libpq connection string, the URL to show and the schema, from a store's URL.

    Raises:
        ValueError: not a postgresql:// URL, or a bad schema name.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(
            f"a PostgreSQL store URL starts with postgresql:// or postgres://, got {url!r}"
        )
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    given = [value for name, value in query if name == "schema"]
    schema = schema if schema is not None else (given[-1] if given else "actorlib")
    if not SCHEMA_NAME.fullmatch(schema):
        raise ValueError(
            f"the job store's schema must be a lower-case SQL name (letters, digits, _; "
            f"at most 48), got {schema!r}; e.g. {url.split('?')[0]}?schema=jobs"
        )
    kept = [(n, v) for n, v in query if n != "schema"]
    given_names = {n for n, _ in kept}
    kept += [(n, v) for n, v in CONNECTION_DEFAULTS.items() if n not in given_names]
    conninfo = f"{_joined(parts, parts.netloc)}?{urllib.parse.urlencode(kept)}"
    return conninfo, _without_password(parts), schema


def _joined(parts: urllib.parse.SplitResult, netloc: str) -> str:
    # Not urlunsplit: it drops the "//" of an empty host (``postgresql:///db``,
    # libpq's default socket or ``?host=/dir``), and libpq refuses what is left.
    return f"{parts.scheme}://{netloc}{parts.path}"


def _without_password(parts: urllib.parse.SplitResult) -> str:
    """The URL to show in messages: no password, no query."""
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}"
    return _joined(parts, netloc)
