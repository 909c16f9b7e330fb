"""`edgepose pretrain`: the classification task implied, pose configs refused, data paths checked before any model
is built, and the shipped pretraining configs load (issue 14, item 1).

Training, resume and the pose start: tests/engine/test_pretrain.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgepose.cli.main import build_parser, main
from edgepose.cli.pretrain import CLASSIFICATION_TASK, load_pretrain_config
from edgepose.errors import ConfigError
from edgepose.models import MODEL_TABLE

REPO = Path(__file__).resolve().parents[2]
PRETRAIN_CONFIGS = sorted((REPO / "configs").glob("pretrain_*.yaml"))


def test_pretrain_is_a_subcommand_with_resume():
    args = build_parser().parse_args(["pretrain", "c.yaml", "--resume", "--set", "train.lr=0.2", "model.name=x"])
    assert args.func.__module__ == "edgepose.cli.pretrain" and args.resume is True
    assert args.overrides == ["train.lr=0.2", "model.name=x"]


def test_the_task_is_implied_and_pose_configs_are_refused(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"model": {"name": "flpn_sres50"}, "data": {"train_dir": "t", "val_dir": "v"}}))
    assert load_pretrain_config(path).task == CLASSIFICATION_TASK
    assert load_pretrain_config(path, ["task=classification"]).task == "classification"  # the task table's name
    with pytest.raises(ConfigError, match="edgepose train"):
        load_pretrain_config(REPO / "configs" / "flpn_sres50_coco_256x192.yaml")
    with pytest.raises(ConfigError, match="'task'"):
        load_pretrain_config(path, ["task=topdown"])


def test_missing_image_folders_are_one_line_naming_both(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"model": {"name": "flpn_sres50"}, "data": {"train_dir": "t", "val_dir": "v"}}))
    assert main(["pretrain", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "data.train_dir=" in err and "data.val_dir=" in err and "--set data.train_dir=DIR" in err


@pytest.mark.parametrize("path", PRETRAIN_CONFIGS, ids=[p.stem for p in PRETRAIN_CONFIGS])
def test_shipped_pretraining_configs(path):
    cfg = load_pretrain_config(path)
    assert cfg.model.name in MODEL_TABLE and cfg.train.optimizer == "sgd"
    assert {"train_dir", "val_dir", "label_smoothing", "scale_min"} <= set(cfg.data)
    for depth in ("flpn_sres101", "flpn_sres152", "xfuse_ghostnet", "xfuse_resnet18"):  # noted in the file
        assert load_pretrain_config(path, [f"model.name={depth}"]).model.name == depth


def test_the_imagenet_recipe_is_the_standard_one():
    t = load_pretrain_config(REPO / "configs" / "pretrain_sres50_imagenet.yaml").train
    assert (t.lr, t.momentum, t.weight_decay, t.lr_schedule, t.epochs) == (0.1, 0.9, 1e-4, "cosine", 100)
