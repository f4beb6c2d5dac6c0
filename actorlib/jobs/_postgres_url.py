"""Where a PostgreSQL store lives: its URL, parsed and checked; knows no connection."""

from __future__ import annotations

import urllib.parse

from ._postgres_sql import SCHEMA_NAME


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
    rest = urllib.parse.urlencode([(n, v) for n, v in query if n != "schema"])
    conninfo = urllib.parse.urlunsplit(parts._replace(query=rest))
    return conninfo, _without_password(parts), schema


def _without_password(parts: urllib.parse.SplitResult) -> str:
    """The URL to show in messages: no password, no query."""
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=""))
