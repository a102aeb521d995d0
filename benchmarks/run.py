"""Run every benchmark, print one table, append it to RESULTS.md and write results.json.

Usage: ``bash scripts/bench.sh [NAME ...]`` (names: the ``bench_*`` modules without prefix).
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

from benchmarks.framework import HERE, Result, write_results

BENCHES = ("mri", "slides", "model", "explain", "storage", "screen", "gui")
SHARED_DATA = HERE.parent.parent / "shared" / "data"


def _table(results: list[Result]) -> Table:
    table = Table(title="Neoadj-Net workstation benchmarks")
    for col in ("metric", "ours", "reference", "ratio", "target", "result"):
        table.add_column(col)
    for r in results:
        fmt = (lambda v: "—" if v is None else f"{v:.3g}")  # noqa: E731
        verdict = "pass" if r.passed else ("fall short" if r.passed is False else "n/a")
        table.add_row(
            r.metric, f"{fmt(r.ours)} {r.unit}", f"{fmt(r.reference)} {r.unit}",
            fmt(r.ratio), r.target, verdict,
        )
    return table


def main() -> int:
    """Run the selected (default: all) benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"some of: {', '.join(BENCHES)}")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("NEOADJ_OFFLINE", "1")
    console = Console()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="neoadj-bench-") as tmp:
        for name in args.names or BENCHES:
            module = importlib.import_module(f"benchmarks.bench_{name}")
            work = Path(tmp) / name
            work.mkdir()
            t0 = time.perf_counter()
            console.print(f"[bold]bench {name}[/bold] ...")
            rows = module.run(work, SHARED_DATA)
            console.print(f"  {len(rows)} rows in {time.perf_counter() - t0:.0f} s")
            results.extend(rows)
    console.print(_table(results))
    if not args.no_write:
        write_results(results, results_md=HERE / "RESULTS.md", results_json=HERE / "results.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
