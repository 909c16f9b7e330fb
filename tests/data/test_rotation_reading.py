"""Top-down rotation reading: SimpleBaseline's clipped normal (default) or the papers' U[-rf, rf] (opt-in)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepose.data.topdown import TopdownDataConfig, build_topdown_dataset
from edgepose.errors import ConfigError

VAL_ANN = "annotations/person_keypoints_val2017_mini.json"


def _train_ds(coco_mini: Path, **cfg):
    c = TopdownDataConfig(**cfg)
    return build_topdown_dataset(c, "train", ann=coco_mini / VAL_ANN, images=coco_mini / "images" / "val2017")


def _rotations(ds, n: int = 600) -> np.ndarray:
    rec = ds.records[0]
    out = []
    for seed in range(n):
        _, _, _, rot, _ = ds.augment(np.random.default_rng(seed), rec.joints.copy(), rec.center, rec.scale, 640)
        out.append(rot)
    return np.asarray(out)


def test_default_stream_is_the_clipped_normal_of_before(coco_mini):
    ds = _train_ds(coco_mini, rotation_prob=0.6, flip=False)
    rots = _rotations(ds, 300)
    expected = []
    for seed in range(300):  # the expression the option replaced, drawn in the same order
        rng = np.random.default_rng(seed)
        rng.standard_normal()  # scale
        expected.append(float(np.clip(rng.standard_normal() * 40, -80, 80)) if rng.random() <= 0.6 else 0.0)
    assert np.array_equal(rots, np.asarray(expected))
    assert np.abs(rots).max() > 40  # the clipped normal reaches past the papers' ±40


def test_uniform_reading_stays_within_the_papers_range(coco_mini):
    rots = _rotations(_train_ds(coco_mini, rotation_dist="uniform", rotation_prob=1.0, rotation_factor=30.0))
    assert np.abs(rots).max() <= 30 and np.abs(rots).max() > 29
    assert abs(float(np.mean(np.abs(rots))) - 15) < 1.5  # E|U(-30, 30)| = 15
    with pytest.raises(ConfigError, match="rotation_dist"):
        TopdownDataConfig(rotation_dist="normal")
