"""``PoseEstimator``: image in, :class:`~edgepose.runtime.poses.Person` list out, for both pipelines.

The estimator owns pre-processing (:mod:`edgepose.runtime.preprocess`) and decoding (the numpy codecs of
:mod:`edgepose.codecs`); the network is any callable ``(N, 3, H, W) float32 -> {output name: array}``:

* :meth:`PoseEstimator.from_onnx` wraps an ONNX Runtime session (torch-free: this is the device path);
* :func:`edgepose.engine.predict.torch_estimator` wraps a PyTorch model in the very same estimator, so
  ``edgepose predict --weights`` and ``edgepose predict --onnx`` differ only in the network's arithmetic.

Top-down models need person boxes (``boxes`` ``(N, 4)`` xywh, optional ``box_scores``); without them the
whole image is one box. Boxes that cannot hold a person are dropped, boxes reaching far beyond the image
clipped (:func:`~edgepose.runtime.boxes.clean_boxes`), and both counted in :attr:`PoseEstimator.box_counts`.
With ``nms_threshold`` the top-down poses go through OKS-NMS (:mod:`edgepose.evaluation.nms`, numpy only), so
overlapping detector boxes of one person give one skeleton, not a stack of near-identical ones. Bottom-up
models ignore boxes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from edgepose.codecs.heatmap import HeatmapCodec
from edgepose.errors import ConfigError, DataError
from edgepose.evaluation.nms import keypoint_sigmas, oks_nms
from edgepose.keypoints import COCO_SKELETON, get_keypoint_spec, openpose_to_coco
from edgepose.runtime.boxes import clean_boxes
from edgepose.runtime.model_info import ModelInfo
from edgepose.runtime.poses import Person, keypoint_box
from edgepose.runtime.preprocess import bottomup_input, check_image, flip_batch, topdown_inputs

Network = Callable[[np.ndarray], dict[str, np.ndarray]]

# HRNet's rescoring: person score = box score x mean confidence of the joints above this.
KEYPOINT_SCORE_THRESHOLD = 0.2
# A refinement pass re-crops a box only around this many confident joints (fewer: the box is kept).
REFINE_MIN_JOINTS = 4
# The CLIs' default number of refinement passes (predict, demo, pck). Measured with the shipped model on the
# LSPet validation images with whole-image boxes: PCK@0.2 0.227 with none, 0.327 with one, 0.296 with two
# (docs/lspet.md); the class itself defaults to none, so library callers choose.
DEFAULT_REFINE = 1


class PoseEstimator:
    """Pose estimation with any network callable and the metadata describing it.

    Args:
        network: ``(N, 3, H, W) float32 -> {"heatmaps": ..., ["pafs": ...]}``.
        info: what the network expects and returns (:class:`ModelInfo`).
        flip_test: top-down only: average with the mirrored crops' heatmaps (more accurate, twice the cost).
        batch_size: top-down crops per network call.
        height: bottom-up inference height (default: ``info.input_size[0]``, 368); larger finds smaller people.
        upsample: bottom-up maps are upsampled by this factor (cubic) before peak finding (4: LWOP's demo, with
            sub-pixel peak refinement as accurate as 8).
        nms_threshold: top-down only: OKS-NMS threshold in (0, 1] (a pose whose OKS with a better-scoring one
            exceeds it is dropped); ``None`` keeps one pose per box. ``edgepose predict`` uses 0.7.
        refine: top-down only: extra passes per box. Each pass crops the box around the previous pass's confident
            joints (at least :data:`REFINE_MIN_JOINTS` above :data:`KEYPOINT_SCORE_THRESHOLD`, padded like any
            box) and predicts again. A loose box -- the whole image, a generous detector box -- leaves the person
            small in the crop; the second look sees them at the resolution the network was trained on (the way
            MediaPipe re-crops around its own landmarks). Each pass costs one more network call per box.
    """

    def __init__(
        self,
        network: Network,
        info: ModelInfo,
        *,
        flip_test: bool = True,
        batch_size: int = 32,
        height: int | None = None,
        upsample: int = 4,
        nms_threshold: float | None = None,
        refine: int = 0,
    ) -> None:
        if height is not None and int(height) < 16:
            raise ConfigError(f"inference height must be >= 16 pixels, got {height}")
        if nms_threshold is not None and not 0.0 < float(nms_threshold) <= 1.0:
            raise ConfigError(f"OKS-NMS threshold must be in (0, 1], got {nms_threshold}")
        self.network = network
        self.info = info
        self.flip_test = bool(flip_test)
        self.batch_size = max(1, int(batch_size))
        self.height = int(height or info.input_size[0])
        self.upsample = int(upsample)
        self.keypoint_spec = get_keypoint_spec(info.keypoints)
        self.nms_threshold = None if nms_threshold is None else float(nms_threshold)
        if int(refine) < 0:
            raise ConfigError(f"refine passes must be >= 0, got {refine}")
        self.refine = int(refine)
        self.box_counts: Counter = Counter()  # boxes dropped / clipped by clean_boxes, by reason, over all calls
        if info.task == "topdown":
            self.codec = HeatmapCodec(info.input_size, stride=info.stride, kind=info.codec)
        else:
            from edgepose.codecs.paf import PafCodec

            # the decoder settings of the evaluation's predictor (edgepose.engine.bottomup.predict_bottomup):
            # PAFs sampled bilinearly at the network stride, same oracle AP as upsampling them, ~2x faster
            self.codec = PafCodec(stride=info.stride, paf_sampling="bilinear")
        # COCO result files use continuous coordinates; each pipeline's evaluation fixes its offset
        self.coco_offset = 0.0 if info.task == "topdown" else self.codec.coco_offset

    @property
    def task(self) -> str:
        return self.info.task

    @property
    def draw_skeleton(self) -> tuple[tuple[int, int], ...]:
        """Skeleton of the returned keypoints (bottom-up OpenPose-18 outputs are returned in COCO-17 order)."""
        return COCO_SKELETON if self.info.task == "bottomup" else self.keypoint_spec.skeleton

    @classmethod
    def from_onnx(
        cls,
        path: str | Path,
        *,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
        **kwargs,
    ) -> PoseEstimator:
        """An estimator over an ONNX Runtime session of ``path`` (exported by ``edgepose export``)."""
        from edgepose.runtime.session import OnnxNetwork

        net = OnnxNetwork(path, threads=threads, providers=providers)
        return cls(net, net.info, **kwargs)

    # ------------------------------------------------------------------------------------------- call
    def __call__(
        self,
        image_bgr: np.ndarray,
        boxes: np.ndarray | Sequence[Sequence[float]] | None = None,
        box_scores: Sequence[float] | None = None,
    ) -> list[Person]:
        check_image(image_bgr)
        if self.info.task == "topdown":
            if boxes is None:
                h, w = image_bgr.shape[:2]
                boxes = [[0.0, 0.0, float(w), float(h)]]
            return self.predict_topdown(image_bgr, boxes, box_scores)
        return self.predict_bottomup(image_bgr)

    # --------------------------------------------------------------------------------------- top-down
    def topdown_heatmaps(self, batch: np.ndarray) -> np.ndarray:
        """Network heatmaps of a crop batch, in ``batch_size`` chunks, flip-averaged when ``flip_test``."""
        outs = []
        for i in range(0, len(batch), self.batch_size):
            chunk = batch[i : i + self.batch_size]
            hm = self.network(chunk)["heatmaps"]
            if self.flip_test:
                hm_flip = self.network(flip_batch(chunk))["heatmaps"]
                hm = 0.5 * (hm + self.codec.flip_back(hm_flip, self.keypoint_spec.flip_index))
            outs.append(np.asarray(hm, dtype=np.float32))
        return np.concatenate(outs) if outs else np.zeros((0, self.keypoint_spec.num_keypoints, 1, 1), np.float32)

    @staticmethod
    def _refined_box(box: np.ndarray, xy: np.ndarray, conf: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """The box around one pass's confident joints, clipped to the image; ``box`` itself with too few."""
        kp = np.concatenate([xy, conf], axis=1)
        if (kp[:, 2] > KEYPOINT_SCORE_THRESHOLD).sum() < REFINE_MIN_JOINTS:
            return box
        x0, y0, w, h = keypoint_box(kp, threshold=KEYPOINT_SCORE_THRESHOLD).astype(np.float64)
        x1, y1 = min(x0 + w, shape[1]), min(y0 + h, shape[0])
        x0, y0 = max(x0, 0.0), max(y0, 0.0)
        return np.array([x0, y0, x1 - x0, y1 - y0]) if x1 - x0 > 1 and y1 - y0 > 1 else box

    def _topdown_pass(self, image_bgr: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joints ``(N, K, 2)`` in image pixels and confidences ``(N, K, 1)`` of one crop per box."""
        batch, centers, scales = topdown_inputs(image_bgr, boxes, self.info.input_size)
        return self.codec.decode(self.topdown_heatmaps(batch), centers, scales)

    def predict_topdown(
        self, image_bgr: np.ndarray, boxes: np.ndarray | Sequence, box_scores: Sequence[float] | None = None
    ) -> list[Person]:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.ones(len(boxes)) if box_scores is None else np.asarray(box_scores, dtype=np.float64).reshape(-1)
        if len(scores) != len(boxes):
            raise DataError(f"{len(scores)} box scores for {len(boxes)} boxes")
        boxes, scores = clean_boxes(boxes, scores, image_bgr.shape[:2], self.box_counts)
        if len(boxes) == 0:
            return []
        coords, maxvals = self._topdown_pass(image_bgr, boxes)
        crops = boxes
        for _ in range(self.refine):
            crops = np.stack([self._refined_box(c, xy, conf, image_bgr.shape) for c, xy, conf in
                              zip(crops, coords, maxvals)])  # fmt: skip
            coords, maxvals = self._topdown_pass(image_bgr, crops)
        persons = []
        for i in range(len(boxes)):
            conf = maxvals[i, :, 0]
            kp = np.concatenate([coords[i], conf[:, None]], axis=1)
            good = conf > KEYPOINT_SCORE_THRESHOLD
            quality = float(conf[good].mean()) if good.any() else 0.0
            persons.append(Person(kp, scores[i] * quality, box=boxes[i]))
        if self.nms_threshold is not None and len(persons) > 1:
            keep = oks_nms(
                np.stack([p.keypoints for p in persons]),
                np.array([p.score for p in persons]),
                np.array([float(p.box[2] * p.box[3]) for p in persons]),
                threshold=self.nms_threshold,
                sigmas=keypoint_sigmas(self.keypoint_spec),
            )
            persons = [persons[i] for i in sorted(keep)]
        return persons

    # -------------------------------------------------------------------------------------- bottom-up
    def bottomup_maps(
        self, image_bgr: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, tuple[float, float], tuple[int, int]]:
        """Heatmaps ``(19, h, w)`` and PAFs ``(38, h, w)`` at the network stride, the resize scales ``(sx, sy)``
        and the valid (un-padded) input size ``(h, w)``."""
        batch, scales, valid = bottomup_input(image_bgr, self.height, self.info.stride)
        out = self.network(batch)
        return _first(out["heatmaps"]), _first(out["pafs"]), scales, valid

    def decode_bottomup(
        self,
        heatmaps: np.ndarray,
        pafs: np.ndarray,
        scales: tuple[float, float],
        valid: tuple[int, int],
        timings: dict[str, float] | None = None,
    ) -> list[Person]:
        """Persons in image pixels from one image's maps (peaks and grouping by :class:`PafCodec`)."""
        poses = self.codec.decode(heatmaps, pafs, valid_size=valid, upsample=self.upsample, timings=timings)
        poses = poses.scaled(*scales)
        persons = []
        scores = poses.person_scores()
        for p in range(len(poses)):
            kp18 = poses.keypoints[p].copy()
            kp18[~poses.found[p]] = 0.0
            kp = openpose_to_coco(kp18)
            persons.append(Person(kp, scores[p], box=keypoint_box(kp, padding=0.1)))
        return persons

    def predict_bottomup(self, image_bgr: np.ndarray) -> list[Person]:
        return self.decode_bottomup(*self.bottomup_maps(image_bgr))


def _first(maps: np.ndarray) -> np.ndarray:
    """The first image's maps of an ``(N, C, h, w)`` batch."""
    maps = np.asarray(maps, dtype=np.float32)
    return maps[0] if maps.ndim == 4 else maps
