"""``python -m actorlib.dashboard --store URL``: the job view of stores, with no actor system."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
