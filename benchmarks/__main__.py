"""The command line of the benchmarks: select, run, print the table, write JSON and charts."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import (
    bank,
    big,
    chameneos,
    cluster,
    fanin,
    fibonacci,
    forkjoin,
    jobprocesses,
    jobs,
    metrics,
    pingpong,
    remote,
    ring,
    simulation,
    spawn,
    supervision,
    traces,
)
from benchmarks._charts import write_charts
from benchmarks._progress import progress
from benchmarks._report import format_table, write_json
from benchmarks._runner import BACKENDS, Backend, Result, measure, planned_runs
from benchmarks._scenario import Scenario

SCENARIOS: tuple[Scenario, ...] = (
    *pingpong.SCENARIOS,
    *fanin.SCENARIOS,
    *ring.SCENARIOS,
    *spawn.SCENARIOS,
    *forkjoin.SCENARIOS,
    *supervision.SCENARIOS,
    *fibonacci.SCENARIOS,
    *big.SCENARIOS,
    *chameneos.SCENARIOS,
    *bank.SCENARIOS,
    *simulation.SCENARIOS,
    *remote.SCENARIOS,
    *cluster.SCENARIOS,
    *jobs.SCENARIOS,
    *jobprocesses.SCENARIOS,
    *metrics.SCENARIOS,
    *traces.SCENARIOS,
)
QUICK_SCALE = 20
QUICK_REPEAT = 1
DEFAULT_REPEAT = 5
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "results.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure actorlib beside the same patterns on raw anyio memory object "
        "streams and on peer systems (raw asyncio, Pykka, Thespian), in the same run; print "
        "the table, write the JSON and one PNG chart per scenario beside it.",
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help="scenarios to run (default: all): " + ", ".join(s.name for s in SCENARIOS),
    )
    parser.add_argument(
        "--backend",
        choices=[*BACKENDS, "all"],
        default="all",
        help="event loop to run on (default: all)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help=f"repetitions per variant (default: {DEFAULT_REPEAT}, or {QUICK_REPEAT} with --quick)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: scale every size down {QUICK_SCALE}x, repeat {QUICK_REPEAT} time, "
        "no warm-up run",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        metavar="PATH",
        help="where to write the results; the charts go beside it "
        "(default: benchmarks/results/results.json)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="give up on one run of one variant after this long (default: 300)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected scenarios; return 1 if any variant failed, else 0."""
    parser = _parser()
    args = parser.parse_args(argv)
    by_name = {scenario.name: scenario for scenario in SCENARIOS}
    unknown = [name for name in args.scenarios if name not in by_name]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; choose from {', '.join(by_name)}")
    selected = [by_name[name] for name in args.scenarios] or list(SCENARIOS)
    backends = list(BACKENDS) if args.backend == "all" else [args.backend]
    repeat = args.repeat or (QUICK_REPEAT if args.quick else DEFAULT_REPEAT)
    if repeat < 1:
        parser.error(f"--repeat must be at least 1, got {repeat}")
    scale = QUICK_SCALE if args.quick else 1
    sizes = {scenario.name: max(1, scenario.size // scale) for scenario in selected}

    parameters = _parameters(args, backends, repeat, selected, sizes)
    print(f"backends: {', '.join(backends)}; repeat: {repeat}; quick: {args.quick}")
    for scenario in selected:
        print(f"  {scenario.name}: {scenario.describe(sizes[scenario.name])}")
    print()
    results = _run_all(
        selected, [BACKENDS[name] for name in backends], sizes, repeat, args.timeout, not args.quick
    )
    print(format_table(results))
    write_json(args.json, parameters, results)
    print(f"\nwrote {args.json}")
    charts = write_charts(args.json.parent, results)
    if isinstance(charts, str):
        print(charts)
    else:
        print(f"wrote {len(charts)} charts to {args.json.parent}")
    failed = any(run.error for result in results for run in result.runs)
    return 1 if failed else 0


def _parameters(
    args: argparse.Namespace,
    backends: list[str],
    repeat: int,
    selected: list[Scenario],
    sizes: dict[str, int],
) -> dict[str, object]:
    """What the run measured, for the JSON: backends, repeats, every scenario's workload."""
    return {
        "backends": backends,
        "repeat": repeat,
        "quick": args.quick,
        "warmup": "none (--quick)"
        if args.quick
        else "one untimed run of each variant at 1/20 size (not for isolated runs)",
        "timeout_seconds": args.timeout,
        "scenarios": {
            scenario.name: {
                "size": sizes[scenario.name],
                "workload": scenario.describe(sizes[scenario.name]),
                "unit": scenario.unit,
                "isolated": scenario.isolated,
                "repeat": min(repeat, scenario.max_repeat or repeat),
            }
            for scenario in selected
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _run_all(
    selected: list[Scenario],
    chosen: list[Backend],
    sizes: dict[str, int],
    repeat: int,
    timeout: float,
    warmup: bool,
) -> list[Result]:
    """Measure every selected scenario on the chosen backends, with a progress bar."""
    total = sum(
        planned_runs(scenario, chosen, repeat=repeat, warmup=warmup) for scenario in selected
    )
    results: list[Result] = []
    with progress(total) as bar:
        for scenario in selected:
            results.append(
                measure(
                    scenario,
                    chosen,
                    size=sizes[scenario.name],
                    repeat=repeat,
                    timeout=timeout,
                    warmup=warmup,
                    on_step=bar.step,
                )
            )
    return results


if __name__ == "__main__":
    sys.exit(main())
