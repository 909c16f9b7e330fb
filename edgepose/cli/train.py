"""`edgepose train` and `edgepose eval`: run an experiment config, or evaluate a checkpoint with one.

Single process::

    edgepose train configs/flpn_sres50_coco_256x192.yaml --set train.batch_size=16 data.root=/data/coco
    edgepose train configs/flpn_sres50_coco_256x192.yaml --resume          # continue output/.../last.pt
    edgepose eval configs/flpn_sres50_coco_256x192.yaml --weights output/coco/flpn_sres50/.../best.pt

Several GPUs or nodes (the same command on CPU uses the Gloo backend)::

    torchrun --nproc_per_node 4 -m edgepose.cli.main train configs/flpn_sres50_coco_256x192.yaml

``--set`` takes dotted keys of the config (``train.lr=5e-4``); a bare key is a model override
(``--set gc=false`` is ``model.overrides.gc=false``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from edgepose.cli.checks import output_dir
from edgepose.cli.common import add_set_argument
from edgepose.errors import DataError

TRAIN_PATH_KEYS = ("train_ann", "train_images", "val_ann", "val_images")
EVAL_PATH_KEYS = ("val_ann", "val_images")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="experiment YAML (configs/*.yaml), or a run's saved config.yaml")
    add_set_argument(
        p, help="override config keys, e.g. train.lr=5e-4 data.input_size=[128,96] gc=false (bare key = model "
        "option); --set a=1 b=2 or --set a=1 --set b=2",
    )  # fmt: skip
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default output/<dataset>/<model>/<name>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (log lines only)")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train an experiment config (also under torchrun for several GPUs/nodes)",
        description="Train an experiment. Writes config.yaml, steps.csv, epochs.csv, plots/, last.pt, best.pt and "
        "metrics.json into the output folder. Under torchrun each process joins the group (NCCL on GPUs, Gloo on "
        "CPU).",
    )
    _add_common(p)
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="CKPT",
        help="continue a run exactly: from CKPT, or from the output folder's last.pt when no path is given",
    )
    p.set_defaults(func=run_train)

    e = subparsers.add_parser(
        "eval",
        help="evaluate a checkpoint with an experiment config's validation set",
        description="Evaluate checkpoint weights on the config's validation data (distributed under torchrun). "
        "Writes eval_metrics.json (and the task's result files) into the output folder.",
    )
    _add_common(e)
    e.add_argument("--weights", required=True, metavar="CKPT", help="checkpoint (last.pt / best.pt) to evaluate")
    e.set_defaults(func=run_eval)


def _print_metrics(title: str, metrics: dict) -> None:
    if os.environ.get("RANK", "0") == "0":  # under torchrun only rank 0 reports
        print(f"{title}: {json.dumps({k: round(v, 4) for k, v in metrics.items()})}", file=sys.stdout)


def missing_data_paths(cfg: Any, keys: tuple[str, ...] = TRAIN_PATH_KEYS) -> list[tuple[str, Path]]:
    """``(dotted key, resolved path)`` of every data path the config sets that does not exist.

    Unset keys are left to the task (a bottom-up config may generate synthetic data in their place).
    """
    from edgepose.engine.config import resolve_path

    missing = []
    data = cfg.data or {}
    for key in keys:
        value = data.get(key)
        if value and not (path := resolve_path(cfg, value)).exists():
            missing.append((f"data.{key}", path))
    det_file = (cfg.eval or {}).get("det_file")
    if det_file and not (cfg.eval or {}).get("use_gt_boxes", False) and any(k.startswith("val") for k in keys):
        if not (path := resolve_path(cfg, det_file)).exists():
            missing.append(("eval.det_file", path))
    return missing


def check_data_paths(cfg: Any, keys: tuple[str, ...] = TRAIN_PATH_KEYS, hint: str | None = None) -> None:
    """Report every missing data path of ``cfg`` in one line, before any model is built.

    Found one at a time, a user with COCO elsewhere fixes the annotation path, waits for the model to build,
    meets the image folder, and so on; listing them all with the ``--set`` that repoints each is one fix.
    """
    missing = missing_data_paths(cfg, keys)
    if not missing:
        return
    listed = ", ".join(f"{key}={path}" for key, path in missing)
    where = f"relative paths resolve against {cfg.config_dir}" if getattr(cfg, "config_dir", None) else ""
    sets = " ".join(f"{key}=PATH" for key, _ in missing)
    hint = hint or f"point the config at your copy with --set {sets}"
    raise DataError(f"{len(missing)} data path(s) not found: {listed} ({'; '.join(filter(None, [where, hint]))})")


RUN_CHECKPOINTS = ("last.pt", "best.pt")


def refuse_used_folder(cfg: Any, out: str | None, resume: Any) -> None:
    """A fresh run (no ``--resume``) into a folder that holds a run's checkpoints is refused, naming the way
    on: continuing it, or writing elsewhere. A fresh start there used to overwrite ``best.pt`` and ``last.pt``
    after a one-line note; a model that took hours is not lost to a command repeated without ``--resume``."""
    from edgepose.engine.config import default_output_dir

    if resume is not None:
        return
    folder = Path(out) if out else default_output_dir(cfg)
    held = [name for name in RUN_CHECKPOINTS if (folder / name).exists()]
    if held:
        option = "--out" if out else "the output folder"
        raise DataError(f"{option} already holds a run ({', '.join(held)}); continue it with --resume, or write "
                        "the new run elsewhere with --out DIR (nothing was changed)", folder)  # fmt: skip


def run_train(args: argparse.Namespace) -> int:
    from edgepose.engine.config import load_experiment
    from edgepose.engine.trainer import train_experiment

    cfg = load_experiment(args.config, args.overrides)
    check_data_paths(cfg)
    if args.out:
        output_dir(args.out, "--out", create=False)
    refuse_used_folder(cfg, args.out, args.resume)
    metrics = train_experiment(cfg, out_dir=args.out, resume=args.resume, progress=not args.no_progress)
    _print_metrics("final metrics", metrics)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from edgepose.engine.config import load_experiment
    from edgepose.engine.trainer import evaluate_experiment

    cfg = load_experiment(args.config, args.overrides)
    check_data_paths(cfg, EVAL_PATH_KEYS)
    if args.out:
        output_dir(args.out, "--out", create=False)
    metrics = evaluate_experiment(cfg, args.weights, out_dir=args.out, progress=not args.no_progress)
    _print_metrics("metrics", metrics)
    return 0
