"""Benchmarks of actorlib beside the same patterns on raw anyio streams: `python -m benchmarks`."""
