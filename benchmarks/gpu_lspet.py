"""One prepared GPU run: FLPN-50, SimpleBaseline-R50 and LPN-50 on LSPet with one recipe, in 9 minutes on one H100.

The papers claim that FLPN reaches SimpleBaseline's accuracy at about a quarter of its cost. Their recipe (Adam,
lr 1e-3, x0.1 at epochs 90 and 120 of 140, batch 32, 256x256; configs/<model>_lspet_256x256.yaml) needs a GPU.
This script trains the three models with that recipe *scaled in epochs* to fit the time: a short probe times each
model's training step on the device path, the epoch count E is the largest that the slowest model fits into its
share of the budget (the same E for all three, so they see the same data and schedule), and the lr drops at
round(E*90/140) and round(E*120/140). Each model is then evaluated by the lspet task (PCK@0.2 against the torso,
whole-image boxes, flip test) on LSPet images 8501-9000, and one JSON line per model is written to
``$OUT/gpu_lspet.jsonl`` ($OUT, default ./output/gpu_lspet): PCK@0.2 (and @0.1, AUC), parameters, MACs, training
images/s, epochs, wall time, the device's name and the recipe as run. E is far below 140: the JSON says so, and
a short schedule favours whichever model learns fastest.

Training runs on the device-resident data path (``data.pipeline: device``, docs/gpu.md) with bf16 autocast and
channels_last; ``--compile`` adds torch.compile (off by default: compiling three ResNet-sized models costs minutes).

Data. The training images travel as a compact store (``.cache/gpu_lspet/train_store.npz``: WebP, long side <= 192
px, about 29 MB for the 8,500 training images) and the 500 validation images as they are, with a compressed copy
of joints.mat (``.cache/gpu_lspet/val/``): together about 38 MB, so that they and the repository fit the 64 MiB a
GPU machine receives. The script builds both when missing, from ``--root`` (default ``$EDGEPOSE_DATA/lspet``,
else ``../shared/data/lspet``). LSPet is for research only: ``.cache/`` is ignored by git, never committed.

    .venv/bin/python benchmarks/gpu_lspet.py --prepare    # here: build .cache/gpu_lspet, print its size
    python3 benchmarks/gpu_lspet.py                       # there (carry .cache/gpu_lspet): ~9 minutes
    python3 benchmarks/gpu_lspet.py --dry-run             # CPU, seconds: tiny store and budget (the CI test)

``--minutes`` (default 9) is the whole budget; each model gets an equal share after the probes and evaluation
reserve, and ``train.max_minutes`` stops a model that would overrun its share (the JSON says so).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script on a machine where edgepose is not installed
    sys.path.insert(0, str(REPO))

MODELS = ("flpn_sres50", "simplebaseline_r50", "lpn50")
RECIPE_EPOCHS, RECIPE_MILESTONES = 140, (90, 120)
VAL_RANGE = (8501, 9000)
FIELDS = ("model", "PCK@0.2", "params", "macs", "images_per_s", "epochs", "wall_seconds", "device_name")


def default_root() -> Path:
    env = os.environ.get("EDGEPOSE_DATA")
    return Path(env) / "lspet" if env else REPO.parent / "shared" / "data" / "lspet"


def scaled_schedule(epochs: int) -> list[int]:
    """The recipe's lr drops (90/140, 120/140) at the same fractions of ``epochs``."""
    return sorted({round(epochs * m / RECIPE_EPOCHS) for m in RECIPE_MILESTONES} - {0, epochs})


def prepare_val(root: Path, dest: Path, val_range: tuple[int, int]) -> Path:
    """``dest``: an LSP folder holding the validation images as they are and a compressed joints.mat."""
    import numpy as np
    from scipy.io import loadmat, savemat

    if (dest / "joints.mat").is_file() and all(
        (dest / "images" / f"im{i:05d}.jpg").is_file() for i in range(val_range[0], val_range[1] + 1)
    ):
        return dest
    if not (root / "joints.mat").is_file():
        raise SystemExit(f"gpu_lspet: no LSPet folder at {root} to prepare {dest} from (set EDGEPOSE_DATA or --root)")
    (dest / "images").mkdir(parents=True, exist_ok=True)
    for i in range(val_range[0], val_range[1] + 1):
        shutil.copyfile(root / "images" / f"im{i:05d}.jpg", dest / "images" / f"im{i:05d}.jpg")
    joints = loadmat(str(root / "joints.mat"))["joints"]  # (14, 3, N): image i is joints[:, :, i - 1]
    kept = np.zeros_like(joints[:, :, : val_range[1]])  # only the validation images' labels: compresses to ~nothing
    kept[:, :, val_range[0] - 1 : val_range[1]] = joints[:, :, val_range[0] - 1 : val_range[1]]
    savemat(str(dest / "joints.mat"), {"joints": kept}, do_compression=True)
    return dest


def working_tree_bytes() -> int | None:
    """Bytes of the files git would send (tracked and untracked-not-ignored), or None without git."""
    import subprocess

    try:
        names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                               capture_output=True).stdout.decode().split("\0")  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return sum((REPO / n).stat().st_size for n in names if n and (REPO / n).is_file())


def on_cuda(device: str) -> bool:
    import torch

    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())


def experiment(model: str, args: argparse.Namespace, paths: dict[str, Path], epochs: int, out: Path | None = None):
    """The model's LSPet recipe with the device path, the fast-path options and ``epochs`` scaled epochs."""
    from edgepose.engine.config import load_experiment

    size = [args.input_size, args.input_size]
    overrides: dict[str, Any] = {
        "data.train_ann": str(paths["root"] / "joints.mat"),
        "data.train_images": str(paths["root"] / "images"),
        "data.val_ann": str(paths["val"] / "joints.mat"),
        "data.val_images": str(paths["val"] / "images"),
        "data.val_range": list(args.val_range),
        "data.input_size": size,
        "model.overrides.input_size": size,
        "data.pipeline": "device",
        "data.device_pipeline": {
            "store": str(paths["store"]),
            "max_side": args.store_side,
            "quality": args.store_quality,
        },
        "train.epochs": epochs,
        "train.lr_milestones": scaled_schedule(epochs),
        "train.batch_size": args.batch_size,
        "train.device": args.device,
        "train.workers": args.workers,
        "train.amp": on_cuda(args.device),  # bf16 autocast: on a CPU without bf16 units it is emulated, slowly
        "train.amp_dtype": "bfloat16",
        "train.channels_last": True,
        "train.compile": args.compile,
        "train.eval_every": 0,
        "train.save_every": epochs,
        "train.log_every": 20,
    }
    if args.max_train_images:
        overrides["data.max_images"] = args.max_train_images
    if args.max_steps:
        overrides["train.max_steps_per_epoch"] = args.max_steps
    if out is not None:
        overrides["output_dir"] = str(out)
    return load_experiment(REPO / "configs" / f"{model}_lspet_256x256.yaml", overrides)


def probe(model: str, args: argparse.Namespace, paths: dict[str, Path]) -> float:
    """Training images/s of ``model`` on the device path (bench train's loop figure, after warm-up steps)."""
    from edgepose.analysis.train_throughput import bench_train
    from edgepose.config import to_dict

    cfg = experiment(model, args, paths, 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probe.yaml"
        import yaml

        path.write_text(yaml.safe_dump(to_dict(cfg)))
        result = bench_train(str(path), steps=args.probe_steps, warmup=args.probe_warmup, pipelines=["device"])
    return float(result["loaders"][0]["loop_images_per_s"])


def complexity(model: str, size: int) -> dict[str, Any]:
    from edgepose.analysis.complexity import complexity_of

    r = complexity_of(model, (size, size), {"num_keypoints": 14, "input_size": [size, size]})
    return {"params": int(r.params), "macs": int(r.macs)}


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    import torch

    from edgepose.analysis.train_throughput import device_name
    from edgepose.engine.device_batches import ensure_store
    from edgepose.engine.logging import read_csv_rows
    from edgepose.engine.task import build_task
    from edgepose.engine.trainer import select_device, train_experiment

    started = time.monotonic()
    deadline = started + 60.0 * args.minutes
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(args.cache)
    paths = {"root": Path(args.root), "val": cache / "val", "store": cache / "train_store.npz"}
    prepare_val(paths["root"], paths["val"], tuple(args.val_range))
    index = ensure_store(build_task(experiment(MODELS[0], args, paths, 1)))
    items = len(index.arrays["rec_image"])
    device = select_device(args.device)
    name = device_name(device)
    lo, hi = args.val_range
    print(f"gpu_lspet: {len(index)} training images ({items} items/epoch) in a {index.nbytes / 1e6:.1f} MB store; "
          f"validation images {lo}-{hi}; device {device} ({name})", flush=True)  # fmt: skip
    speeds: dict[str, float | None] = {m: None for m in args.models}
    if not args.epochs:  # the probes only serve to fit the epoch count into the budget
        speeds = {m: probe(m, args, paths) for m in args.models}
        for m, v in speeds.items():
            print(f"gpu_lspet: probe {m}: {v:.1f} training images/s", flush=True)
    left = deadline - time.monotonic()
    share = left / len(args.models) - args.reserve_s  # evaluation, model build and store decode per model
    epochs = args.epochs or max(1, int(share * min(v for v in speeds.values() if v) / items))
    steps_note = f", {args.max_steps} steps per epoch" if args.max_steps else ""
    size = f"{args.input_size}x{args.input_size}"
    recipe = (f"Adam lr 1e-3, batch {args.batch_size}, {size}, {epochs} epochs{steps_note} "
              f"with lr x0.1 at {scaled_schedule(epochs)} (the papers' 140 epochs with drops at 90/120, scaled to fit "
              f"{args.minutes:g} min for three models), bf16 autocast {on_cuda(args.device)}, channels_last, "
              f"compile {args.compile}, device data pipeline")  # fmt: skip
    print(f"gpu_lspet: recipe: {recipe}", flush=True)
    lines_path = out / "gpu_lspet.jsonl"
    lines_path.write_text("")
    results = []
    for m in args.models:
        t0 = time.monotonic()
        cfg = experiment(m, args, paths, epochs, out / m)
        minutes_left = (deadline - time.monotonic()) / 60.0
        if not args.dry_run:  # a dry run checks the plumbing: on a loaded CI machine a cap would cut its 2 steps
            cfg.train.max_minutes = max(0.05, min(share / 60.0 + 0.5, minutes_left - args.reserve_s / 60.0))
        metrics = train_experiment(cfg, out_dir=out / m, progress=args.progress)
        wall = time.monotonic() - t0
        rows = read_csv_rows(out / m / "epochs.csv")
        summary = json.loads((out / m / "metrics.json").read_text())
        seen = sum(float(r["images_per_s"]) * float(r["seconds"]) for r in rows)
        seconds = sum(float(r["seconds"]) for r in rows)
        line = {
            "model": m, "PCK@0.2": metrics.get("PCK@0.2"), "PCK@0.1": metrics.get("PCK@0.1"), "AUC": metrics.get("AUC"),
            **complexity(m, args.input_size), "images_per_s": seen / max(seconds, 1e-9),
            "probe_images_per_s": speeds[m], "epochs": len(rows), "epochs_planned": epochs,
            "recipe_epochs": RECIPE_EPOCHS, "train_seconds": seconds, "wall_seconds": wall,
            "stopped_by_time_budget": summary.get("stopped_by_time_budget"), "device": str(device),
            "device_name": name, "recipe": recipe, "train_items_per_epoch": items,
            "val_images": args.val_range[1] - args.val_range[0] + 1, "store_mb": index.nbytes / 1e6,
            "input_size": args.input_size, "batch_size": args.batch_size, "torch": torch.__version__,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "host": platform.node(),
            "dry_run": args.dry_run,
        }  # fmt: skip
        results.append(line)
        with lines_path.open("a") as fh:
            fh.write(json.dumps(line) + "\n")
        print(json.dumps(line), flush=True)
    total = time.monotonic() - started
    print(f"gpu_lspet: {len(results)} models in {total / 60:.1f} min -> {lines_path}", flush=True)
    return results


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=str(default_root()), help="LSPet folder (joints.mat + images/)")
    p.add_argument("--out", default=os.environ.get("OUT") or "output/gpu_lspet", help="where the JSON lines go")
    p.add_argument("--cache", default=str(REPO / ".cache" / "gpu_lspet"), help="store + validation folder")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--minutes", type=float, default=9.0, help="the whole budget, probes and evaluation included")
    p.add_argument("--reserve-s", type=float, default=25.0, help="per-model seconds kept for build, decode, eval")
    p.add_argument("--epochs", type=int, default=None, help="fix the epoch count instead of fitting it")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--input-size", type=int, default=256)
    p.add_argument("--workers", type=int, default=8, help="evaluation loader workers")
    p.add_argument("--device", default="auto")
    p.add_argument("--compile", action="store_true", help="torch.compile the training forward")
    p.add_argument("--store-side", type=int, default=192)
    p.add_argument("--store-quality", type=int, default=60)
    p.add_argument("--probe-steps", type=int, default=15)
    p.add_argument("--probe-warmup", type=int, default=5)
    p.add_argument("--max-train-images", type=int, default=None)
    p.add_argument("--max-steps", type=int, default=None, help="cut every epoch to this many steps")
    p.add_argument("--val-range", type=int, nargs=2, default=list(VAL_RANGE))
    p.add_argument("--prepare", action="store_true", help="only build the store and validation folder, then stop")
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny: 64x64, 8 images, 2 steps (seconds)")
    p.add_argument("--progress", action="store_true", help="progress bars")
    args = p.parse_args(argv)
    if args.dry_run:
        args.device, args.input_size, args.batch_size, args.workers = "cpu", 64, 4, 0
        args.max_train_images, args.max_steps, args.epochs = 6, 2, 1
        args.probe_steps, args.probe_warmup = 1, 1
        args.val_range = [VAL_RANGE[0], VAL_RANGE[0] + 1]
        if args.cache == str(REPO / ".cache" / "gpu_lspet"):
            args.cache = str(Path(args.out) / "cache")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.prepare:
        from edgepose.engine.device_batches import ensure_store
        from edgepose.engine.task import build_task

        cache = Path(args.cache)
        paths = {"root": Path(args.root), "val": cache / "val", "store": cache / "train_store.npz"}
        prepare_val(paths["root"], paths["val"], tuple(args.val_range))
        index = ensure_store(build_task(experiment(MODELS[0], args, paths, 1)))
        size = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file())
        tree = working_tree_bytes()
        print(f"gpu_lspet: {cache}: {size / 2**20:.1f} MiB ({len(index)} training images in the store); carry "
              f"'{cache.relative_to(REPO) if cache.is_relative_to(REPO) else cache}' to the GPU machine")  # fmt: skip
        if tree is not None:
            total = (tree + size) / 2**20
            print(
                f"gpu_lspet: with the working tree ({tree / 2**20:.1f} MiB) {total:.1f} MiB travel of the 64 MiB "
                "allowed" + ("" if total < 63 else "; too much: rebuild with a smaller --store-side (176: -3 MiB)")
            )
        return 0
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
