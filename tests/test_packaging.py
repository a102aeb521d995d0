"""Static checks of the installer build (build.spec) and of the smoke test's own checks.

The real build and smoke test are in `tests/test_packaging_build.py` (marker ``packaging``,
deselected by default). Here build.spec runs with PyInstaller's build steps replaced by
recorders, so what it bundles can be compared with where the code looks at run time.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PyInstaller.utils import hooks

from tests.conftest import REPO_ROOT

SPEC = REPO_ROOT / "build.spec"
OUR_PACKAGES = ("app", "widgets", "inference", "explain")


def _load_smoke_checks() -> ModuleType:
    location = REPO_ROOT / "packaging" / "smoke_checks.py"
    module_spec = importlib.util.spec_from_file_location("smoke_checks", location)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


smoke_checks = _load_smoke_checks()

# What PyInstaller's Analysis would hand the spec's filter: (destination, source, kind).
BUNDLE_ENTRIES = [
    ("napari/resources/icons/zoom.svg", "src", "DATA"),
    ("napari/_tests/test_viewer.py", "src", "DATA"),
    ("skimage/data/tests/test_data.py", "src", "DATA"),
    ("torch/include/ATen/ATen.h", "src", "DATA"),
    ("torch/lib/libtorch_cpu.so", "src", "BINARY"),
    ("PySide6/Qt/lib/libQt6WebEngineCore.so.6", "src", "BINARY"),
    ("PySide6/Qt/plugins/platforms/libqxcb.so", "src", "BINARY"),
]


@pytest.fixture(scope="module")
def spec() -> SimpleNamespace:
    """build.spec executed with recorders for Analysis/PYZ/EXE/COLLECT and the hook helpers."""
    collected: list[str] = []
    metadata: list[str] = []
    calls: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
    analysis = SimpleNamespace(
        datas=list(BUNDLE_ENTRIES), binaries=list(BUNDLE_ENTRIES), pure=[], scripts=[]
    )

    def recorder(name: str, result: object = None) -> Any:
        def record(*args: Any, **kwargs: Any) -> object:
            calls[name] = (args, kwargs)
            return result if result is not None else SimpleNamespace()

        return record

    patch = pytest.MonkeyPatch()
    patch.setattr(hooks, "collect_submodules", lambda pkg, **_: collected.append(pkg) or [])
    patch.setattr(hooks, "collect_data_files", lambda pkg, **_: [])
    patch.setattr(hooks, "copy_metadata", lambda dist, **_: metadata.append(dist) or [])
    namespace: dict[str, Any] = {
        "SPECPATH": str(REPO_ROOT),
        "Analysis": recorder("Analysis", analysis),
        "PYZ": recorder("PYZ"),
        "EXE": recorder("EXE"),
        "COLLECT": recorder("COLLECT"),
    }
    try:
        exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    finally:
        patch.undo()
    args, kwargs = calls["Analysis"]
    return SimpleNamespace(
        scripts=[Path(s) for s in args[0]],
        analysis=kwargs,
        kept={entry[0] for entry in analysis.datas + analysis.binaries},
        collected=collected,
        metadata={name.lower() for name in metadata},
        exe=calls["EXE"][1],
        collect=calls["COLLECT"][1],
    )


def test_the_executable_runs_the_console_script(spec: SimpleNamespace) -> None:
    declared = importlib.metadata.distribution("neoadj-workstation").entry_points
    (console,) = [ep for ep in declared if ep.group == "console_scripts" and ep.name == "neoadj"]
    module, func = console.value.split(":")
    (script,) = spec.scripts
    calls = [
        node
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module == module
    ]
    assert [alias.name for node in calls for alias in node.names] == [func]
    assert spec.exe["name"] == "neoadj" and spec.collect["name"] == "neoadj"
    assert spec.exe["exclude_binaries"] is True, "must be a one-folder build"


def test_bundled_files_land_where_the_code_looks_for_them(spec: SimpleNamespace) -> None:
    from app.storage.database import MIGRATIONS_DIR
    from inference.checkpoint import default_checkpoint_dir

    # Frozen modules keep their package-relative __file__ inside the bundle, so each data
    # folder must land at its path relative to the repository root.
    placed = {Path(src): dest for src, dest in spec.analysis["datas"]}
    checkpoint = default_checkpoint_dir()
    resources = REPO_ROOT / checkpoint.relative_to(REPO_ROOT).parts[0]
    assert placed[resources] == resources.relative_to(REPO_ROOT).as_posix()
    assert placed[MIGRATIONS_DIR] == MIGRATIONS_DIR.relative_to(REPO_ROOT).as_posix()
    assert {"manifest.json", "model.safetensors"} <= {p.name for p in checkpoint.iterdir()}
    assert list(MIGRATIONS_DIR.glob("versions/0*.py")), "no migration scripts to bundle"


def test_all_our_packages_are_analysed(spec: SimpleNamespace) -> None:
    assert set(OUR_PACKAGES) <= set(spec.collected)
    hooks_run = [Path(p) for p in spec.analysis["runtime_hooks"]]
    assert hooks_run and all(p.is_file() for p in hooks_run)


def test_plugins_found_by_entry_point_keep_their_metadata(spec: SimpleNamespace) -> None:
    excluded = set(spec.analysis["excludes"])
    groups = (
        "napari.manifest",
        "pylibjpeg.jpeg_decoders",
        "pylibjpeg.jpeg_2000_decoders",
        "pylibjpeg.pixel_data_decoders",
    )
    for group in groups:
        for ep in importlib.metadata.entry_points(group=group):
            top_module = ep.value.split(":")[0].split(".")[0]
            assert ep.dist is not None
            assert ep.dist.name.lower() in spec.metadata or top_module in excluded, (
                f"{group} plugin {ep.dist.name} would be invisible in the bundle"
            )


def test_excluded_modules_are_not_imported_by_our_code(spec: SimpleNamespace) -> None:
    excluded = set(spec.analysis["excludes"])
    for package in OUR_PACKAGES:
        for source in (REPO_ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom) and node.level == 0
                    else []
                )
                for name in names:
                    parts = name.split(".")
                    hits = {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & excluded
                    assert not hits, f"{source.relative_to(REPO_ROOT)} imports excluded {hits}"


def test_tests_headers_and_web_engine_are_left_out(spec: SimpleNamespace) -> None:
    assert spec.kept == {
        "napari/resources/icons/zoom.svg",
        "torch/lib/libtorch_cpu.so",
        "PySide6/Qt/plugins/platforms/libqxcb.so",
    }


STRACE_LOCAL = """\
4107  connect(3, {sa_family=AF_UNIX, sun_path="/tmp/.X11-unix/X5"}, 20) = 0
4107  connect(7, {sa_family=AF_INET, sin_port=htons(5432), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
4111  connect(9, {sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), \
inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 ECONNREFUSED (Connection refused)
"""
STRACE_REMOTE = (
    '4120  connect(5, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("140.82.112.3")}'
    ", 16) = -1 ENETUNREACH (Network is unreachable)\n"
)


def test_connect_check_allows_local_sockets_and_flags_network(tmp_path: Path) -> None:
    log = tmp_path / "local.log"
    log.write_text(STRACE_LOCAL, encoding="utf-8")
    assert "3 connect()" in smoke_checks.check_connects(str(log))
    remote = tmp_path / "remote.log"
    remote.write_text(STRACE_LOCAL + STRACE_REMOTE, encoding="utf-8")
    with pytest.raises(smoke_checks.CheckFailed, match=r"140\.82\.112\.3"):
        smoke_checks.check_connects(str(log), str(remote))


def test_screenshot_check_rejects_blank_and_accepts_a_rendered_screen(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    Image.fromarray(np.zeros((120, 160, 3), np.uint8)).save(blank)
    with pytest.raises(smoke_checks.CheckFailed, match="distinct colours"):
        smoke_checks.check_screenshot(str(blank))
    window = np.full((120, 160, 3), 40, np.uint8)
    window[20:100, 30:130] = np.random.default_rng(0).integers(0, 255, (80, 100, 1), np.uint8)
    rendered = tmp_path / "rendered.png"
    Image.fromarray(window).save(rendered)
    assert "colours" in smoke_checks.check_screenshot(str(rendered))
