"""Run every benchmark, print one table, append it to RESULTS.md and write results.json.

Usage: ``bash scripts/bench.sh [--quick] [NAME ...]`` (names: the ``bench_*`` modules without
prefix). ``--quick`` is a smoke run with few samples: it prints the table but writes nothing.
A benchmark that raises gives one "fall short" row naming the error; the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.framework import HERE, QUICK_ENV, Result, fmt_value, write_results

BENCHES = ("mri", "slides", "model", "explain", "storage", "screen", "gui")
SHARED_DATA = HERE.parent.parent / "shared" / "data"
log = logging.getLogger("benchmarks")


def _table(results: list[Result]) -> Table:
    table = Table(title="Neoadj-Net workstation benchmarks")
    table.add_column("metric", max_width=60)
    for col in ("ours", "reference", "ratio", "target", "result"):
        table.add_column(col, no_wrap=True)
    table.add_column("note", min_width=50)
    for r in results:
        verdict = "pass" if r.passed else ("fall short" if r.passed is False else "n/a")
        table.add_row(
            r.metric,
            f"{fmt_value(r.ours)} {r.unit}",
            f"{fmt_value(r.reference)} {r.unit}",
            fmt_value(r.ratio),
            r.target,
            verdict,
            r.note,
        )
    return table


def main() -> int:
    """Run the selected (default: all) benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"some of: {', '.join(BENCHES)}")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--quick", action="store_true", help="smoke run: few samples, print only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("NEOADJ_OFFLINE", "1")
    if args.quick:
        os.environ[QUICK_ENV] = "1"
    console = Console(width=220)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="neoadj-bench-") as tmp:
        for name in args.names or BENCHES:
            work = Path(tmp) / name
            work.mkdir()
            t0 = time.perf_counter()
            console.print(f"[bold]bench {name}[/bold] ...")
            try:
                module = importlib.import_module(f"benchmarks.bench_{name}")
                rows = module.run(work, SHARED_DATA)
            except Exception as exc:
                log.exception("bench %s failed", name)
                rows = [
                    Result(
                        f"bench {name}",
                        None,
                        None,
                        None,
                        "runs",
                        False,
                        note=f"failed: {type(exc).__name__}: {exc}",
                    )
                ]
            console.print(f"  {len(rows)} rows in {time.perf_counter() - t0:.0f} s")
            results.extend(rows)
    console.print(_table(results))
    if not (args.no_write or args.quick):
        write_results(results, results_md=HERE / "RESULTS.md", results_json=HERE / "results.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
