"""The bottom-up codec oracle: ground truth -> heatmaps + PAFs -> peaks + grouping -> COCOeval, without images.

For each image of the annotation file (sizes from the JSON) the ground truth is scaled as the predictor scales
the image (height -> ``height``, width padded on the right to a multiple of the stride), every non-crowd person
with labelled keypoints is rendered into one image's 19 heatmaps and 38 PAFs at stride 8 by
:meth:`PafCodec.encode`, and the real decoder (:meth:`PafCodec.decode`: cubic upsampling, peaks, PAF scoring,
grouping) turns them back into persons, mapped back to the image. The AP of those persons is what a perfect
network could reach with these targets and this decoder: people lost here (too few keypoints, crowded or
crossing limbs whose PAFs overwrite each other, a missing neck that splits a person) are lost by the codec.

``codec`` picks the decoder settings; :meth:`PafCodec.lwop` reproduces Lightweight OpenPose's decoding.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.codecs.paf import PafCodec, PafPoses, input_geometry
from edgepose.data.coco import load_coco_keypoints
from edgepose.errors import DataError
from edgepose.evaluation.coco import MAIN_STATS, evaluate_keypoints
from edgepose.keypoints import coco_to_openpose

__all__ = ["input_geometry", "oracle_records", "poses_to_records", "run_bottomup_oracle"]


def poses_to_records(image_id: int, poses: PafPoses, codec: PafCodec) -> list[dict[str, Any]]:
    """COCO result records (COCO-17 keypoints, v=1 where found, person score) for one image."""
    kps, scores = poses.to_coco(codec.coco_offset)
    return [
        {
            "image_id": int(image_id),
            "category_id": 1,
            "keypoints": [round(float(v), 3) for v in kp.reshape(-1)],
            "score": float(score),
        }
        for kp, score in zip(kps, scores)
    ]


def oracle_records(
    ann_path: str | Path,
    *,
    height: int = 368,
    codec: PafCodec | None = None,
    num_keypoints: int = 17,
    skipped: Counter | None = None,
) -> list[dict[str, Any]]:
    """Encode and decode every image of ``ann_path``; COCO result records of the decoded persons.

    Annotations the loader skips (zero-area boxes, other categories) are counted in ``skipped`` when given.
    """
    codec = codec or PafCodec()
    coco = load_coco_keypoints(ann_path, num_keypoints=num_keypoints)
    if skipped is not None:
        skipped.update(coco.skipped)
    records: list[dict[str, Any]] = []
    for image_id in coco.image_ids():
        img = coco.images[image_id]
        people = [p for p in coco.persons[image_id] if not p.iscrowd and p.num_keypoints > 0]
        if not people:
            continue
        in_h, in_w, padded_h, padded_w, sx, sy = input_geometry(img.width, img.height, height, codec.stride)
        kp = np.stack([p.keypoints for p in people]).astype(np.float64)
        labelled = kp[..., 2] > 0
        # COCO (continuous) -> image pixel centres -> input pixel centres (pixel-centre-preserving resize)
        kp[..., 0] = np.where(labelled, (kp[..., 0] - codec.coco_offset + 0.5) * sx - 0.5, 0.0)
        kp[..., 1] = np.where(labelled, (kp[..., 1] - codec.coco_offset + 0.5) * sy - 0.5, 0.0)
        heat, pafs = codec.encode(coco_to_openpose(kp), (padded_h, padded_w))
        poses = codec.decode(heat, pafs, valid_size=(in_h, in_w))
        records.extend(poses_to_records(image_id, poses.scaled(sx, sy), codec))
    return records


def run_bottomup_oracle(
    ann_path: str | Path, height: int = 368, codec: PafCodec | None = None, skipped: Counter | None = None
) -> dict[str, float]:
    """The bottom-up codec's COCO AP upper bound on ``ann_path``: keys AP, AP50, AP75, APM, APL, AR."""
    records = oracle_records(ann_path, height=height, codec=codec, skipped=skipped)
    if not records:
        raise DataError("the oracle decoded no person (no non-crowd person with keypoints?)", ann_path)
    metrics = evaluate_keypoints(ann_path, records).metrics
    return {k: float(metrics[k]) for k in MAIN_STATS}
