"""Reading COCO person-keypoint files (and detection-result files) into plain arrays.

Validation happens here, once (:func:`validate_coco_keypoints`, used by every command that reads ground truth),
with errors that name the file, the record and the field: a truncated JSON, a record with the wrong number of
keypoint values, keypoints given as strings, a visibility of 7 or a NaN coordinate is reported as one line,
never as a KeyError deep in a data loader or as a silently wrong AP. Records that are wrong but harmless to
skip (zero-area boxes, other categories) are counted in :attr:`CocoKeypoints.skipped` instead.
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
    from edgepose.pathkind import require_file

    path = require_file(path, "JSON file")  # a folder or a named pipe is said as such, never read
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


# ------------------------------------------------------------------------------------------ validation
def _is_number(value: Any) -> bool:
    """A JSON number (``bool`` is not one, although Python says it is an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value: Any, field_name: str, path: Path | None, where: str) -> int:
    """An integral JSON number (``785`` or ``785.0``); strings, booleans and fractions raise DataError."""
    if not _is_number(value) or not math.isfinite(value) or int(value) != value:
        raise DataError(f"{where}: {field_name!r} must be an integer, got {value!r}", path)
    return int(value)


def _numbers(value: Any, field_name: str, path: Path | None, where: str) -> np.ndarray:
    """A list of finite JSON numbers as float64; strings ("12"), booleans, NaN and inf raise DataError."""
    if not isinstance(value, (list, tuple)):
        raise DataError(f"{where}: {field_name!r} must be a list of numbers, got {type(value).__name__}", path)
    for j, v in enumerate(value):
        if not _is_number(v):
            raise DataError(f"{where}: {field_name!r}[{j}] must be a number, got {v!r}", path)
        if not math.isfinite(v):
            raise DataError(f"{where}: {field_name!r}[{j}] is {v!r} (NaN or infinite)", path)
    return np.asarray(value, dtype=np.float64)


def validate_person_annotation(
    rec: Any, num_keypoints: int | None, path: Path | None, where: str
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Check one COCO person annotation; returns ``(bbox (4,) or None, keypoints (K, 3) or None)``.

    Every field that a loader or COCOeval reads is checked for type and range, so a record that would make
    a data loader crash (keypoints given as strings) or an evaluation silently wrong (NaN coordinates, which
    make every OKS NaN; visibility 7) is reported by file, record and field instead:

    * ``id``, ``image_id``, ``category_id`` integers; ``iscrowd`` 0/1 (or a boolean);
    * ``bbox`` 4 finite numbers with non-negative width and height;
    * ``keypoints`` (optional for crowd regions) a flat list of ``3 K`` finite numbers with visibility in
      {0, 1, 2}; ``K`` is ``num_keypoints`` when given;
    * ``num_keypoints`` a non-negative integer, ``area`` a finite non-negative number, when present.
    """
    if not isinstance(rec, dict):
        raise DataError(f"{where}: expected an object, got {type(rec).__name__}", path)
    _integer(_require(rec, "image_id", path, where), "image_id", path, where)
    for key in ("id", "category_id", "num_keypoints"):
        if key in rec:
            value = _integer(rec[key], key, path, where)
            if key == "num_keypoints" and value < 0:
                raise DataError(f"{where}: 'num_keypoints' must be >= 0, got {value}", path)
    if "iscrowd" in rec and rec["iscrowd"] not in (0, 1):  # True/False compare equal to 1/0
        raise DataError(f"{where}: 'iscrowd' must be 0 or 1, got {rec['iscrowd']!r}", path)
    if "area" in rec:
        area = rec["area"]
        if not _is_number(area) or not math.isfinite(area) or area < 0:
            raise DataError(f"{where}: 'area' must be a finite number >= 0, got {area!r}", path)
    bbox = None
    if "bbox" in rec:
        bbox = _numbers(rec["bbox"], "bbox", path, where)
        if bbox.shape != (4,):
            raise DataError(f"{where}: 'bbox' must be 4 numbers [x, y, w, h], got {len(bbox)}", path)
        if bbox[2] < 0 or bbox[3] < 0:
            raise DataError(f"{where}: 'bbox' has a negative width or height: {rec['bbox']!r}", path)
    kp = None
    if "keypoints" in rec:
        kp = _numbers(rec["keypoints"], "keypoints", path, where)
        if kp.size % 3 or (num_keypoints is not None and kp.size != 3 * num_keypoints):
            expected = "a multiple of 3" if num_keypoints is None else str(3 * num_keypoints)
            raise DataError(f"{where}: 'keypoints' has {kp.size} values, expected {expected}", path)
        kp = kp.reshape(-1, 3)
        bad = ~np.isin(kp[:, 2], (0.0, 1.0, 2.0))
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise DataError(f"{where}: keypoint {j} has visibility {kp[j, 2]:g}; COCO allows 0, 1 or 2", path)
    return bbox, kp


def validate_coco_keypoints(data: Any, path: str | Path | None = None, num_keypoints: int | None = None) -> int:
    """Validate a COCO person-keypoints dataset (the parsed JSON) and return its number of keypoints ``K``.

    The one validator for ground truth, used by every command that reads annotations (training data,
    ``oracle``, ``evaluate-results``): images need integer ids, a file name and positive integer sizes;
    annotations are checked by :func:`validate_person_annotation` and must all have the same ``K``
    (``num_keypoints`` when given) and an ``image_id`` listed in ``images``. The first problem raises
    :class:`DataError` naming the file and the record.
    """
    path = None if path is None else Path(path)
    if not isinstance(data, dict):
        raise DataError("top level must be an object with 'images' and 'annotations'", path)
    raw_images = _require(data, "images", path, "<root>")
    raw_anns = _require(data, "annotations", path, "<root>")
    if not isinstance(raw_images, list) or not isinstance(raw_anns, list):
        raise DataError("'images' and 'annotations' must be lists", path)
    image_ids: set[int] = set()
    for i, rec in enumerate(raw_images):
        where = f"images[{i}]"
        image_id = _integer(_require(rec, "id", path, where), "id", path, where)
        if not isinstance(_require(rec, "file_name", path, where), str):
            raise DataError(f"{where}: 'file_name' must be a string, got {rec['file_name']!r}", path)
        for key in ("width", "height"):
            size = _integer(_require(rec, key, path, where), key, path, where)
            if size <= 0:
                raise DataError(f"{where}: {key!r} must be positive, got {size}", path)
        if image_id in image_ids:
            raise DataError(f"{where}: duplicate image id {image_id}", path)
        image_ids.add(image_id)
    k = num_keypoints
    ann_ids: dict[int, int] = {}  # COCOeval indexes annotations by id: a duplicate silently scores every metric -1
    for i, rec in enumerate(raw_anns):
        where = f"annotations[{i}]"
        _, kp = validate_person_annotation(rec, k, path, where)
        if "id" in rec:
            ann_id = _integer(rec["id"], "id", path, where)
            if ann_id in ann_ids:
                raise DataError(f"{where}: duplicate annotation id {ann_id} (also annotations[{ann_ids[ann_id]}]); "
                                "COCO annotation ids must be unique", path)  # fmt: skip
            ann_ids[ann_id] = i
        if kp is not None and k is None:
            k = len(kp)
        if int(rec["image_id"]) not in image_ids:
            raise DataError(f"{where}: image_id {rec['image_id']} is not in 'images'", path)
    return 17 if k is None else k


def load_coco_keypoints(path: str | Path, num_keypoints: int = 17) -> CocoKeypoints:
    """Read a COCO person-keypoints JSON with validation (:func:`validate_coco_keypoints`).

    Persons with all keypoints unlabelled are kept (they matter for crowd/ignore masks and evaluation) but
    ``num_keypoints`` says so; invalid records raise, zero-area non-crowd boxes and non-person categories are
    skipped and counted in ``skipped``.
    """
    path = Path(path)
    data = read_json(path)
    validate_coco_keypoints(data, path, num_keypoints)
    images: dict[int, CocoImage] = {}
    for rec in data["images"]:
        img = CocoImage(id=int(rec["id"]), file_name=rec["file_name"], width=int(rec["width"]),
                        height=int(rec["height"]))  # fmt: skip
        images[img.id] = img
    persons: dict[int, list[CocoPerson]] = {i: [] for i in images}
    skipped: Counter = Counter()
    for i, rec in enumerate(data["annotations"]):
        image_id = int(rec["image_id"])
        if rec.get("category_id", 1) != 1:
            skipped["not a person"] += 1
            continue
        iscrowd = bool(rec.get("iscrowd", 0))
        bbox = np.asarray(rec.get("bbox", [0, 0, 0, 0]), dtype=np.float64)
        kp = np.asarray(rec.get("keypoints", [0] * (3 * num_keypoints)), dtype=np.float64).reshape(num_keypoints, 3)
        kp[kp[:, 2] <= 0] = 0.0  # an unlabelled joint has no position
        if not iscrowd and (bbox[2] <= 0 or bbox[3] <= 0):
            skipped["zero-area box"] += 1
            continue
        area = float(rec.get("area", bbox[2] * bbox[3]))
        persons[image_id].append(
            CocoPerson(
                id=int(rec.get("id", i)),
                image_id=image_id,
                bbox=bbox,
                keypoints=kp,
                num_keypoints=int((kp[:, 2] > 0).sum()),
                area=area,
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
        image_id = _integer(_require(rec, "image_id", path, where), "image_id", path, where)
        bbox = _numbers(_require(rec, "bbox", path, where), "bbox", path, where)
        score = rec.get("score", 1.0)
        if not _is_number(score) or not math.isfinite(score):
            raise DataError(f"{where}: 'score' must be a finite number, got {score!r}", path)
        if bbox.shape != (4,):
            raise DataError(f"{where}: 'bbox' must be 4 numbers [x, y, w, h], got {len(bbox)}", path)
        if rec.get("category_id", 1) != 1 or score < score_threshold or bbox[2] <= 0 or bbox[3] <= 0:
            continue
        out.setdefault(image_id, []).append((bbox, score))
    return out
