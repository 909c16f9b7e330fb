"""`edgepose quickstart`: train a small FLPN end to end on a laptop CPU, evaluate it, and write a report.

This module parses the options and checks them (one line naming the option for a bad value); the recipe, the
budget planning and the report live in :mod:`edgepose.engine.quickstart` (see its docstring for what the command
does, the layout of ``--out`` and how ``--minutes`` is honoured).

``--tiny`` shrinks either recipe to a smoke run of seconds (used by the test suite; its scores mean nothing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgepose.cli.checks import check_float, check_int, output_dir
from edgepose.cli.common import add_set_argument
from edgepose.engine import quickstart as Q
from edgepose.errors import ConfigError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quickstart",
        help="train a small FLPN on real LSPet people (or synthetic ones) -> evaluate -> report, on CPU in minutes",
        description="Train a small FLPN on LSPet's real photos when an LSPet folder is found ($EDGEPOSE_DATA/lspet "
        "or ../shared/data/lspet), else on a synthetic people dataset it draws; evaluate it (PCK@0.2 on LSPet, "
        "COCO AP on synthetic people) and write report.md, metrics.json, predictions.jpg and plots into --out. "
        "Progress is shown throughout.",
    )
    p.add_argument("--out", default="output/quickstart", metavar="DIR", help="output folder (default: %(default)s)")
    p.add_argument("--data", choices=("auto", "lspet", "synthetic"), default="auto",
                   help="auto (default): LSPet if found, else synthetic people")  # fmt: skip
    p.add_argument("--lspet-root", metavar="DIR", help="the LSPet folder (joints.mat + images/) to train on")
    p.add_argument("--tiny", action="store_true", help="a smoke run of seconds (tests/CI); scores are meaningless")
    p.add_argument("--images", type=int, default=None,
                   help=f"training images: LSPet's first N (default: the recipe's data.max_images) or the "
                   f"synthetic images drawn (default {Q.SYNTH['images']})")  # fmt: skip
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the recipe's, 6 / 12)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the training (default 0)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--minutes", type=float, default=Q.DEFAULT_MINUTES,
                   help="wall-clock budget of the whole command in minutes (default %(default)g), data, training, "
                   "evaluation and report included: the run is planned from a step timed on this machine")  # fmt: skip
    p.add_argument("--resume", action="store_true", help="continue an interrupted quickstart in --out")
    add_set_argument(p, help="override experiment keys, e.g. --set train.epochs=4 train.device=cuda (or repeat --set)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for name in ("images", "epochs", "threads"):
        check_int(getattr(args, name), f"--{name}")
    check_int(args.seed, "--seed", minimum=0)
    check_float(args.minutes, "--minutes")  # nan and inf: "must be a finite number"
    if not args.minutes > 0:
        raise ConfigError(f"--minutes must be > 0, got {args.minutes:g}")
    output_dir(args.out, "--out", create=False)
    opts = Q.QuickstartOptions(
        out=Path(args.out), data=args.data, lspet_root=args.lspet_root, tiny=args.tiny, images=args.images,
        epochs=args.epochs, seed=args.seed, threads=args.threads, minutes=args.minutes, resume=args.resume,
        overrides=list(args.overrides), progress=not args.no_progress, started=_invoked_at(),
    )  # fmt: skip
    summary = Q.run_quickstart(opts)
    metrics, seconds = summary["metrics"], summary["seconds"]
    minutes = f"{seconds['total'] / 60:.1f} min of the {args.minutes:g} budgeted ({seconds['cpu'] / 60:.1f} CPU-min)"
    if summary["stopped_by_time_budget"]:
        _say(f"note: the time budget ended training after {summary['steps']} steps, before the planned "
             f"{summary['epochs']} epochs; a larger --minutes (or --resume) trains further")  # fmt: skip
    if summary["data"] == "lspet":
        lo, hi = summary["dataset"]["val_range"]
        _say(f"done in {minutes}: LSPet PCK@0.2 {Q._num(metrics.get('PCK@0.2'))} on images {lo}-{hi} "
             f"(PCK@0.1 {Q._num(metrics.get('PCK@0.1'))})")  # fmt: skip
        print(f"PCK@0.2 {metrics.get('PCK@0.2', float('nan')):.4f}")
    else:
        _say(f"done in {minutes}: synthetic-val AP {Q._num(metrics.get('AP'))} (AP50 {Q._num(metrics.get('AP50'))})")
        print(f"AP {metrics.get('AP', float('nan')):.4f}")
    _say(f"report: {Path(args.out) / 'report.md'}")
    return 0


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _invoked_at() -> float:
    """When the command started: the process's start when it is the ``edgepose quickstart`` command itself (its
    start-up and imports count against ``--minutes``), else now (called in a longer-lived process, e.g. tests)."""
    import time

    argv = [a for a in sys.argv[1:] if not a.startswith("-")]
    is_command = bool(argv) and argv[0] == "quickstart"
    return time.monotonic() - (Q.process_age() if is_command else 0.0)
