"""`edgepose coco`: COCO keypoint AP of any model on any COCO-format folder (annotation file + images).

    edgepose coco --ann person_keypoints_val2017.json --images val2017/ --weights intel_lwop.pt   # PyTorch
    edgepose coco --ann ANN.json --images DIR --onnx intel_lwop.onnx --json                       # torch-free
    edgepose coco --ann ANN.json --images DIR --weights flpn.pt --boxes detections.json           # top-down
    edgepose coco --ann ANN.json --images DIR --onnx flpn.onnx --detector intel_lwop.onnx         # top-down

Every image goes through the predictor users run (:class:`edgepose.runtime.PoseEstimator`) and edgepose's own
decoding; pycocotools scores the result (:func:`edgepose.evaluation.coco_folder.score_coco_folder`).
Bottom-up models see whole images (``--height``: the inference height, default the model's). Top-down models
need person boxes: ``--boxes`` (a COCO detection-results JSON) or ``--detector`` (``hog``, or a bottom-up model
-- ``.onnx`` or checkpoint -- whose people become boxes padded by 10 % on every side).

``--json`` prints exactly one line: ``{"AP", "AP50", "AP75", "APm", "APl", "AR", "images", "model"}``;
``--results FILE`` also writes the COCO results records.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgepose.cli.common import add_backend_argument, use_backend
from edgepose.errors import ConfigError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "coco",
        help="COCO keypoint AP of a model on a COCO-format folder (pycocotools)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--ann", required=True, metavar="ANN.json", help="COCO keypoints annotation file")
    p.add_argument("--images", required=True, metavar="DIR", help="folder holding the annotation file's images")
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument("--weights", metavar="CKPT", help="an edgepose checkpoint, run with PyTorch")
    model.add_argument("--onnx", metavar="MODEL.onnx", help="an exported model, run with ONNX Runtime (no torch)")
    boxes = p.add_mutually_exclusive_group()
    boxes.add_argument("--boxes", metavar="DET.json", help="top-down: person boxes from a COCO detections file")
    boxes.add_argument(
        "--detector",
        metavar="SPEC",
        help="top-down: 'hog' or a bottom-up model (.onnx / checkpoint) whose people are boxes",
    )
    p.add_argument("--height", type=int, default=None, help="bottom-up inference height (default: the model's)")
    p.add_argument("--max-images", type=int, default=None, metavar="N", help="score only the first N images")
    p.add_argument("--no-flip-test", dest="flip_test", action="store_false", help="top-down: skip the flip test")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the network")
    p.add_argument("--results", metavar="FILE.json", help="also write the COCO results records here")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    add_backend_argument(p)
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar on stderr")
    p.set_defaults(func=run)


def load_estimator(args: argparse.Namespace):
    """The estimator of ``--weights`` (PyTorch) or ``--onnx`` (torch-free), with ``--height`` and flip test."""
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    if args.height is not None and args.height < 16:
        raise ConfigError(f"--height must be >= 16, got {args.height}")
    kwargs = {"flip_test": args.flip_test, "batch_size": 8}
    if args.height:
        kwargs["height"] = args.height
    if args.weights is not None:
        from edgepose.engine.predict import checkpoint_estimator

        estimator, _ = checkpoint_estimator(args.weights, threads=args.threads, **kwargs)
        return estimator
    from edgepose.runtime import PoseEstimator

    return PoseEstimator.from_onnx(args.onnx, threads=args.threads, **kwargs)


def box_source(args: argparse.Namespace, estimator):
    """The person boxes of a top-down run (``--boxes`` / ``--detector``); None for bottom-up models."""
    if estimator.task == "bottomup":
        return None
    if args.boxes:
        from edgepose.runtime.boxes import DetectionFile

        return DetectionFile(args.boxes)
    if args.detector:
        if args.onnx is not None:  # stay torch-free on the ONNX path
            from edgepose.runtime.boxes import detector_from_spec

            return detector_from_spec(args.detector, threads=args.threads)
        from edgepose.engine.detectors import resolve_detector

        return resolve_detector(args.detector, threads=args.threads)
    raise ConfigError(
        f"{estimator.info.model_name} is a top-down model: give person boxes with --boxes DET.json or "
        "--detector SPEC ('hog' or a bottom-up model)"
    )


def run(args: argparse.Namespace) -> int:
    from edgepose.evaluation.coco import write_results
    from edgepose.evaluation.coco_folder import score_coco_folder

    use_backend(args)
    if args.max_images is not None and args.max_images < 1:
        raise ConfigError(f"--max-images must be >= 1, got {args.max_images}")
    estimator = load_estimator(args)
    boxes = box_source(args, estimator)
    result = score_coco_folder(estimator, args.ann, args.images, box_source=boxes, max_images=args.max_images,
                               progress=args.progress)  # fmt: skip
    if args.results:
        write_results(result.records, args.results)
    model = str(Path(args.weights or args.onnx))
    line = {**{k: round(v, 4) for k, v in result.metrics.items()}, "images": result.images, "model": model}
    if args.json:
        print(json.dumps(line))
    else:
        print(f"{model} ({estimator.info.model_name}, {estimator.task}) on {result.images} images of {args.ann}")
        print(result.summary)
    return 0
