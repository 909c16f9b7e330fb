"""COCO keypoint evaluation: equality with pycocotools, OKS-NMS, rescoring, results files, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgepose.cli.main import main
from edgepose.errors import DataError
from edgepose.evaluation.coco import STAT_NAMES, evaluate_keypoints, postprocess_instances, rescore, write_results
from edgepose.evaluation.nms import oks_iou, oks_nms

VAL_ANN = "annotations/person_keypoints_val2017_mini.json"


def _noisy_results(ann_path: Path, seed: int = 0) -> list[dict]:
    """Ground-truth keypoints with pixel noise and random scores, as a results list."""
    data = json.loads(ann_path.read_text())
    rng = np.random.default_rng(seed)
    out = []
    for a in data["annotations"]:
        if a.get("iscrowd") or a.get("num_keypoints", 0) == 0:
            continue
        kp = np.array(a["keypoints"], dtype=float).reshape(17, 3)
        kp[:, :2] += rng.normal(0, 3, size=(17, 2))
        kp[:, 2] = 1
        out.append(
            {
                "image_id": a["image_id"],
                "category_id": 1,
                "keypoints": kp.reshape(-1).tolist(),
                "score": float(rng.uniform(0.3, 1)),
            }
        )
    return out


def _pycocotools(ann_path: Path, results_path: Path) -> np.ndarray:
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_path))
        dt = gt.loadRes(str(results_path))
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.useSegm = None
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def test_equals_pycocotools_and_cli(coco_mini, tmp_path, capsys):
    ann = coco_mini / VAL_ANN
    results = tmp_path / "res.json"
    write_results(_noisy_results(ann), results)
    expected = _pycocotools(ann, results)
    res = evaluate_keypoints(ann, results, backend="pycocotools")
    assert [res.metrics[k] for k in STAT_NAMES] == pytest.approx(list(expected), abs=1e-12)
    assert 0.3 < res.metrics["AP"] < 1.0
    assert "Average Precision" in res.summary
    assert main(["evaluate-results", "--ann", str(ann), "--results", str(results), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [printed[k] for k in STAT_NAMES] == pytest.approx(list(expected), abs=1e-12)
    assert main(["evaluate-results", "--ann", str(ann), "--results", str(results)]) == 0
    assert "maxDets= 20" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content, message",
    [
        ('[{"image_id": 785, "category_id": 1, "score": 1}]', "missing field 'keypoints'"),
        ('[{"image_id": 785, "keypoints": [1, 2, 3], "score": 1}]', "must be a list of 51 numbers"),
        ('[{"image_id": 1, "keypoints": ' + str([0] * 51) + ', "score": 1}]', "not an image of the annotation"),
        ('[{"image_id": 785, "keypoints": ' + str([0] * 51) + ', "score": NaN}]', "'score' must be a finite"),
        ('{"image_id": 785}', "must be a JSON list"),
        ('[{"image_id": 785, "keypoints": [', "malformed JSON"),
    ],
)
def test_malformed_results_one_line_error(coco_mini, tmp_path, capsys, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(DataError, match=message):
        evaluate_keypoints(coco_mini / VAL_ANN, bad)
    assert main(["evaluate-results", "--ann", str(coco_mini / VAL_ANN), "--results", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.json" in err


def test_empty_results_score_zero(coco_mini):
    res = evaluate_keypoints(coco_mini / VAL_ANN, [])
    assert res.metrics["AP"] == 0 and res.num_results == 0


def _pose(x0: float, y0: float, conf: float = 0.9) -> np.ndarray:
    rng = np.random.default_rng(int(x0))
    xy = np.stack([x0 + rng.uniform(0, 60, 17), y0 + rng.uniform(0, 150, 17)], axis=1)
    return np.concatenate([xy, np.full((17, 1), conf)], axis=1)


def test_oks_nms_suppresses_duplicate_keeps_distinct():
    a = _pose(100, 100)
    dup = a.copy()
    dup[:, :2] += 1.0  # one pixel off: the same person
    other = _pose(400, 100)
    poses = np.stack([a, dup, other])
    keep = oks_nms(poses, np.array([0.8, 0.9, 0.7]), np.full(3, 150 * 200.0), threshold=0.9)
    assert keep == [1, 2]  # the better duplicate survives, the distinct person too
    assert oks_iou(a, dup[None], 30000, np.array([30000.0]))[0] > 0.9
    assert oks_iou(a, other[None], 30000, np.array([30000.0]))[0] < 0.01
    assert oks_nms(np.zeros((0, 17, 3)), np.zeros(0), np.zeros(0)) == []


def test_rescoring_uses_joints_above_threshold():
    kp = np.zeros((17, 3))
    kp[:4, 2] = [0.9, 0.5, 0.1, 0.3]
    assert rescore(kp, 0.5, 0.2) == pytest.approx(0.5 * np.mean([0.9, 0.5, 0.3]))
    assert rescore(np.zeros((17, 3)), 1.0) == 0.0
    inst = [
        {"image_id": 1, "keypoints": _pose(10, 10), "box_score": 1.0, "area": 30000.0},
        {"image_id": 1, "keypoints": _pose(10, 10, 0.5), "box_score": 1.0, "area": 30000.0},
    ]
    res = postprocess_instances(inst)
    assert len(res) == 1 and res[0]["score"] == pytest.approx(0.9)
    assert len(postprocess_instances(inst, nms=False)) == 2


def test_results_written_atomically(tmp_path):
    path = write_results([{"image_id": 1, "category_id": 1, "keypoints": [0] * 51, "score": 1.0}], tmp_path / "r.json")
    assert json.loads(path.read_text())[0]["image_id"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left behind
