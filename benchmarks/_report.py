"""Turns results into the printed table and the JSON file; knows nothing about running."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path

from benchmarks._runner import Result, Run
from benchmarks._scenario import Measure

_HEADER = (
    "scenario",
    "unit",
    "backend",
    "system",
    "median (min-max)",
    "system/actorlib",
    "actorlib/raw",
    "target",
    "met?",
)
_ERROR_WIDTH = 40
_DISTRIBUTIONS = ("actorlib", "anyio", "trio", "uvloop", "pykka", "thespian", "xoscar")


def format_table(results: Sequence[Result]) -> str:
    """One row per scenario, backend and system, columns aligned, errors listed below."""
    rows = [_HEADER, *(_row(result, run) for result in results for run in result.runs)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_HEADER))]
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    errors = [
        f"{run.scenario} on {run.backend}, {run.system}: {run.error}"
        for result in results
        for run in result.runs
        if run.error is not None
    ]
    if errors:
        lines += ["", "errors:", *(f"  {error}" for error in errors)]
    reasons = _unavailable(results)
    if reasons:
        lines += ["", "n/a, in full:", *(f"  {reason}" for reason in reasons)]
    return "\n".join(line.rstrip() for line in lines)


def _unavailable(results: Sequence[Result]) -> list[str]:
    """Each system's reasons for n/a in full, with the scenarios each applies to."""
    scenarios: dict[tuple[str, str], list[str]] = {}
    for result in results:
        for run in result.runs:
            if run.unavailable is not None:
                names = scenarios.setdefault((run.system, run.unavailable), [])
                if run.scenario not in names:
                    names.append(run.scenario)
    return [
        f"{system} ({', '.join(names)}): {reason}" for (system, reason), names in scenarios.items()
    ]


def _row(result: Result, run: Run) -> tuple[str, ...]:
    measure = result.scenario.measure
    versus = result.versus_actorlib(run)
    # actorlib's row carries its targets (against raw, or its own figure); a
    # peer's row carries the mark for that peer (on system/actorlib).
    ratio = result.ratio(run.backend) if run.system == "actorlib" else None
    if run.system == "actorlib":
        met, target = result.met(run.backend), _target(result, run.backend)
    else:
        peer_target = result.peer_target(run)
        met = result.peer_met(run)
        unjudged = peer_target is None or run.median is None
        target = "-" if unjudged or peer_target is None else peer_target.describe()
    return (
        result.scenario.name,
        result.scenario.unit,
        run.backend,
        run.system,
        _cell(run, measure) + _also(result, run),
        "-" if versus is None or run.system == "actorlib" else f"{versus:.2f}x",
        "-" if ratio is None else f"{ratio:.2f}x",
        target,
        "-" if met is None else ("yes" if met else "NO"),
    )


def _target(result: Result, backend: str) -> str:
    target = result.scenario.target
    return target.describe() if result.target_applies(backend) and target is not None else "-"


def _cell(run: Run, measure: Measure) -> str:
    if run.unavailable is not None:
        return "n/a: " + _clip(run.unavailable.partition(": ")[0])
    if run.median is None or run.min is None or run.max is None:
        return "error: " + _clip(run.error or "no samples")
    figures = (_figure(value, measure) for value in (run.median, run.min, run.max))
    median, low, high = figures
    return f"{median} ({low}-{high})" + (" [partial]" if run.error else "")


def _also(result: Result, run: Run) -> str:
    """The median in the scenario's second unit, if it has one: `` = 12.3k restarts/s``."""
    also = result.scenario.also
    if also is None or run.median is None:
        return ""
    unit, factor = also
    return f" = {_figure(run.median * factor, result.scenario.measure)} {unit}"


def _clip(text: str) -> str:
    return text if len(text) <= _ERROR_WIDTH else text[: _ERROR_WIDTH - 3] + "..."


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
        "versions": {name: _version(name) for name in _DISTRIBUTIONS},
    }


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def write_json(path: Path, parameters: Mapping[str, object], results: Sequence[Result]) -> None:
    """Write machine, parameters, every run and every ratio to `path` (directories created)."""
    document = {
        "machine": machine(),
        "parameters": dict(parameters),
        "runs": [_run_json(result, run) for result in results for run in result.runs],
        "ratios": [
            _ratio_json(result, backend)
            for result in results
            for backend in dict.fromkeys(run.backend for run in result.runs)
            if result.find(backend, "raw") is not None
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def _run_json(result: Result, run: Run) -> dict[str, object]:
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
        "unavailable": run.unavailable,
        "versus_actorlib": result.versus_actorlib(run),
        "peer_target": _peer_target_json(result, run),
        "peer_target_met": result.peer_met(run),
        **_also_json(result, run),
    }


def _peer_target_json(result: Result, run: Run) -> str | None:
    target = result.peer_target(run)
    return None if target is None else target.describe()


def _also_json(result: Result, run: Run) -> dict[str, object]:
    also = result.scenario.also
    if also is None:
        return {}
    unit, factor = also
    return {"also_unit": unit, "also_median": None if run.median is None else run.median * factor}


def _ratio_json(result: Result, backend: str) -> dict[str, object]:
    target = _target(result, backend)
    return {
        "scenario": result.scenario.name,
        "backend": backend,
        "unit": result.scenario.unit,
        "ratio": result.ratio(backend),
        "target": None if target == "-" else target,
        "met": result.met(backend),
    }
