"""Result rows, timing helpers and the RESULTS.md / results.json writers."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import platformdirs
import psutil
import torch

HERE = Path(__file__).resolve().parent
START_LOAD = os.getloadavg()
"""Load average (1, 5, 15 min) when the harness was imported: how busy the machine was."""


@dataclass
class Result:
    """One benchmark row: our figure, the reference measured in the same run, the target."""

    metric: str
    ours: float | None
    reference: float | None
    ratio: float | None
    target: str
    passed: bool | None
    unit: str = ""
    note: str = ""

    def to_json(self) -> dict[str, object]:
        """The machine-readable row (``pass`` instead of ``passed``)."""
        d = asdict(self)
        d["pass"] = d.pop("passed")
        return d


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    """Median wall time of `repeats` calls, in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timed(fn: Callable[[], object]) -> Callable[[], float]:
    """A timing function: calls `fn` and returns its wall time in seconds."""

    def run() -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    return run


def interleaved_medians(fns: Sequence[Callable[[], float]], repeats: int = 5) -> list[float]:
    """Median of each timing function (it returns seconds) over `repeats` rounds, each round
    calling every function once in turn, so that a change of load on a shared machine falls
    on all of them."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            times[i].append(fn())
    return [statistics.median(t) for t in times]


def machine_description() -> str:
    """CPU, cores, memory, Python, the CUDA GPU if any, and the load average at the start."""
    mem_gib = psutil.virtual_memory().total / 2**30
    cpu = platform.processor() or platform.machine()
    load = ", ".join(f"{v:.1f}" for v in START_LOAD)
    gpu = (
        f"; GPU {torch.cuda.get_device_name()} (torch {torch.__version__})"
        if torch.cuda.is_available()
        else "; no CUDA GPU"
    )
    return (
        f"{cpu}, {psutil.cpu_count(logical=True)} logical cores, {mem_gib:.0f} GiB, "
        f"Python {platform.python_version()}, {platform.platform()}{gpu}; "
        f"load average at start {load} (1, 5, 15 min)"
    )


def fmt_value(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def markdown_table(results: list[Result]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| metric | ours | reference | ratio | target | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        verdict = "pass" if r.passed else ("fall short" if r.passed is False else "n/a")
        unit = f" {r.unit}" if r.unit else ""
        note = f" ({r.note})" if r.note else ""
        lines.append(
            f"| {r.metric}{note} | {fmt_value(r.ours)}{unit} | {fmt_value(r.reference)}{unit} | "
            f"{fmt_value(r.ratio)} | {r.target} | {verdict} |"
        )
    return "\n".join(lines)


def write_results(results: list[Result], *, results_md: Path, results_json: Path) -> None:
    """Append the table to RESULTS.md (history) and overwrite results.json."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = f"\n## {stamp}\n\nMachine: {machine_description()}\n\n{markdown_table(results)}\n"
    if not results_md.exists():
        results_md.write_text("# Benchmark results\n\nAppended by `bash scripts/bench.sh`.\n")
    with results_md.open("a", encoding="utf-8") as fh:
        fh.write(block)
    results_json.write_text(json.dumps([r.to_json() for r in results], indent=2) + "\n")


QUICK_ENV = "NEOADJ_BENCH_QUICK"
CACHE_ENV = "NEOADJ_BENCH_CACHE"


def is_quick() -> bool:
    """Whether this is a ``--quick`` smoke run (fewer samples; figures are indicative only)."""
    return os.environ.get(QUICK_ENV) == "1"


def bench_cache_dir() -> Path:
    """Where deterministic, expensive inputs are kept between runs ($NEOADJ_BENCH_CACHE)."""
    folder = Path(os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir("neoadj-bench"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
