"""The top-down codec oracle on the real COCO val mini set (134 people, GT boxes)."""

from __future__ import annotations

import json

import pytest

from edgepose.cli.main import main
from edgepose.errors import DataError
from edgepose.evaluation.oracle_topdown import run_topdown_oracle

VAL_ANN = "annotations/person_keypoints_val2017_mini.json"
KEYS = {"AP", "AP50", "AP75", "APM", "APL", "AR"}


def test_msra_and_dark_reach_the_expected_upper_bound(coco_mini):
    msra = run_topdown_oracle(coco_mini / VAL_ANN)
    dark = run_topdown_oracle(coco_mini / VAL_ANN, codec="dark")
    assert set(msra) == KEYS and set(dark) == KEYS
    assert msra["AP"] >= 0.98  # measured 0.9857 (SimpleBaseline conventions)
    assert dark["AP"] >= msra["AP"]  # measured 0.9881
    assert msra["AP50"] == pytest.approx(1.0)


def test_rescoring_and_nms_cost_at_most_a_little(coco_mini):
    plain = run_topdown_oracle(coco_mini / VAL_ANN)
    nms = run_topdown_oracle(coco_mini / VAL_ANN, rescore_nms=True)
    assert plain["AP"] - 0.02 <= nms["AP"] <= plain["AP"]  # measured 0.9721


def test_smaller_input_is_worse(coco_mini):
    small = run_topdown_oracle(coco_mini / VAL_ANN, input_size=(64, 48), sigma=1.0)
    assert small["AP"] < 0.98


def test_cli_json(coco_mini, capsys):
    assert main(["oracle", "topdown", "--ann", str(coco_mini / VAL_ANN), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["AP"] >= 0.98


def test_no_people_is_an_error(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text(
        json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}], "annotations": []})
    )
    with pytest.raises(DataError, match="no non-crowd person"):
        run_topdown_oracle(path)
