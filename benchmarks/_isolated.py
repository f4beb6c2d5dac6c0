"""Runs one scenario variant in this fresh interpreter and prints its result as JSON.

Usage (by `benchmarks._runner` only): python -m benchmarks._isolated MODULE FUNCTION BACKEND SIZE
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import cast

from benchmarks._runner import BACKENDS
from benchmarks._scenario import Variant


def main(argv: list[str]) -> None:
    """Import MODULE, run FUNCTION(SIZE) on BACKEND, print the result as the last line."""
    module_name, function_name, backend_name, size = argv
    variant = cast(Variant, getattr(importlib.import_module(module_name), function_name))
    result = BACKENDS[backend_name].run(variant, int(size))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
