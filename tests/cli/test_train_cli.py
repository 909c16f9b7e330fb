"""``edgepose train`` / ``eval`` catch what a user gets wrong before any model is built, each in one line.

* Every missing data path of the config is listed at once, with the ``--set`` that repoints it (issue 15 item 4:
  they were reported one at a time, each after a model build).
* ``--out`` naming an existing file, or a folder under a file, is one line naming ``--out`` (issue 11 item 4).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgepose.cli.main import main
from edgepose.cli.train import check_data_paths, missing_data_paths
from edgepose.engine.config import load_experiment
from edgepose.errors import DataError

REPO_ROOT = Path(__file__).resolve().parents[2]
COCO_CONFIG = REPO_ROOT / "configs" / "flpn_sres50_coco_256x192.yaml"
KEYS = ("data.train_ann", "data.train_images", "data.val_ann", "data.val_images", "eval.det_file")


def _nowhere(tmp_path: Path) -> list[str]:
    base = tmp_path / "no_coco"
    return [f"data.train_ann={base}/train.json", f"data.train_images={base}/train2017", f"data.val_ann={base}/val.json",
            f"data.val_images={base}/val2017", f"eval.det_file={base}/dets.json"]  # fmt: skip


def test_all_missing_paths_are_listed_in_one_line(tmp_path, capsys):
    rc = main(["train", str(COCO_CONFIG), "--set", *_nowhere(tmp_path), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1, err
    assert "5 data path(s) not found" in err  # the config validates on detector boxes: their file too
    for key in KEYS:
        assert f"{key}={tmp_path / 'no_coco'}" in err, key
    sets = "--set data.train_ann=PATH data.train_images=PATH data.val_ann=PATH data.val_images=PATH eval.det_file=PATH"
    assert sets in err
    assert not (tmp_path / "run").exists(), "nothing is written before the data is found"


def test_only_the_missing_paths_are_listed(tmp_path, coco_mini):
    ann = coco_mini / "annotations" / "person_keypoints_val2017_mini.json"
    images = coco_mini / "images" / "val2017"
    cfg = load_experiment(COCO_CONFIG, [f"data.train_ann={ann}", f"data.train_images={tmp_path / 'nothing'}",
                                        f"data.val_ann={ann}", f"data.val_images={images}",
                                        "eval.use_gt_boxes=true"])  # fmt: skip
    assert missing_data_paths(cfg) == [("data.train_images", tmp_path / "nothing")]
    assert missing_data_paths(cfg, ("val_ann", "val_images")) == []  # eval needs only the validation data
    with pytest.raises(DataError, match=r"1 data path\(s\) not found: data\.train_images="):
        check_data_paths(cfg)


def test_relative_paths_are_reported_resolved_against_the_config(capsys):
    """The shipped COCO config's relative paths: the message says where they were looked for."""
    cfg = load_experiment(COCO_CONFIG)
    missing = missing_data_paths(cfg)
    if not missing:
        pytest.skip("COCO is installed where the config points")
    for _key, path in missing:
        assert path.is_absolute() and str(path).startswith(str(REPO_ROOT))
    with pytest.raises(DataError, match="relative paths resolve against"):
        check_data_paths(cfg)


def test_eval_lists_missing_validation_paths(tmp_path, capsys):
    rc = main(["eval", str(COCO_CONFIG), "--weights", str(tmp_path / "best.pt"), "--set", *_nowhere(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "3 data path(s) not found" in err and "data.val_ann=" in err and "eval.det_file=" in err
    assert "data.train_ann" not in err


@pytest.mark.parametrize("kind", ["existing file", "under a file"])
def test_train_out_that_cannot_be_a_folder_is_one_line(kind, tmp_path, coco_mini, capsys):
    ann = coco_mini / "annotations" / "person_keypoints_val2017_mini.json"
    images = coco_mini / "images" / "val2017"
    paths = [f"data.train_ann={ann}", f"data.train_images={images}", f"data.val_ann={ann}",
             f"data.val_images={images}", "eval.use_gt_boxes=true"]  # fmt: skip
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker if kind == "existing file" else blocker / "run"
    rc = main(["train", str(COCO_CONFIG), "--set", *paths, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert "--out" in err and str(blocker) in err
    assert blocker.read_text() == "not a folder"
