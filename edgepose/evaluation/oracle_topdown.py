"""The top-down codec oracle: ground truth -> heatmaps -> decoded poses -> COCOeval, without images.

For every non-crowd person with at least one labelled keypoint, its ground-truth box is turned into a crop
(:func:`~edgepose.geometry.box_to_center_scale`), its keypoints are mapped into the crop with the very
function the dataset uses (:func:`~edgepose.geometry.joints_to_crop`), encoded by the codec into
target heatmaps, decoded back by the same codec and back-projected to the image with the inverse affine the
predictor uses (:func:`~edgepose.geometry.crop_to_image`). The AP of these poses is the
best a perfect network could reach with this codec, input size and σ: the quantisation error of the codec.

Scores are the mean heatmap maximum over the 17 joints (unlabelled joints score 0), with no NMS, unless
``rescore_nms`` applies the evaluation's OKS rescoring (box score 1) and OKS-NMS.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgepose.codecs.heatmap import HeatmapCodec
from edgepose.data.coco import load_coco_keypoints
from edgepose.data.transforms import sanitize_box
from edgepose.errors import DataError
from edgepose.evaluation.coco import MAIN_STATS, evaluate_keypoints, postprocess_instances
from edgepose.geometry import PIXEL_STD, box_to_center_scale, crop_to_image, joints_to_crop


def oracle_instances(
    ann_path: str | Path, codec: HeatmapCodec, *, batch: int = 64, skipped: Counter | None = None
) -> list[dict]:
    """Encode and decode every ground-truth person of ``ann_path``; one instance dict per person.

    People the oracle cannot crop (a box entirely outside the image, zero-area boxes) are counted by reason in
    ``skipped`` when given, so the caller can say how many people the figures leave out.
    """
    coco = load_coco_keypoints(ann_path)
    if skipped is not None:
        skipped.update(coco.skipped)
    h, w = codec.input_size
    aspect = w / h
    metas: list[dict] = []
    targets: list[np.ndarray] = []
    for image_id in coco.image_ids():
        img = coco.images[image_id]
        for person in coco.persons[image_id]:
            if person.iscrowd or person.num_keypoints == 0:
                continue
            box = sanitize_box(person.bbox, img.width, img.height)
            if box is None:
                if skipped is not None:
                    skipped["box outside the image"] += 1
                continue
            center, scale = box_to_center_scale(box, aspect)
            crop_joints = joints_to_crop(person.keypoints, center, scale, 0.0, codec.input_size)
            target, _ = codec.encode(crop_joints)
            targets.append(target)
            metas.append({"image_id": image_id, "center": center, "scale": scale})
    if not metas:
        raise DataError("no non-crowd person with keypoints to run the oracle on", ann_path)
    instances: list[dict] = []
    for start in range(0, len(metas), batch):
        chunk = metas[start : start + batch]
        keypoints, scores = codec.decode(np.stack(targets[start : start + batch]))
        centers = np.stack([m["center"] for m in chunk])
        coords = crop_to_image(keypoints, centers, np.stack([m["scale"] for m in chunk]), codec.input_size)
        for m, xy, conf in zip(chunk, coords, scores):
            instances.append(
                {
                    "image_id": m["image_id"],
                    "keypoints": np.concatenate([xy, conf[:, None]], axis=1),
                    "box_score": 1.0,
                    "area": float(m["scale"][0] * m["scale"][1] * PIXEL_STD**2),
                }
            )
    return instances


def run_topdown_oracle(
    ann_path: str | Path,
    codec: str = "msra",
    input_size: Sequence[int] = (256, 192),
    sigma: float = 2.0,
    rescore_nms: bool = False,
    skipped: Counter | None = None,
) -> dict[str, float]:
    """The codec's COCO AP upper bound on ``ann_path``: keys AP, AP50, AP75, APM, APL, AR.

    ``skipped`` (optional) receives the counts of the people left out and why (see :func:`oracle_instances`).
    """
    heatmap_codec = HeatmapCodec(input_size=tuple(input_size), sigma=sigma, kind=codec)
    instances = oracle_instances(ann_path, heatmap_codec, skipped=skipped)
    results = postprocess_instances(instances, rescoring=rescore_nms, nms=rescore_nms)
    metrics = evaluate_keypoints(ann_path, results).metrics
    return {k: metrics[k] for k in MAIN_STATS}
