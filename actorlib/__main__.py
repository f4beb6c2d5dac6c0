"""``python -m actorlib top --connect URL``: a launcher for the dashboard's terminal view.

The one module of the core package that names ``actorlib.dashboard``; it
imports it only when run, so nothing else loads the dashboard.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    """Dispatch ``top``; anything else is a usage error."""
    if not argv or argv[0] != "top":
        print(
            "usage: python -m actorlib top --connect URL [--interval S] [--rows N] [-n N]\n"
            "(jobs: python -m actorlib.jobs; dashboard: python -m actorlib.dashboard)",
            file=sys.stderr,
        )
        return 2
    from actorlib.dashboard._cli import top_main

    return top_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
