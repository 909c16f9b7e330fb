"""`edgepose pretrain`: ImageNet-style classification pretraining of a pose model's backbone (docs/pretraining.md).

    edgepose pretrain configs/pretrain_sres50_imagenet.yaml --set data.train_dir=/data/imagenet/train \\
        data.val_dir=/data/imagenet/val
    edgepose pretrain configs/pretrain_sres50_imagenet.yaml --set model.name=flpn_sres101     # or 152
    edgepose pretrain configs/pretrain_sres50_imagenet.yaml --resume                         # continue last.pt
    torchrun --nproc_per_node 4 -m edgepose.cli.main pretrain configs/pretrain_sres50_imagenet.yaml

It is ``edgepose train`` with the classification task (:mod:`edgepose.engine.classification`) implied: the same
engine, so the same output folder (``config.yaml``, ``steps.csv``, ``epochs.csv``, ``plots/``, ``last.pt``,
``best.pt`` chosen by top-1, ``metrics.json``), exact ``--resume`` and ``torchrun``. The resulting ``best.pt``
starts a pose run with ``--set model.pretrained=.../best.pt`` (the backbone tensors are copied by name).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from edgepose.cli.checks import output_dir
from edgepose.cli.common import add_set_argument
from edgepose.errors import ConfigError

CLASSIFICATION_TASK = "classification"  # its name in edgepose.engine.task.TASK_TABLE
DATA_PATH_KEYS = ("train_dir", "val_dir")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pretrain",
        help="pretrain a pose model's backbone by classification on an ImageFolder (ImageNet-style)",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", help="pretraining YAML (configs/pretrain_*.yaml), or a run's saved config.yaml")
    add_set_argument(
        p, help="override config keys, e.g. model.name=flpn_sres101 train.lr=0.2 data.train_dir=DIR "
        "(bare key = model option); --set a=1 b=2 or --set a=1 --set b=2",
    )  # fmt: skip
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default output/<dataset>/<model>/<name>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (log lines only)")
    p.add_argument(
        "--resume", nargs="?", const=True, default=None, metavar="CKPT",
        help="continue a run exactly: from CKPT, or from the output folder's last.pt when no path is given",
    )  # fmt: skip
    p.set_defaults(func=run_pretrain)


def load_pretrain_config(path: str | Path, overrides: list[str] | None = None) -> Any:
    """The experiment of ``path`` with the classification task implied (a file that names another task is a
    pose config: an error that points at ``edgepose train``)."""
    from edgepose.config import parse_overrides
    from edgepose.engine.config import load_experiment, read_experiment_dict
    from edgepose.engine.task import TASK_TABLE, task_target

    items: dict[str, Any] = dict(parse_overrides(overrides or []))
    if "task" not in read_experiment_dict(path):
        items = {"task": CLASSIFICATION_TASK, **items}
    cfg = load_experiment(path, items)
    if task_target(cfg.task) != TASK_TABLE[CLASSIFICATION_TASK]:  # the name, or a saved run's full spelling
        raise ConfigError(
            f"config key 'task': {cfg.task!r} is not the classification task; `edgepose pretrain` runs "
            f"{CLASSIFICATION_TASK!r}; pose configs train with `edgepose train`",
            path,
        )
    return cfg


def run_pretrain(args: argparse.Namespace) -> int:
    from edgepose.cli.train import _print_metrics, check_data_paths, refuse_used_folder
    from edgepose.engine.config import default_output_dir
    from edgepose.engine.trainer import train_experiment

    cfg = load_pretrain_config(args.config, args.overrides)
    check_data_paths(cfg, DATA_PATH_KEYS, hint="point the config at your ImageFolder tree with --set "
                     "data.train_dir=DIR data.val_dir=DIR")  # fmt: skip
    check_same_classes(cfg)
    if args.out:
        output_dir(args.out, "--out", create=False)
    refuse_used_folder(cfg, args.out, args.resume)
    metrics = train_experiment(cfg, out_dir=args.out, resume=args.resume, progress=not args.no_progress)
    _print_metrics("final metrics", metrics)
    out = Path(args.out) if args.out else default_output_dir(cfg)
    if os.environ.get("RANK", "0") == "0":
        print(f"backbone weights: {out / 'best.pt'} (start a pose run from them with "
              f"--set model.pretrained={out / 'best.pt'})")  # fmt: skip
    return 0


def check_same_classes(cfg: Any) -> None:
    """The validation tree's class folders must be training classes: labels are the sorted training class
    names, so a validation class unknown to training would be scored against a wrong label without a word."""
    from edgepose.engine.config import resolve_path

    def classes(key: str) -> tuple[Path, set[str]]:
        root = resolve_path(cfg, cfg.data[key])
        return root, {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()

    (train_root, train), (val_root, val) = classes("train_dir"), classes("val_dir")
    only_val, only_train = sorted(val - train), sorted(train - val)
    if train and val and (only_val or not train & val):  # validation lacking a class is fine; one more is not
        said = "; ".join(filter(None, [
            f"only in validation: {', '.join(only_val[:5])}" if only_val else "",
            f"only in training: {', '.join(only_train[:5])}" if only_train else "",
        ]))  # fmt: skip
        raise ConfigError(f"data.val_dir's class folders differ from data.train_dir's ({train_root}): {said}; "
                          "the validation classes must be training classes", val_root)  # fmt: skip
