"""The per-image pipeline (read -> boxes -> estimate -> draw -> record) that predict, demo and pck share.

A stand-in estimator returns hand-made poses, so each assertion is about the pipeline: what it says per image
(never a silent blank), what it draws (faint poses faintly), the one JSON schema and when results are written.
The last tests run the real shipped model through ``PoseEstimator()``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgepose.errors import DataError
from edgepose.keypoints import get_keypoint_spec
from edgepose.runtime.pipeline import RESULTS_FORMAT, PosePipeline, ResultsWriter, joints_drawn
from edgepose.runtime.poses import Person
from edgepose.runtime.preprocess import MIN_PERSON_PIXELS, check_person_image
from edgepose.runtime.sources import Frame

LSP = get_keypoint_spec("lsp")


class Info:
    model_name, task, keypoints, input_size = "stand_in", "topdown", "lsp", (64, 64)


class StandIn:
    """Answers every call with ``poses`` (one per box, or one for the whole image) and records the boxes."""

    task, flip_test, bottomup_flip, refine, coco_offset = "topdown", True, False, 1, 0.0
    info, keypoint_spec, draw_skeleton = Info(), LSP, LSP.skeleton

    def __init__(self, scores: list[float]) -> None:
        self.scores, self.calls = scores, []

    def __call__(self, image, boxes=None, box_scores=None):
        self.calls.append(None if boxes is None else np.asarray(boxes))
        h, w = image.shape[:2]
        out = []
        for s in self.scores:
            kp = np.zeros((14, 3))
            kp[:, 0], kp[:, 1], kp[:, 2] = np.linspace(10, w - 10, 14), np.linspace(10, h - 10, 14), s
            out.append(Person(kp, float(s), box=[0, 0, w, h]))
        return out


def nobody(image, image_id=0):
    return np.zeros((0, 4)), np.zeros(0)


IMAGE = np.full((120, 100, 3), 90, np.uint8)


def test_a_confident_pose_and_a_faint_one_are_counted_and_said():
    result = PosePipeline(StandIn([0.9, 0.2]), threshold=0.3)(IMAGE, name="a.jpg")
    assert [joints_drawn(p, 0.3) for p in result.persons] == [14, 0]
    assert len(result.faint) == 1
    line = result.line()
    assert line.startswith("a.jpg") and "2 people" in line
    assert "1 with every joint below the drawing threshold 0.3" in line
    assert "best 0.20" in line and "--threshold 0.2 draws it" in line
    one = PosePipeline(StandIn([0.12]), threshold=0.3)(IMAGE, name="b.jpg").summary()
    assert one.startswith("1 person, but every joint is below the drawing threshold 0.3 (best 0.12)"), one
    assert PosePipeline(StandIn([0.9]))(IMAGE).summary() == "1 person"


def test_a_detector_that_finds_nobody_is_said_or_falls_back_to_the_whole_image():
    est = StandIn([0.9])
    result = PosePipeline(est, nobody, boxes="hog")(IMAGE, name="x.jpg")
    assert result.persons == [] and est.calls == [], "no box: the estimator is not asked for a whole-image pose"
    assert result.summary() == "nobody found (hog found no person box)"
    fallback = PosePipeline(est, nobody, boxes="hog", fallback_whole_image=True)(IMAGE)
    assert len(fallback.persons) == 1 and est.calls == [None], "the whole image was the box"
    assert fallback.boxes == "image" and "hog found no person box: the whole image used" in fallback.summary()


def test_given_boxes_bypass_the_box_source():
    est = StandIn([0.9])
    PosePipeline(est, nobody, boxes="hog")(IMAGE, boxes=np.array([[1.0, 2.0, 30.0, 40.0]]))
    np.testing.assert_array_equal(est.calls[0], [[1.0, 2.0, 30.0, 40.0]])


def test_the_record_schema_holds_every_pose_with_its_scores():
    result = PosePipeline(StandIn([0.9, 0.1]))(IMAGE, name="c.jpg", index=3, image_id=785)
    result.persons[0].keypoints[2, 0] = np.nan  # a joint the decoder could not place: null, not NaN, in JSON
    record = json.loads(json.dumps(result.to_record(), allow_nan=False))
    assert set(record) == {"file", "image_id", "width", "height", "seconds", "boxes", "note", "people"}
    assert (record["file"], record["image_id"], record["width"], record["height"]) == ("c.jpg", 785, 100, 120)
    assert [p["score"] for p in record["people"]] == [0.9, 0.1] and record["boxes"] == "image"
    first = record["people"][0]
    assert len(first["keypoints"]) == 14 and first["keypoints"][2][0] is None
    assert first["keypoints"][0] == [10.0, 10.0, 0.9] and first["joints_drawn"] == 13
    assert record["people"][1]["joints_drawn"] == 0
    coco = result.to_coco()
    assert [r["image_id"] for r in coco] == [785, 785] and len(coco[0]["keypoints"]) == 14 * 3


def test_images_too_small_to_hold_a_person_are_refused_and_a_folder_skips_them(tmp_path):
    sliver = np.zeros((4, 2000, 3), np.uint8)
    with pytest.raises(DataError, match=rf"sliver.png: image is 2000x4 pixels, too small .* {MIN_PERSON_PIXELS}"):
        check_person_image(sliver, "sliver.png")
    check_person_image(np.zeros((MIN_PERSON_PIXELS, MIN_PERSON_PIXELS, 3), np.uint8))
    frames = [Frame(sliver, "sliver.png", 0, tmp_path / "sliver.png"), Frame(IMAGE, "ok.jpg", 1, tmp_path / "ok.jpg"),
              Frame(None, "bad.jpg", 2, tmp_path / "bad.jpg", error="bad.jpg: cannot decode")]  # fmt: skip
    out = list(PosePipeline(StandIn([0.9])).run(frames))
    assert [r is None for _, r in out] == [True, False, True]
    assert "too small to hold a person" in out[0][0].error and str(tmp_path / "sliver.png") in out[0][0].error


def test_faint_poses_are_drawn_faintly_and_confident_ones_fully():
    pipeline = PosePipeline(StandIn([0.1]), threshold=0.3)
    result = pipeline(IMAGE)
    faint = pipeline.draw(IMAGE, result)
    changed = np.abs(faint.astype(int) - IMAGE.astype(int)).max(axis=2)
    assert (changed > 20).sum() > 50, "the faint pose is drawn"
    from edgepose.vis.draw import draw_poses

    hidden = draw_poses(IMAGE, result.persons, skeleton=LSP.skeleton, threshold=0.3, boxes=False, faint=False)
    assert (hidden == IMAGE).all(), "faint=False leaves it out"
    full = PosePipeline(StandIn([0.9]), threshold=0.3).draw(IMAGE, result := PosePipeline(StandIn([0.9]))(IMAGE))
    assert result.persons and changed.max() < np.abs(full.astype(int) - IMAGE.astype(int)).max(axis=2).max(), (
        "faint is fainter than full")


def test_results_are_written_whole_and_only_with_something_new(tmp_path):
    coco, doc = tmp_path / "r.json", tmp_path / "r.meta.json"
    coco.write_text("[1, 2, 3]")  # an earlier run's results
    pipeline = PosePipeline(StandIn([0.9]))
    writer = ResultsWriter(pipeline, doc, coco=coco, every=2, model="stand_in.onnx", source="x/")
    assert writer.flush() is False and coco.read_text() == "[1, 2, 3]" and not doc.exists()
    writer.add(pipeline(IMAGE, name="a.jpg"))
    assert coco.read_text() == "[1, 2, 3]", "every=2: not yet"
    writer.add(pipeline(IMAGE, name="b.jpg", index=1))
    assert len(json.loads(coco.read_text())) == 2
    document = json.loads(doc.read_text())
    assert document["format"] == RESULTS_FORMAT and document["keypoint_names"] == list(LSP.names)
    assert document["model"] == "stand_in.onnx" and document["source"] == "x/" and document["refine"] == 1
    assert [r["file"] for r in document["images"]] == ["a.jpg", "b.jpg"]
    mtime = coco.stat().st_mtime_ns
    assert writer.flush() is False and coco.stat().st_mtime_ns == mtime, "nothing new: not rewritten"


def test_a_bad_drawing_threshold_is_refused():
    for bad in (float("nan"), -5.0):
        with pytest.raises(Exception, match="threshold"):
            PosePipeline(StandIn([0.9]), threshold=bad)


# ------------------------------------------------------------------------------- the shipped model
def test_pose_estimator_with_no_arguments_is_the_shipped_model_with_the_cli_defaults():
    from edgepose.assets import shipped_onnx
    from edgepose.runtime import PoseEstimator
    from edgepose.runtime.estimator import default_refine
    from edgepose.runtime.session import OnnxNetwork

    estimator = PoseEstimator(threads=1)
    info = OnnxNetwork(shipped_onnx(), threads=1).info  # read independently of the estimator
    assert estimator.info == info and estimator.flip_test is True
    assert estimator.refine == default_refine(info) == (1 if info.task == "topdown" else 0)
    assert PoseEstimator(Path(shipped_onnx()), threads=1).refine == estimator.refine
    with pytest.raises(DataError, match="too small to hold a person"):
        estimator(np.zeros((4, 2000, 3), np.uint8))
    with pytest.raises(Exception, match="refine passes must be in 0..5"):
        PoseEstimator(threads=1, refine=1000)
