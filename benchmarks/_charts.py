"""Draws one PNG bar chart per scenario from its runs; knows nothing about running."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks._runner import OWN_RUNTIME, Result, Run
from benchmarks._scenario import Measure

#: Above this spread between the highest and lowest median, the axis goes logarithmic.
_LOG_SPREAD = 20.0


def write_charts(directory: Path, results: Sequence[Result]) -> list[Path] | str:
    """Write ``<scenario>.png`` under `directory`; return the paths, or why there are none."""
    try:
        import matplotlib
    except ImportError:
        return "no charts: matplotlib is not installed (pip install matplotlib)"
    matplotlib.use("Agg")  # files only: never needs a display
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for result in results:
        measured = [run for run in result.runs if run.median is not None]
        if measured:
            path = directory / f"{result.scenario.name}.png"
            _draw(path, result, measured)
            paths.append(path)
    return paths


def _draw(path: Path, result: Result, runs: Sequence[Run]) -> None:
    from matplotlib import pyplot

    # Peers with their own runtime have no anyio backend to name.
    labels = [
        run.system if run.backend == OWN_RUNTIME else f"{run.system}\n{run.backend}" for run in runs
    ]
    medians = [run.median or 0.0 for run in runs]
    below = [median - (run.min or median) for median, run in zip(medians, runs, strict=True)]
    above = [(run.max or median) - median for median, run in zip(medians, runs, strict=True)]
    colours = ["tab:blue" if run.system == "actorlib" else "tab:gray" for run in runs]
    figure, axes = pyplot.subplots(figsize=(max(6.0, 0.9 * len(runs) + 2), 4.5))
    axes.bar(labels, medians, yerr=[below, above], color=colours, capsize=4)
    if min(medians) > 0 and max(medians) / min(medians) > _LOG_SPREAD:
        axes.set_yscale("log")
    better = "higher" if result.scenario.measure is Measure.RATE else "lower"
    axes.set_ylabel(f"{result.scenario.unit} ({better} is better)")
    if result.scenario.also is not None:
        # The second unit (restarts/s beside msgs/s) on the right-hand axis.
        unit, factor = result.scenario.also
        right = axes.secondary_yaxis("right", functions=_scaling(factor))
        right.set_ylabel(unit)
    count = max(len(run.samples) for run in runs)
    over = f"median, min-max over {count} runs" if count > 1 else "1 run each"
    axes.set_title(f"{result.scenario.name}: {over}")
    axes.tick_params(axis="x", labelsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def _scaling(factor: float) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """The forward and inverse conversions of a secondary axis (arrays or numbers)."""

    def forward(values: Any) -> Any:
        return values * factor

    def inverse(values: Any) -> Any:
        return values / factor

    return forward, inverse
