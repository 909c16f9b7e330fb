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


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="experiment YAML (configs/*.yaml), or a run's saved config.yaml")
    p.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="override config keys, e.g. train.lr=5e-4 data.input_size=[128,96] gc=false (bare key = model option)",
    )
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


def run_train(args: argparse.Namespace) -> int:
    from edgepose.engine.config import load_experiment
    from edgepose.engine.trainer import train_experiment

    cfg = load_experiment(args.config, args.overrides)
    metrics = train_experiment(cfg, out_dir=args.out, resume=args.resume, progress=not args.no_progress)
    _print_metrics("final metrics", metrics)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from edgepose.engine.config import load_experiment
    from edgepose.engine.trainer import evaluate_experiment

    cfg = load_experiment(args.config, args.overrides)
    metrics = evaluate_experiment(cfg, args.weights, out_dir=args.out, progress=not args.no_progress)
    _print_metrics("metrics", metrics)
    return 0
