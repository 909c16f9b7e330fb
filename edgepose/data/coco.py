"""Reading COCO person-keypoint files (and detection-result files) into plain arrays.

Validation happens here, once, with errors that name the file and the field: a truncated JSON, a record with
the wrong number of keypoint values, or a NaN coordinate is reported as one line, never as a KeyError deep
in a data loader. Records that are wrong but harmless to skip (zero-area boxes, persons whose keypoints are all
unlabelled) are counted in :attr:`CocoKeypoints.skipped` instead.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.errors import DataError


@dataclass(frozen=True)
class CocoImage:
    id: int
    file_name: str
    width: int
    height: int


@dataclass
class CocoPerson:
    """One person annotation. ``keypoints`` is (K, 3) float64 of (x, y, v) in COCO's pixel convention."""

    id: int
    image_id: int
    bbox: np.ndarray  # (4,) x, y, w, h
    keypoints: np.ndarray  # (K, 3)
    num_keypoints: int
    area: float
    iscrowd: bool
    segmentation: Any = None


@dataclass
class CocoKeypoints:
    """A person-keypoint annotation file: images, persons per image, and what was skipped and why."""

    path: Path
    images: dict[int, CocoImage]
    persons: dict[int, list[CocoPerson]]  # image id -> persons (crowd regions included, flagged iscrowd)
    num_keypoints: int
    skipped: Counter = field(default_factory=Counter)

    def image_ids(self) -> list[int]:
        return sorted(self.images)

    def image_path(self, image_id: int, image_root: str | Path) -> Path:
        return Path(image_root) / self.images[image_id].file_name


def read_json(path: str | Path) -> Any:
    """Load a JSON file; missing or malformed files raise DataError naming the file (and line)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    try:
        with path.open("r", encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", path) from None
    except UnicodeDecodeError:
        raise DataError("not a UTF-8 text file", path) from None


def _require(record: dict, key: str, path: Path, where: str) -> Any:
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected an object, got {type(record).__name__}", path)
    if key not in record:
        raise DataError(f"{where}: missing field {key!r}", path)
    return record[key]


def load_coco_keypoints(path: str | Path, num_keypoints: int = 17) -> CocoKeypoints:
    """Read a COCO person-keypoints JSON with validation (see module docstring).

    Persons with all keypoints unlabelled are kept (they matter for crowd/ignore masks and evaluation) but
    ``num_keypoints`` says so; non-finite coordinates raise, zero-area non-crowd boxes are skipped and counted.
    """
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError("top level must be an object with 'images' and 'annotations'", path)
    raw_images = _require(data, "images", path, "<root>")
    raw_anns = _require(data, "annotations", path, "<root>")
    if not isinstance(raw_images, list) or not isinstance(raw_anns, list):
        raise DataError("'images' and 'annotations' must be lists", path)
    images: dict[int, CocoImage] = {}
    for i, rec in enumerate(raw_images):
        where = f"images[{i}]"
        try:
            img = CocoImage(
                id=int(_require(rec, "id", path, where)),
                file_name=str(_require(rec, "file_name", path, where)),
                width=int(_require(rec, "width", path, where)),
                height=int(_require(rec, "height", path, where)),
            )
        except (TypeError, ValueError):
            raise DataError(f"{where}: id/width/height must be integers", path) from None
        if img.width <= 0 or img.height <= 0:
            raise DataError(f"{where}: non-positive image size {img.width}x{img.height}", path)
        images[img.id] = img
    persons: dict[int, list[CocoPerson]] = {i: [] for i in images}
    skipped: Counter = Counter()
    for i, rec in enumerate(raw_anns):
        where = f"annotations[{i}]"
        image_id = _require(rec, "image_id", path, where)
        if image_id not in images:
            raise DataError(f"{where}: image_id {image_id} is not in 'images'", path)
        if rec.get("category_id", 1) != 1:
            skipped["not a person"] += 1
            continue
        iscrowd = bool(rec.get("iscrowd", 0))
        bbox = np.asarray(rec.get("bbox", [0, 0, 0, 0]), dtype=np.float64)
        if bbox.shape != (4,) or not np.all(np.isfinite(bbox)):
            raise DataError(f"{where}: 'bbox' must be 4 finite numbers, got {rec.get('bbox')!r}", path)
        raw_kp = rec.get("keypoints", [0] * (3 * num_keypoints))
        kp = np.asarray(raw_kp, dtype=np.float64)
        if kp.size != 3 * num_keypoints:
            raise DataError(f"{where}: 'keypoints' has {kp.size} values, expected {3 * num_keypoints}", path)
        kp = kp.reshape(num_keypoints, 3)
        if not np.all(np.isfinite(kp)):
            raise DataError(f"{where}: 'keypoints' contains NaN or infinite values", path)
        kp[kp[:, 2] <= 0] = 0.0  # an unlabelled joint has no position
        if not iscrowd and (bbox[2] <= 0 or bbox[3] <= 0):
            skipped["zero-area box"] += 1
            continue
        area = float(rec.get("area", bbox[2] * bbox[3]))
        persons[image_id].append(
            CocoPerson(
                id=int(rec.get("id", i)),
                image_id=int(image_id),
                bbox=bbox,
                keypoints=kp,
                num_keypoints=int((kp[:, 2] > 0).sum()),
                area=area if math.isfinite(area) else float(bbox[2] * bbox[3]),
                iscrowd=iscrowd,
                segmentation=rec.get("segmentation"),
            )
        )
    return CocoKeypoints(path=path, images=images, persons=persons, num_keypoints=num_keypoints, skipped=skipped)


def load_detections(path: str | Path, score_threshold: float = 0.0) -> dict[int, list[tuple[np.ndarray, float]]]:
    """Read a COCO detection-results file: image id -> [(bbox xywh, score)], persons above the threshold."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError("a detection-results file must be a JSON list of {image_id, bbox, score}", path)
    out: dict[int, list[tuple[np.ndarray, float]]] = {}
    for i, rec in enumerate(data):
        where = f"[{i}]"
        image_id = int(_require(rec, "image_id", path, where))
        bbox = np.asarray(_require(rec, "bbox", path, where), dtype=np.float64)
        score = float(rec.get("score", 1.0))
        if bbox.shape != (4,) or not np.all(np.isfinite(bbox)):
            raise DataError(f"{where}: 'bbox' must be 4 finite numbers", path)
        if rec.get("category_id", 1) != 1 or score < score_threshold or bbox[2] <= 0 or bbox[3] <= 0:
            continue
        out.setdefault(image_id, []).append((bbox, score))
    return out
