"""Memorisation benchmark (issue 4): train on the 134 people of the real COCO val2017 mini set, evaluate on them.

Every step from JPEG decoding to COCOeval runs on real images: crops from GT boxes, DARK targets, FLPN-SResNet-50,
JointsMSELoss, Adam, then flip test, DARK decoding, OKS rescoring, OKS-NMS and COCOeval through the top-down
task. Reaching a high AP on the training people proves the pipeline can learn; it says nothing about
generalisation (the people are seen in training).

Usage::

    python benchmarks/memorize_coco_mini.py                        # configs/flpn_sres50_memorize_coco_mini.yaml
    python benchmarks/memorize_coco_mini.py --epochs 40 --out output/mem40 --set train.lr=1e-3
    EDGEPOSE_DATA=/data python benchmarks/memorize_coco_mini.py     # data folder holding coco_val2017_mini/

Prints AP/AR after every evaluation and at the end, wall and CPU time, and leaves the trainer's output folder
(``config.yaml``, ``epochs.csv``, plots, ``last.pt``, ``metrics.json``) in ``--out``. Exit status 1 when the
final AP is below ``--target`` (default 0.8). Never part of the test pass/fail: it takes about an hour of CPU
(the full FLPN-SResNet-50 on 134 people); the test suite proves the same steps on 10 people with a tiny FLPN
in seconds (``tests/engine/test_memorize_coco_mini.py``), and this script with those settings reproduces it::

    python benchmarks/memorize_coco_mini.py --target 0.4 --set data.max_images=10 blocks=[1,1,1,1] width=0.5 \
        deconv_channels=64 data.input_size=[96,64] train.batch_size=10 train.epochs=80 train.lr=3e-3 \
        train.lr_milestones=[] train.eval_every=0
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG = REPO_ROOT / "configs" / "flpn_sres50_memorize_coco_mini.yaml"
ANN = "annotations/person_keypoints_val2017_mini.json"
IMAGES = "images/val2017"


def data_dir(value: str | None) -> Path:
    """``--data``, else ``$EDGEPOSE_DATA/coco_val2017_mini``, else ``../shared/data/coco_val2017_mini``."""
    if value:
        return Path(value)
    env = os.environ.get("EDGEPOSE_DATA")
    base = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return base / "coco_val2017_mini"


def data_overrides(folder: Path) -> dict[str, str]:
    """Explicit train = val paths, so the run does not depend on where the config file sits."""
    ann, images = str(folder.resolve() / ANN), str(folder.resolve() / IMAGES)
    return {"data.train_ann": ann, "data.val_ann": ann, "data.train_images": images, "data.val_images": images}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(CONFIG), help="experiment YAML (default: %(default)s)")
    ap.add_argument("--data", default=None, help="the coco_val2017_mini folder (default: $EDGEPOSE_DATA/...)")
    ap.add_argument("--out", default="output/memorize_coco_mini", help="output folder (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: %(default)s)")
    ap.add_argument("--target", type=float, default=0.8, help="AP to reach (default: %(default)s)")
    ap.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                    help="config overrides: --set a=1 b=2 or --set a=1 --set b=2 (train.lr=1e-3, ...)")  # fmt: skip
    args = ap.parse_args(argv)

    import torch

    from edgepose.engine.config import load_experiment, normalize_overrides
    from edgepose.engine.logging import read_csv_rows
    from edgepose.engine.trainer import train_experiment
    from edgepose.errors import EdgeposeError

    torch.set_num_threads(args.threads)
    folder = data_dir(args.data)
    if not (folder / ANN).is_file():
        print(f"error: {folder / ANN} not found (pass --data or set EDGEPOSE_DATA)", file=sys.stderr)
        return 2
    overrides: dict[str, object] = dict(data_overrides(folder))
    if args.epochs is not None:
        overrides["train.epochs"] = args.epochs
    try:
        overrides.update(normalize_overrides(args.overrides))
        cfg = load_experiment(args.config, overrides)
    except EdgeposeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    t = cfg.train
    print(f"{cfg.name}: {cfg.model.name} {cfg.model.overrides}, input {cfg.data.get('input_size')}, "
          f"codec {cfg.data.get('codec')}, {t.epochs} epochs, batch {t.batch_size}, {t.optimizer} lr {t.lr}, "
          f"{args.threads} threads; data {folder}; output {out}", flush=True)  # fmt: skip

    wall0, cpu0 = time.perf_counter(), time.process_time()
    metrics = train_experiment(cfg, out_dir=out, progress=False)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    print("\nepoch  train_loss     AP   AP50   AP75     AR   seconds")
    for row in read_csv_rows(out / "epochs.csv"):
        if row.get("val_AP") is None:
            continue
        loss = row.get("train_loss", row.get("train_heatmap_mse"))
        print(f"{row['epoch']:5d}  {loss:10.3e}  {row['val_AP']:.3f}  {row.get('val_AP50', 0):.3f}  "
              f"{row.get('val_AP75', 0):.3f}  {row.get('val_AR', 0):.3f}  {row.get('seconds', 0):8.1f}")  # fmt: skip
    ap_final = float(metrics.get("AP", float("nan")))
    shown = "  ".join(f"{k} {metrics[k]:.4f}" for k in ("AP", "AP50", "AP75", "APM", "APL", "AR") if k in metrics)
    print(f"\nfinal: {shown}")
    print(f"time: {wall:.1f} s wall, {cpu:.1f} s CPU (process, all threads); {wall / t.epochs:.2f} s wall/epoch")
    reached = ap_final >= args.target
    print(f"AP {ap_final:.4f} {'>=' if reached else '<'} target {args.target}")
    return 0 if reached else 1


if __name__ == "__main__":
    sys.exit(main())
