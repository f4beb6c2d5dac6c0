"""Turns comparisons into the printed table and the JSON file; knows nothing about running."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path

from benchmarks._runner import Comparison, Run
from benchmarks._scenario import Measure

_HEADER = (
    "scenario",
    "unit",
    "backend",
    "actorlib median (min-max)",
    "raw median (min-max)",
    "actorlib/raw",
    "target",
    "met?",
)
_ERROR_WIDTH = 40


def format_table(comparisons: Sequence[Comparison]) -> str:
    """One row per scenario and backend, columns aligned, errors listed below."""
    rows = [_HEADER, *(_row(comparison) for comparison in comparisons)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_HEADER))]
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    errors = [
        f"{run.scenario} on {run.backend}, {run.system}: {run.error}"
        for comparison in comparisons
        for run in (comparison.actorlib, comparison.raw)
        if run.error is not None
    ]
    if errors:
        lines += ["", "errors:", *(f"  {error}" for error in errors)]
    return "\n".join(line.rstrip() for line in lines)


def _row(comparison: Comparison) -> tuple[str, ...]:
    measure = comparison.scenario.measure
    ratio = comparison.ratio
    met = comparison.met
    return (
        comparison.scenario.name,
        comparison.scenario.unit,
        comparison.backend,
        _cell(comparison.actorlib, measure),
        _cell(comparison.raw, measure),
        "-" if ratio is None else f"{ratio:.2f}x",
        _target(comparison),
        "-" if met is None else ("yes" if met else "NO"),
    )


def _target(comparison: Comparison) -> str:
    target = comparison.scenario.target
    return target.describe() if comparison.target_applies and target is not None else "-"


def _cell(run: Run, measure: Measure) -> str:
    if run.median is None or run.min is None or run.max is None:
        error = run.error or "no samples"
        if len(error) > _ERROR_WIDTH:
            error = error[: _ERROR_WIDTH - 3] + "..."
        return "error: " + error
    figures = (_figure(value, measure) for value in (run.median, run.min, run.max))
    median, low, high = figures
    return f"{median} ({low}-{high})" + (" [partial]" if run.error else "")


def _figure(value: float, measure: Measure) -> str:
    if measure is Measure.AMOUNT:
        return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    for scale, suffix in ((1e6, "M"), (1e3, "k"), (1.0, "")):
        if value >= scale:
            return _three_digits(value / scale) + suffix
    return f"{value:.3g}"


def _three_digits(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "versions": {name: _version(name) for name in ("actorlib", "anyio", "trio", "uvloop")},
    }


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def write_json(
    path: Path, parameters: Mapping[str, object], comparisons: Sequence[Comparison]
) -> None:
    """Write machine, parameters, every run and every ratio to `path` (directories created)."""
    document = {
        "machine": machine(),
        "parameters": dict(parameters),
        "runs": [
            _run_json(run)
            for comparison in comparisons
            for run in (comparison.actorlib, comparison.raw)
        ],
        "ratios": [_ratio_json(comparison) for comparison in comparisons],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def _run_json(run: Run) -> dict[str, object]:
    return {
        "scenario": run.scenario,
        "backend": run.backend,
        "system": run.system,
        "size": run.size,
        "unit": run.unit,
        "samples": list(run.samples),
        "median": run.median,
        "min": run.min,
        "max": run.max,
        "seconds": list(run.seconds),
        "error": run.error,
    }


def _ratio_json(comparison: Comparison) -> dict[str, object]:
    return {
        "scenario": comparison.scenario.name,
        "backend": comparison.backend,
        "unit": comparison.scenario.unit,
        "ratio": comparison.ratio,
        "target": None if _target(comparison) == "-" else _target(comparison),
        "met": comparison.met,
    }
