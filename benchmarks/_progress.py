"""Shows how far a benchmark run has got, on stderr; knows nothing about scenarios."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Protocol


class Progress(Protocol):
    """A bar that advances once per run; a context manager that closes it."""

    def step(self, label: str) -> None:
        """Count one run done; `label` says which."""
        ...

    def __enter__(self) -> Progress: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class _Tqdm:
    """tqdm's bar, when tqdm is installed."""

    def __init__(self, total: int) -> None:
        import tqdm

        self._bar = tqdm.tqdm(total=total, unit="run", file=sys.stderr, dynamic_ncols=True)

    def step(self, label: str) -> None:
        self._bar.set_description_str(label, refresh=False)
        self._bar.update(1)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._bar.close()


class _Counter:
    """A one-line ``[12/40] label`` counter, rewritten in place on a terminal."""

    def __init__(self, total: int) -> None:
        self._total = total
        self._done = 0
        self._start = time.perf_counter()
        self._in_place = sys.stderr.isatty()

    def step(self, label: str) -> None:
        self._done += 1
        elapsed = time.perf_counter() - self._start
        line = f"[{self._done}/{self._total}] {elapsed:.0f}s {label}"
        if self._in_place:
            sys.stderr.write("\r\033[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._in_place:
            sys.stderr.write("\n")


def progress(total: int) -> Progress:
    """A tqdm bar for `total` runs if tqdm is installed, else a plain counter."""
    try:
        return _Tqdm(total)
    except ImportError:
        return _Counter(total)
