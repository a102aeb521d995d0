"""Prove the CUDA path on this machine: CPU/CUDA agreement and the time of each, on the demo case.

Usage: ``python scripts/cuda_check.py WORK [--checkpoint DIR] [--train-patients N]``

Runs the public CLI (``neoadj synth demo``, ``predict``, ``explain`` and, with
``--train-patients``, ``synth cohort`` + ``train``) once per device, compares the outputs and
writes ``WORK/cuda_check.json`` (also printed). Tolerances (``TOLERANCES``): probability,
modality Shapley values and gene attributions within 1e-4 absolute; saliency maps with a
Pearson correlation of at least 0.999 and NaN (no tissue) in the same elements. Exit status:
0 when CUDA agrees with CPU, 1 when it does not (or a command failed), 2 without a CUDA GPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

DEVICES = ("cpu", "cuda")
REPEATS = 3
TOLERANCES = {"probability": 1e-4, "shapley": 1e-4, "gene_attribution": 1e-4, "map_pearson": 0.999}


def _neoadj(*args: str) -> tuple[dict[str, Any], float]:
    """Run one ``neoadj`` command with ``--json``; (its JSON, wall time of the process in s)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", *args, "--json"], capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(
            f"neoadj {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}"
        )
    return json.loads(proc.stdout), wall


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    if a.std() == 0 or b.std() == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _map_agreement(cpu: Path, cuda: Path, keys: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Per array of two ``.npz`` files: Pearson r and max |difference| / max |CPU map| over the
    elements finite in both, and the count of elements finite in one only (NaN marks no tissue).
    """
    a, b = np.load(cpu), np.load(cuda)
    out = {}
    for key in keys:
        x, y = a[key], b[key]
        both = np.isfinite(x) & np.isfinite(y)
        scale = float(np.abs(x[both]).max()) or 1.0
        out[key] = {
            "pearson": _pearson(x[both], y[both]),
            "max_abs_diff_over_max": float(np.abs(x[both] - y[both]).max()) / scale,
            "finite_mismatch": int((np.isfinite(x) != np.isfinite(y)).sum()),
        }
    return out


def _predict(case: Path, checkpoint: list[str]) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    for device in DEVICES:
        outs = [
            _neoadj("predict", str(case), "--device", device, *checkpoint) for _ in range(REPEATS)
        ]
        probs = [o["probability"] for o, _ in outs]
        runs[device] = {
            "probabilities": probs,
            "repeat_spread": max(probs) - min(probs),
            "process_wall_s": [round(w, 3) for _, w in outs],
            "timings_s": [o["timings_s"] for o, _ in outs],
            "predicted_benefit": outs[0][0]["predicted_benefit"],
        }
    diff = abs(runs["cpu"]["probabilities"][0] - runs["cuda"]["probabilities"][0])
    runs["abs_diff"] = diff
    runs["agree"] = (
        diff <= TOLERANCES["probability"]
        and runs["cpu"]["predicted_benefit"] == runs["cuda"]["predicted_benefit"]
    )
    return runs


def _explain(case: Path, work: Path, checkpoint: list[str]) -> dict[str, Any]:
    res: dict[str, Any] = {}
    for device in DEVICES:
        out, wall = _neoadj(
            "explain",
            str(case),
            "--device",
            device,
            "--out",
            str(work / f"explain_{device}"),
            *checkpoint,
        )
        res[device] = {"process_wall_s": round(wall, 3), "timings_s": out["timings_s"], "json": out}
    cpu, cuda = res["cpu"].pop("json"), res["cuda"].pop("json")
    shapley = max(
        abs(cpu["modality_shapley"][k] - cuda["modality_shapley"][k])
        for k in cpu["modality_shapley"]
    )
    genes = max(
        abs(g["attribution"] - h["attribution"])
        for g, h in zip(cpu["genes"]["genes"], cuda["genes"]["genes"], strict=True)
    )
    maps = {
        s["phase"]: _map_agreement(
            work / "explain_cpu" / s["path"],
            work / "explain_cuda" / s["path"],
            ("integrated_gradients", "gradcam"),
        )
        for s in cpu["mri"]
    }
    maps["slide"] = _map_agreement(
        work / "explain_cpu" / "slide" / "heatmap.npz",
        work / "explain_cuda" / "slide" / "heatmap.npz",
        ("attention", "attribution"),
    )
    worst_r = min(m["pearson"] for series in maps.values() for m in series.values())
    mismatched = sum(m["finite_mismatch"] for series in maps.values() for m in series.values())
    res.update(
        prediction_abs_diff=abs(cpu["prediction"] - cuda["prediction"]),
        shapley_max_abs_diff=shapley,
        gene_attribution_max_abs_diff=genes,
        maps=maps,
        worst_map_pearson=worst_r,
        sanity_all_passed={
            "cpu": cpu["sanity"]["all_passed"],
            "cuda": cuda["sanity"]["all_passed"],
        },
    )
    res["agree"] = (
        res["prediction_abs_diff"] <= TOLERANCES["probability"]
        and shapley <= TOLERANCES["shapley"]
        and genes <= TOLERANCES["gene_attribution"]
        and worst_r >= TOLERANCES["map_pearson"]
        and mismatched == 0
        and cpu["sanity"]["all_passed"] == cuda["sanity"]["all_passed"]
    )
    return res


def _train(work: Path, patients: int, epochs: int) -> dict[str, Any]:
    cohort = work / "cohort"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "synth",
            "cohort",
            str(cohort),
            "--patients",
            str(patients),
            "--seed",
            "7",
        ],
        check=True,
        capture_output=True,
    )
    res: dict[str, Any] = {"patients": patients, "epochs": epochs}
    for device in DEVICES:
        out, wall = _neoadj(
            "train",
            str(cohort),
            "--out",
            str(work / f"train_{device}"),
            "--device",
            device,
            "--epochs",
            str(epochs),
            "--workers",
            "4",
            "--cache",
            str(work / "train_cache"),
        )
        losses = out["metrics"]["epoch_losses"]
        res[device] = {
            "process_wall_s": round(wall, 3),
            "timings_s": out["metrics"]["timings_s"],
            "epoch_losses": losses,
            "loss_falls": losses[-1] < losses[0],
        }
    res["agree"] = res["cpu"]["loss_falls"] and res["cuda"]["loss_falls"]
    return res


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path, help="folder for the demo case and the outputs")
    parser.add_argument("--checkpoint", help="checkpoint folder (default: the demo one)")
    parser.add_argument("--train-patients", type=int, default=0, help="also train on a cohort of N")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU on this machine: nothing to check", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    checkpoint = ["--checkpoint", args.checkpoint] if args.checkpoint else []
    subprocess.run(
        [sys.executable, "-m", "app.cli", "synth", "demo", str(args.work / "demo")],
        check=True,
        capture_output=True,
    )
    case = args.work / "demo" / "case"
    report: dict[str, Any] = {
        "gpu": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "tolerances": TOLERANCES,
    }
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "predict": lambda: _predict(case, checkpoint),
        "explain": lambda: _explain(case, args.work, checkpoint),
    }
    if args.train_patients:
        steps["train"] = lambda: _train(args.work, args.train_patients, args.epochs)
    for name, step in steps.items():
        try:
            report[name] = step()
        except (RuntimeError, subprocess.CalledProcessError, KeyError, ValueError) as exc:
            report[name] = {"agree": False, "error": f"{type(exc).__name__}: {exc}"}
    report["agree"] = all(report[name]["agree"] for name in steps)
    text = json.dumps(report, indent=2)
    (args.work / "cuda_check.json").write_text(text + "\n")
    print(text)
    return 0 if report["agree"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
