"""`edgepose pck`: score a pose model on any LSP-format folder (``joints.mat`` + ``images/``) with PCK.

    edgepose pck --root ../shared/data/lspet --range 8501 9000              # the shipped model, validation split
    edgepose pck --root DIR --range 8501 9000 --weights best.pt --json      # a checkpoint (PyTorch)
    edgepose pck --root DIR --range 8501 9000 --onnx model.onnx --box joints  # an export (torch-free)

Every image is run through the predictor users run (:class:`edgepose.runtime.PoseEstimator`: the same crop,
flip test and decoder as ``edgepose predict``) with one person box: the whole image (``--box image``, the
default: nothing from the labels is used at test time) or the box of the labelled joints (``--box joints``, the
usual top-down protocol; the crop pads it by 1.25). PCK (:mod:`edgepose.evaluation.pck`): a joint is correct
within 0.2 (0.1) x the torso diameter, left shoulder -> right hip; people without both joints are not scored and
are counted as ``skipped``; AUC over thresholds 0-0.2. Image numbers are 1-based and inclusive (``im%05d.jpg``);
without ``--range`` every labelled image in the folder is scored. See docs/lspet.md.

``--detector hog|MODEL`` takes person boxes from a detector instead (``edgepose predict``'s flag); of the people
found, the one whose box overlaps the labelled joints' box most is scored, and an image where nobody is found
counts as a miss. Every image goes through :class:`edgepose.runtime.pipeline.PosePipeline`, the per-image step
of ``predict`` and ``demo``. A range where no person has both torso joints labelled is refused: there is
nothing to score.

``--json`` prints exactly one line: ``{"PCK@0.2", "PCK@0.1", "AUC", "people", "per_joint", "skipped", "joints",
"images", "first", "last", "box", "detector", "model", "flip_test", "refine"}`` (``per_joint`` is PCK@0.2 per
joint, null for a joint never labelled).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.cli.common import (
    DETECTOR_HELP,
    add_backend_argument,
    add_refine_argument,
    check_threads,
    resolve_detector,
    use_backend,
)
from edgepose.cli.common import load_estimator as load_model_estimator
from edgepose.cli.fast import add_fast_argument, apply_fast
from edgepose.errors import ConfigError, DataError, EdgeposeError

BOXES = ("image", "joints")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pck",
        help="PCK@0.2 / PCK@0.1 / AUC of a model on an LSP-format folder (joints.mat + images/)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--root", required=True, metavar="DIR", help="LSP folder holding joints.mat and images/")
    p.add_argument("--range", nargs=2, type=int, metavar=("FIRST", "LAST"),
                   help="1-based, inclusive (LSPet validation: 8501 9000; default: every image present)")  # fmt: skip
    model = p.add_mutually_exclusive_group()
    model.add_argument("--weights", metavar="CKPT", help="an edgepose checkpoint, run with PyTorch")
    model.add_argument("--onnx", metavar="MODEL.onnx", help="an exported model, run with ONNX Runtime (no torch)")
    p.add_argument("--box", choices=BOXES, default="image",
                   help="person box: the whole image (default) or the labelled joints' box")  # fmt: skip
    p.add_argument("--detector", metavar="hog|MODEL", help=DETECTOR_HELP + " (instead of --box)")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON line")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the network")
    p.add_argument("--no-flip-test", dest="flip_test", action="store_false", help="skip the flip test")
    add_refine_argument(p)
    add_fast_argument(p)
    add_backend_argument(p)
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar on stderr")
    p.set_defaults(func=run)


def load_estimator(
    weights: str | None, onnx: str | None, *, threads: int | None = None, flip_test: bool = True,
    refine: int | None = None
):
    """``(PoseEstimator, model path)`` for ``--weights`` (PyTorch), ``--onnx`` or, with neither, the shipped model
    (:func:`edgepose.cli.common.load_estimator`; ``refine=None``: the model's default).

    The ONNX paths import nothing from torch, so scoring works on a device with only ``edgepose[runtime]``.
    """
    check_threads(threads)
    estimator, source = load_model_estimator("pck", onnx=onnx, weights=weights, threads=threads, flip_test=flip_test,
                                             refine=refine, batch_size=1, announce=False)  # fmt: skip
    return estimator, Path(source)


def check_lsp_model(estimator: Any, source: str | Path) -> None:
    """PCK here compares LSP-14 joints by index: any other keypoint set (or a bottom-up model) is refused."""
    info = estimator.info
    if info.task != "topdown" or info.keypoints != "lsp":
        raise EdgeposeError(
            f"this is a {info.task} model of the {info.keypoints!r} keypoint set; edgepose pck scores top-down "
            "models of the LSP-14 set ('lsp'), e.g. one trained with configs/*_lspet_*.yaml",
            source,
        )


def person_box(joints: np.ndarray, width: int, height: int, box: str) -> np.ndarray:
    """The box one LSP person is predicted in: the whole image, or its labelled joints' (the whole image when
    fewer than two joints are labelled, as the training crops do)."""
    from edgepose.data.lspet import image_box, joints_box

    if box not in BOXES:
        raise ConfigError(f"--box must be one of {', '.join(BOXES)}, got {box!r}")
    tight = joints_box(joints, width, height) if box == "joints" else None
    return image_box(width, height) if tight is None else tight


def read_label_image(path: str | Path) -> np.ndarray:
    """An LSP image as BGR uint8 in its stored pixel grid (EXIF orientation ignored, as the training reader does:
    the labels refer to the stored pixels); DataError naming a missing or undecodable file."""
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else np.zeros(0, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION) if data.size else None
    if image is None:
        raise DataError("image missing or not decodable", path)
    return image


def predict_people(
    estimator: Any, people: Sequence[Any], box: str = "image", progress: bool = True, detector: Any = None
) -> np.ndarray:
    """Predicted ``(N, 14, 2)`` joints of LSP ``people`` (one box each, or the detector's best match); NaN where
    no person was returned, which PCK counts as misses."""
    from edgepose.runtime.pipeline import PosePipeline

    pipeline = PosePipeline(estimator, detector, boxes="detector" if detector is not None else box)
    pred = np.full((len(people), 14, 2), np.nan, dtype=np.float64)
    items: Iterable[tuple[int, Any]] = enumerate(people)
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, total=len(people), desc="pck", unit="image", file=sys.stderr, dynamic_ncols=True)
    for i, person in items:
        image = read_label_image(person.image)
        h, w = image.shape[:2]
        label_box = person_box(person.joints, w, h, "joints" if detector is not None else box)
        given = None if detector is not None else np.asarray([label_box])
        found = pipeline(image, name=str(person.image), index=i, boxes=given).persons
        if found:
            from edgepose.runtime.poses import box_iou

            best = max(found, key=lambda p: box_iou(p.box, label_box)) if detector is not None else found[0]
            pred[i] = np.asarray(best.keypoints, dtype=np.float64)[:, :2]
    return pred


def check_scorable(people: Sequence[Any], source: str | Path) -> None:
    """Refuse a range where no person has both torso joints labelled: PCK's unit of distance is the torso, so
    nobody could be scored and the "PCK" would be 0 for 0 people."""
    from edgepose.data.lspet import torso_size

    if not any(torso_size(p.joints) > 0 for p in people):
        raise DataError(f"no person with a torso to score: none of the {len(people)} images has both the left "
                        "shoulder and the right hip labelled", source)  # fmt: skip


def score_people(pred: np.ndarray, people: Sequence[Any]) -> dict[str, Any]:
    """:func:`edgepose.evaluation.pck.pck_metrics` of ``pred`` against the people's labels."""
    from edgepose.data.lspet import torso_size
    from edgepose.evaluation.pck import pck_metrics
    from edgepose.keypoints import LSP

    gt = np.stack([p.joints for p in people])
    torso = np.array([torso_size(p.joints) for p in people])
    return pck_metrics(pred, gt[..., :2], gt[..., 2] > 0, torso, LSP.names)


def _json_safe(metrics: dict[str, Any]) -> dict[str, Any]:
    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    return clean(metrics)


def run(args: argparse.Namespace) -> int:
    from edgepose.data.lspet import load_lsp, resolve_lsp_root
    from edgepose.evaluation.pck import format_pck
    from edgepose.runtime.boxes import NO_DETECTOR

    apply_fast(args)
    use_backend(args)
    check_threads(args.threads)
    joints_mat, images = resolve_lsp_root(args.root)
    first, last = args.range if args.range else (None, None)
    people = load_lsp(joints_mat, images, first=first, last=last)
    check_scorable(people, joints_mat)
    estimator, source = load_estimator(
        args.weights, args.onnx, threads=args.threads, flip_test=args.flip_test, refine=args.refine
    )
    check_lsp_model(estimator, source)
    detector = None
    if args.detector and args.detector.strip().lower() != NO_DETECTOR:  # "none": the --box, as without the flag
        detector = resolve_detector(args.detector, threads=args.threads)
    pred = predict_people(estimator, people, box=args.box, progress=args.progress, detector=detector)
    metrics = score_people(pred, people)
    numbers = [p.number for p in people]
    metrics.update(images=len(people), first=min(numbers), last=max(numbers), box=args.box, model=str(source))
    metrics.update(detector=args.detector, flip_test=args.flip_test, refine=estimator.refine)
    if args.json:
        print(json.dumps(_json_safe(metrics), allow_nan=False))
    else:
        boxes = f"detector: {args.detector}" if args.detector else f"box: {args.box}"
        print(f"{source} on {len(people)} images {min(numbers)}..{max(numbers)} of {args.root}, {boxes}")
        print(format_pck(metrics))
    return 0
