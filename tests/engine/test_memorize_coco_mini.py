"""Learning is shown, not assumed (issue 4): FLPN trained on real COCO people learns them, JPEG to COCOeval.

The test trains ``configs/flpn_sres50_memorize_coco_mini.yaml`` (FLPN-SResNet-50, DARK targets, no augmentation
but flips) on the people of the first images of the real val2017 mini set and evaluates on the same people
through the top-down task: GT-box crops, flip test, DARK decoding, OKS rescoring, OKS-NMS and COCOeval. It asserts
that the loss falls by more than half and that AP rises by more than 0.3 over the untrained network.

The full memorisation run (all 134 people, AP >= 0.8) is too long for the test suite on 2 CPU cores; it is
``python benchmarks/memorize_coco_mini.py`` (figures and command in docs/topdown.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgepose.engine.config import load_experiment
from edgepose.engine.logging import read_csv_rows
from edgepose.engine.topdown import TopdownTask
from edgepose.engine.trainer import train_experiment

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / "configs" / "flpn_sres50_memorize_coco_mini.yaml"
ANN = "annotations/person_keypoints_val2017_mini.json"

# The people of the first 16 images (20 persons), 100 epochs of 5 steps. Measured with these settings
# (benchmarks/memorize_coco_mini.py --set data.max_images=16 ...): loss 8.9e-3 -> 8.5e-4, AP 0.000 at init
# -> 0.613 (AP50 0.941), 136 CPU-s on one thread, so about 2 minutes on an unloaded 2-core machine.
SHORT = {
    "data.input_size": [96, 64],
    "data.max_images": 16,
    "train.batch_size": 4,
    "train.epochs": 100,
    "train.lr_milestones": [],
    "train.eval_every": 10,
    "train.log_every": 5,
    "train.workers": 0,
    "train.device": "cpu",
}


def _config(coco_mini: Path, out: Path):
    ann, images = str(coco_mini / ANN), str(coco_mini / "images" / "val2017")
    paths = {"data.train_ann": ann, "data.val_ann": ann, "data.train_images": images, "data.val_images": images}
    return load_experiment(CONFIG, {**paths, **SHORT, "output_dir": str(out)})


def test_memorize_config_trains_on_val_and_evaluates_on_it(coco_mini, tmp_path):
    cfg = _config(coco_mini, tmp_path)
    full = load_experiment(CONFIG)
    assert full.data["train_ann"] == full.data["val_ann"] and full.data["train_images"] == full.data["val_images"]
    assert full.eval["flip_test"] and full.eval["use_gt_boxes"]
    task = TopdownTask(cfg)
    train, val = task.train_dataset(), task.val_dataset()
    assert [r.image_id for r in train.records] == [r.image_id for r in val.records]
    assert len(train) == 20  # the labelled people of the first 16 images


@pytest.mark.slow
def test_flpn_memorizes_real_coco_people(coco_mini, tmp_path):
    cfg = _config(coco_mini, tmp_path / "run")
    task = TopdownTask(cfg)
    torch.manual_seed(cfg.train.seed)
    untrained = task.build_model()
    ap_init = task.evaluate(untrained, task.val_dataset(), device=torch.device("cpu"), out_dir=tmp_path / "init")["AP"]

    metrics = train_experiment(cfg, out_dir=tmp_path / "run", progress=False)

    steps = read_csv_rows(tmp_path / "run" / "steps.csv")
    first, last = steps[0]["loss"], steps[-1]["loss"]
    assert last < 0.5 * first, f"loss fell only from {first:.3g} to {last:.3g}"
    assert metrics["AP"] > ap_init + 0.3, f"AP {metrics['AP']:.3f} after training vs {ap_init:.3f} untrained"
    assert (tmp_path / "run" / "eval" / "keypoints_val_results.json").is_file()
    assert (tmp_path / "run" / "last.pt").is_file()
