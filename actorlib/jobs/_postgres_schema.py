"""A PostgreSQL store's schema as it opens: made or migrated, or checked when read-only.

It knows the store's tables by their schema version and its notice key, never the jobs.
"""

from __future__ import annotations

import logging

from ._postgres_link import Link
from ._postgres_link import one as _one
from ._postgres_sql import MIGRATIONS, NoticeKey, migrate, quoted, version_of

logger = logging.getLogger("actorlib")


async def prepare(link: Link, schema: str, url: str) -> NoticeKey:
    """Make or migrate the store's tables in *schema* (one transaction); its notice key."""
    applied = await link.run(migrate(schema, f"{schema}.migrate"), atomic=True)
    if applied:
        logger.info("job store %s: schema %s at version %d", url, schema, applied[-1])
    ((key,),) = await link.run(
        _one(f"SELECT key FROM {quoted(schema)}.notice_key LIMIT 1"), atomic=False
    )
    return NoticeKey(bytes(key))


async def check_readable(link: Link, schema: str, url: str) -> None:
    """Check that *schema* holds a store at this actorlib's version, making nothing.

    Raises:
        FileNotFoundError: the schema holds no store (a typo, most likely).
        RuntimeError: the store's tables are older: only a read-write open migrates them.
    """
    version = await link.run(version_of(schema), atomic=False)
    if version is None:
        raise FileNotFoundError(
            f"no job store at {url} in schema {schema!r}; check the URL's ?schema= "
            f"(the default is 'actorlib')"
        )
    if version < len(MIGRATIONS):
        raise RuntimeError(
            f"the job store {url} (schema {schema!r}) has schema version {version}, older "
            f"than this actorlib's {len(MIGRATIONS)}, and a read-only open cannot migrate "
            f"it; open it once read-write (start a JobQueue or a worker on it) and try again"
        )
