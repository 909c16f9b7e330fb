"""Tests of the foundation: keypoint tables, configs, the model table, the CLI's error contract."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from edgepose import keypoints as kp
from edgepose.cli.main import main
from edgepose.config import apply_overrides, from_dict, load_config, parse_overrides
from edgepose.errors import ConfigError
from edgepose.keypoints import KeypointSpec


def test_flip_index_is_an_involution_for_every_keypoint_set():
    for spec in kp.KEYPOINT_SPECS.values():
        idx = spec.flip_index
        assert np.array_equal(idx[idx], np.arange(spec.num_keypoints))
    assert kp.COCO.flip_index[5] == 6 and kp.OPENPOSE.flip_index[2] == 5


def test_bad_flip_pairs_are_rejected():
    with pytest.raises(ConfigError, match="two flip pairs"):
        KeypointSpec("bad", ("a", "b", "c"), ((0, 1), (1, 2)), ())


def test_openpose_limb_table_is_a_tree_rooted_at_limb_zero():
    seen = set(kp.OPENPOSE_LIMBS[0])
    for a, b in kp.OPENPOSE_LIMBS[1:]:
        assert a in seen, (a, b)
        seen.add(b)
    assert seen == set(range(18))
    assert kp.NUM_OPENPOSE_PAFS == 38 and kp.NUM_OPENPOSE_HEATMAPS == 19


def test_coco_openpose_round_trip_and_neck():
    coco = np.zeros((17, 3))
    coco[5] = (10, 20, 2)
    coco[6] = (30, 40, 1)
    op = kp.coco_to_openpose(coco)
    assert np.allclose(op[kp.OPENPOSE_NECK], (20, 30, 1))
    assert np.allclose(op[2], coco[6]) and np.allclose(op[5], coco[5])
    assert np.allclose(kp.openpose_to_coco(op), coco)
    coco[6, 2] = 0
    assert kp.coco_to_openpose(coco)[kp.OPENPOSE_NECK, 2] == 0


@dataclass
class _Inner:
    lr: float = 1e-3
    milestones: list[int] = field(default_factory=lambda: [90, 120])


@dataclass
class _Outer:
    name: str = "x"
    train: _Inner = field(default_factory=_Inner)
    size: tuple[int, float] = (256, 0.5)


def test_config_rejects_unknown_keys_by_name(tmp_path):
    with pytest.raises(ConfigError, match="train.lr_sheduler"):
        from_dict(_Outer, {"train": {"lr_sheduler": 1}})
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 0.01\n  milestones: [1, 2]\n")
    cfg = load_config(_Outer, path, ["train.lr=5e-4", "name=y"])
    assert cfg.train.lr == pytest.approx(5e-4) and cfg.train.milestones == [1, 2] and cfg.name == "y"
    assert apply_overrides(cfg, ["size=[128, 2]"]).size == (128, 2.0)
    with pytest.raises(ConfigError, match="expected 2 items"):
        apply_overrides(cfg, ["size=[1, 2, 3]"])
    with pytest.raises(ConfigError, match="expected a number"):
        apply_overrides(cfg, {"train.lr": "fast"})
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["oops"])
    path.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="malformed YAML"):
        load_config(_Outer, path)


def test_cli_prints_user_errors_on_one_line(capsys, tmp_path):
    code = main(["oracle", "topdown", "--ann", str(tmp_path / "missing.json"), "--json"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "missing.json" in err
