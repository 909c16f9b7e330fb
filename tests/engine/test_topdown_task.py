"""TopdownTask: config validation, loss, evaluation (COCO + MPII) and batched prediction with tiny models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from edgepose.engine.config import experiment_from_dict
from edgepose.engine.topdown import TopdownTask
from edgepose.errors import ConfigError
from edgepose.evaluation.oracle_topdown import run_topdown_oracle
from edgepose.meta import ModelInfo

VAL_ANN = "annotations/person_keypoints_val2017_mini.json"
STATS = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")


def pycocotools_stats(ann: Path, results: Path, image_ids: list[int]) -> dict[str, float]:
    """COCOeval's ten keypoint statistics straight from pycocotools (the reference, not edgepose's wrapper)."""
    import contextlib
    import io

    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann))
        ev = COCOeval(gt, gt.loadRes(str(results)), "keypoints")
        ev.params.imgIds = sorted(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return dict(zip(STATS, (float(v) for v in ev.stats)))


def described(model: nn.Module, task: TopdownTask) -> nn.Module:
    """A stand-in network with the metadata a model of ``task`` is born with (the stand-ins are not built by
    build_model, and the task refuses a network without metadata)."""
    model.model_info = ModelInfo("stand_in", "topdown", task.eval_codec.input_size, "imagenet", 4, task.spec.name)
    return model


class TinyHeatmapNet(nn.Module):
    """A conv net producing K heatmaps at stride 4."""

    def __init__(self, k: int = 17) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, k, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TargetReplay(nn.Module):
    """Returns the dataset's own targets in order (a "perfect" network for a non-shuffled, unflipped pass)."""

    def __init__(self, targets: list[np.ndarray]) -> None:
        super().__init__()
        self.targets = targets
        self.pos = 0
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.from_numpy(np.stack(self.targets[self.pos : self.pos + len(x)]))
        self.pos += len(x)
        return out


class FlipReplay(TargetReplay):
    """A perfect network for the flip test: the dataset's targets for a batch, then for the mirrored batch the
    same targets mirrored with left/right channels swapped (what a perfect net sees in the mirrored crop)."""

    def __init__(self, targets: list[np.ndarray], flip_index: np.ndarray) -> None:
        super().__init__(targets)
        self.flip_index = np.asarray(flip_index)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = np.stack(self.targets[self.pos : self.pos + len(x)])
        self.calls += 1
        if self.calls % 2 == 1:
            return torch.from_numpy(batch)
        self.pos += len(x)
        return torch.from_numpy(np.ascontiguousarray(batch[:, self.flip_index, :, ::-1]))


def _cfg(coco_mini: Path, **eval_cfg):
    data = {
        "train_ann": str(coco_mini / VAL_ANN),
        "train_images": str(coco_mini / "images" / "val2017"),
        "val_ann": str(coco_mini / VAL_ANN),
        "val_images": str(coco_mini / "images" / "val2017"),
    }
    return experiment_from_dict(
        {
            "name": "t",
            "task": "topdown",
            "model": {"name": "lpn50"},
            "data": data,
            "eval": eval_cfg,
            "train": {"batch_size": 16, "workers": 0},
        }
    )


def test_config_sections_are_validated(coco_mini):
    cfg = _cfg(coco_mini)
    cfg.data["input_sise"] = [1, 2]
    with pytest.raises(ConfigError, match="data.input_sise"):
        TopdownTask(cfg)
    with pytest.raises(ConfigError, match="eval.flip"):
        TopdownTask(_cfg(coco_mini, flip=True))
    with pytest.raises(ConfigError, match="det_file"):
        TopdownTask(_cfg(coco_mini, use_gt_boxes=False))
    task = TopdownTask(_cfg(coco_mini))
    assert task.primary_metric == "AP" and task.collate_fn is None and task.param_groups(nn.Linear(1, 1)) is None


def test_relative_paths_resolve_against_config_dir(coco_mini):
    cfg = experiment_from_dict(
        {
            "task": "topdown",
            "config_dir": str(coco_mini),
            "data": {"val_ann": VAL_ANN, "val_images": "images/val2017", "max_images": 3},
        }
    )
    assert len(TopdownTask(cfg).val_dataset()) > 0


def test_loss_and_a_few_training_steps(coco_mini):
    cfg = _cfg(coco_mini)
    cfg.data["max_images"] = 12
    cfg.data["input_size"] = [128, 96]
    task = TopdownTask(cfg)
    ds = task.train_dataset()
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True, collate_fn=task.collate_fn)
    model = TinyHeatmapNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = next(iter(loader))
    first, terms = task.loss(model, batch)
    assert first.ndim == 0 and "heatmap_mse" in terms
    for _ in range(8):
        loss, _ = task.loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < float(first.detach())
    with pytest.raises(ConfigError, match="heatmaps of shape"):
        task.loss(nn.Conv2d(3, 17, 1), batch)


@pytest.mark.slow
def test_evaluate_with_perfect_heatmaps_matches_the_oracle(coco_mini, tmp_path):
    task = TopdownTask(_cfg(coco_mini, flip_test=False))
    val = task.val_dataset()
    model = described(TargetReplay([val[i]["target"] for i in range(len(val))]), task)
    metrics = task.evaluate(model, val, device=torch.device("cpu"), out_dir=tmp_path)
    oracle = run_topdown_oracle(coco_mini / VAL_ANN, rescore_nms=True)
    assert metrics["AP"] == pytest.approx(oracle["AP"], abs=1e-9)
    assert (tmp_path / "keypoints_val_results.json").is_file()
    assert set(metrics) >= {"AP", "AP50", "AP75", "APM", "APL", "AR"}


def test_evaluate_shards_and_flip_test(coco_mini, tmp_path):
    cfg = _cfg(coco_mini)
    cfg.data["max_images"] = 8
    task = TopdownTask(cfg)
    val = task.val_dataset()
    model = described(TinyHeatmapNet().eval(), task)
    metrics = task.evaluate(model, val, device=torch.device("cpu"), out_dir=tmp_path)
    # the figures are pycocotools' COCOeval for the results file the evaluation wrote, on the 8 images only
    again = pycocotools_stats(coco_mini / VAL_ANN, tmp_path / "keypoints_val_results.json", val.image_ids)
    assert {k: metrics[k] for k in STATS} == pytest.approx(again, abs=1e-12)
    parts = [task.predict_dataset(model, val, device=torch.device("cpu"), rank=r, world_size=2) for r in (0, 1)]
    assert sorted(p["index"] for part in parts for p in part) == list(range(len(val)))
    assert task.evaluate(model, val, device=torch.device("cpu"), rank=1, world_size=1, out_dir=tmp_path) == {}
    # flip test with a perfect network: without the one-pixel shift, flipping back undoes the mirror exactly, so
    # the AP is the plain oracle's, and high (a missing channel swap or a wrong mirror would ruin it)
    targets = [val[i]["target"] for i in range(len(val))]
    plain = TopdownTask(_cfg(coco_mini, flip_test=False))
    flip = TopdownTask(_cfg(coco_mini, flip_test=True, shift_heatmap=False))
    for t in (plain, flip):
        t.data.max_images = 8
    replay_plain = described(TargetReplay(targets), plain)
    ap_plain = plain.evaluate(replay_plain, val, device=torch.device("cpu"), out_dir=tmp_path)["AP"]
    replay = described(FlipReplay(targets, flip.spec.flip_index), flip)
    ap_flip = flip.evaluate(replay, val, device=torch.device("cpu"), out_dir=tmp_path)["AP"]
    assert replay.calls == 2 * -(-len(val) // 16)  # one plain and one mirrored pass per batch of 16
    assert ap_flip == pytest.approx(ap_plain, abs=1e-9) and ap_plain > 0.9


def test_mpii_task_reports_pckh(mpii_small, tmp_path):
    mpii = mpii_small / "mmpose"
    cfg = experiment_from_dict(
        {
            "task": "topdown",
            "data": {
                "dataset": "mpii",
                "input_size": [256, 256],
                "val_ann": str(mpii / "test_mpii.json"),
                "val_images": str(mpii / "images"),
            },
            "eval": {"flip_test": False},
            "train": {"workers": 0},
        }
    )
    task = TopdownTask(cfg)
    assert task.primary_metric == "PCKh"
    val = task.val_dataset()
    model = described(TargetReplay([val[i]["target"] for i in range(len(val))]), task)
    metrics = task.evaluate(model, val, device=torch.device("cpu"), out_dir=tmp_path)
    # perfect heatmaps decode within a pixel or two of the truth: every labelled joint is within half a head
    assert metrics["PCKh"] == pytest.approx(100.0) and metrics["Head"] == pytest.approx(100.0)
    assert metrics["PCKh@0.1"] > 90  # a tenth of a head (~6 px at this scale): nearly all


@pytest.mark.slow
def test_trains_and_evaluates_end_to_end_with_the_engine(coco_mini, tmp_path):
    """The real trainer drives the task: a few steps of a tiny net, checkpoints, COCO metrics, results file."""
    from edgepose.engine import trainer

    tiny_flpn = {"blocks": [1, 1, 1, 1], "width": 0.25, "deconv_channels": 32, "input_size": [128, 96]}
    cfg = experiment_from_dict(
        {
            "name": "tiny",
            "task": "topdown",
            "model": {"name": "flpn_sres50", "overrides": tiny_flpn},  # the real model builder, shrunk
            "data": {
                "train_ann": str(coco_mini / "annotations" / "person_keypoints_train2017_mini.json"),
                "train_images": str(coco_mini / "images" / "train2017"),
                "val_ann": str(coco_mini / VAL_ANN),
                "val_images": str(coco_mini / "images" / "val2017"),
                "max_images": 6,
                "input_size": [128, 96],
            },
            "train": {"batch_size": 4, "workers": 0, "epochs": 1, "max_steps_per_epoch": 3, "device": "cpu"},
        }
    )
    metrics = trainer.train_experiment(cfg, tmp_path, progress=False)
    assert {"AP", "AP50", "AR"} <= set(metrics)
    assert (tmp_path / "best.pt").is_file() or (tmp_path / "last.pt").is_file()
    # the reported figures are COCOeval's for the results file the evaluation wrote, on the 6 images used
    results = tmp_path / "eval" / "keypoints_val_results.json"
    image_ids = TopdownTask(cfg).val_dataset().image_ids
    again = pycocotools_stats(coco_mini / VAL_ANN, results, image_ids)
    assert {k: metrics[k] for k in STATS} == pytest.approx(again, abs=1e-12)
