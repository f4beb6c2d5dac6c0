"""The errors of actorlib.cluster; knows nothing of NATS.

::

    ActorError
     └── ClusterError         a cluster operation failed (configuration, NATS, a refused value)
          └── LeaseLost       an entity activation no longer holds its lease: it stops

Like every actorlib error they are attrs classes built from their fields,
so they pickle intact to a remote asker.
"""

from __future__ import annotations

import attrs

from actorlib import ActorError


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class ClusterError(ActorError):
    """A cluster operation failed; its message says what and what to do."""


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class LeaseLost(ClusterError):
    """An entity activation no longer holds its lease, so it stops.

    Raised to the asker of a message the activation did not handle (its
    lease was not renewed in time), and by `EntityContext.persist` when a
    newer activation holds the key (the write was refused by the server).
    """
