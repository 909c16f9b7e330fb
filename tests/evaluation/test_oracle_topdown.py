"""The top-down codec oracle on the real COCO val mini set (134 people, GT boxes).

Its figures are checked against references edgepose does not compute (``tests/coco_reference.py``): the MSRA
oracle written out in closed form from SimpleBaseline's published code and scored by pycocotools directly, the
same with SimpleBaseline's rescoring and OKS-NMS, and for DARK the ground truth itself (a DARK target decodes to
the joint it was drawn at, to a small fraction of a heatmap cell).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from coco_reference import (
    people_and_crops,
    pycocotools_stats,
    simplebaseline_msra_oracle,
    simplebaseline_rescore_nms,
)

from edgepose.cli.main import main
from edgepose.codecs.heatmap import HeatmapCodec
from edgepose.errors import DataError
from edgepose.evaluation.oracle_topdown import oracle_instances, run_topdown_oracle

VAL_ANN = "annotations/person_keypoints_val2017_mini.json"
KEYS = {"AP", "AP50", "AP75", "APM", "APL", "AR"}


def test_msra_oracle_equals_simplebaseline_written_out_and_scored_by_pycocotools(coco_mini):
    """Same poses and scores by an independent path, so every figure agrees to rounding; the reference AP
    itself is pinned too: 0.98569 on this set, with AP50 = AP75 = 1 (every person found; the whole-cell
    rounding of MSRA targets costs only at the strictest thresholds, medium people more than large ones)."""
    ann = coco_mini / VAL_ANN
    msra = run_topdown_oracle(ann)
    reference = pycocotools_stats(ann, simplebaseline_msra_oracle(ann))
    assert set(msra) == KEYS
    assert msra == pytest.approx({k: reference[k] for k in KEYS}, abs=1e-9)
    assert reference["AP"] == pytest.approx(0.98569, abs=5e-5)
    assert reference["AP50"] == reference["AP75"] == 1.0 and reference["APM"] < reference["APL"]


def test_dark_oracle_decodes_to_the_ground_truth(coco_mini):
    """DARK draws each target at the joint's exact sub-cell place and its Taylor step recovers that place: every
    labelled joint 2σ = 4 or more cells inside the 48×64 heatmap comes back within 0.01 cell of the ground
    truth (measured 0.0005 at the 90th percentile). Nearer the border the ±3σ target window and DARK's
    modulation blur are cut off by the edge (errors up to 0.2 cell 2 cells in) and joints beyond the crop are
    clamped to it: neither is bounded. Its AP is then what pycocotools gives those poses, and not below MSRA's
    (measured 0.9881 vs 0.9857)."""
    ann = coco_mini / VAL_ANN
    instances = oracle_instances(ann, HeatmapCodec(kind="dark"))
    people = people_and_crops(ann, (256, 192))
    assert len(instances) == len(people) == 134
    errors = []
    for inst in instances:
        kp = inst["keypoints"]
        candidates = [(a, c) for a, c in people if a["image_id"] == inst["image_id"]]

        def gap(item, kp=kp) -> float:
            gt = np.asarray(item[0]["keypoints"], dtype=np.float64).reshape(-1, 3)
            return float(np.abs(gt[gt[:, 2] > 0, :2] - kp[gt[:, 2] > 0, :2]).mean())

        ann_gt, (cx, cy, zoom) = min(candidates, key=gap)  # its own person: the decoded joints lie on it
        gt = np.asarray(ann_gt["keypoints"], dtype=np.float64).reshape(-1, 3)
        cell = 4.0 / zoom  # image pixels per heatmap cell (stride 4)
        hm = np.stack([((gt[:, 0] - cx) * zoom + 96) / 4, ((gt[:, 1] - cy) * zoom + 128) / 4], axis=1)
        inside = (gt[:, 2] > 0) & (hm[:, 0] >= 4) & (hm[:, 0] <= 43) & (hm[:, 1] >= 4) & (hm[:, 1] <= 59)
        errors.extend(np.hypot(*(kp[inside, :2] - gt[inside, :2]).T) / cell)
    assert len(errors) > 1000, len(errors)
    assert max(errors) < 0.01, max(errors)
    records = [{"image_id": i["image_id"], "category_id": 1, "keypoints": i["keypoints"].ravel().tolist(),
                "score": float(i["keypoints"][:, 2].mean())} for i in instances]  # fmt: skip
    dark = run_topdown_oracle(ann, codec="dark")
    assert dark == pytest.approx({k: v for k, v in pycocotools_stats(ann, records).items() if k in KEYS}, abs=1e-9)
    assert dark["AP"] >= run_topdown_oracle(ann)["AP"]


def test_rescoring_and_nms_equal_simplebaseline_evaluate(coco_mini):
    """SimpleBaseline's rescoring + OKS-NMS (written out in coco_reference) on the written-out MSRA oracle:
    the same figures up to the order in which pycocotools and the NMS meet equal scores (many oracle poses
    score exactly 1), a few 1e-4 at most (measured 1.4e-5 on AP, 1.6e-4 on APM). NMS removes one of two
    people whose padded crops make them near-duplicates, so the figure drops a little below the plain oracle."""
    ann = coco_mini / VAL_ANN
    plain = run_topdown_oracle(ann)
    nms = run_topdown_oracle(ann, rescore_nms=True)
    kept = simplebaseline_rescore_nms(simplebaseline_msra_oracle(ann))
    assert len(kept) == 133
    reference = pycocotools_stats(ann, kept)
    assert nms == pytest.approx({k: reference[k] for k in KEYS}, abs=5e-4)
    assert reference["AP"] == pytest.approx(0.97215, abs=5e-5)
    assert plain["AP"] - 0.02 <= nms["AP"] < plain["AP"]


def test_smaller_input_is_worse(coco_mini):
    small = run_topdown_oracle(coco_mini / VAL_ANN, input_size=(64, 48), sigma=1.0)
    assert small["AP"] < 0.98


def test_cli_json(coco_mini, capsys):
    assert main(["oracle", "topdown", "--ann", str(coco_mini / VAL_ANN), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    reference = pycocotools_stats(coco_mini / VAL_ANN, simplebaseline_msra_oracle(coco_mini / VAL_ANN))
    assert out["AP"] == pytest.approx(reference["AP"], abs=1e-9)  # the defaults: MSRA, 256×192, σ = 2


def test_no_people_is_an_error(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text(
        json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}], "annotations": []})
    )
    with pytest.raises(DataError, match="no non-crowd person"):
        run_topdown_oracle(path)
