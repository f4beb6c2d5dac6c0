"""A module of entity kinds that fails to import, for ``--import``'s refusal (never imported by
the tests themselves, only named on a member's command line)."""

from __future__ import annotations

from actorlib.cluster import Entity


class Broken(Entity):
    """Would be hosted, if its module imported."""

    async def receive(self, message: object) -> object:
        return message


raise RuntimeError("broken_kinds fails to import on purpose")
