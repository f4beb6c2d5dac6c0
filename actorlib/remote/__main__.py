"""``python -m actorlib.remote``: see `actorlib.remote._cli`."""

from ._cli import main

main()
