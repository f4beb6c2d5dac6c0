"""Catching a worker process that re-runs the main script: the script must guard its entry point.

A process job runs in a worker process that first runs the main script of
the parent again, under the name ``__mp_main__`` (as multiprocessing's spawn
start method does), so that functions defined in the script can be found.
A script without ``if __name__ == "__main__":`` then starts its whole program
again in the worker. This module notices it and says what to do.
"""

from __future__ import annotations

import sys
from types import FrameType

from ._errors import JobMainGuardError

# The script a worker process found re-running itself into a queue (set in
# that worker only). Kept so that the worker's jobs fail with the same error
# even if the script caught the first one.
_unguarded: str | None = None


def _reimported_script() -> str | None:
    """The path of the main script if it is being re-run as ``__mp_main__`` below us."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__mp_main__":
            return str(frame.f_globals.get("__file__") or frame.f_code.co_filename)
        frame = frame.f_back
    return None


def check_main_guard() -> None:
    """Refuse to start a queue from a main script re-run in a worker process.

    Raises:
        JobMainGuardError: the caller is the top-level code of the main
            script, run again by a worker process.
    """
    global _unguarded
    script = _reimported_script() or _unguarded
    if script is not None:
        _unguarded = script
        raise JobMainGuardError(script=script)
