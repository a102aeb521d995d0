"""Checkpoints: a folder with ``model.safetensors`` and ``manifest.json``.

The manifest names the model, its version, the architecture (name, version, config), the input
specification, the decision threshold, the training cohort, its metrics, the sha256 of the
weights file and whether it was trained on synthetic data. Loading verifies the hash and the
architecture version and refuses a mismatch with a `CheckpointError`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from app import __version__
from app.errors import CheckpointError
from app.hashing import sha256_file
from inference.input_spec import InputSpec
from inference.model import ARCHITECTURE_NAME, ARCHITECTURE_VERSION, ArchitectureConfig, NeoadjNet

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
WEIGHTS_NAME = "model.safetensors"
MANIFEST_FORMAT = "neoadj-checkpoint/1"


@dataclass(frozen=True)
class CheckpointInfo:
    """Identity of a checkpoint, as recorded with every prediction."""

    path: Path
    name: str
    version: str
    sha256: str
    synthetic: bool

    def to_json(self) -> dict[str, Any]:
        """``{"path", "name", "version", "sha256", "synthetic"}``."""
        return {
            "path": str(self.path),
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "synthetic": self.synthetic,
        }


@dataclass
class Checkpoint:
    """A loaded, verified checkpoint; ``model`` is in eval mode on ``device``."""

    info: CheckpointInfo
    manifest: dict[str, Any]
    model: NeoadjNet
    input_spec: InputSpec
    architecture: ArchitectureConfig
    threshold: float
    device: str


def default_checkpoint_dir() -> Path:
    """The demo checkpoint shipped with the workstation (``resources/checkpoints/demo``)."""
    return Path(__file__).resolve().parent.parent / "resources" / "checkpoints" / "demo"


def save_checkpoint(
    model: NeoadjNet,
    out_dir: Path,
    *,
    name: str,
    version: str,
    input_spec: InputSpec,
    threshold: float,
    training_cohort: dict[str, Any],
    metrics: dict[str, Any],
    synthetic: bool,
) -> CheckpointInfo:
    """Write ``model.safetensors`` and ``manifest.json`` into ``out_dir`` (created if needed).

    Args:
        model: The trained network (its config is written to the manifest).
        out_dir: Checkpoint folder.
        name: Model name, e.g. "neoadj-net-demo".
        version: Checkpoint version string.
        input_spec: What the model expects as input.
        threshold: Decision threshold on the benefit probability, in [0, 1].
        training_cohort: Description of the training data (JSON-ready).
        metrics: Evaluation metrics (JSON-ready).
        synthetic: True when trained on synthetic data.

    Returns:
        The identity of the written checkpoint.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    out_dir.mkdir(parents=True, exist_ok=True)
    weights_path = out_dir / WEIGHTS_NAME
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(weights_path), metadata={"architecture_version": ARCHITECTURE_VERSION})
    digest = sha256_file(weights_path)
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "name": name,
        "version": version,
        "synthetic": synthetic,
        "architecture": {
            "name": ARCHITECTURE_NAME,
            "version": ARCHITECTURE_VERSION,
            "config": model.config.to_json(),
        },
        "input_spec": input_spec.to_json(),
        "decision_threshold": threshold,
        "training_cohort": training_cohort,
        "metrics": metrics,
        "weights": {"file": WEIGHTS_NAME, "sha256": digest},
        "software": {"neoadj": __version__, "torch": torch.__version__.split("+")[0]},
    }
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log.info("checkpoint written to %s (weights sha256 %s)", out_dir, digest[:12])
    return CheckpointInfo(out_dir, name, version, digest, synthetic)


def read_manifest(path: Path) -> dict[str, Any]:
    """Read and shape-check a checkpoint folder's manifest (weights not verified)."""
    folder = path.parent if path.name == MANIFEST_NAME else path
    manifest_path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder '{folder}' does not exist")
    if not manifest_path.is_file():
        raise CheckpointError(
            f"'{folder}' is not a checkpoint: it has no {MANIFEST_NAME} "
            f"(a checkpoint is a folder with {WEIGHTS_NAME} and {MANIFEST_NAME})"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"'{manifest_path}' is not readable JSON") from exc
    if not isinstance(manifest, dict):
        raise CheckpointError(f"'{manifest_path}' must hold a JSON object")
    required = ("name", "version", "architecture", "input_spec", "decision_threshold", "weights")
    missing = [k for k in required if k not in manifest]
    if missing:
        raise CheckpointError(f"'{manifest_path}' lacks required field(s): {', '.join(missing)}")
    return manifest


def load_checkpoint(path: Path, *, device: str = "cpu") -> Checkpoint:
    """Load and verify a checkpoint folder.

    Args:
        path: The checkpoint folder (or its ``manifest.json``).
        device: "cpu" or "cuda"; where the model is placed.

    Returns:
        The checkpoint, its model in eval mode on ``device``.

    Raises:
        CheckpointError: missing files, unreadable manifest, another architecture or
            architecture version, weights whose sha256 differs from the manifest, or
            weights that do not fit the architecture.
    """
    folder = path.parent if path.name == MANIFEST_NAME else path
    manifest = read_manifest(folder)
    manifest_path = folder / MANIFEST_NAME
    arch = manifest["architecture"]
    if not isinstance(arch, dict):
        raise CheckpointError(f"'{manifest_path}': 'architecture' must be an object")
    arch_name, arch_version = arch.get("name"), str(arch.get("version"))
    if arch_name != ARCHITECTURE_NAME or arch_version != ARCHITECTURE_VERSION:
        raise CheckpointError(
            f"'{manifest_path}' is for architecture {arch_name} version {arch_version}; this "
            f"workstation runs {ARCHITECTURE_NAME} version {ARCHITECTURE_VERSION}: use a "
            "checkpoint made for it"
        )
    try:
        config = ArchitectureConfig.from_json(dict(arch.get("config", {})))
        spec = InputSpec.from_json(dict(manifest["input_spec"]))
        threshold = float(manifest["decision_threshold"])
        expected = str(manifest["weights"]["sha256"])
        weights_name = str(manifest["weights"].get("file", WEIGHTS_NAME))
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"'{manifest_path}' has an invalid field: {exc}") from exc
    if config.phases != len(spec.phases) or config.genes != len(spec.genes):
        raise CheckpointError(
            f"'{manifest_path}': the architecture config and the input specification disagree "
            "(phase or gene count)"
        )
    weights_path = folder / weights_name
    if not weights_path.is_file():
        raise CheckpointError(f"checkpoint '{folder}' has no weights file '{weights_name}'")
    actual = sha256_file(weights_path)
    if actual != expected:
        raise CheckpointError(
            f"'{weights_path.name}' in '{folder}' does not match its manifest: sha256 "
            f"{actual[:12]}… instead of {expected[:12]}…; the file is corrupt or was replaced"
        )
    model = NeoadjNet(config)
    try:
        state = load_file(str(weights_path))
        model.load_state_dict(state, strict=True)
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise CheckpointError(
            f"'{weights_path}' does not fit architecture {ARCHITECTURE_NAME} "
            f"version {ARCHITECTURE_VERSION} with the manifest's config"
        ) from exc
    model.to(device).eval()
    info = CheckpointInfo(
        path=folder.resolve(),
        name=str(manifest["name"]),
        version=str(manifest["version"]),
        sha256=actual,
        synthetic=bool(manifest.get("synthetic", False)),
    )
    return Checkpoint(info, manifest, model, spec, config, threshold, device)
