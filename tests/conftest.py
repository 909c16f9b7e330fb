"""Shared fixtures: the real-data folder, small thread counts, deterministic seeds."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$EDGEPOSE_DATA`` if set, else ``../shared/data`` beside the repository."""
    env = os.environ.get("EDGEPOSE_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


# Every skip for missing real data starts with this, so the summary hook below can count them as one line.
NO_DATA = "needs the real data"
HOW_TO_GET_DATA = (
    "set EDGEPOSE_DATA to a folder holding coco_val2017_mini/, lspet/, mpii_small/ ... (the project's shared/data; "
    "its README.md says where each sample comes from) or put it at ../shared/data beside the repository"
)


def in_ci() -> bool:
    """CI sets ``CI=true``: there missing data is an error, never a green run of skips."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing_data(what: str) -> None:
    """Skip the test (a fresh clone without the data), or fail it under CI, where the data must be there."""
    message = f"{NO_DATA}: {what}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: the real data must be present; {HOW_TO_GET_DATA})", pytrace=False)
    pytest.skip(message)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Iterator[None]:
    """One line for all real-data skips, how many and how to get the data, instead of one ``-ra`` line per test.

    The skips are held back while pytest writes its short summary and put back before the final counts line,
    which still includes them.
    """
    stats = terminalreporter.stats
    skipped = stats.get("skipped", [])
    held = [r for r in skipped if NO_DATA in str(getattr(r, "longrepr", ""))]
    if held:
        stats["skipped"] = [r for r in skipped if r not in held]
    try:
        return (yield)
    finally:
        if held:
            stats["skipped"] = skipped
            terminalreporter.write_line(
                f"SKIPPED {len(held)} tests that need the real data folder (not found at {shared_data_dir()}): "
                f"{HOW_TO_GET_DATA}",
                yellow=True,
            )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        missing_data(f"no folder {path}")
    return path


@pytest.fixture(scope="session")
def coco_mini(shared_data: Path) -> Path:
    """Folder of the real COCO val2017 mini set (annotations/ and images/val2017/)."""
    path = shared_data / "coco_val2017_mini"
    if not (path / "annotations" / "person_keypoints_val2017_mini.json").is_file():
        missing_data(f"COCO mini set not found under {path}")
    return path


@pytest.fixture(scope="session")
def lspet(shared_data: Path) -> Path:
    """The real LSPet folder (joints.mat and images/im00001.jpg ...)."""
    path = shared_data / "lspet"
    if not (path / "joints.mat").is_file() or not (path / "images").is_dir():
        missing_data(f"LSPet not found under {path}")
    return path


@pytest.fixture(scope="session")
def mpii_small(shared_data: Path) -> Path:
    """The real MPII sample (HRNet-format JSON under mmpose/, bearpaw annotations, 5 images)."""
    path = shared_data / "mpii_small"
    if not (path / "mmpose" / "test_mpii.json").is_file():
        missing_data(f"mpii_small not found under {path}")
    return path


@pytest.fixture(scope="session")
def make_lsp_subset(lspet: Path) -> Callable[..., Path]:
    """``make(root, n_images, n_labels=None)``: an LSP folder with the first real LSPet images and labels."""
    from scipy.io import loadmat, savemat

    def make(root: Path, n_images: int, n_labels: int | None = None) -> Path:
        (root / "images").mkdir(parents=True)
        for i in range(1, n_images + 1):
            name = f"im{i:05d}.jpg"
            (root / "images" / name).write_bytes((lspet / "images" / name).read_bytes())
        joints = loadmat(str(lspet / "joints.mat"))["joints"][:, :, : n_labels or n_images]
        savemat(str(root / "joints.mat"), {"joints": joints})
        return root

    return make


TINY_FLPN = {"input_size": [64, 64], "blocks": [1, 1, 1, 1], "width": 0.25, "deconv_channels": 32}


@pytest.fixture(scope="session")
def tiny_lsp_experiment() -> Callable[..., object]:
    """``experiment(root, val_range)``: the shipped LSPet recipe shrunk to a 64x64 tiny FLPN on folder ``root``."""
    from edgepose.engine.config import experiment_from_dict

    def experiment(root: Path, val_range: list[int]):
        mat, images = str(root / "joints.mat"), str(root / "images")
        return experiment_from_dict(
            {
                "name": "tiny_lspet",
                "task": "topdown",
                "model": {"name": "flpn_sres50", "overrides": dict(TINY_FLPN)},
                "data": {"dataset": "lspet", "train_ann": mat, "train_images": images, "val_ann": mat,
                         "val_images": images, "val_range": val_range, "input_size": [64, 64], "codec": "dark",
                         "train_boxes": ["image", "joints"]},
                "train": {"batch_size": 8, "workers": 0, "device": "cpu"},
            }
        )

    return experiment


@pytest.fixture(autouse=True, scope="session")
def _private_backend_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The runtime remembers its measured back-end choice per model file; tests keep it out of ~/.cache."""
    old = os.environ.get("EDGEPOSE_CACHE_DIR")
    os.environ["EDGEPOSE_CACHE_DIR"] = str(tmp_path_factory.mktemp("edgepose-cache"))
    yield
    if old is None:
        os.environ.pop("EDGEPOSE_CACHE_DIR", None)
    else:
        os.environ["EDGEPOSE_CACHE_DIR"] = old


@pytest.fixture(autouse=True)
def _keep_signal_stack() -> Iterator[None]:
    """Each test leaves the main thread's alternate signal stack as it found it.

    Tests that use OpenVINO directly (``ov.Core().compile_model``) load its CPU plugin outside the package's own
    guard; the plugin swaps in an alternate signal stack that it unmaps when it is unloaded, and two plugins
    unloaded in loading order leave the thread on unmapped memory. The session then died of SIGSEGV at the next
    Python signal handler -- the SIGCHLD of a DataLoader worker or subprocess, tests later
    (edgepose/runtime/signal_stack.py says how; benchmarks/results/segfault_2026-12-07.txt shows it).
    """
    from edgepose.runtime.signal_stack import keep_signal_stack

    with keep_signal_stack():
        yield


@pytest.fixture(autouse=True)
def _small_torch() -> None:
    """Few threads and a fixed seed: CI has 2 cores and every test must be reproducible."""
    try:
        import torch
    except ImportError:  # the torch-free runtime tests run without it
        return
    torch.set_num_threads(2)
    torch.manual_seed(0)


# A sitecustomize that makes `import torch` fail as it does where torch is not installed (ModuleNotFoundError
# naming torch), as on a device with `pip install edgepose[runtime]` only.
_BLOCK_TORCH = textwrap.dedent(
    """
    import sys

    class _BlockTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked in this test)", name="torch")
            return None

    sys.meta_path.insert(0, _BlockTorch())
    """
)


@pytest.fixture
def run_without_torch(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """``run(args, cwd=None, timeout=600)``: ``python ARGS`` in a subprocess where torch cannot be imported."""
    site = tmp_path / "block_torch"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_BLOCK_TORCH)
    path = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1")

    def run(args: list[str], cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout,
                              cwd=cwd)  # fmt: skip

    return run
