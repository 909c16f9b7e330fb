"""BottomupTask: config validation, losses per model family, LWOP parameter groups, prediction and evaluation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from standins import standing_person
from torch import nn

from edgepose.codecs.paf import PafCodec
from edgepose.engine.bottomup import (
    BottomupEvalConfig,
    BottomupTask,
    is_cross_fusion,
    keypoint_peak_stats,
    loss_family,
    lwop_param_groups,
    predict_bottomup,
)
from edgepose.engine.config import experiment_from_dict
from edgepose.errors import ConfigError
from edgepose.evaluation.oracle_bottomup import input_geometry
from edgepose.keypoints import coco_to_openpose
from edgepose.meta import describe_network

pytest.importorskip("pycocotools")
W, H = 320, 240


def _person(cx: float, cy: float, h: float) -> np.ndarray:
    return standing_person(cx, cy, h, decimals=0)


PEOPLE = [_person(90, 120, 200), _person(220, 125, 190)]


@pytest.fixture()
def dataset_dir(tmp_path: Path) -> Path:
    """A one-image COCO set (two people) used for both train and val."""
    (tmp_path / "images").mkdir()
    img = np.full((H, W, 3), 90, dtype=np.uint8)
    for kp in PEOPLE:
        for x, y, _ in kp:
            cv2.circle(img, (int(x), int(y)), 4, (220, 220, 220), -1)
    cv2.imwrite(str(tmp_path / "images" / "5.png"), img)
    anns = []
    for i, kp in enumerate(PEOPLE):
        x0, y0 = kp[:, 0].min(), kp[:, 1].min()
        w, h = kp[:, 0].max() - x0, kp[:, 1].max() - y0
        anns.append({"id": i + 1, "image_id": 5, "category_id": 1, "iscrowd": 0, "num_keypoints": 17,
                     "bbox": [x0, y0, w, h], "area": w * h, "keypoints": kp.reshape(-1).tolist()})  # fmt: skip
    doc = {"images": [{"id": 5, "file_name": "5.png", "width": W, "height": H}], "annotations": anns,
           "categories": [{"id": 1, "name": "person"}]}  # fmt: skip
    (tmp_path / "ann.json").write_text(json.dumps(doc))
    return tmp_path


def _cfg(root: Path, model: str = "xfuse_ghostnet", **extra) -> object:
    overrides = {"channels": 16, "head_width": 16} if model.startswith("xfuse") else {}
    data = {"train_ann": str(root / "ann.json"), "train_images": str(root / "images"),
            "val_ann": str(root / "ann.json"), "val_images": str(root / "images"), "input_size": 64}  # fmt: skip
    data.update(extra.pop("data", {}))
    return experiment_from_dict(
        {"name": "t", "task": "bottomup", "model": {"name": model, "overrides": overrides}, "data": data,
         "eval": extra.pop("eval", {"height": 240, "upsample": 4}),
         "train": {"batch_size": 2, "epochs": 1, "workers": 0, "lr": 1e-3, "weight_decay": 5e-4}}
    )  # fmt: skip


def test_config_sections_are_validated(dataset_dir: Path) -> None:
    with pytest.raises(ConfigError, match="data.input_sise"):
        BottomupTask(_cfg(dataset_dir, data={"input_sise": 64}))
    with pytest.raises(ConfigError, match="eval.codec.min_keypionts"):
        BottomupTask(_cfg(dataset_dir, eval={"codec": {"min_keypionts": 2}}))
    with pytest.raises(ConfigError, match="multiple of"):
        BottomupTask(_cfg(dataset_dir, data={"input_size": 100}))
    codec = BottomupEvalConfig(decoder="lwop", upsample=4, codec={"min_keypoints": 2}).make_codec(
        BottomupTask(_cfg(dataset_dir)).data
    )
    assert (codec.merge_fragments, codec.upsample, codec.min_keypoints) == (False, 4, 2)


@pytest.mark.parametrize("model_name", ["xfuse_ghostnet", "lwop_mobilenet"])
def test_loss_terms_and_backward(dataset_dir: Path, model_name: str) -> None:
    task = BottomupTask(_cfg(dataset_dir, model=model_name))
    model = task.build_model()
    ds = task.train_dataset()
    batch = {k: torch.from_numpy(np.stack([ds[0][k], ds[0][k]])) for k in ("image", "heatmaps", "pafs", "mask")}
    assert batch["heatmaps"].shape == (2, 19, 8, 8)
    loss, terms = task.loss(model, batch)
    loss.backward()
    assert torch.isfinite(loss) and float(loss.detach()) > 0
    if model_name.startswith("xfuse"):
        assert is_cross_fusion(model)
        assert set(terms) == {f"{k}{s}" for s in (0, 1) for k in ("heat_u", "paf_u", "heat_v", "paf_v")}
    else:
        assert not is_cross_fusion(model)
        assert {"heat0", "paf0"} <= set(terms)
    assert all(np.isfinite(v) for v in terms.values())
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_loss_family_attribute_wins_over_the_name_rule(dataset_dir: Path) -> None:
    """An explicit ``loss_family`` picks the loss; models without one fall back to the output-name rule."""
    from edgepose.losses import CrossFusionLoss, LwopLoss

    task = BottomupTask(_cfg(dataset_dir))
    xfuse = task.build_model()
    assert loss_family(xfuse) == "crossfusion"
    xfuse.loss_family = "openpose"  # the attribute decides, whatever the class or output names say
    assert isinstance(task.criterion_for(xfuse), LwopLoss) and not is_cross_fusion(xfuse)
    lwop = BottomupTask(_cfg(dataset_dir, model="lwop_mobilenet")).build_model()
    lwop.loss_family = "crossfusion"
    assert isinstance(task.criterion_for(lwop), CrossFusionLoss)
    lwop.loss_family = "hrnet"
    with pytest.raises(ConfigError, match="loss_family 'hrnet'"):
        task.criterion_for(lwop)


def test_param_groups_follow_lwop_multipliers(dataset_dir: Path) -> None:
    task = BottomupTask(_cfg(dataset_dir))
    model = task.build_model()
    groups = task.param_groups(model)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == sum(1 for p in model.parameters() if p.requires_grad)
    mults = {g["lr_mult"] for g in groups}
    assert {1.0, 2.0, 4.0, 8.0} <= mults
    assert all(g["weight_decay"] in (0.0, 5e-4) for g in groups)
    assert lwop_param_groups(nn.Linear(2, 2), 5e-4) is None


def test_uniform_param_groups_keep_decay_but_drop_multipliers(dataset_dir: Path) -> None:
    """data.param_groups: uniform = lr x1 everywhere (short high-lr runs), LWOP's weight-decay split kept."""
    model = BottomupTask(_cfg(dataset_dir)).build_model()
    lwop = BottomupTask(_cfg(dataset_dir)).param_groups(model)
    uniform = BottomupTask(_cfg(dataset_dir, data={"param_groups": "uniform"})).param_groups(model)
    assert {g["lr_mult"] for g in uniform} == {1.0}
    assert [g["weight_decay"] for g in uniform] == [g["weight_decay"] for g in lwop]
    assert [len(g["params"]) for g in uniform] == [len(g["params"]) for g in lwop]
    with pytest.raises(ConfigError, match="data.param_groups"):
        BottomupTask(_cfg(dataset_dir, data={"param_groups": "x4"}))


class _OracleNet(nn.Module):
    """Returns the ground-truth maps of the one test image whatever the input (a perfect network)."""

    task, stride, input_size, input_normalization = "bottomup", 8, (368, 368), "openpose"

    def __init__(self, height: int) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))
        self.model_info = describe_network(self, model_name="oracle")
        codec = PafCodec()
        _, _, pad_h, pad_w, sx, sy = input_geometry(W, H, height, 8)
        kp = np.stack(PEOPLE).astype(np.float64)
        kp[..., 0] = kp[..., 0] * sx - 0.5  # COCO (continuous) -> input pixel centres
        kp[..., 1] = kp[..., 1] * sy - 0.5
        heat, pafs = codec.encode(coco_to_openpose(kp), (pad_h, pad_w))
        self.heat, self.pafs = torch.from_numpy(heat)[None], torch.from_numpy(pafs)[None]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        assert tuple(x.shape[-2:]) == (self.heat.shape[-2] * 8, self.heat.shape[-1] * 8)
        return [self.heat + 0 * self.dummy, self.pafs + 0 * self.dummy]


def test_evaluate_with_a_perfect_network_scores_one(dataset_dir: Path, tmp_path: Path) -> None:
    task = BottomupTask(_cfg(dataset_dir, eval={"height": 240, "upsample": 8}))
    metrics = task.evaluate(_OracleNet(240), task.val_dataset(), device=torch.device("cpu"), out_dir=tmp_path / "ev")
    assert set(metrics) == {"AP", "AP50", "AP75", "APM", "APL", "AR"}
    assert metrics["AP"] == pytest.approx(1.0)
    results = json.loads((tmp_path / "ev" / "keypoints_val_results.json").read_text())
    assert len(results) == 2 and all(r["image_id"] == 5 for r in results)


def test_evaluate_shards_by_rank(dataset_dir: Path, tmp_path: Path) -> None:
    task = BottomupTask(_cfg(dataset_dir))
    ds = task.val_dataset()
    net = _OracleNet(240)
    assert task.predict_dataset(net, ds, device=torch.device("cpu"), rank=1, world_size=2) == []
    assert len(task.predict_dataset(net, ds, device=torch.device("cpu"), rank=0, world_size=2)) == 2
    assert task.evaluate(net, ds, device=torch.device("cpu"), rank=1, world_size=1, out_dir=tmp_path) == {}


def test_keypoint_peak_stats_of_a_perfect_network(dataset_dir: Path) -> None:
    task = BottomupTask(_cfg(dataset_dir))
    stats = keypoint_peak_stats(_OracleNet(240), task.val_dataset(), height=240)
    assert stats["recall"] == pytest.approx(1.0) and stats["precision"] == pytest.approx(1.0)
    assert stats["tp"] == 2 * 18


def test_predict_bottomup_single_and_multi_scale(dataset_dir: Path) -> None:
    image = cv2.imread(str(dataset_dir / "images" / "5.png"))
    people = predict_bottomup(_OracleNet(240), image, height=240, upsample=4)
    assert len(people) == 2
    assert people[0][1] >= people[1][1], "best first"
    for kp, score in people:
        assert kp.shape == (17, 3) and score > 0
        err = min(np.abs(kp[:, :2] - g[:, :2]).max() for g in PEOPLE)
        assert err < 2.0
    model = BottomupTask(_cfg(dataset_dir)).build_model().eval()
    for shape in ((37, 91, 3), (240, 320, 3)):  # any aspect ratio, random weights: no crash
        out = predict_bottomup(model, np.zeros(shape, np.uint8), height=64, scales=(1.0, 0.75))
        assert all(kp.shape == (17, 3) and np.isfinite(kp).all() for kp, _ in out)


@pytest.mark.slow
def test_short_training_run_lowers_the_loss(dataset_dir: Path, tmp_path: Path) -> None:
    """The engine trains the cross-fusion net through this task (two main persons = one batch per epoch)."""
    from edgepose.engine.trainer import train_experiment

    cfg = _cfg(dataset_dir, data={"input_size": 96})
    cfg.train.epochs = 4
    cfg.train.log_every = 1
    cfg.train.eval_every = 0  # only after the last epoch
    cfg.train.device = "cpu"
    cfg.train.amp = False
    metrics = train_experiment(cfg, out_dir=tmp_path / "run", progress=False)
    assert {"AP", "AR"} <= set(metrics)
    with open(tmp_path / "run" / "steps.csv") as fh:
        losses = [float(r["loss"]) for r in csv.DictReader(fh)]
    assert len(losses) == 4 and losses[-1] < losses[0]
    # the evaluation wrote its results file, and the reported AP is what COCOeval gives for that very file
    from edgepose.evaluation.coco import evaluate_keypoints

    results = tmp_path / "run" / "eval" / "keypoints_val_results.json"
    records = json.loads(results.read_text())
    assert isinstance(records, list) and all(r["image_id"] == 5 and len(r["keypoints"]) == 51 for r in records)
    assert metrics["AP"] == pytest.approx(evaluate_keypoints(dataset_dir / "ann.json", results).metrics["AP"])
