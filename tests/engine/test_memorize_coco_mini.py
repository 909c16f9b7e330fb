"""Learning is shown, not assumed (issue 4): FLPN trained on real COCO people learns them, JPEG to COCOeval.

The test trains a tiny FLPN (one Smart bottleneck per stage, half width, 64-wide head: 1.18M parameters) with
``configs/flpn_sres50_memorize_coco_mini.yaml``'s recipe (DARK targets, no augmentation but flips) on the 10
people of the first 10 images of the real val2017 mini set, and evaluates on the same people through the
top-down task: GT-box crops, flip test, DARK decoding, OKS rescoring, OKS-NMS and COCOeval. It asserts that
the loss falls by more than 4x and that AP rises from the untrained network's to above a floor of 0.6.

The full memorisation run (FLPN-SResNet-50, all 134 people, AP >= 0.8, about an hour of CPU) is a benchmark,
``python benchmarks/memorize_coco_mini.py`` (figures and command in docs/topdown.md); issue 15 moved it out of
the suite, where it took 60 of CI's 76 minutes.
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

# The 10 people of the first 10 images, 80 steps of 10 on the tiny trunk at 96x64 (the stride-32 trunk leaves a
# 3x2 map; at 64x64 it is 2x2 and nothing is learned). Measured with one torch thread under load ~12 (29 Nov
# 2026): the same settings with 150 steps gave loss 8.9e-3 -> 1.6e-4, AP 0.000 at init -> 0.609 after 50 steps,
# 0.834 after 100, 0.866 after 150, in 30 CPU-s; 80 steps cost about 15 CPU-s.
TINY = {
    "model.overrides.blocks": [1, 1, 1, 1],
    "model.overrides.width": 0.5,
    "model.overrides.deconv_channels": 64,
    "data.input_size": [96, 64],
    "data.max_images": 10,
    "train.batch_size": 10,
    "train.epochs": 80,
    "train.lr": 3e-3,
    "train.lr_milestones": [],
    "train.eval_every": 0,
    "train.log_every": 5,
    "train.workers": 0,
    "train.device": "cpu",
}
# 80 steps lie between the measured 0.609 (50 steps) and 0.834 (100 steps): a floor at the 50-step figure fails
# when learning slows, not only when it is absent (the old floor, 0.4, passed at half the measured AP).
AP_FLOOR = 0.6
PEOPLE = 10


def _config(coco_mini: Path, out: Path):
    ann, images = str(coco_mini / ANN), str(coco_mini / "images" / "val2017")
    paths = {"data.train_ann": ann, "data.val_ann": ann, "data.train_images": images, "data.val_images": images}
    return load_experiment(CONFIG, {**paths, **TINY, "output_dir": str(out)})


def test_memorize_config_trains_on_val_and_evaluates_on_it(coco_mini, tmp_path):
    cfg = _config(coco_mini, tmp_path)
    full = load_experiment(CONFIG)
    assert full.data["train_ann"] == full.data["val_ann"] and full.data["train_images"] == full.data["val_images"]
    assert full.eval["flip_test"] and full.eval["use_gt_boxes"]
    task = TopdownTask(cfg)
    train, val = task.train_dataset(), task.val_dataset()
    assert [r.image_id for r in train.records] == [r.image_id for r in val.records]
    assert len(train) == PEOPLE  # the labelled people of the first 10 images


@pytest.mark.slow
def test_flpn_memorizes_real_coco_people(coco_mini, tmp_path):
    # One thread: batches of 10 tiny crops gain little from a second one on an idle machine, and on a loaded one
    # two OpenMP threads spin against the other jobs (measured: 250 s per step with two under load ~25, against
    # 2.4 s with one under load ~12), which turned this seconds-long test into hours.
    torch.set_num_threads(1)
    cfg = _config(coco_mini, tmp_path / "run")
    task = TopdownTask(cfg)
    torch.manual_seed(cfg.train.seed)
    untrained = task.build_model()
    ap_init = task.evaluate(untrained, task.val_dataset(), device=torch.device("cpu"), out_dir=tmp_path / "init")["AP"]

    metrics = train_experiment(cfg, out_dir=tmp_path / "run", progress=False)

    steps = read_csv_rows(tmp_path / "run" / "steps.csv")
    first, last = steps[0]["loss"], steps[-1]["loss"]
    assert last < 0.25 * first, f"loss fell only from {first:.3g} to {last:.3g}"
    assert ap_init < 0.1, f"the untrained network already scores AP {ap_init:.3f}: the test proves nothing"
    assert metrics["AP"] > AP_FLOOR, f"AP {metrics['AP']:.3f} after training (floor {AP_FLOOR}) vs {ap_init:.3f}"
    assert (tmp_path / "run" / "eval" / "keypoints_val_results.json").is_file()
    assert (tmp_path / "run" / "last.pt").is_file()
