"""FLPN-50 vs SimpleBaseline-R50 vs LPN-50 on LSPet's real photos: one recipe, one budget, side by side.

    .venv/bin/python benchmarks/lspet_compare.py --smoke                      # seconds: checks the plumbing only
    .venv/bin/python benchmarks/lspet_compare.py --steps 3000 --val-images 500  # a reduced, equal budget
    .venv/bin/python benchmarks/lspet_compare.py --minutes 60 --device cuda     # equal steps that fit 60 min each

What is compared: the three ``configs/<model>_lspet_256x256.yaml`` recipes, which differ only in the model (the
papers' recipe adapted to LSP: Adam lr 1e-3, batch 32, 256x256, rotation 30, scale 0.25, flip; see the config).
The budget is cut, equally for every model, to ``--steps`` optimiser steps (``--minutes``: the largest equal step
count for which the slowest model, timed by a short probe, fits in that many minutes). The schedule is the full
recipe's, compressed: the learning rate drops x0.1 at 90/140 and 120/140 of the steps. Each model is then scored on
the first ``--val-images`` images of the fixed validation split (LSPet 8501-9000) with the whole image as the box
and the flip test (the task's evaluation, the same figures ``edgepose pck`` prints).

Beside PCK@0.2: parameters, MACs and HR-1024 (edgepose.analysis.complexity, batch 1) and CPU latency of one crop
(batch 1, ``--threads`` torch threads), timed round-robin over the models so drift of a shared machine hits all
alike; wall and CPU time, and ratios to SimpleBaseline. The papers claim FLPN matches SimpleBaseline's accuracy at
about a quarter of its cost: this prints what we see, whatever it is. A budget far below the recipe's 140 epochs
favours whichever model learns fastest, not the best model: the JSON states the budget so nobody mistakes one for
the other.

The raw results (with the date, the machine and its load average) are written as JSON to ``--out`` (default
``benchmarks/results/lspet_compare_<budget>_<date>.json``).
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
MODELS = ("flpn_sres50", "simplebaseline_r50", "lpn50")
REFERENCE = "simplebaseline_r50"
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "lspet"
RECIPE_EPOCHS, RECIPE_MILESTONES = 140, (90, 120)


def machine() -> dict[str, Any]:
    """Where and when the figures were measured; the load average says how busy the machine was."""
    import torch

    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def compressed_schedule(steps: int, chunks: int = 14) -> dict[str, Any]:
    """The recipe's 140-epoch schedule squeezed into ``steps``: ``chunks`` trainer epochs of ``steps // chunks``
    steps each, the lr milestones at the same fractions (90/140, 120/140)."""
    chunks = max(1, min(chunks, steps))
    milestones = sorted({round(chunks * m / RECIPE_EPOCHS) for m in RECIPE_MILESTONES} - {0, chunks})
    return {"epochs": chunks, "max_steps_per_epoch": steps // chunks, "lr_milestones": milestones}


def experiment(model: str, args: argparse.Namespace, steps: int, out_dir: Path):
    """The model's LSPet config with the budget, data location and reduced validation set applied."""
    from edgepose.data.lspet import LSPET_VAL_RANGE
    from edgepose.engine.config import load_experiment

    root = Path(args.root).resolve()
    first = LSPET_VAL_RANGE[0]
    overrides: dict[str, Any] = {
        "data.train_ann": str(root / "joints.mat"),
        "data.train_images": str(root / "images"),
        "data.val_ann": str(root / "joints.mat"),
        "data.val_images": str(root / "images"),
        "data.val_range": [first, first + args.val_images - 1],
        "data.input_size": [args.input_size, args.input_size],
        "model.overrides.input_size": [args.input_size, args.input_size],
        "train.batch_size": args.batch_size,
        "train.workers": args.workers,
        "train.device": args.device,
        "train.eval_every": 0,
        "train.log_every": max(1, steps // 50),
        "output_dir": str(out_dir / model),
    }
    overrides.update({f"train.{k}": v for k, v in compressed_schedule(steps).items()})
    overrides["train.save_every"] = overrides["train.epochs"]
    if args.max_train_images:
        overrides["data.max_images"] = args.max_train_images
    return load_experiment(REPO / "configs" / f"{model}_lspet_256x256.yaml", overrides)


def seconds_per_step(model: str, args: argparse.Namespace, probe_steps: int = 3) -> float:
    """Training time of one step of ``model`` (after one untimed step), from a tiny throwaway run."""
    from edgepose.engine.trainer import train_experiment

    with tempfile.TemporaryDirectory() as tmp:
        args_probe = argparse.Namespace(**{**vars(args), "val_images": 1})
        start = time.perf_counter()
        train_experiment(experiment(model, args_probe, 1, Path(tmp)), progress=False)
        one = time.perf_counter() - start
        start = time.perf_counter()
        train_experiment(experiment(model, args_probe, 1 + probe_steps, Path(tmp) / "b"), progress=False)
        return max((time.perf_counter() - start - one) / probe_steps, 1e-3)


def train_and_score(model: str, args: argparse.Namespace, steps: int, out_dir: Path) -> dict[str, Any]:
    from edgepose.engine.trainer import train_experiment

    start = time.perf_counter()
    metrics = train_experiment(experiment(model, args, steps, out_dir), progress=not args.quiet)
    keep = ("PCK@0.2", "PCK@0.1", "AUC", "people", "skipped")
    return {"train_seconds": time.perf_counter() - start, **{k: metrics.get(k) for k in keep}}


def complexity(model: str, size: int) -> dict[str, Any]:
    from edgepose.analysis.complexity import complexity_of

    r = complexity_of(model, (size, size), {"num_keypoints": 14, "input_size": [size, size]})
    return {"params": r.params, "macs": r.macs, "hr1024_gflops": r.hr1024_gflops}


def latency(models: tuple[str, ...], size: int, threads: int, warmup: int, runs: int) -> dict[str, dict[str, Any]]:
    """Batch-1 forward latency of every model, round-robin, wall and CPU clocks; each model in its faster memory
    format (channels_last helps depth-wise convolutions)."""
    import torch

    from edgepose.analysis.latency import choose_channels_last, measure_interleaved, torch_threads
    from edgepose.models import build_model

    shape = (1, 3, size, size)
    fns, formats = {}, {}
    with torch_threads(threads):
        for name in models:
            net = build_model(name, num_keypoints=14, input_size=[size, size]).eval()
            cl = choose_channels_last(net, shape)
            fmt = torch.channels_last if cl else torch.contiguous_format
            net = net.to(memory_format=fmt)
            x = torch.randn(*shape).contiguous(memory_format=fmt)

            def forward(net=net, x=x) -> None:
                with torch.inference_mode():
                    net(x)

            fns[name], formats[name] = forward, cl
        wall = measure_interleaved(fns, warmup=warmup, runs=runs, clock="wall")
        cpu = measure_interleaved(fns, warmup=0, runs=runs, clock="cpu")
    return {
        name: {
            "wall_ms": wall[name].median_ms,
            "wall_p90_ms": wall[name].p90_ms,
            "cpu_ms": cpu[name].median_ms,
            "channels_last": formats[name],
            "threads": threads,
            "runs": runs,
        }
        for name in models
    }


def table(result: dict[str, Any]) -> str:
    ref = result["models"].get(REFERENCE)
    lines = [
        f"LSPet, {result['budget']['description']}; validation: {result['val_images']} images, whole-image box",
        f"{'model':<20}{'PCK@0.2':>9}{'PCK@0.1':>9}{'params M':>10}{'GMACs':>8}{'ms wall':>9}{'ms cpu':>8}"
        f"{'cost/SB':>9}{'time/SB':>9}",
    ]
    for name, r in result["models"].items():
        macs = r["macs"] / ref["macs"] if ref else float("nan")
        ms = r["latency"]["wall_ms"] / ref["latency"]["wall_ms"] if ref else float("nan")
        lines.append(
            f"{name:<20}{r['PCK@0.2']:>9.4f}{r['PCK@0.1']:>9.4f}{r['params'] / 1e6:>10.2f}{r['macs'] / 1e9:>8.2f}"
            f"{r['latency']['wall_ms']:>9.1f}{r['latency']['cpu_ms']:>8.1f}{macs:>9.2f}{ms:>9.2f}"
        )
    lines.append("cost/SB: MACs relative to SimpleBaseline-R50; time/SB: wall latency relative to it (batch 1)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=str(DEFAULT_ROOT), help="LSP folder (joints.mat + images/)")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, default=None, help="optimiser steps per model (default 2000)")
    budget.add_argument("--minutes", type=float, default=None,
                        help="equal steps for all, as many as the slowest model fits in this many minutes")  # fmt: skip
    p.add_argument("--smoke", action="store_true",
                   help="2 steps of batch 2 at 64x64, 4 validation images: checks the plumbing in seconds")  # fmt: skip
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--input-size", type=int, default=256)
    p.add_argument("--val-images", type=int, default=500, help="first N images of the validation split 8501-9000")
    p.add_argument("--max-train-images", type=int, default=None, help="train on the first N training images only")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2, help="torch threads for training (CPU) and latency")
    p.add_argument("--latency-runs", type=int, default=20)
    p.add_argument("--latency-warmup", type=int, default=3)
    p.add_argument("--out", default=None, help="results JSON (default benchmarks/results/lspet_compare_*.json)")
    p.add_argument("--keep", action="store_true", help="keep the trained runs (default: a temporary folder)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)

    import torch

    if args.smoke:
        args.batch_size, args.input_size, args.val_images = 2, 64, 4
        args.max_train_images, args.workers, args.latency_runs, args.latency_warmup = 8, 0, 3, 1
        steps = 2
    else:
        steps = args.steps or 2000
    if not 1 <= args.val_images <= 500:
        p.error("--val-images must be in 1..500 (the validation split is images 8501-9000)")
    torch.set_num_threads(args.threads)
    models = tuple(args.models)
    out_root = Path(tempfile.mkdtemp(prefix="lspet_compare_")) if not args.keep else REPO / "output" / "lspet_compare"
    try:
        if args.minutes is not None and not args.smoke:
            per_step = {m: seconds_per_step(m, args) for m in models}
            steps = max(1, int(args.minutes * 60 / max(per_step.values())))
            desc = f"{steps} steps each (the slowest model's share of {args.minutes:g} min; probe s/step {per_step})"
        else:
            per_step = None
            desc = f"{steps} steps each"
        desc += f" of batch {args.batch_size} at {args.input_size}x{args.input_size} (recipe: 140 epochs x ~531)"
        result: dict[str, Any] = {
            "benchmark": "lspet_compare",
            "smoke": args.smoke,
            "budget": {
                "steps": steps,
                "batch_size": args.batch_size,
                "images_seen": steps * args.batch_size,
                "minutes": args.minutes,
                "probe_seconds_per_step": per_step,
                "description": desc,
            },
            "input_size": args.input_size,
            "val_images": args.val_images,
            "max_train_images": args.max_train_images,
            "machine": machine(),
            "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
            "models": {},
        }
        for model in models:
            print(f"== {model}: training {desc}", file=sys.stderr, flush=True)
            result["models"][model] = {
                **train_and_score(model, args, steps, out_root),
                **complexity(model, args.input_size),
            }
        print("== latency (round-robin)", file=sys.stderr, flush=True)
        lat = latency(models, args.input_size, args.threads, args.latency_warmup, args.latency_runs)
        for model in models:
            result["models"][model]["latency"] = lat[model]
        result["machine"]["load_avg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    finally:
        if not args.keep:
            shutil.rmtree(out_root, ignore_errors=True)
    print(table(result))
    kind = "smoke" if args.smoke else f"{steps}steps"
    out = Path(args.out or REPO / "benchmarks" / "results" / f"lspet_compare_{kind}_{dt.date.today()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"raw results: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
