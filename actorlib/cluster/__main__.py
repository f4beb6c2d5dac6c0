"""``python -m actorlib.cluster``: see `actorlib.cluster._cli`."""

from ._cli import main

if __name__ == "__main__":  # importing it (e.g. to read its docstring) runs nothing
    main()
