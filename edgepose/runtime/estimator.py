"""``PoseEstimator``: image in, :class:`~edgepose.runtime.poses.Person` list out, for both pipelines.

The one predictor of the package. It owns pre-processing (:mod:`edgepose.runtime.preprocess`), batching, the
flip test and decoding (the numpy codecs of :mod:`edgepose.codecs`, back-projected with
:mod:`edgepose.geometry`); the network is any callable ``(N, 3, H, W) float32 -> {output name: array}``:

* :meth:`PoseEstimator.from_onnx` wraps an ONNX Runtime session (torch-free: this is the device path);
* :func:`edgepose.engine.predict.torch_estimator` wraps a PyTorch model in the very same estimator, so
  ``edgepose predict --weights`` and ``edgepose predict --onnx`` differ only in the network's arithmetic;
* evaluation (``edgepose eval`` and the validation during training, :mod:`edgepose.engine.topdown` and
  :mod:`edgepose.engine.bottomup`) runs the model through the same estimator: top-down crops made by the
  dataset (the same geometry as :func:`~edgepose.runtime.preprocess.topdown_inputs`) go to
  :meth:`PoseEstimator.predict_crops`, bottom-up images to :meth:`PoseEstimator.bottomup_poses`. The AP it
  prints is measured on the code users run.

Top-down models need person boxes (``boxes`` ``(N, 4)`` xywh, optional ``box_scores``); without them the
whole image is one box. Boxes that cannot hold a person are dropped, boxes reaching far beyond the image
clipped (:func:`~edgepose.runtime.boxes.clean_boxes`), and both counted in :attr:`PoseEstimator.box_counts`.
With ``nms_threshold`` the top-down poses go through OKS-NMS (:mod:`edgepose.oks`, numpy only), so
overlapping detector boxes of one person give one skeleton, not a stack of near-identical ones. Bottom-up
models ignore boxes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from edgepose.codecs.base import HeatmapKeypointCodec, PafKeypointCodec
from edgepose.codecs.heatmap import HeatmapCodec
from edgepose.codecs.paf import PafCodec, PafPoses, flip_maps, input_geometry
from edgepose.errors import ConfigError, DataError
from edgepose.geometry import crop_to_image
from edgepose.keypoints import COCO_SKELETON, openpose_to_coco
from edgepose.meta import ModelInfo
from edgepose.oks import keypoint_sigmas, oks_nms
from edgepose.runtime.boxes import clean_boxes
from edgepose.runtime.poses import Person, keypoint_box
from edgepose.runtime.preprocess import (
    bottomup_input,
    check_image,
    check_person_image,
    flip_batch,
    topdown_inputs,
)

Network = Callable[[np.ndarray], dict[str, np.ndarray]]

# HRNet's rescoring: person score = box score x mean confidence of the joints above this.
KEYPOINT_SCORE_THRESHOLD = 0.2
# A refinement pass re-crops a box only around this many confident joints (fewer: the box is kept).
REFINE_MIN_JOINTS = 4
# The CLIs' default number of refinement passes (predict, demo, pck). Measured with the shipped model on the
# LSPet validation images with whole-image boxes: PCK@0.2 0.256 with none, 0.378 with one, 0.363 with two
# (docs/lspet.md). A model's metadata may state its own (default_refine); PoseEstimator() and
# PoseEstimator('model.onnx') use it, a bare network callable (evaluation's building block) runs one pass.
DEFAULT_REFINE = 1
# Each pass costs a network call per box and the crops settle after one or two; more is a typo, not a setting.
MAX_REFINE = 5
# The one-person fast mode (PoseEstimator.fast, `edgepose predict --fast`): the whole image as the person's box,
# one network call -- no flip test, no refinement pass -- on the shipped model's INT8 file. A frame then costs
# about 1.1x MoveNet Lightning's with OpenVINO, 1.4x with ONNX Runtime alone (benchmarks/default_frame_latency.py,
# docs/lspet.md), for lower accuracy than the default frame:
# a person small in the image stays small in the crop (PCK figures in MODEL.md).
FAST_MODE = {"flip_test": False, "refine": 0}


def default_refine(info: ModelInfo) -> int:
    """The refinement passes a model runs with by default: its metadata's ``refine`` when it states one, else
    :data:`DEFAULT_REFINE` for top-down models (bottom-up models have no boxes to refine)."""
    stated = getattr(info, "refine", None)
    if stated is not None:
        return int(stated)
    return DEFAULT_REFINE if info.task == "topdown" else 0


def _open_model_file(
    path: str | Path | None, info: ModelInfo | None, threads: int | None, providers: Sequence[str] | None
) -> tuple[Network, ModelInfo]:
    """The ONNX Runtime network and metadata of ``path`` (default: the shipped model, ``edgepose.assets``)."""
    if info is not None:
        raise ConfigError("a model file carries its own metadata: give PoseEstimator a file or (network, info)")
    from edgepose.runtime.session import OnnxNetwork

    if path is None:
        from edgepose.assets import shipped_onnx

        path = shipped_onnx()  # one line when an installation left it out
    net = OnnxNetwork(path, threads=threads, providers=providers)
    return net, net.info


class PoseEstimator:
    """Pose estimation with a model file, or any network callable and the metadata describing it.

    ``PoseEstimator()`` runs the model shipped inside edgepose (``edgepose/assets/model/``) and
    ``PoseEstimator("model.onnx")`` an exported one, both with the defaults of ``edgepose predict``: the flip
    test and the model's refinement passes (:func:`default_refine`), so the API and the CLI give the same poses.
    ``PoseEstimator(network, info)`` is the building block evaluation uses (no refinement unless asked).

    Args:
        network: a ``.onnx`` file (default: the shipped model), or a callable
            ``(N, 3, H, W) float32 -> {"heatmaps": ..., ["pafs": ...]}``.
        info: what a network callable expects and returns (:class:`ModelInfo`); model files carry their own.
        codec: the decoder: a :class:`HeatmapCodec` (top-down) or :class:`PafCodec` (bottom-up); default from
            ``info`` (top-down: ``info.codec`` at ``info.stride``; bottom-up: PAFs sampled bilinearly at the
            stride, as accurate as upsampling them on the oracle and about twice as fast). Evaluation passes the
            codec of its config.
        flip_test: top-down only: average with the mirrored crops' heatmaps (more accurate, twice the cost).
        batch_size: top-down crops per network call.
        height: bottom-up inference height (default: ``info.input_size[0]``, 368); larger finds smaller people.
        upsample: bottom-up maps are upsampled by this factor (cubic) before peak finding (4: LWOP's demo, with
            sub-pixel peak refinement as accurate as 8); ``None``: the codec's own factor, 4 by default.
        scales: bottom-up only: inference heights as multiples of ``height``; several are averaged (multi-scale).
        bottomup_flip: bottom-up only: average the maps with the mirrored image's (off by default, as LWOP).
        nms_threshold: top-down only: OKS-NMS threshold in (0, 1] (a pose whose OKS with a better-scoring one
            exceeds it is dropped); ``None`` keeps one pose per box. ``edgepose predict`` uses 0.7.
        refine: top-down only: extra passes per box. Each pass crops the box around the previous pass's confident
            joints (at least :data:`REFINE_MIN_JOINTS` above :data:`KEYPOINT_SCORE_THRESHOLD`, padded like any
            box) and predicts again. A loose box -- the whole image, a generous detector box -- leaves the person
            small in the crop; the second look sees them at the resolution the network was trained on (the way
            MediaPipe re-crops around its own landmarks). Each pass costs one more network call per box. At most
            :data:`MAX_REFINE`; ``None``: the model's default for a model file, none for a network callable.
        threads, providers: ONNX Runtime threads and execution providers, for a model file.
    """

    def __init__(
        self,
        network: Network | str | Path | None = None,
        info: ModelInfo | None = None,
        *,
        codec: HeatmapCodec | PafCodec | None = None,
        flip_test: bool = True,
        batch_size: int = 32,
        height: int | None = None,
        upsample: int | None = None,
        scales: Sequence[float] = (1.0,),
        bottomup_flip: bool = False,
        nms_threshold: float | None = None,
        refine: int | None = None,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
    ) -> None:
        if refine is not None and not 0 <= int(refine) <= MAX_REFINE:  # before a model file is opened
            raise ConfigError(f"refine passes must be in 0..{MAX_REFINE}, got {refine}")
        if network is None or isinstance(network, (str, Path)):  # a model file: the CLI's defaults
            network, info = _open_model_file(network, info, threads, providers)
            refine = default_refine(info) if refine is None else refine
        elif info is None:
            raise ConfigError("PoseEstimator(network, info): a network callable needs the ModelInfo describing it "
                              "(or give a model file: PoseEstimator('model.onnx'), or nothing for the shipped model)")
        refine = 0 if refine is None else refine
        if height is not None and int(height) < 16:
            raise ConfigError(f"inference height must be >= 16 pixels, got {height}")
        if nms_threshold is not None and not 0.0 < float(nms_threshold) <= 1.0:
            raise ConfigError(f"OKS-NMS threshold must be in (0, 1], got {nms_threshold}")
        self.network = network
        self.info = info
        self.flip_test = bool(flip_test)
        self.batch_size = max(1, int(batch_size))
        self.height = int(height or info.input_size[0])
        self.scales = [float(v) for v in scales] or [1.0]
        if any(not v > 0 for v in self.scales):
            raise ConfigError(f"inference scales must be positive, got {list(scales)}")
        self.bottomup_flip = bool(bottomup_flip)
        self.keypoint_spec = info.keypoint_spec  # the model's own table: custom sets keep their flips
        self.nms_threshold = None if nms_threshold is None else float(nms_threshold)
        if not 0 <= int(refine) <= MAX_REFINE:
            raise ConfigError(f"refine passes must be in 0..{MAX_REFINE}, got {refine}")
        self.refine = int(refine)
        self.box_counts: Counter = Counter()  # boxes dropped / clipped by clean_boxes, by reason, over all calls
        self.codec = _task_codec(info, codec, upsample)
        self.upsample = getattr(self.codec, "upsample", 0)
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

    @classmethod
    def fast(
        cls, network: str | Path | None = None, *, threads: int | None = None, **kwargs
    ) -> PoseEstimator:
        """The one-person fast mode (:data:`FAST_MODE`) on ``network`` (default: the shipped model's INT8 file,
        run by whichever back-end is measured fastest here); call it with an image and no boxes."""
        if network is None:
            from edgepose.assets import shipped_fast_onnx

            network = shipped_fast_onnx()
        return cls(network, threads=threads, **FAST_MODE, **kwargs)

    # ------------------------------------------------------------------------------------------- call
    def __call__(
        self,
        image_bgr: np.ndarray,
        boxes: np.ndarray | Sequence[Sequence[float]] | None = None,
        box_scores: Sequence[float] | None = None,
        *,
        refine: int | None = None,
    ) -> list[Person]:
        """People in one BGR image; top-down models crop ``boxes`` (default: the whole image) and run ``refine``
        passes (default: :attr:`refine`; a detector's tight boxes need none, a whole image one)."""
        check_person_image(check_image(image_bgr))
        if self.info.task == "topdown":
            if boxes is None:
                h, w = image_bgr.shape[:2]
                boxes = [[0.0, 0.0, float(w), float(h)]]
            return self.predict_topdown(image_bgr, boxes, box_scores, refine=refine)
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
        return (
            np.concatenate(outs)
            if outs
            else np.zeros((0, self.keypoint_spec.num_keypoints, *self.codec.heatmap_size), np.float32)
        )

    @staticmethod
    def _refined_box(box: np.ndarray, xy: np.ndarray, conf: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """The box around one pass's confident joints, clipped to the image; ``box`` itself with too few."""
        kp = np.concatenate([xy, conf[:, None]], axis=1)
        if (kp[:, 2] > KEYPOINT_SCORE_THRESHOLD).sum() < REFINE_MIN_JOINTS:
            return box
        x0, y0, w, h = keypoint_box(kp, threshold=KEYPOINT_SCORE_THRESHOLD).astype(np.float64)
        x1, y1 = min(x0 + w, shape[1]), min(y0 + h, shape[0])
        x0, y0 = max(x0, 0.0), max(y0, 0.0)
        return np.array([x0, y0, x1 - x0, y1 - y0]) if x1 - x0 > 1 and y1 - y0 > 1 else box

    def predict_crops(
        self, batch: np.ndarray, centers: np.ndarray, scales: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints of ready-made crops (what evaluation's datasets give, or :func:`topdown_inputs`).

        Args:
            batch: ``(N, 3, H, W)`` float32 network inputs (RGB, ImageNet-normalised).
            centers: ``(N, 2)`` and ``scales``: ``(N, 2)``, the (center, scale) each crop was cut with.

        Returns:
            ``keypoints (N, K, 2)`` in image pixels and ``scores (N, K)`` (heatmap maxima), flip-averaged when
            :attr:`flip_test`, in :attr:`batch_size` network calls.
        """
        keypoints, scores = self.codec.decode(self.topdown_heatmaps(batch))
        return crop_to_image(keypoints, centers, scales, self.codec.input_size), scores

    def _topdown_pass(self, image_bgr: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joints ``(N, K, 2)`` in image pixels and confidences ``(N, K)`` of one crop per box."""
        return self.predict_crops(*topdown_inputs(image_bgr, boxes, self.codec.input_size))

    def predict_topdown(
        self,
        image_bgr: np.ndarray,
        boxes: np.ndarray | Sequence,
        box_scores: Sequence[float] | None = None,
        *,
        refine: int | None = None,
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
        passes = self.refine if refine is None else int(refine)
        if not 0 <= passes <= MAX_REFINE:
            raise ConfigError(f"refine passes must be in 0..{MAX_REFINE}, got {passes}")
        for _ in range(passes):
            crops = np.stack([self._refined_box(c, xy, conf, image_bgr.shape) for c, xy, conf in
                              zip(crops, coords, maxvals)])  # fmt: skip
            coords, maxvals = self._topdown_pass(image_bgr, crops)
        persons = []
        for i in range(len(boxes)):
            conf = maxvals[i]
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
        self, image_bgr: np.ndarray, height: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, tuple[float, float], tuple[int, int]]:
        """Heatmaps ``(19, h, w)`` and PAFs ``(38, h, w)`` at the network stride (averaged with the mirrored
        image's when :attr:`bottomup_flip`), the resize scales ``(sx, sy)`` and the valid (un-padded) input
        size ``(h, w)``, at inference ``height`` (default :attr:`height`)."""
        batch, scales, valid = bottomup_input(image_bgr, height or self.height, self.info.stride)
        out = self.network(batch)
        heat, pafs = _first(out["heatmaps"]), _first(out["pafs"])
        if self.bottomup_flip:
            out = self.network(flip_batch(batch))
            heat_f, pafs_f = flip_maps(_first(out["heatmaps"]), _first(out["pafs"]))
            heat, pafs = 0.5 * (heat + heat_f), 0.5 * (pafs + pafs_f)
        return heat, pafs, scales, valid

    def bottomup_poses(self, image_bgr: np.ndarray, timings: dict[str, float] | None = None) -> PafPoses:
        """The decoded people of one BGR image in image pixels (pixel centres); :attr:`scales` averaged."""
        check_image(image_bgr)
        if len(self.scales) == 1:
            height = max(8, round(self.height * self.scales[0]))
            heat, pafs, (sx, sy), valid = self.bottomup_maps(image_bgr, height)
            poses = self.codec.decode(heat, pafs, valid_size=valid, upsample=self.upsample, timings=timings)
            return poses.scaled(sx, sy)
        return self._multiscale_poses(image_bgr)

    def _multiscale_poses(self, image_bgr: np.ndarray) -> PafPoses:
        """Maps of every scale upsampled, resized to the base scale's grid and averaged, then decoded."""
        codec, f = self.codec, self.upsample
        in_h, in_w, _, _, sx, sy = input_geometry(image_bgr.shape[1], image_bgr.shape[0], self.height, codec.stride)
        grid = (math.ceil(in_h * f / codec.stride), math.ceil(in_w * f / codec.stride))
        acc_h = acc_p = None
        for s in self.scales:
            heat, pafs, _, valid = self.bottomup_maps(image_bgr, max(8, round(self.height * s)))
            hu = codec.upsample_maps(heat[:18], f, valid)
            pu = codec.upsample_maps(pafs, f, valid)
            if hu.shape[:2] != grid:
                hu = cv2.resize(hu, (grid[1], grid[0]), interpolation=cv2.INTER_CUBIC)
                pu = cv2.resize(pu, (grid[1], grid[0]), interpolation=cv2.INTER_CUBIC)
            acc_h = hu if acc_h is None else acc_h + hu
            acc_p = pu if acc_p is None else acc_p + pu
        n = float(len(self.scales))
        return codec.decode_upsampled(acc_h / n, acc_p / n, factor=f, input_height=in_h).scaled(sx, sy)

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
        return self.bottomup_persons(poses.scaled(*scales))

    @staticmethod
    def bottomup_persons(poses: PafPoses) -> list[Person]:
        """:class:`Person` objects (COCO-17 order, padded keypoint box) of decoded people in image pixels."""
        persons = []
        scores = poses.person_scores()
        for p in range(len(poses)):
            kp18 = poses.keypoints[p].copy()
            kp18[~poses.found[p]] = 0.0
            kp = openpose_to_coco(kp18)
            persons.append(Person(kp, scores[p], box=keypoint_box(kp, padding=0.1)))
        return persons

    def predict_bottomup(self, image_bgr: np.ndarray) -> list[Person]:
        return self.bottomup_persons(self.bottomup_poses(image_bgr))


def _task_codec(
    info: ModelInfo, codec: HeatmapKeypointCodec | PafKeypointCodec | None, upsample: int | None
) -> HeatmapKeypointCodec | PafKeypointCodec:
    """The estimator's codec: ``codec`` if given (its contract's ``task`` checked against the model's), else the
    default of ``info``."""
    if codec is None:
        if info.task == "topdown":
            return HeatmapCodec(info.input_size, stride=info.stride, kind=info.codec)
        codec = PafCodec(stride=info.stride, paf_sampling="bilinear", upsample=int(upsample or 4))
    if getattr(codec, "task", None) != info.task:
        raise ConfigError(f"a {info.task} estimator needs a {info.task} codec, got {type(codec).__name__}")
    return codec.with_upsample(int(upsample)) if upsample and info.task == "bottomup" else codec


def _first(maps: np.ndarray) -> np.ndarray:
    """The first image's maps of an ``(N, C, h, w)`` batch."""
    maps = np.asarray(maps, dtype=np.float32)
    return maps[0] if maps.ndim == 4 else maps
