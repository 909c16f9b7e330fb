"""``score_coco_folder``: stand-in estimators that return the labelled people score AP 1, dropping them scores
less, and the top-down path gets the boxes of its box source (no torch, no network)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edgepose.codecs.paf import PafCodec, PafPoses
from edgepose.data.coco import load_coco_keypoints
from edgepose.errors import DataError
from edgepose.evaluation.coco_folder import score_coco_folder
from edgepose.keypoints import coco_to_openpose
from edgepose.runtime.poses import Person

N_IMAGES = 10  # 10 labelled people: 1, 1, 2, 2 and 4 on five of them


def _ann(coco_mini: Path) -> Path:
    return coco_mini / "annotations" / "person_keypoints_val2017_mini.json"


def _labelled(coco_mini: Path) -> list[tuple[int, np.ndarray]]:
    """(image id, (P, 17, 3) labelled COCO keypoints, pixel centres) of the first images of the file."""
    coco = load_coco_keypoints(_ann(coco_mini))
    out = []
    for image_id in list(coco.image_ids())[:N_IMAGES]:
        people = [p for p in coco.persons[image_id] if not p.iscrowd and p.num_keypoints > 0]
        kp = np.stack([p.keypoints for p in people]).astype(np.float64) if people else np.zeros((0, 17, 3))
        kp[..., :2] -= 0.5  # COCO continuous -> pixel centres (the codec adds coco_offset back)
        out.append((image_id, kp))
    return out


class PerfectBottomUp:
    """Returns the labelled people of each image in turn (at most ``most``), as a bottom-up decoder would."""

    task = "bottomup"
    info = SimpleNamespace(keypoints="openpose18", model_name="perfect")
    codec = PafCodec()

    def __init__(self, labelled: list[tuple[int, np.ndarray]], most: int = 100) -> None:
        self.queue, self.most = list(labelled), most

    def bottomup_poses(self, image: np.ndarray) -> PafPoses:
        _, kp = self.queue.pop(0)
        kp = kp[: self.most]
        op = coco_to_openpose(kp)
        found = op[..., 2] > 0
        op[..., 2] = found
        return PafPoses(op, found, np.ones(len(op)), found.sum(1).astype(np.int64))


def test_perfect_bottomup_scores_one(coco_mini: Path) -> None:
    res = score_coco_folder(PerfectBottomUp(_labelled(coco_mini)), _ann(coco_mini), coco_mini / "images" / "val2017",
                            max_images=N_IMAGES, progress=False)  # fmt: skip
    assert res.images == N_IMAGES
    assert res.metrics["AP"] > 0.99 and res.metrics["AR"] > 0.99
    assert set(res.metrics) == {"AP", "AP50", "AP75", "APm", "APl", "AR"}


def test_missing_people_cost_recall(coco_mini: Path) -> None:
    """One person per image: 5 of the 10 people are found, so recall is about half."""
    res = score_coco_folder(PerfectBottomUp(_labelled(coco_mini), most=1), _ann(coco_mini),
                            coco_mini / "images" / "val2017", max_images=N_IMAGES, progress=False)  # fmt: skip
    assert 0.4 < res.metrics["AR"] < 0.6 and res.metrics["AP"] < 0.7


class BoxEcho:
    """A top-down stand-in: for each box it is given, the labelled person whose box it is."""

    task = "topdown"
    info = SimpleNamespace(keypoints="coco", model_name="echo")
    coco_offset = 0.0
    nms_threshold = 0.7

    def __init__(self, people: dict[tuple, np.ndarray]) -> None:
        self.people, self.seen = people, []

    def predict_topdown(self, image, boxes, scores):
        assert self.nms_threshold is None  # the scorer runs evaluation's OKS-NMS itself
        self.seen.append(len(boxes))
        return [Person(self.people[tuple(np.round(b, 2))], float(s), box=b) for b, s in zip(boxes, scores)]


def test_topdown_uses_its_box_source(coco_mini: Path) -> None:
    coco = load_coco_keypoints(_ann(coco_mini))
    ids = list(coco.image_ids())[:N_IMAGES]
    boxes, people = {}, {}
    for i in ids:
        ps = [p for p in coco.persons[i] if not p.iscrowd and p.num_keypoints > 0]
        boxes[i] = np.array([p.bbox for p in ps]).reshape(-1, 4)
        for p in ps:
            kp = p.keypoints.astype(np.float64)
            # unlabelled joints: at the box centre, as a network would put them somewhere (left at (0, 0), two
            # sparsely labelled people would look identical to OKS-NMS)
            kp[kp[:, 2] == 0, :2] = p.bbox[:2] + p.bbox[2:] / 2
            people[tuple(np.round(p.bbox, 2))] = kp
    echo = BoxEcho(people)
    res = score_coco_folder(echo, _ann(coco_mini), coco_mini / "images" / "val2017",
                            box_source=lambda image, i: (boxes[i], np.ones(len(boxes[i]))),
                            max_images=N_IMAGES, progress=False)  # fmt: skip
    assert res.metrics["AP"] > 0.99
    assert echo.seen == [len(boxes[i]) for i in ids if len(boxes[i])]
    assert echo.nms_threshold == 0.7  # restored


def test_topdown_without_boxes(coco_mini: Path) -> None:
    with pytest.raises(DataError, match="--boxes"):
        score_coco_folder(BoxEcho({}), _ann(coco_mini), coco_mini / "images" / "val2017", progress=False)
