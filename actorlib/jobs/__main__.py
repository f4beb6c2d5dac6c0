"""``python -m actorlib.jobs``: run a worker for a durable store, or print its status."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
