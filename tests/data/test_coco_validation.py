"""The one ground-truth validator (:func:`edgepose.data.coco.validate_coco_keypoints`) and the commands using it.

Each bad record is one that an earlier edgepose accepted or crashed on (issue 11, item 3): NaN keypoints that
``evaluate-results`` scored, keypoints given as strings that crashed ``train``/``oracle``, visibility 7, a
negative box size. The error must name the file and the record.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from edgepose.cli.main import main
from edgepose.data.coco import load_coco_keypoints, validate_coco_keypoints
from edgepose.errors import DataError


def _person(image_id: int = 1, x: float = 20.0, y: float = 30.0) -> dict:
    kp = []
    for j in range(17):
        kp += [x + 2.0 * (j % 5), y + 4.0 * j, 2]
    return {"id": 10 + image_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "num_keypoints": 17,
            "bbox": [x - 5, y - 5, 20.0, 80.0], "area": 1600.0, "keypoints": kp}  # fmt: skip


def _dataset() -> dict:
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 120},
                   {"id": 2, "file_name": "b.jpg", "width": 100, "height": 120}],
        "annotations": [_person(1), _person(2, 40.0, 20.0)],
        "categories": [{"id": 1, "name": "person"}],
    }


def _write(tmp_path: Path, data: dict, name: str = "gt.json") -> Path:
    path = tmp_path / name
    # allow_nan: json writes NaN as the bare token NaN, which Python's reader (and pycocotools) accept
    path.write_text(json.dumps(data, allow_nan=True))
    return path


def _bad(change) -> dict:
    data = copy.deepcopy(_dataset())
    change(data["annotations"][1])
    return data


BAD_RECORDS = {
    "nan keypoint": (lambda a: a["keypoints"].__setitem__(3, float("nan")), "NaN"),
    "keypoints as strings": (lambda a: a.__setitem__("keypoints", [str(v) for v in a["keypoints"]]), "number"),
    "visibility 7": (lambda a: a["keypoints"].__setitem__(5, 7), "visibility 7"),
    "boolean keypoint": (lambda a: a["keypoints"].__setitem__(0, True), "number"),
    "50 keypoint values": (lambda a: a.__setitem__("keypoints", a["keypoints"][:50]), "50 values"),
    "negative box width": (lambda a: a.__setitem__("bbox", [1, 2, -3, 4]), "negative"),
    "infinite box": (lambda a: a.__setitem__("bbox", [1, 2, float("inf"), 4]), "infinite"),
    "string image id": (lambda a: a.__setitem__("image_id", "2"), "image_id"),
    "fractional id": (lambda a: a.__setitem__("id", 3.5), "'id'"),
    "iscrowd 5": (lambda a: a.__setitem__("iscrowd", 5), "iscrowd"),
    "NaN area": (lambda a: a.__setitem__("area", float("nan")), "area"),
}


@pytest.mark.parametrize("kind", sorted(BAD_RECORDS))
def test_bad_records_are_rejected_naming_file_and_record(tmp_path, kind):
    change, words = BAD_RECORDS[kind]
    path = _write(tmp_path, _bad(change))
    with pytest.raises(DataError) as info:
        load_coco_keypoints(path)
    message = str(info.value)
    assert str(path) in message and "annotations[1]" in message and words in message, message


def test_good_files_pass_and_keypoint_count_is_inferred(tmp_path, coco_mini):
    assert validate_coco_keypoints(_dataset()) == 17
    real = coco_mini / "annotations" / "person_keypoints_val2017_mini.json"
    coco = load_coco_keypoints(real)
    assert sum(len(p) for p in coco.persons.values()) == 241  # every annotation of the mini set is valid
    data = _dataset()
    data["images"].append({"id": 1, "file_name": "c.jpg", "width": 10, "height": 10})
    with pytest.raises(DataError, match="duplicate image id 1"):
        validate_coco_keypoints(data, "x.json")


def test_evaluate_results_rejects_nan_ground_truth(tmp_path, capfd):
    gt = _write(tmp_path, _bad(lambda a: a["keypoints"].__setitem__(3, float("nan"))))
    results = tmp_path / "results.json"
    results.write_text(json.dumps([{"image_id": 1, "category_id": 1, "keypoints": [0.0] * 51, "score": 0.5}]))
    assert main(["evaluate-results", "--ann", str(gt), "--results", str(results)]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gt.json" in err and "annotations[1]" in err and "NaN" in err


@pytest.mark.parametrize("kind", ["keypoints as strings", "visibility 7"])
def test_oracle_rejects_bad_keypoints_on_one_line(tmp_path, capfd, kind):
    gt = _write(tmp_path, _bad(BAD_RECORDS[kind][0]))
    for oracle in ("topdown", "bottomup"):
        assert main(["oracle", oracle, "--ann", str(gt)]) == 2
        err = capfd.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "annotations[1]" in err, err


def test_topdown_oracle_says_how_many_people_it_skips(tmp_path, capfd):
    data = _dataset()
    outside = _person(2, 40.0, 20.0)
    outside["id"], outside["bbox"] = 99, [500.0, 600.0, 30.0, 40.0]  # entirely outside the 100x120 image
    data["annotations"].append(outside)
    assert main(["oracle", "topdown", "--ann", str(_write(tmp_path, data)), "--json"]) == 0
    out, err = capfd.readouterr()
    assert "skipped 1 annotations (1 box outside the image)" in err
    assert json.loads(out)["AP"] > 0.5


@pytest.mark.parametrize("kind", ["keypoints as strings", "visibility 7"])
def test_training_data_rejects_bad_keypoints(tmp_path, kind):
    """``edgepose train`` reads annotations through these two loaders (top-down records, bottom-up dataset)."""
    from edgepose.data.bottomup import BottomupDataConfig, BottomupDataset
    from edgepose.data.topdown import coco_records

    gt = _write(tmp_path, _bad(BAD_RECORDS[kind][0]))
    with pytest.raises(DataError, match=r"gt.json: annotations\[1\]"):
        coco_records(gt, tmp_path, (64, 48), train=True)
    with pytest.raises(DataError, match=r"gt.json: annotations\[1\]"):
        BottomupDataset.from_files(gt, tmp_path, BottomupDataConfig())
